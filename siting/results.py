"""What a run produced: the result columns on demand and sites, and the summary.

:class:`RunResult` holds everything; the functions here turn a solution into the columns
and headline numbers every output reads (one number, one source).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra
from shapely.geometry.base import BaseGeometry

from siting.access import Access
from siting.config.scenario import Scenario
from siting.costs import COST_PARTS
from siting.demand import population_by_group
from siting.models.embedded.rooms import programme_columns
from siting.models.instance import Instance
from siting.models.results import CoverageSolution

if TYPE_CHECKING:
    from siting.models.embedded import EmbeddedSolution


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
        ``site_id`` and ``nearest_site`` are that internal row number, which moves with
        ``--exclude``/``--forbid``; outputs name a site by its stable ``source_id``
        instead (:func:`siting.report.views.public_table`).
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
    study_area: BaseGeometry
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    access: Access
    instance: Instance
    solution: CoverageSolution
    summary: dict = field(default_factory=dict)
    candidates: gpd.GeoDataFrame | None = None
    plan: EmbeddedSolution | None = None  # when the embedded model ran
    buildings: gpd.GeoDataFrame | None = None

    @property
    def chosen_sites(self) -> gpd.GeoDataFrame:
        """The rows of ``sites`` the optimiser opened (``chosen``), existing ones included."""
        return self.sites[self.sites["chosen"]]

    def write(self, out: str | Path, overwrite: bool = False, **map_options) -> Path:
        """Write map, tables, GeoPackages and summary.json to ``out`` (see :mod:`siting.report`;
        ``map_options``: ``lang``, ``assets``, ``basemap``, ``tianditu_key``).

        Parameters
        ----------
        out
            Output folder; written to a temporary folder beside it, then swapped in.
        overwrite
            Replace an existing ``out`` if it is an earlier siting run (default False).
        **map_options
            ``lang``, ``assets``, ``basemap``, ``tianditu_key``, passed to the map
            (see :func:`siting.report.write.write_outputs`).

        Returns
        -------
        Path
            The output folder.
        """
        from siting.report.write import write_outputs

        return write_outputs(self, out, overwrite=overwrite, **map_options)

    def map(self, **map_options):
        """The Folium map (displays inline in Jupyter; options as :func:`siting.report.make_map`).

        Parameters
        ----------
        **map_options
            ``lang`` (``"zh"``/``"en"``), ``assets`` (``"inline"``/``"cdn"``), ``basemap``
            and ``tianditu_key`` (see :func:`siting.report.webmap.make_map`).

        Returns
        -------
        folium.Map
        """
        from siting.report.write import make_map

        return make_map(self, **map_options)

    def _repr_html_(self) -> str:
        from siting.report.tables import result_html

        return result_html(self)


def attach_plan(sites, plan, services):
    """Per-site plan columns: services, complex, area_m2_<service>, units_<service>,
    area_used_m2, and the plan's cost breakdown on its sites (see :func:`plan_costs`).

    Parameters
    ----------
    sites
        Candidate sites offered to the optimiser (row ``j`` is plan site ``j``); not modified.
    plan
        The embedded model's :class:`~siting.models.embedded.EmbeddedSolution`.
    services
        Service keys of the policy (one ``area_m2_<service>`` and ``units_<service>``
        column each).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``sites`` with the plan columns; sites the plan does not open get
        empty services, no complex and 0 m² (``acquisition_mode`` is left as it was).
    """
    sites = plan_costs(sites.copy(), plan)
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
    return programme_columns(sites, plan)  # levels, shared rooms, running costs


def plan_costs(sites, plan):
    """The plan's cost of each site it opens (charged on the m² it uses) replaces the
    price of the usable area in ``cost`` (= ``cost_one_off``), ``annual_cost`` and the
    breakdown ``cost_one_off``, ``cost_fit_out``, ``cost_rent_horizon``, ``cost_total``;
    other candidates keep their price. Every output reads these columns.

    Parameters
    ----------
    sites
        Candidate sites with the cost columns (CNY; ``annual_cost`` in CNY per year);
        modified in place.
    plan
        The embedded model's :class:`~siting.models.embedded.EmbeddedSolution`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``sites``, with the plan's costs on the sites it opens.
    """
    if not len(plan.sites):
        return sites
    t = plan.sites.set_index("site")
    rows = t.index.to_numpy(np.int64)
    for col in (*COST_PARTS, "cost_total", "annual_cost"):
        sites[col] = sites[col].astype(float)
        sites.iloc[rows, sites.columns.get_loc(col)] = t[col].to_numpy(float)
    sites.iloc[rows, sites.columns.get_loc("cost")] = t["cost_one_off"].to_numpy(float)
    return sites


def attach_results(access: Access, inst: Instance, sol: CoverageSolution, demand, sites):
    """Result columns: covered, nearest chosen site and walk per demand; per-site totals.

    The nearest chosen site and walk are exact within reach (instance pairs) and found
    by one multi-source Dijkstra beyond it.

    Parameters
    ----------
    access
        Network index the instance was built from (graph, snaps, components).
    inst
        The optimiser's input.
    sol
        Its solution (``chosen`` sites, ``covered`` demand).
    demand
        Demand points, one row per instance demand point; not modified.
    sites
        Candidate sites, one row per instance site; not modified.

    Returns
    -------
    demand : geopandas.GeoDataFrame
        A copy with ``covered``, ``nearest_site`` (-1 when none is reachable), ``walk_m``
        (metres, snap distances included; ``inf`` when unreachable), ``snap_m``,
        ``snap_flag``, ``walk_from`` and ``component``.
    sites : geopandas.GeoDataFrame
        A copy with ``chosen``, ``covered_population`` (people covered for whom it is the
        nearest chosen site), ``population_in_reach``, ``snap_m``, ``snap_flag``,
        ``walk_from`` and ``component``.
    """
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


def with_results(candidates: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The candidate table with the optimiser's result columns (excluded rows: not chosen).

    Parameters
    ----------
    candidates
        Every candidate, the ``len(sites)`` offered to the optimiser first, then the
        excluded ones.
    sites
        The offered sites with result columns (see :func:`attach_results`) and costs
        (an embedded plan's, see :func:`plan_costs`).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``candidates`` with the result columns and costs of ``sites``; excluded
        rows are not chosen, have empty result columns and keep their own costs.
    """
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


def run_summary(r: RunResult, runtime_s: float) -> dict:
    """The headline numbers of a run, written to ``summary.json``.

    Parameters
    ----------
    r
        The run, with result columns on ``demand`` and ``sites``.
    runtime_s
        Wall time of the whole run in seconds.

    Returns
    -------
    dict
        JSON-ready: population (people) total, covered and coverable, site counts,
        model, status, objective, bound and gap, ``cost_total`` (CNY) of the chosen
        sites, threshold (metres), network and snapping diagnostics, the 20 most
        populous components, demand by group, sources and ``runtime_s``.
    """
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
        "best_bound": sol.bound,
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
