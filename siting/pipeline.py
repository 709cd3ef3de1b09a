"""The end-to-end run: scenario → network, demand, sites → access → model → result."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import box

from siting import network
from siting.access import Access, build_access, build_instance
from siting.communities import assign_communities
from siting.demand import add_groups, demand_from_buildings, load_population, population_by_group
from siting.errors import SitingError
from siting.inputs import named
from siting.models.instance import Instance
from siting.models.coverage import CoverageSolution, MaximalCovering, SetCovering
from siting.io.osm import BUILDING_TAGS, read_osm
from siting.config.policy import load_policy
from siting.config.scenario import Scenario
from siting.config.site_policy import site_policy
from siting.costs import COST_PARTS
from siting.io.vectors import read_vector
from siting.sites import assemble, site_candidates

DEFAULT_P = 10


@dataclass
class RunResult:
    """Everything one run produced (projected CRS unless a name says WGS84).

    Attributes
    ----------
    scenario, graph, study_area
        The inputs as used: scenario, projected walking graph, study area (WGS84).
    demand, sites
        Demand points and the candidate sites offered to the optimiser (row ``j`` is
        instance site ``j``; existing facilities included) with result columns
        (``covered``, ``nearest_site``, ``walk_m``; ``chosen``, ``covered_population``).
    access, instance, solution
        Network index, optimiser input and its solution.
    summary
        The headline numbers written to ``summary.json``.
    candidates
        Every candidate, excluded ones too (``excluded_reason``), with the result
        columns; written to ``candidates.gpkg`` (see :mod:`siting.sites`).
    buildings
        Building footprints inside the study area (geometry only, simplified to a
        metre), drawn as the map's offline basemap; ``None`` when not kept.
    """

    scenario: Scenario
    graph: nx.MultiDiGraph
    study_area: object
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    access: Access
    instance: Instance
    solution: CoverageSolution
    summary: dict = field(default_factory=dict)
    candidates: gpd.GeoDataFrame | None = None
    plan: object = None  # siting.models.embedded.EmbeddedSolution when the embedded model ran
    buildings: gpd.GeoDataFrame | None = None

    @property
    def chosen_sites(self) -> gpd.GeoDataFrame:
        return self.sites[self.sites["chosen"]]

    def write(self, out: str | Path, overwrite: bool = False, **map_options) -> Path:
        """Write map, tables, GeoPackages and summary.json to ``out`` (see :mod:`siting.report`;
        ``map_options``: ``lang``, ``assets``, ``basemap``, ``tianditu_key``)."""
        from siting.report.write import write_outputs

        return write_outputs(self, out, overwrite=overwrite, **map_options)

    def map(self, **map_options):
        """The Folium map (displays inline in Jupyter; options as :func:`siting.report.make_map`)."""
        from siting.report.write import make_map

        return make_map(self, **map_options)

    def _repr_html_(self) -> str:
        from siting.report.tables import result_html

        return result_html(self)


def load_inputs(sc: Scenario):
    """Walking graph (WGS84), buildings, land use, study area and building entrances
    (None when the input has none) for a scenario."""
    if sc.osm is not None:
        ext = read_osm(sc.osm)
        area = box(*sc.bbox) if sc.bbox else ext.study_area()
        data = ext.data_extent()
        if sc.bbox and data is not None and not area.intersects(data):
            raise SitingError(
                f"--bbox {','.join(f'{v:g}' for v in sc.bbox)} does not overlap the data in "
                f"{sc.osm} (its buildings, or ways, span W,S,E,N "
                f"{','.join(f'{v:.4f}' for v in data.bounds)}); check the order W,S,E,N "
                f"(longitude first) or give the matching extract")
        G = network.graph_from_extract(ext, area)
        return G, ext.buildings, ext.landuse, area, ext.entrances
    if sc.graphml is not None:
        G = network.load_graphml(sc.graphml)
        buildings = _read_layer(sc.buildings, "buildings")
        if sc.bbox:
            area = box(*sc.bbox)
        else:
            nodes = _nodes_wgs84(G)
            area = box(*nodes.total_bounds)
        return G, buildings, None, area, None
    if sc.place is not None:
        return (*_download_place(sc.place, sc.bbox), None)
    raise SitingError("no input: give --osm FILE, --graphml FILE with --buildings, or --place NAME")


def _nodes_wgs84(G: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    import osmnx as ox

    return ox.graph_to_gdfs(G, edges=False).to_crs("EPSG:4326")


def run(sc: Scenario, progress: Callable[[str], None] | None = None) -> RunResult:
    """Run one scenario end to end (nothing is written; see :meth:`RunResult.write`).

    ``progress`` is called with one line per stage as it ends (``network: 2,449 nodes
    (3.1 s)``); the CLI prints them on a terminal.
    """
    t0 = time.perf_counter()
    token = _PROGRESS.set((progress, t0))
    try:
        return _run(sc, t0)
    finally:
        _PROGRESS.reset(token)


_PROGRESS: ContextVar[tuple] = ContextVar("siting_progress", default=(None, 0.0))


def _step(text: str) -> None:
    """Report a finished stage to the run's ``progress`` callback (if any)."""
    say, t0 = _PROGRESS.get()
    if say is not None:
        say(f"{text} ({time.perf_counter() - t0:.1f} s)")


def _run(sc: Scenario, t0: float) -> RunResult:
    from siting.inputs import validate_inputs

    validate_inputs(sc)  # every input file checked before the network is built
    _step("inputs checked")
    G, buildings, landuse, area, entrances = load_inputs(sc)
    G = network.project(G)
    _step(f"network: {G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges")
    crs = G.graph["crs"]
    if buildings is None or buildings.empty:
        raise SitingError("the input has no buildings: no population and no candidate sites")
    buildings = buildings[buildings.representative_point().within(area)].to_crs(crs)
    if buildings.empty:
        raise SitingError(f"no buildings inside the study area {area.bounds}")
    landuse = None if landuse is None or landuse.empty else landuse.to_crs(crs)
    policy = load_policy(sc.policy_file, sc.policy)  # the one resolved policy of the run
    demand = _demand(sc, policy, area, buildings, landuse, crs)
    _step(f"demand: {len(demand):,} points, {demand['population'].sum():,.0f} people")
    candidates = site_candidates(
        buildings, landuse, area, crs, inventory=sc.inventory, inventory_crs=sc.inventory_crs,
        existing=sc.existing, existing_crs=sc.existing_crs, exclude=sc.exclude,
        min_floor_area_m2=sc.min_floor_area_m2, default_levels=sc.candidate_levels,
        usable_ratio=sc.usable_ratio, cost_per_m2=sc.cost_per_m2, plan_year=sc.plan_year,
        policy=site_policy(sc.policy_file, sc.policy))  # its service vocabulary, classes …
    candidates = _planner_choices(sc, candidates)
    # the optimiser gets the candidates not excluded: rows 0..n-1 (site_id == row)
    sites = candidates[candidates["excluded_reason"].isna()].copy()
    fixed = np.flatnonzero(sites["existing"].to_numpy())
    required = np.flatnonzero(sites["osm_id"].astype(str).isin(sc.require).to_numpy()
                              & ~sites["existing"].to_numpy())
    if len(sites) == len(fixed):
        raise SitingError(
            f"no candidate sites: {len(candidates)} candidates, all excluded or existing "
            f"(see excluded_reason); lower min_floor_area_m2, check --exclude, or add an inventory"
        )
    walking = policy.walking
    door = dict(footprints=buildings.geometry,
                entrances=None if entrances is None or entrances.empty
                else entrances.to_crs(crs).geometry)
    _step(f"sites: {len(sites):,} candidates ({len(candidates) - len(sites):,} excluded)")
    access = _access(G, demand, sites, walking, door)
    _step("access: points attached to the streets")
    footprints = _footprints(buildings)
    if sc.embedded:
        result = _run_embedded(sc, policy, G, area, demand, sites, candidates, access, t0,
                               door, required)
        result.buildings = footprints
        return result
    instance = build_instance(access, demand["population"].to_numpy(),
                              sites["cost_total"].to_numpy(), sc.reach_m)
    _check_reach(sc, instance)
    _step(f"walking distances: {len(instance.pair_demand):,} pairs within {sc.reach_m:,.0f} m")
    solution = _optimise(sc, instance, fixed, required)
    _step(f"model: {solution.status}, {len(solution.chosen)} sites")
    if solution.covered_population <= 0:
        warnings.warn(f"the plan serves no one: {_why_no_one(sc, instance, solution)}",
                      UserWarning, stacklevel=2)
    demand, sites = _attach(access, instance, solution, demand, sites)
    sites = _explain(sc, instance, solution, sites, fixed, required)
    _step("explained: what each chosen site adds")
    candidates = _with_results(candidates, sites)
    result = RunResult(sc, G, area, demand, sites, access, instance, solution,
                       candidates=candidates, buildings=footprints)
    result.summary = _summary(result, time.perf_counter() - t0)
    return result


def _footprints(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Building outlines for the map's offline basemap: polygons only, simplified to
    a metre (projected CRS kept)."""
    geom = buildings.geometry
    geom = geom[geom.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
    return gpd.GeoDataFrame(geometry=geom.simplify(1.0).to_numpy(), crs=buildings.crs)


def _demand(sc: Scenario, policy, area, buildings, landuse, crs) -> gpd.GeoDataFrame:
    """Demand points from the population file or the buildings, with groups and communities
    (household size, age shares and the fallback community cell from the policy unless the
    scenario sets them)."""
    household_size = (policy.population.household_size if sc.household_size is None
                      else sc.household_size)
    shares = {**policy.population.age_shares, **(sc.age_shares or {})}
    if sc.population is not None:
        demand = named(
            "population", load_population, sc.population, area, buildings,
            column=sc.population_column, source_crs=sc.population_crs, landuse=landuse, crs=crs,
            household_size=household_size, default_levels=sc.residential_levels)
    else:
        demand = demand_from_buildings(
            buildings, landuse, m2_per_person=sc.m2_per_person,
            default_levels=sc.residential_levels, population_total=sc.population_total)
    demand = add_groups(demand, shares, household_size, sc.group_rasters, area=area)
    return named("communities", assign_communities, demand, sc.communities,
                 cell_m=policy.area_standard.fallback_cell_m)


def _standard_note(p: dict, policy) -> list[str]:
    """Why a penalty-mode standard may stay unmet (30 and 80 can give the same plan)."""
    if p["standard_mode"] != "penalty" or not p["communities_total"]:
        return []
    return [f"area standard {p['standard_m2_per_100_households']:g} m² per 100 households in "
            f"penalty mode: met in {p['communities_meeting_standard']} of "
            f"{p['communities_total']} communities; each m² short costs "
            f"{policy.area_standard.penalty_per_m2:g} objective points "
            "(area_standard.penalty_per_m2) against people served, so the plan leaves it unmet "
            "where serving people is worth more; --standard-mode hard requires it"]


def _access(G, demand, sites, walking, door: dict) -> Access:
    """Demand and sites attached to the walking graph by the policy's rules."""
    return build_access(G, demand, sites, max_snap_m=walking.max_snap_m,
                        min_component_nodes=walking.min_component_nodes,
                        large_footprint_m=walking.large_footprint_m, **door)


def _planner_choices(sc: Scenario, candidates: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``--forbid`` ids excluded (with the reason); ``--require`` ids checked to be
    candidates the optimiser can open. Ids are ``osm_id`` values (stable across runs)."""
    ids = candidates["osm_id"].astype(str)
    for flag, wanted in (("--require", sc.require), ("--forbid", sc.forbid)):
        unknown = [v for v in wanted if v not in set(ids)]
        if unknown:
            raise SitingError(
                f"{flag}: no candidate site has id {', '.join(map(repr, unknown[:5]))}; ids are "
                f"the osm_id column of candidates.gpkg (OSM w…/r… or an inventory 编号), e.g. "
                f"{', '.join(ids.head(3))}")
    both = set(sc.require) & set(sc.forbid)
    if both:
        raise SitingError(f"--require and --forbid both name {', '.join(sorted(both))}")
    gone = candidates[ids.isin(sc.require) & candidates["excluded_reason"].notna()]
    if len(gone):
        raise SitingError(
            f"--require {gone['osm_id'].iloc[0]}: that candidate is excluded "
            f"({gone['excluded_reason'].iloc[0]}); it cannot be opened")
    if not sc.forbid:
        return candidates
    out = candidates.copy()
    out.loc[ids.isin(sc.forbid) & out["excluded_reason"].isna(), "excluded_reason"] = \
        "forbidden (--forbid)"
    return assemble([out], out.crs)  # optimiser sites first again, site_id = row


def _run_embedded(sc: Scenario, policy, G, area, demand, sites, candidates, access, t0,
                  door: dict, required=()) -> RunResult:
    """The embedded-facility model (siting.models.embedded) on the demand and site tables."""
    from siting.models.embedded import EmbeddedFacilities, plan_to_coverage

    weight, cost = demand["population"].to_numpy(), sites["cost_total"].to_numpy()
    instance = build_instance(access, weight, cost, policy.max_threshold_m)
    step_free = None
    if policy.step_free_services:  # their walks avoid steps: distances on that network
        H = network.step_free_graph(G, policy.walking.step_free_avoid)
        step_free = build_instance(_access(H, demand, sites, policy.walking, door), weight,
                                   cost, policy.max_threshold_m)
    model = EmbeddedFacilities(
        instance, policy, demand, sites, budget=sc.budget, standard=sc.standard,
        standard_mode=sc.standard_mode, capacity=sc.capacity, objective=sc.objective,
        max_new_sites=sc.max_sites, min_coverage=sc.min_coverage, step_free=step_free,
        required=required)
    _step(f"walking distances: {len(instance.pair_demand):,} pairs; embedded model built")
    plan = model.solve(sc.solver, time_limit=sc.time_limit, mip_gap=sc.mip_gap,
                       marginal=sc.marginal)
    _step(f"model: {plan.summary['status']}, cost {plan.summary['cost_total']:,.0f} CNY")
    solution = plan_to_coverage(plan, instance)
    if not plan.summary.get("served_by_service") or \
            sum(plan.summary["served_by_service"].values()) <= 0:
        notes = "; ".join(plan.summary.get("notes") or []) \
            or f"solver status {plan.summary['status']}"
        warnings.warn(f"the plan serves no one ({notes})", UserWarning, stacklevel=2)
    demand, sites = _attach(access, instance, solution, demand, sites)
    sites = _attach_plan(sites, plan, policy.active_services)
    result = RunResult(sc, G, area, demand, sites, access, instance, solution,
                       candidates=_with_results(candidates, sites), plan=plan)
    result.summary = _summary(result, time.perf_counter() - t0)
    p = plan.summary
    result.summary.update({
        "model": "embedded", "objective_kind": p["objective_kind"], "budget": sc.budget,
        "cost_total": p["cost_total"], "objective": p["objective"], "lp_bound": p["lp_bound"],
        "mip_gap": p["mip_gap"], "status": p["status"],
        "served_by_service": p["served_by_service"], "unmet_by_service": p["unmet_by_service"],
        "communities_meeting_standard": p["communities_meeting_standard"],
        "communities_total": p["communities_total"],
        "standard_m2_per_100_households": p["standard_m2_per_100_households"],
        "standard_mode": p["standard_mode"], "n_complexes": p["n_complexes"],
        "policy": str(sc.policy_file) if sc.policy_file else policy.meta.name,
        # the walks actually used: one threshold per service (the scenario's are not read)
        "walk_minutes": None, "speed_m_per_min": None,
        "threshold_m_by_service": {s: policy.threshold_m(s) for s in policy.active_services},
        "speed_m_per_min_by_profile": dict(policy.walking.speed_m_per_min),
        "step_free_services": policy.step_free_services,
        "notes": p["notes"] + _standard_note(p, policy),
        # the numbers, sources and placeholder flags the plan rests on (for review)
        "assumptions": policy.assumptions(),
    })
    return result


def _attach_plan(sites, plan, services):
    """Per-site plan columns: services, complex, area_m2_<service>, units_<service>,
    area_used_m2, and the plan's cost breakdown on its sites (see :func:`_plan_costs`)."""
    sites = _plan_costs(sites.copy(), plan)
    t = plan.sites.set_index("site") if len(plan.sites) else None
    cols = ["services", "complex", "acquisition_mode", "area_used_m2", "marginal_value",
            "marginal_people",
            *[f"{p}_{s}" for s in services for p in ("area_m2", "units")]]
    for c in cols:
        src = "area_m2" if c == "area_used_m2" else c  # the m² the plan uses (costs are on it)
        default = "" if c in ("services", "acquisition_mode") else (False if c == "complex" else 0.0)
        values = pd.Series(default, index=np.arange(len(sites)), dtype=object)
        if t is not None and src in t:
            values.loc[t.index] = t[src].to_numpy()
        if c == "acquisition_mode" and "acquisition_mode" in sites:
            continue  # the sites stage owns it
        sites[c] = values.to_numpy() if c in ("services", "acquisition_mode") else \
            values.astype(bool if c == "complex" else float).to_numpy()
    return sites


def _plan_costs(sites, plan):
    """The plan's cost of each site it opens (charged on the m² it uses) replaces the
    price of the usable area in ``cost`` (= ``cost_one_off``), ``annual_cost`` and the
    breakdown ``cost_one_off``, ``cost_fit_out``, ``cost_rent_horizon``, ``cost_total``;
    other candidates keep their price. Every output reads these columns."""
    if not len(plan.sites):
        return sites
    t = plan.sites.set_index("site")
    rows = t.index.to_numpy(np.int64)
    for col in (*COST_PARTS, "cost_total", "annual_cost"):
        sites[col] = sites[col].astype(float)
        sites.iloc[rows, sites.columns.get_loc(col)] = t[col].to_numpy(float)
    sites.iloc[rows, sites.columns.get_loc("cost")] = t["cost_one_off"].to_numpy(float)
    return sites


def _check_reach(sc: Scenario, instance: Instance) -> None:
    """Refuse a covering model with nothing to cover (no one lives within reach)."""
    total = float(instance.weight.sum())
    if total <= 0:
        raise SitingError("the study area holds no population (total 0): nothing to cover; "
                          "check --population / --population-column or --m2-per-person")
    if float(instance.weight[instance.coverable()].sum()) <= 0:
        raise SitingError(
            f"no one lives within {instance.threshold_m:,.{0 if instance.threshold_m >= 10 else 1}f}"
            f" m walk of any of the "
            f"{instance.n_sites} candidate sites, so model {sc.model} has nothing to cover; "
            f"raise --walk-minutes / --threshold-m or add candidates (--inventory)")


def _why_no_one(sc: Scenario, instance: Instance, solution: CoverageSolution) -> str:
    if not len(solution.chosen):
        return (f"no site was opened (solver status {solution.status}); check --budget and "
                f"--max-sites")
    return (f"none of the {len(solution.chosen)} sites opened reaches anyone within "
            f"{instance.threshold_m:,.0f} m")


EXPLAIN_MAX_SITES = 25  # re-solves per run for loss_if_dropped (one per chosen new site)


def _explain(sc: Scenario, inst: Instance, sol: CoverageSolution, sites, fixed, required):
    """Why each chosen site: ``unique_covered`` (people no other open site reaches),
    ``unique_per_10k_cny``, ``cost_rank_in_reach`` (1 = the cheapest of the candidates
    reaching any of the same people) and ``loss_if_dropped`` (people covered lost when the
    site may not be used and the plan is solved again; NaN for existing and required sites,
    and when more than :data:`EXPLAIN_MAX_SITES` new sites are open)."""
    sites = sites.copy()
    n = inst.n_sites
    chosen = np.asarray(sol.chosen, dtype=np.int64)
    cov = sp.csc_array(inst.coverage())  # demand x sites within reach
    times = cov @ np.isin(np.arange(n), chosen).astype(float)
    cost = sites["cost_total"].to_numpy(float)
    unique = np.full(n, np.nan)
    rank = np.full(n, np.nan)
    loss = np.full(n, np.nan)
    new = np.setdiff1d(chosen, np.union1d(np.asarray(fixed, dtype=np.int64),
                                          np.asarray(required, dtype=np.int64)))
    by_row = sp.csr_array(cov)  # converted once: the rival sites of each site's people
    for j in chosen:
        rows = cov.indices[cov.indptr[j]:cov.indptr[j + 1]]
        unique[j] = float(inst.weight[rows[times[rows] == 1]].sum())
        rivals = np.unique(by_row[rows].indices) if len(rows) else np.array([j])
        rank[j] = 1 + int((cost[rivals] < cost[j] - 1e-9).sum())
    if 0 < len(new) <= EXPLAIN_MAX_SITES:
        base = sol.covered_population
        for j in new:
            keep = inst.pair_site != j
            sub = Instance(inst.weight, inst.cost, inst.pair_demand[keep], inst.pair_site[keep],
                           inst.pair_dist[keep], inst.threshold_m)
            loss[j] = base - _optimise(sc, sub, fixed, required).covered_population
    sites["unique_covered"] = unique
    with np.errstate(divide="ignore", invalid="ignore"):
        sites["unique_per_10k_cny"] = np.where(cost > 0, unique / cost * 1e4, np.nan)
    sites["cost_rank_in_reach"] = rank
    sites["loss_if_dropped"] = loss
    return sites


def _optimise(sc: Scenario, instance: Instance, fixed=(), required=()) -> CoverageSolution:
    """Solve the scenario's model; ``fixed`` (existing facilities) stay open for free;
    ``required`` sites are open too, their cost and count charged to the budget and ``p``
    (fixing ``y_j = 1`` and lowering the limits by them is the same model)."""
    required = np.asarray(required, dtype=np.int64)
    fixed = np.union1d(np.asarray(fixed, dtype=np.int64), required)
    if sc.model == "set_cover":
        # fewest new sites unless a flat cost rate is asked for (policy costs are placeholders)
        model = SetCovering(instance, fixed=fixed, use_cost=bool(sc.cost_per_m2))
    else:
        if sc.budget is not None and not instance.cost.any():
            raise SitingError("a budget needs site costs: set cost_per_m2 (CNY per usable m²)")
        new = np.setdiff1d(np.arange(instance.n_sites), np.asarray(fixed, dtype=np.int64))
        if sc.budget is not None and len(new) and sc.budget < instance.cost[new].min():
            cheapest = float(instance.cost[new].min())
            raise SitingError(
                f"--budget {sc.budget:,.0f} CNY is below the cheapest candidate site "
                f"({cheapest:,.0f} CNY), so no site can be opened; raise --budget to at least "
                f"{cheapest:,.0f} or lower the costs (--cost-per-m2)")
        p = sc.max_sites if sc.max_sites is not None or sc.budget is not None else DEFAULT_P
        n_new = instance.n_sites - len(fixed)
        budget = sc.budget
        if len(required):
            spent = float(instance.cost[required].sum())
            if p is not None and p < len(required):
                raise SitingError(f"--require names {len(required)} sites but --max-sites is "
                                  f"{p}; raise --max-sites to at least {len(required)}")
            if budget is not None and budget < spent:
                raise SitingError(f"the required sites cost {spent:,.0f} CNY, more than "
                                  f"--budget {budget:,.0f}; raise --budget or require fewer")
            p = None if p is None else p - len(required)
            budget = None if budget is None else budget - spent
        if p is not None and p > n_new:
            raise SitingError(
                f"max_sites = {p} is larger than the {n_new} candidate sites found; "
                f"use --max-sites {n_new} or fewer"
            )
        model = MaximalCovering(instance, p=p, budget=budget, fixed=fixed)
    return model.solve(sc.solver, time_limit=sc.time_limit, mip_gap=sc.mip_gap)


def _attach(access: Access, inst: Instance, sol: CoverageSolution, demand, sites):
    """Result columns: covered, nearest chosen site and walk per demand; per-site totals."""
    demand, sites = demand.copy(), sites.copy()
    chosen = sol.chosen
    nearest = np.full(inst.n_demand, -1, dtype=np.int64)
    walk = np.full(inst.n_demand, np.inf)
    if len(chosen):
        # exact for pairs within reach (snap distances included) …
        is_open = np.zeros(inst.n_sites, bool)
        is_open[chosen] = True
        m = is_open[inst.pair_site]
        pi, pj, pd_ = inst.pair_demand[m], inst.pair_site[m], inst.pair_dist[m]
        order = np.lexsort((pd_, pi))
        first = np.ones(len(order), bool)
        first[1:] = pi[order][1:] != pi[order][:-1]
        sel = order[first]
        nearest[pi[sel]], walk[pi[sel]] = pj[sel], pd_[sel]
        # … and from one multi-source search for the rest (beyond reach)
        far = nearest < 0
        if far.any():
            d, _, src = dijkstra(access.adjacency, indices=access.site_node[chosen],
                                 min_only=True, return_predecessors=True)
            node = access.demand_node[far]
            src_node = src[node]
            site_at = np.full(len(access.node_ids), -1, dtype=np.int64)
            site_at[access.site_node[chosen][::-1]] = chosen[::-1]  # first chosen site per node
            ok = src_node >= 0
            i, j = np.flatnonzero(far)[ok], site_at[src_node[ok]]
            nearest[i] = j
            walk[i] = d[node[ok]] + access.demand_snap_m[i] + access.site_snap_m[j]
    demand["covered"] = sol.covered
    demand["nearest_site"] = nearest
    demand["walk_m"] = walk
    demand["snap_m"] = np.where(np.isfinite(access.demand_snap_m), access.demand_snap_m, np.nan)
    demand["snap_flag"] = _or_blank(access.demand_flag, inst.n_demand)
    demand["walk_from"] = _or_blank(access.demand_door, inst.n_demand)
    demand["component"] = access.component[access.demand_node]
    sites["chosen"] = np.isin(np.arange(len(sites)), chosen)
    sites["covered_population"] = np.bincount(
        nearest[sol.covered], weights=inst.weight[sol.covered], minlength=inst.n_sites)
    cov = inst.coverage()
    sites["population_in_reach"] = cov.T.astype(float) @ inst.weight
    sites["snap_m"] = np.where(np.isfinite(access.site_snap_m), access.site_snap_m, np.nan)
    sites["snap_flag"] = _or_blank(access.site_flag, inst.n_sites)
    sites["walk_from"] = _or_blank(access.site_door, inst.n_sites)
    sites["component"] = access.component[access.site_node]
    return demand, sites


def _snap_summary(r: RunResult) -> dict:
    """How demand and sites met the streets: flagged points and the people they hold."""
    d, pop = r.demand, r.demand["population"].to_numpy(float)
    flag, door = d["snap_flag"].to_numpy(), d["walk_from"].to_numpy()
    return {
        "demand_beyond_max_snap": int((flag == "beyond_max_snap").sum()),
        "population_beyond_max_snap": float(pop[flag == "beyond_max_snap"].sum()),
        "sites_beyond_max_snap": int((r.sites["snap_flag"] == "beyond_max_snap").sum()),
        "population_relinked_from_fragment": float(pop[flag == "relinked_from_fragment"].sum()),
        "demand_walk_from_entrance": int((door == "entrance").sum()),
        "demand_walk_from_wall": int((door == "wall").sum()),
    }


def _or_blank(values, n: int) -> np.ndarray:
    return np.full(n, "", dtype=object) if values is None else np.asarray(values, dtype=object)


def _with_results(candidates: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The candidate table with the optimiser's result columns (excluded rows: not chosen)."""
    c = candidates.copy()
    n = len(sites)
    for col, empty in (("chosen", False), ("covered_population", 0.0),
                       ("population_in_reach", np.nan), ("snap_m", np.nan), ("snap_flag", ""),
                       ("walk_from", ""), ("component", -1)):
        values = np.full(len(c), empty, dtype=sites[col].to_numpy().dtype)
        values[:n] = sites[col].to_numpy()
        c[col] = values
    for col in ("cost", "annual_cost", *COST_PARTS, "cost_total"):  # an embedded plan's costs
        values = c[col].to_numpy(float).copy()
        values[:n] = sites[col].to_numpy(float)
        c[col] = values
    return c


def _summary(r: RunResult, runtime_s: float) -> dict:
    inst, sol = r.instance, r.solution
    coverable = inst.coverable()
    total = float(inst.weight.sum())
    d = r.demand
    graph_comp = r.access.component[:r.access.n_graph_nodes]  # split points aside
    comp = pd.DataFrame({
        "population": d.groupby("component")["population"].sum(),
        "covered_population": d[d["covered"]].groupby("component")["population"].sum(),
        "coverable_population": d[coverable].groupby("component")["population"].sum(),
        "candidate_sites": r.sites.groupby("component").size(),
        "nodes": pd.Series(np.bincount(graph_comp)),
    })
    comp = comp[comp["population"] > 0]
    comp = comp.fillna(0).sort_values("population", ascending=False)
    largest = int(np.bincount(graph_comp).max())
    return {
        "total_population": total,
        "covered_population": sol.covered_population,
        "coverable_population": float(inst.weight[coverable].sum()),
        "covered_share": sol.covered_population / total if total else 0.0,
        "n_demand_points": int(inst.n_demand),
        "n_candidate_sites": int(inst.n_sites),
        "n_sites_chosen": int(len(sol.chosen)),
        "n_existing_sites": int(r.sites["existing"].sum()),
        "n_new_sites_chosen": int((r.sites["chosen"] & ~r.sites["existing"]).sum()),
        "n_candidates_excluded": int(r.candidates["excluded_reason"].notna().sum()
                                     if r.candidates is not None else 0),
        "model": sol.model,
        "max_sites": r.scenario.max_sites,
        "budget": r.scenario.budget,
        "cost_total": float(r.sites.loc[r.sites["chosen"], "cost_total"].sum()),
        "objective": sol.objective,
        "lp_bound": sol.bound,
        "status": sol.status,
        "mip_gap": sol.mip_gap,
        "solver": sol.solver,
        "solve_time_s": sol.runtime_s,
        "threshold_m": inst.threshold_m,
        "walk_minutes": r.scenario.walk_minutes if r.scenario.threshold_m is None else None,
        "speed_m_per_min": r.scenario.speed_m_per_min,
        "crs": str(r.graph.graph["crs"]),
        "network_nodes": int(r.graph.number_of_nodes()),
        "network_edges": int(r.graph.number_of_edges()),
        **_snap_summary(r),
        "network_components": int(graph_comp.max() + 1),
        "largest_component_share": largest / len(graph_comp),
        "components": [
            {"component": int(k), **{c: (int(v) if c in ("candidate_sites", "nodes")
                                         else float(v)) for c, v in row.items()}}
            for k, row in comp.head(20).iterrows()
        ],
        "population_outside_largest_component": float(
            r.demand.loc[r.demand["component"] != 0, "population"].sum()),
        "levels_estimated_share": float(r.demand["levels_estimated"].mean()),
        "population_by_group": population_by_group(r.demand),
        "households": float(r.demand["households"].sum()),
        "population_source": str(r.scenario.population or "buildings"),
        "communities": int(r.demand["community_id"].nunique()),
        "community_source": str(r.scenario.communities or "grid of 500 m planning cells"),
        "study_area_wgs84": list(r.study_area.bounds),
        "source": str(r.scenario.osm or r.scenario.graphml or r.scenario.place),
        "runtime_s": runtime_s,
    }


def _read_layer(path: Path, what: str) -> gpd.GeoDataFrame:
    gdf = read_vector(path, what).to_crs("EPSG:4326")
    for col in BUILDING_TAGS:
        if col not in gdf:
            gdf[col] = None
    if "building" in gdf:
        gdf["building"] = gdf["building"].fillna("yes")
    return gdf


def _download_place(place: str, bbox):
    """Walking graph and buildings of a place name from OSM (needs the internet)."""
    import osmnx as ox

    try:
        G = ox.graph_from_place(place, network_type="walk", retain_all=True)
        area = ox.geocode_to_gdf(place).union_all()
        feats = ox.features_from_polygon(area, tags={"building": True, "landuse": True})
    except Exception as exc:  # requests and osmnx raise many kinds when offline
        raise SitingError(
            f"could not download {place!r} from OpenStreetMap ({exc}); "
            "check the internet connection or give --osm FILE"
        ) from exc
    feats = feats[feats.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index()
    feats["osm_id"] = feats["element"].str[0] + feats["id"].astype(str)
    feats = feats.set_index("osm_id")
    for col in BUILDING_TAGS:
        if col not in feats:
            feats[col] = None
    is_b = feats["building"].notna() & feats["building"].ne("no")
    buildings = feats.loc[is_b, [*BUILDING_TAGS, "geometry"]]
    landuse = feats.loc[~is_b & feats["landuse"].notna(), [*BUILDING_TAGS, "geometry"]]
    if bbox:
        area = box(*bbox)
    return G, buildings, landuse, area
