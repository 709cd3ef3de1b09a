"""Figures every output shares: walking tiers, reach polygons, people served per tier, service keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.ops import substring

from siting.report.i18n import check_lang, default_lang

if TYPE_CHECKING:
    from siting.pipeline import RunResult

REACH_BUFFER_M = 20.0  # half-width of the walked street corridor drawn as reach
KIND_COLOURS = {
    "industrial": "#8c564b", "warehouse": "#7f7f7f", "commercial": "#1f77b4",
    "office": "#17becf", "public": "#9467bd", "community": "#2ca02c", "disused": "#bcbd22",
}


TIERS_MIN = (5, 10, 15)  # walking-time tiers drawn and tabulated (GB 50180 life circles)


def tiers_m(result: RunResult,
            tiers_min: tuple[float, ...] = TIERS_MIN) -> list[tuple[float, float]]:
    """Walking tiers in metres.

    Parameters
    ----------
    result
        The run (its scenario's walking speed).
    tiers_min
        Tiers in minutes.

    Returns
    -------
    list of (float, float)
        ``(minutes, metres)`` of each tier.
    """
    speed = float(result.scenario.speed_m_per_min)
    return [(float(m), float(m) * speed) for m in tiers_min]


def reach_polygons(result: RunResult, threshold_m: float | None = None,
                   tiers_min: tuple[float, ...] | None = None,
                   merged: bool = False) -> gpd.GeoDataFrame:
    """Walking reach of each chosen site, built from the reachable network edges.

    An edge is drawn in full when its far end is within reach, else up to the point
    where the remaining distance runs out; the drawn edges are buffered by
    ``REACH_BUFFER_M`` and merged. One row per site, or per site and tier when
    ``tiers_min`` is given (reach searched once, to the largest tier, by
    :meth:`siting.access.Access.nearest`, so tiers are not limited by the instance's
    threshold). With ``merged``, one row per tier for all sites together (distance to
    the nearest chosen site; ``site_id`` -1), which is what the map draws and is much
    cheaper with many sites. Returned in the network's (metric) CRS with ``site_id``,
    ``threshold_m`` and ``minutes`` (NaN for a plain threshold).

    Parameters
    ----------
    result
        The run.
    threshold_m
        Reach in metres (default the instance's threshold); used without ``tiers_min``.
    tiers_min
        Walking tiers in minutes.
    merged
        One row per tier for all chosen sites together.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id``, ``threshold_m``, ``minutes`` and the reach polygon.

    Notes
    -----
    The map and the PDF draw the same merged tiers: :func:`siting.report.write.write_outputs`
    computes them once and hands them to both.
    """
    if tiers_min is None:
        t = result.instance.threshold_m if threshold_m is None else threshold_m
        levels = [(np.nan, float(t))]
    else:
        levels = tiers_m(result, tiers_min)
    t_max = max(t for _, t in levels)
    e = dict(result.access.edges())  # split where the points meet their streets
    e["has_rev"] = pd.MultiIndex.from_arrays([e["v"], e["u"]]).isin(
        pd.MultiIndex.from_arrays([e["u"], e["v"]]))
    sites = result.chosen_sites
    groups = ([(-1, sites)] if merged else
              [(int(j), sites[sites["site_id"] == j]) for j in sites["site_id"]])
    rows = []
    for j, group in groups:
        d_node, _ = result.access.nearest(group["site_id"].to_numpy(), t_max)
        for (minutes, t), shape in zip(levels, _tier_shapes(d_node, levels, e, group.geometry)):
            rows.append({"site_id": j, "threshold_m": t, "minutes": minutes, "geometry": shape})
    return gpd.GeoDataFrame(rows, columns=["site_id", "threshold_m", "minutes", "geometry"],
                            geometry="geometry", crs=result.graph.graph["crs"])


def _tier_shapes(d_node: np.ndarray, levels, e: dict, points) -> list:
    """Reach shape at each level (in ``levels`` order) from node distances."""
    du, dv, lengths = d_node[e["u"]], d_node[e["v"]], e["length"]
    shape = shapely.union_all(shapely.buffer(np.asarray(points), REACH_BUFFER_M))
    done = np.zeros(len(du), bool)
    shapes = {}
    for _, t in sorted(levels, key=lambda lv: lv[1]):
        rem = t - du
        full = rem >= lengths
        # an edge walked in full both ways is drawn once (u < v)
        full &= ~(e["has_rev"] & (dv + lengths <= t) & (e["v"] < e["u"]))
        new_full = np.flatnonzero(full & ~done)
        part = np.flatnonzero((rem > 0) & ~full)
        pieces = list(e["geometry"][new_full])
        pieces += [substring(e["geometry"][k], 0.0, float(rem[k])) for k in part]
        # tiers grow from the smaller one (pieces of a smaller tier lie inside the
        # larger tier's pieces), so tiers nest exactly and each edge is buffered once
        shape = shapely.union_all(np.array(
            [shape, *shapely.buffer(np.array(pieces, dtype=object), REACH_BUFFER_M)],
            dtype=object))
        done |= full
        shapes[t] = shape
    return [shapes[t] for _, t in levels]


def tier_walks(result: RunResult,
               tiers_min: tuple[float, ...] = TIERS_MIN) -> tuple[np.ndarray, np.ndarray]:
    """Nearest open site of each demand point within the largest tier, and the walk.

    Computed with one bounded search from all open sites.

    Parameters
    ----------
    result
        The run.
    tiers_min
        Walking tiers in minutes; the largest bounds the search.

    Returns
    -------
    site : numpy.ndarray
        Site index per demand point (-1 when no open site is within the largest tier).
    walk_m : numpy.ndarray
        Walking metres (demand snap + network + site snap; inf when none).
    """
    t_max = max(t for _, t in tiers_m(result, tiers_min))
    acc = result.access
    d_node, s_node = acc.nearest(result.solution.chosen, t_max)
    walk = d_node[acc.demand_node] + acc.demand_snap_m
    ok = walk <= t_max
    return np.where(ok, s_node[acc.demand_node], -1), np.where(ok, walk, np.inf)


def served_by_tier(result: RunResult, tiers_min: tuple[float, ...] = TIERS_MIN) -> pd.DataFrame:
    """People served by each open site within each tier (nearest open site, cumulative).

    Parameters
    ----------
    result
        The run.
    tiers_min
        Walking tiers in minutes.

    Returns
    -------
    pandas.DataFrame
        Columns ``served_<m>min`` per tier, indexed by ``site_id`` of the open sites
        (people beyond every tier are not counted).
    """
    site, walk = tier_walks(result, tiers_min)
    w = result.demand["population"].to_numpy(dtype=float)
    out = pd.DataFrame(index=pd.Index(np.asarray(result.solution.chosen, dtype=np.int64),
                                      name="site_id"))
    for minutes, t in tiers_m(result, tiers_min):
        ok = walk <= t
        sums = np.bincount(site[ok], weights=w[ok], minlength=len(result.sites))
        out[f"served_{minutes:g}min"] = sums[out.index.to_numpy()]
    return out


def served_by_site(result: RunResult) -> pd.DataFrame | None:
    """People an embedded plan serves at each site, per service (its assignments).

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by site (row of ``result.sites``), one column per service of the plan
        (0 where a site does not serve it); None for a covering run.
    """
    if result.plan is None:
        return None
    a = result.plan.assignments
    t = a.groupby(["site", "service"])["people"].sum().unstack(fill_value=0.0)
    return t.reindex(columns=list(result.plan.services["service"]), fill_value=0.0)


def services(sites: pd.DataFrame) -> list[str]:
    """Service keys of a site table.

    Parameters
    ----------
    sites
        Candidate or chosen sites.

    Returns
    -------
    list of str
        The keys present as ``area_m2_<service>`` columns (empty when none).
    """
    return [c[len("area_m2_"):] for c in sites.columns if c.startswith("area_m2_")]


def service_mix(site: pd.Series, keys: list[str]) -> list[str]:
    """Services given floor area at one site.

    Parameters
    ----------
    site
        One row of a site table.
    keys
        Service keys (:func:`services`).

    Returns
    -------
    list of str
        The keys with floor area above 0, in ``keys`` order.
    """
    return [k for k in keys if number_or_zero(site.get(f"area_m2_{k}")) > 0]


def number_or_zero(value) -> float:
    """A number from a table cell.

    Parameters
    ----------
    value
        Any value.

    Returns
    -------
    float
        ``float(value)``, or 0 for missing, non-numeric or non-finite values.
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    return v if np.isfinite(v) else 0.0


def as_text(value) -> str:
    """A value shown as text.

    Parameters
    ----------
    value
        Any value of a table cell.

    Returns
    -------
    str
        ``""`` for ``None`` and NaN, else ``str(value)``.
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    return str(value)


def map_lang(result: RunResult, lang: str | None) -> str:
    """The language of a run's outputs.

    Parameters
    ----------
    result
        The run (its study area).
    lang
        ``"zh"``, ``"en"`` or None.

    Returns
    -------
    str
        ``lang`` checked, or the study area's default (zh in China).

    Raises
    ------
    SitingError
        For an unknown language.
    """
    return default_lang(result.study_area) if lang is None else check_lang(lang)


# street classes by OSM highway tag (the offline basemap and the PDF map)
_STREET_CLASS = {**{k: "major" for k in (
    "motorway", "trunk", "primary", "secondary", "tertiary", "motorway_link", "trunk_link",
    "primary_link", "secondary_link", "tertiary_link")}, **{k: "minor" for k in (
        "residential", "unclassified", "living_street", "service", "road")}}
STREET_SIMPLIFY_M = 2.0


def street_lines(graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """The walking graph's streets as lines, for the offline basemap and the PDF map.

    Parameters
    ----------
    graph
        The projected walking graph of a run.

    Returns
    -------
    geopandas.GeoDataFrame
        One line per street (both directions merged), simplified by
        :data:`STREET_SIMPLIFY_M`, with ``street_class`` ``major``/``minor``/``path`` (by
        OSM ``highway``), in the graph's CRS; empty for a graph without edges.
    """
    import osmnx as ox

    if not graph.number_of_edges():
        return gpd.GeoDataFrame({"street_class": []}, geometry=[], crs=graph.graph.get("crs"))
    edges = ox.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True)
    uv = edges.index.to_frame(index=False)
    pair = pd.DataFrame({"a": np.minimum(uv["u"], uv["v"]), "b": np.maximum(uv["u"], uv["v"]),
                         "k": uv["key"]})
    first = ~pair.duplicated().to_numpy()
    hw = edges["highway"] if "highway" in edges else pd.Series("", index=edges.index)
    hw = hw.map(lambda h: h[0] if isinstance(h, list) and h else h)
    cls = [_STREET_CLASS.get(h, "path") if isinstance(h, str) else "path" for h in hw]
    out = gpd.GeoDataFrame({"street_class": np.asarray(cls)[first]},
                           geometry=edges.geometry.to_numpy()[first], crs=edges.crs)
    return out.set_geometry(out.simplify(STREET_SIMPLIFY_M))
