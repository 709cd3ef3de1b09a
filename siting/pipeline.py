"""The end-to-end run: scenario → network, demand, sites → access → model → result."""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import networkx as nx
import numpy as np
import scipy.sparse as sp
from shapely.geometry import box

from siting import network
from siting.access import Access, build_access, build_instance
from siting.communities import assign_communities
from siting.config.policy import load_policy
from siting.config.scenario import Scenario
from siting.config.site_policy import site_policy
from siting.demand import add_groups, demand_from_buildings, load_population
from siting.errors import SitingError
from siting.inputs import named
from siting.io.osm import BUILDING_TAGS, OSMExtract, read_osm
from siting.io.vectors import read_vector
from siting.models.coverage import MaximalCovering, SetCovering
from siting.models.instance import Instance
from siting.models.results import CoverageSolution
from siting.results import (
    RunResult,
    attach_plan,
    attach_results,
    run_summary,
    with_results,
)
from siting.sites import assemble, site_candidates
from siting.solvers import Progress

if TYPE_CHECKING:
    from siting.models.embedded.parallel import GroupsOn

DEFAULT_P = 10


def load_inputs(sc: Scenario):
    """Walking graph (WGS84), buildings, land use, study area and building entrances
    (None when the input has none) for a scenario.

    Parameters
    ----------
    sc
        The scenario; its input is, in this order of preference, ``osm`` (an extract,
        clipped to ``bbox`` if given), ``graphml`` with ``buildings``, or ``place``
        (downloaded).

    Returns
    -------
    tuple
        ``(G, buildings, landuse, area, entrances)``: the walking graph, building
        footprints, land use (``None`` for a GraphML input), the study area (WGS84
        polygon: ``bbox`` if given, else the extract's extent, the graph's node bounds or
        the place's boundary) and building entrances (``None`` unless from an extract).

    Raises
    ------
    SitingError
        When no input is given, ``bbox`` does not overlap the extract's data, or the
        place cannot be downloaded.
    """
    if sc.osm is not None:
        ext = _extract(sc.osm)
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
    if sc.graphml is not None and sc.buildings is not None:
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


def _extract(path: Path) -> OSMExtract:
    """The extract of an OSM file, read once per process while the file is unchanged
    (``siting compare`` and ``siting batch`` workers plan many scenarios on one file)."""
    try:
        st = Path(path).stat()
    except OSError:
        return read_osm(path)  # its own message for a missing or unreadable file
    return _read_osm_cached(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=2)
def _read_osm_cached(path: str, mtime_ns: int, size: int) -> OSMExtract:
    """:func:`siting.io.osm.read_osm`, kept for the last two (file, version) pairs."""
    return read_osm(path)


def _nodes_wgs84(G: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    import osmnx as ox

    return ox.graph_to_gdfs(G, edges=False).to_crs("EPSG:4326")


def run(sc: Scenario, progress: Callable[[str], None] | None = None,
        groups_on: GroupsOn | None = None) -> RunResult:
    """Run one scenario end to end (nothing is written; see :meth:`RunResult.write`).

    ``progress`` is called with one line per stage as it ends (``network: 2,449 nodes
    (3.1 s)``); the CLI prints them on a terminal.

    Parameters
    ----------
    sc
        The scenario: inputs, policy, model, solver and limits.
    progress
        Called with one line of text per finished stage (seconds since the start
        appended), and with the solver's incumbent, bound and gap during the solve;
        ``None`` (default) to report nothing.
    groups_on
        Where a decomposed embedded model solves its groups (``decompose`` on or auto;
        :func:`~siting.models.embedded.parallel.solve_as`): a Dask cluster for ``siting
        run --workers``, the batch's own for ``siting batch``. None: in this process.

    Returns
    -------
    RunResult
        Inputs as used, result columns on demand and sites, the solution and summary.
    """
    if groups_on is not None and sc.decompose == "off":
        raise SitingError("group solves on a cluster (--workers N, --scheduler) are for a "
                          "decomposed embedded plan; add --decompose on or auto")
    t0 = time.perf_counter()
    token = _PROGRESS.set((progress, t0))
    try:
        return _run(sc, t0, groups_on)
    finally:
        _PROGRESS.reset(token)


_PROGRESS: ContextVar[tuple] = ContextVar("siting_progress", default=(None, 0.0))


def _step(text: str) -> None:
    """Report a finished stage to the run's ``progress`` callback (if any)."""
    say, t0 = _PROGRESS.get()
    if say is not None:
        say(f"{text} ({time.perf_counter() - t0:.1f} s)")


def _solver_progress(every_s: float = 2.0) -> Progress | None:
    """A solver callback that reports the incumbent, bound and gap to the run's
    ``progress`` (at most every ``every_s`` seconds, and on each better incumbent)."""
    say, _ = _PROGRESS.get()
    if say is None:
        return None
    last = [-np.inf, np.nan]  # time and incumbent of the last line

    def report(t: float, incumbent: float, bound: float) -> None:
        if t - last[0] < every_s and incumbent == last[1]:
            return
        last[:] = [t, incumbent]
        if np.isfinite(bound):
            gap = abs(incumbent - bound) / max(abs(incumbent), 1e-9)
            _step(f"model: best {incumbent:,.0f}, bound {bound:,.0f}, gap {100 * gap:.2f} %")
        else:
            _step(f"model: best {incumbent:,.0f}, no bound yet")

    return report


def _run(sc: Scenario, t0: float, groups_on: GroupsOn | None = None) -> RunResult:
    from siting.inputs import validate_inputs

    validate_inputs(sc)  # every input file checked before the network is built
    policy = load_policy(sc.policy_file, sc.policy)  # the one resolved policy of the run
    # a programme's and the residents' needs tables: read once, before the network
    prog, needs = _tables(sc, policy) if sc.embedded else (None, None)
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
    demand = _demand(sc, policy, area, buildings, landuse, crs)
    _step(f"demand: {len(demand):,} points, {demand['population'].sum():,.0f} people")
    candidates = site_candidates(
        buildings, landuse, area, crs, inventory=sc.inventory, inventory_crs=sc.inventory_crs,
        existing=sc.existing, existing_crs=sc.existing_crs, exclude=sc.exclude,
        min_floor_area_m2=sc.min_floor_area_m2, default_levels=sc.candidate_levels,
        usable_ratio=sc.usable_ratio, cost_per_m2=sc.cost_per_m2, plan_year=sc.plan_year,
        policy=site_policy(sc.policy_file, sc.policy))  # its service vocabulary, classes …
    if prog is not None:  # a programme's projects and the attributes its funding tests
        candidates, demand = _programme_rows(sc, policy, prog, demand, candidates, area)
    candidates = _planner_choices(sc, candidates)
    # the optimiser gets the candidates not excluded: rows 0..n-1 (site_id == row)
    sites = candidates[candidates["excluded_reason"].isna()].copy()
    fixed = np.flatnonzero(sites["existing"].to_numpy())
    required = np.flatnonzero(sites["source_id"].astype(str).isin(sc.require).to_numpy()
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
                               door, required, prog, needs, groups_on)
        result.buildings = footprints
        return result
    instance = build_instance(access, demand["population"].to_numpy(),
                              sites["cost_total"].to_numpy(), sc.reach_m)
    _check_reach(sc, instance)
    _step(f"walking distances: {len(instance.pair_demand):,} pairs within {sc.reach_m:,.0f} m")
    solution = _optimise(sc, instance, fixed, required, _solver_progress())
    _step(f"model: {solution.status}, {len(solution.chosen)} sites")
    if solution.covered_population <= 0:
        warnings.warn(f"the plan serves no one: {_why_no_one(sc, instance, solution)}",
                      UserWarning, stacklevel=2)
    demand, sites = attach_results(access, instance, solution, demand, sites)
    sites = _explain(sc, instance, solution, sites, fixed, required)
    _step("explained: what each chosen site adds")
    candidates = with_results(candidates, sites)
    result = RunResult(sc, G, area, demand, sites, access, instance, solution,
                       candidates=candidates, buildings=footprints)
    result.summary = run_summary(result, time.perf_counter() - t0)
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
    candidates the optimiser can open. Ids are ``source_id`` values (stable across runs)."""
    ids = candidates["source_id"].astype(str)
    for flag, wanted in (("--require", sc.require), ("--forbid", sc.forbid)):
        unknown = [v for v in wanted if v not in set(ids)]
        if unknown:
            raise SitingError(
                f"{flag}: no candidate site has id {', '.join(map(repr, unknown[:5]))}; ids are "
                f"the source_id column of candidates.gpkg (OSM w…/r… or an inventory 编号), e.g. "
                f"{', '.join(ids.head(3))}")
    both = set(sc.require) & set(sc.forbid)
    if both:
        raise SitingError(f"--require and --forbid both name {', '.join(sorted(both))}")
    gone = candidates[ids.isin(sc.require) & candidates["excluded_reason"].notna()]
    if len(gone):
        raise SitingError(
            f"--require {gone['source_id'].iloc[0]}: that candidate is excluded "
            f"({gone['excluded_reason'].iloc[0]}); it cannot be opened")
    if not sc.forbid:
        return candidates
    out = candidates.copy()
    out.loc[ids.isin(sc.forbid) & out["excluded_reason"].isna(), "excluded_reason"] = \
        "forbidden (--forbid)"
    return assemble([out], out.crs)  # optimiser sites first again, site_id = row


def _run_embedded(sc: Scenario, policy, G, area, demand, sites, candidates, access, t0,
                  door: dict, required=(), prog=None, needs=None,
                  groups_on: GroupsOn | None = None) -> RunResult:
    """The embedded-facility model (siting.models.embedded) on the demand and site tables
    (with the programme ``prog`` and the residents' needs table ``needs``, when given;
    decomposed as ``sc.decompose`` says, its groups solved through ``groups_on``)."""
    from siting.models.embedded import EmbeddedFacilities, plan_to_coverage
    from siting.models.embedded.parallel import solve_as

    weight, cost = demand["population"].to_numpy(), sites["cost_total"].to_numpy()
    instance = build_instance(access, weight, cost, policy.max_threshold_m)
    step_free = None
    if policy.step_free_services:  # their walks avoid steps: distances on that network
        H = network.step_free_graph(G, policy.walking.step_free_avoid)
        step_free = build_instance(_access(H, demand, sites, policy.walking, door), weight,
                                   cost, policy.max_threshold_m)
    model_demand = demand
    if needs is not None:  # residents' needs: weights per community and service
        from siting.models.embedded.needs import with_needs

        model_demand = with_needs(demand, needs, sc.needs_mode or "priority")
    model = EmbeddedFacilities(
        instance, policy, model_demand, sites,
        budget=sc.budget, standard=sc.standard,
        standard_mode=sc.standard_mode, capacity=sc.capacity, objective=sc.objective,
        max_new_sites=sc.max_sites, min_coverage=sc.min_coverage, step_free=step_free,
        required=required, programme=prog)
    _step(f"walking distances: {len(instance.pair_demand):,} pairs; embedded model built")
    plan = solve_as(model, sc.decompose, groups_on, solver=sc.solver,
                    time_limit=sc.time_limit, mip_gap=sc.mip_gap, marginal=sc.marginal,
                    progress=_solver_progress())
    _step(f"model: {plan.summary['status']}, cost {plan.summary['cost_total']:,.0f} CNY")
    solution = plan_to_coverage(plan, instance)
    if not plan.summary.get("served_by_service") or \
            sum(plan.summary["served_by_service"].values()) <= 0:
        notes = "; ".join(plan.summary.get("notes") or []) \
            or f"solver status {plan.summary['status']}"
        warnings.warn(f"the plan serves no one ({notes})", UserWarning, stacklevel=2)
    demand, sites = attach_results(access, instance, solution, demand, sites)
    sites = attach_plan(sites, plan, policy.active_services)
    if "year_open" in plan.sites:  # a programme's opening years
        sites["year_open"] = plan.sites.set_index("site")["year_open"].reindex(
            np.arange(len(sites))).to_numpy(float)
    result = RunResult(sc, G, area, demand, sites, access, instance, solution,
                       candidates=with_results(candidates, sites), plan=plan)
    result.summary = run_summary(result, time.perf_counter() - t0)
    p = plan.summary
    result.summary.update({
        "model": "embedded", "objective_kind": p["objective_kind"], "budget": sc.budget,
        "cost_total": p["cost_total"], "objective": p["objective"], "best_bound": p["best_bound"],
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
        "decompose": sc.decompose, **({"groups": p["groups"]} if "groups" in p else {}),
        # the numbers, sources and placeholder flags the plan rests on (for review)
        "assumptions": policy.assumptions(),
        **_programme_summary(p, sc),
    })
    return result


def _programme_summary(p: dict, sc: Scenario) -> dict:
    """The plan's running-cost totals and the needs table used (issue #16).

    Parameters
    ----------
    p
        The plan's summary.
    sc
        The scenario.
    """
    from siting.models.embedded.operations import SUMMARY_KEYS

    out = {k: p[k] for k in (*SUMMARY_KEYS, "programme_money", "programme_spent",
                                      "programme_years") if k in p}
    if sc.needs is not None:
        out.update(needs=str(sc.needs), needs_mode=sc.needs_mode or "priority")
    return out


def _tables(sc: Scenario, policy) -> tuple:
    """The scenario's programme (``funding``, ``phases``, ``projects``; None without them)
    and residents' needs table (None without one), read and checked once."""
    from siting.models.embedded.needs import read_needs
    from siting.models.embedded.programme import read_programme, service_words

    prog = read_programme(sc.funding, sc.phases, sc.projects, service_words(policy))
    return prog, None if sc.needs is None else read_needs(sc.needs, policy)


def _programme_rows(sc: Scenario, policy, prog, demand, candidates, area):
    """Candidates and demand with a programme's projects and its funding's site attributes."""
    from siting.models.embedded.projects import add_projects, add_site_attributes

    if prog.projects is not None:
        shares = {**policy.population.age_shares, **(sc.age_shares or {})}
        size = sc.household_size or policy.population.household_size
        demand, candidates = add_projects(demand, candidates, prog.projects, shares, size,
                                          site_policy(sc.policy_file, sc.policy), area)
    return add_site_attributes(candidates, prog, sc.inventory), demand


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


def _optimise(sc: Scenario, instance: Instance, fixed=(), required=(),
              progress: Progress | None = None) -> CoverageSolution:
    """Solve the scenario's model; ``fixed`` (existing facilities) stay open for free;
    ``required`` sites are open too, their cost and count charged to the budget and ``p``
    (fixing ``y_j = 1`` and lowering the limits by them is the same model)."""
    required = np.asarray(required, dtype=np.int64)
    fixed = np.union1d(np.asarray(fixed, dtype=np.int64), required)
    if sc.model == "set_cover":
        # fewest new sites unless a flat cost rate is asked for (policy costs are placeholders)
        model: SetCovering | MaximalCovering = SetCovering(instance, fixed=fixed,
                                                           use_cost=bool(sc.cost_per_m2))
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
    return model.solve(sc.solver, time_limit=sc.time_limit, mip_gap=sc.mip_gap,
                       progress=progress)


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
