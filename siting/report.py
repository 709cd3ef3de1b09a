"""Outputs: Folium map, GeoPackages and summary.json, written all-or-nothing."""

from __future__ import annotations

import html
import json
import shutil
import tempfile
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import osmnx as ox
import shapely
from shapely.ops import substring

from siting.errors import SitingError

REACH_BUFFER_M = 20.0  # half-width of the walked street corridor drawn as reach
KIND_COLOURS = {
    "industrial": "#8c564b", "warehouse": "#7f7f7f", "commercial": "#1f77b4",
    "office": "#17becf", "public": "#9467bd", "community": "#2ca02c", "disused": "#bcbd22",
}


def reach_polygons(result, threshold_m: float | None = None) -> gpd.GeoDataFrame:
    """Walking reach of each chosen site, built from the reachable network edges.

    An edge is drawn in full when its far end is within reach, else up to the point
    where the remaining distance runs out; the drawn edges are buffered by
    ``REACH_BUFFER_M`` and merged. Returned in the network's (metric) CRS.
    """
    t = result.instance.threshold_m if threshold_m is None else threshold_m
    edges = ox.graph_to_gdfs(result.graph, nodes=False).reset_index()
    pos = {n: i for i, n in enumerate(result.access.node_ids)}
    u = edges["u"].map(pos).to_numpy()
    lengths = edges["length"].to_numpy()
    geoms = edges.geometry.to_numpy()
    rows = []
    for _, site in result.chosen_sites.iterrows():
        j = int(site["site_id"])
        nodes, dist = result.access.reach(j, t)
        d_node = np.full(len(result.access.node_ids), np.inf)
        d_node[nodes] = dist
        du = d_node[u]
        rem = t - du
        full = rem >= lengths
        part = np.flatnonzero((rem > 0) & ~full)
        pieces = list(geoms[full])
        pieces += [substring(geoms[k], 0.0, float(rem[k])) for k in part]
        pieces.append(site.geometry)
        shape = shapely.union_all(shapely.buffer(np.array(pieces, dtype=object), REACH_BUFFER_M))
        rows.append({"site_id": j, "threshold_m": t, "geometry": shape})
    return gpd.GeoDataFrame(rows, columns=["site_id", "threshold_m", "geometry"],
                            geometry="geometry", crs=result.graph.graph["crs"])


def make_map(result) -> folium.Map:
    """Folium map: study area, demand (covered or not), candidates, chosen sites, reach."""
    area = gpd.GeoSeries([result.study_area], crs="EPSG:4326")
    w, s, e, n = area.total_bounds
    m = folium.Map(location=[(s + n) / 2, (w + e) / 2], zoom_start=15, tiles="OpenStreetMap",
                   control_scale=True)
    folium.GeoJson(area.__geo_interface__, name="Study area",
                   style_function=lambda _: {"fill": False, "color": "#444", "weight": 2,
                                             "dashArray": "6 4"}).add_to(m)
    reach = reach_polygons(result).to_crs("EPSG:4326")
    g_reach = folium.FeatureGroup(name=f"Walking reach ({result.instance.threshold_m:.0f} m)")
    for _, r in reach.iterrows():
        folium.GeoJson(r.geometry.__geo_interface__,
                       style_function=lambda _: {"color": "#d62728", "weight": 1,
                                                 "fillColor": "#d62728", "fillOpacity": 0.12},
                       tooltip=f"Site {int(r.site_id)}: walking reach").add_to(g_reach)
    g_reach.add_to(m)
    demand = result.demand.to_crs("EPSG:4326")
    scale = max(float(demand["population"].max()), 1.0)
    g_cov = folium.FeatureGroup(name="Demand covered")
    g_unc = folium.FeatureGroup(name="Demand not covered")
    for _, d in demand.iterrows():
        covered = bool(d["covered"])
        folium.CircleMarker(
            [d.geometry.y, d.geometry.x], radius=2 + 6 * np.sqrt(d["population"] / scale),
            color="#2b8cbe" if covered else "#e6550d", fill=True, fill_opacity=0.7, weight=0,
            tooltip=_esc(f"{d['population']:.0f} people"
                         + (f", {d['walk_m']:.0f} m to site {int(d['nearest_site'])}"
                            if np.isfinite(d["walk_m"]) else ", no site reachable")),
        ).add_to(g_cov if covered else g_unc)
    g_cov.add_to(m)
    g_unc.add_to(m)
    sites = result.sites.to_crs("EPSG:4326")
    g_cand = folium.FeatureGroup(name="Candidate sites", show=False)
    for _, c in sites[~sites["chosen"]].iterrows():
        folium.CircleMarker([c.geometry.y, c.geometry.x], radius=3,
                            color=KIND_COLOURS.get(c["kind"], "#555"), fill=True, weight=1,
                            tooltip=_esc(f"{c['name'] or 'candidate'} ({c['kind']}, "
                                         f"{c['floor_area_m2']:.0f} m²)")).add_to(g_cand)
    g_cand.add_to(m)
    g_chosen = folium.FeatureGroup(name="Chosen sites")
    for _, c in sites[sites["chosen"]].iterrows():
        folium.Marker([c.geometry.y, c.geometry.x], popup=folium.Popup(_site_popup(c), max_width=300),
                      tooltip=_esc(c["name"] or f"Site {int(c['site_id'])}"),
                      icon=folium.Icon(color="red", icon="home")).add_to(g_chosen)
    g_chosen.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[s, w], [n, e]])
    return m


def write_outputs(result, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``map.html``, ``sites.gpkg``, ``candidates.gpkg``, ``demand.gpkg``, ``summary.json``.

    Everything is written to a temporary folder beside ``out`` and moved into place at
    the end, so a failure leaves no half-written folder. An existing ``out`` is only
    replaced when ``overwrite`` is set and it is an earlier siting output (it holds a
    ``summary.json``): a folder of other files is never deleted.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise SitingError(f"output path {out} is a file; give a folder")
        if any(out.iterdir()):
            if not (out / "summary.json").exists():
                raise SitingError(f"output folder {out} holds other files; choose an empty or new folder")
            if not overwrite:
                raise SitingError(f"output folder {out} holds an earlier run; pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        chosen = result.chosen_sites.to_crs("EPSG:4326")
        _gpkg(chosen, tmp / "sites.gpkg", "sites")
        _gpkg(result.sites.to_crs("EPSG:4326"), tmp / "candidates.gpkg", "candidates")
        demand = result.demand.to_crs("EPSG:4326")
        demand = demand.assign(walk_m=demand["walk_m"].where(np.isfinite(demand["walk_m"])))
        _gpkg(demand, tmp / "demand.gpkg", "demand")
        if getattr(result, "plan", None) is not None:  # embedded model: per-community standard
            cols = ["community_id", "name", "households", "required_m2", "provided_m2", "met",
                    "shortfall_m2", "reachable_m2"]
            result.plan.communities[cols].to_csv(tmp / "communities.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(_jsonable(result.summary), indent=2,
                                                     ensure_ascii=False), encoding="utf-8")
        make_map(result).save(str(tmp / "map.html"))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    gdf = gdf.copy()
    for col in gdf.columns:
        if gdf[col].dtype == bool:
            gdf[col] = gdf[col].astype("int8")
    gdf.to_file(path, layer=layer, driver="GPKG")


def _site_popup(c) -> str:
    rows = [
        ("Site", int(c["site_id"])), ("Name", c["name"] or "—"), ("Class", c["kind"]),
        ("Floor area", f"{c['floor_area_m2']:,.0f} m²"
         + (" (estimated)" if c["levels_estimated"] else "")),
        ("Usable area", f"{c['usable_area_m2']:,.0f} m²"),
        ("People served", f"{c['covered_population']:,.0f}"),
        ("People in reach", f"{c['population_in_reach']:,.0f}"),
        ("OSM", c["osm_id"]),
    ]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _esc(value) -> str:
    return html.escape(str(value))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj
