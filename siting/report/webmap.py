"""The layered Folium map: one HTML file that works with no internet at all.

Folium loads Leaflet, jQuery, Bootstrap and Font Awesome from CDNs. Here the map
drops the CDN links and inlines Leaflet 1.9.3 (folium's version) and jQuery from the
``XStatic-Leaflet`` / ``XStatic-jQuery`` wheels (``assets="inline"``, the default), or
links only those two from their CDNs (``assets="cdn"``, a small file). Markers are
Leaflet ``DivIcon``s and ``CircleMarker``s styled inline, so Bootstrap and the
awesome-markers plugin are not needed. The basemap shown first is drawn from the
extract (:mod:`siting.report.basemap`); with ``basemap="amap"`` every layer is drawn in
GCJ-02. A title and summary panel shows the numbers of ``summary.json`` and every chosen
site has a permanent label.

Text from data never reaches a template engine: inside :func:`make_map` every text shown
goes through :func:`siting.report.markup.esc` (see :mod:`siting.report.markup`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.errors import SitingError
from siting.report.basemap import (
    BASE_BACKGROUND,
    BASEMAPS,
    extract_basemap,
    frame,
    tile_basemaps,
)
from siting.report.common import (
    KIND_COLOURS,
    TIERS_MIN,
    as_text,
    map_lang,
    reach_polygons,
    served_by_tier,
    service_mix,
    services,
    tier_walks,
)
from siting.report.i18n import budget_text, check_lang, label, place_name, value_label
from siting.report.maplayers import (
    assignment_layer,
    points_layer,
    served_text,
    site_popup,
    site_title,
    unserved_layers,
    year_layers,
)
from siting.report.markup import esc, icon, icon_html, legend_html, map_page, swatch

if TYPE_CHECKING:
    from siting.pipeline import RunResult

ASSET_MODES = ("inline", "cdn")
CDN_JS = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"),
          ("jquery", "https://code.jquery.com/jquery-3.7.1.min.js")]
CDN_CSS = [("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css")]
TIER_COLOURS = {5: "#006d2c", 10: "#31a354", 15: "#a1d99b"}
POP_COLOURS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
UNCOVERED_COLOUR = "#e6007e"
GRID_M = 150.0  # population cell size


@cache
def _inline_assets() -> str:
    """Leaflet CSS (its images as data URIs), Leaflet JS and jQuery as inline tags."""
    try:
        import xstatic.pkg.jquery as xjq
        import xstatic.pkg.leaflet as xl
    except ImportError as exc:  # pragma: no cover - both are core dependencies
        raise SitingError("inline map assets need XStatic-Leaflet and XStatic-jQuery "
                          "(pip install XStatic-Leaflet XStatic-jQuery), or use assets='cdn'") from exc
    base = Path(xl.BASE_DIR)
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        img = base / match.group(1)
        b64 = base64.b64encode(img.read_bytes()).decode("ascii")
        kind = "svg+xml" if img.suffix == ".svg" else img.suffix.lstrip(".")
        return f"url(data:image/{kind};base64,{b64})"

    css = re.sub(r"url\((images/[^)]+)\)", data_uri, css)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    jq = (Path(xjq.BASE_DIR) / "jquery.min.js").read_text(encoding="utf-8")
    # a literal "</script" inside would end the tag early
    js, jq = (s.replace("</script", "<\\/script") for s in (js, jq))
    return f"<style>{css}</style>\n<script>{js}</script>\n<script>{jq}</script>"


class OfflineMap(folium.Map):
    """``folium.Map`` without Bootstrap/awesome-markers, Leaflet and jQuery inline or from CDN."""

    def __init__(self, *args, assets: str = "inline", **kwargs):
        super().__init__(*args, **kwargs)
        self._assets = assets
        # instance lists: folium's class lists are shared (and mutated by add_js_link)
        self.default_js = [] if assets == "inline" else list(CDN_JS)
        self.default_css = [] if assets == "inline" else list(CDN_CSS)

    def render(self, **kwargs):
        """Render as ``folium.Map`` does, with Leaflet and jQuery inline when asked.

        Parameters
        ----------
        **kwargs
            Passed to ``folium.Map.render``.
        """
        if self._assets == "inline":
            self.get_root().header.add_child(folium.Element(_inline_assets()),
                                             name="siting_assets")
        super().render(**kwargs)


def make_map(result: RunResult, lang: str | None = None, assets: str = "inline",
             basemap: str = "osm", tianditu_key: str | None = None, tiers_min=TIERS_MIN,
             reach: gpd.GeoDataFrame | None = None) -> folium.Map:
    """Layered map of a run: an offline basemap of the extract's streets and buildings,
    study area, communities, population, walking reach by tier, candidates by class,
    chosen sites (icon by service mix, permanent name label), existing facilities, the
    assignment of demand to sites (toggled) and the demand left out (a covering run:
    uncovered demand; an embedded plan: one toggled layer per service of the people it
    does not serve, :mod:`siting.report.maplayers`), with a layer control, a legend, and a
    title and summary panel.

    Parameters
    ----------
    result
        A :class:`siting.pipeline.RunResult`.
    lang
        ``"zh"`` or ``"en"``; default Chinese for a study area in China, else English.
    assets
        ``"inline"`` (no CDN at all) or ``"cdn"`` (smaller file, needs the CDNs).
    basemap
        Basemap shown first: ``"osm"``, ``"light"``, ``"tianditu"`` (needs
        ``tianditu_key``) or ``"amap"`` (whole map drawn in GCJ-02; see module notes).
    tianditu_key
        A Tianditu (天地图) API key, needed for ``basemap="tianditu"``.
    tiers_min
        Walking-time tiers (minutes) drawn as reach polygons and counted in popups.
    reach
        The merged reach polygons of ``tiers_min``
        (:func:`~siting.report.common.reach_polygons` with ``merged=True``), when already
        computed.
    """
    check_map_options(lang, assets, basemap, tianditu_key)
    if reach is None:
        reach = reach_polygons(result, tiers_min=tuple(tiers_min), merged=True)
    with map_page() as page:  # every text below goes through esc()
        return _build_map(page, result, map_lang(result, lang), assets, basemap,
                          tianditu_key, tiers_min, reach)


def _build_map(page: folium.Figure, result: RunResult, lang: str, assets: str, basemap: str,
               tianditu_key: str | None, tiers_min, reach: gpd.GeoDataFrame) -> folium.Map:
    gcj = basemap == "amap"
    L = lambda key, **f: label(key, lang, **f)  # noqa: E731

    area = frame(gpd.GeoDataFrame(geometry=[result.study_area], crs="EPSG:4326"), gcj)
    w, s, e, n = area.total_bounds
    m = OfflineMap(location=[(s + n) / 2, (w + e) / 2], zoom_start=15, tiles=None,
                    control_scale=True, assets=assets)
    m.add_to(page)
    legend: list[str] = []
    offline = extract_basemap(m, result, gcj, L, legend)
    tile_basemaps(m, basemap, tianditu_key, L, shown=not offline)

    folium.GeoJson(area.geometry.iloc[0].__geo_interface__, name=esc(L("study_area")),
                   style_function=lambda _: {"fill": False, "color": "#444", "weight": 2,
                                             "dashArray": "6 4"}).add_to(m)
    legend.append(swatch("#444", L("study_area"), line=True))
    comm = _communities(result)
    if comm is not None:
        g = folium.FeatureGroup(name=esc(L("communities")))
        for _, c in frame(comm, gcj).iterrows():
            folium.GeoJson(c.geometry.__geo_interface__,
                           tooltip=esc(place_name(c["community_name"], lang)),
                           style_function=lambda _: {"color": "#6a3d9a", "weight": 1.5,
                                                     "fill": False}).add_to(g)
        g.add_to(m)
        legend.append(swatch("#6a3d9a", L("communities"), line=True))

    _population_layers(m, result, gcj, L, legend)

    for minutes in sorted(tiers_min, reverse=True):
        colour = TIER_COLOURS.get(int(minutes), "#31a354")
        g = folium.FeatureGroup(name=esc(L("reach_tier", m=f"{minutes:g}")))
        tier = reach[reach["minutes"] == float(minutes)]
        if len(tier):
            tier = tier.to_crs("EPSG:4326")
            shape = frame(tier.set_geometry(tier.simplify(1e-6)), gcj)
            folium.GeoJson(shape.geometry.iloc[0].__geo_interface__,
                           style_function=lambda _, c=colour: {
                               "color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.15}
                           ).add_to(g)
        g.add_to(m)
        legend.append(swatch(colour, L("reach_tier", m=f"{minutes:g}")))

    sites = frame(result.sites.to_crs("EPSG:4326"), gcj)
    existing = _flag(sites, "existing")
    chosen = sites["chosen"].astype(bool).to_numpy()
    cand = sites[~chosen & ~existing]
    points_layer(m, cand, esc(L("candidates")), show=False,
            colour=[KIND_COLOURS.get(k, "#555") for k in cand["kind"]], radius=4.0,
            tip=[f"{as_text(c.get('name')) or L('candidates')} ({L(str(c['kind']))}, "
                 f"{c['floor_area_m2']:,.0f} m²)" for _, c in cand.iterrows()])
    legend += [swatch(col, f"{L('candidates')}: {L(kind)}", dot=True)
               for kind, col in KIND_COLOURS.items() if (sites["kind"] == kind).any()]

    if existing.any():
        g = folium.FeatureGroup(name=esc(L("existing_facilities")))
        for _, c in sites[existing].iterrows():
            folium.Marker([c.geometry.y, c.geometry.x],
                          icon=icon("existing"), tooltip=esc(as_text(c.get("name")) or
                                                             L("existing_facilities")),
                          popup=folium.Popup(site_popup(c, result, L, None, lang), max_width=340)
                          ).add_to(g)
        g.add_to(m)
        legend.append(f"{icon_html('existing', size=12)} {esc(L('existing_facilities'))}")

    keys = services(result.sites)
    served = served_by_tier(result, tiers_min)
    g = folium.FeatureGroup(name=esc(L("chosen")))
    kinds_used = set()
    for _, c in sites[chosen & ~existing].iterrows():
        mix = service_mix(c, keys)
        kind = "generic" if not keys else ("complex" if len(mix) > 1 else "single")
        kinds_used.add(kind)
        folium.Marker([c.geometry.y, c.geometry.x], icon=icon(kind, mix, lang),
                      tooltip=folium.Tooltip(
                          esc(site_title(c, L)),
                          sticky=False, permanent=True, direction="right", offset=(12, 0),
                          class_name="siting-label"),
                      popup=folium.Popup(site_popup(c, result, L, served, lang), max_width=340)
                      ).add_to(g)
    g.add_to(m)
    for kind in ("complex", "single", "generic"):
        if kind in kinds_used:
            legend.append(f"{icon_html(kind, size=12)} "
                          f"{esc(L('site_generic' if kind == 'generic' else kind))}")

    if "year_open" in sites:  # a programme: the sites opened each year
        year_layers(m, sites[chosen & ~existing], L, legend)
    demand = frame(result.demand.to_crs("EPSG:4326"), gcj)
    assignment_layer(m, result, demand, sites, L, lang, legend)
    if result.plan is not None:  # what each service leaves unserved, not one generic layer
        unserved_layers(m, result, demand, L, legend)
    else:
        _uncovered_layer(m, result, demand, tiers_min, L, legend)

    folium.LayerControl(collapsed=False).add_to(m)
    page.header.add_child(folium.Element(_MAP_CSS), name="siting_css")
    page.html.add_child(folium.Element(legend_html(L("legend"), legend)))
    page.html.add_child(folium.Element(_summary_html(result, L, lang)))
    m.fit_bounds([[s, w], [n, e]])
    return m


def check_map_options(lang: str | None = None, assets: str = "inline", basemap: str = "osm",
                      tianditu_key: str | None = None) -> None:
    """Check the map options before any work is done.

    Parameters
    ----------
    lang, assets, basemap, tianditu_key
        As for :func:`make_map`.

    Raises
    ------
    SitingError
        For an unknown language, asset mode or basemap, or Tianditu without a key.
    """
    if lang is not None:
        check_lang(lang)
    if assets not in ASSET_MODES:
        raise SitingError(f"map assets must be one of {', '.join(ASSET_MODES)}, got {assets!r}")
    if basemap not in BASEMAPS:
        raise SitingError(f"basemap must be one of {', '.join(BASEMAPS)}, got {basemap!r}")
    if basemap == "tianditu" and not tianditu_key:
        raise SitingError("the Tianditu basemap needs a key: pass tianditu_key "
                          "(free from https://console.tianditu.gov.cn)")


def _uncovered_layer(m: folium.Map, result: RunResult, demand: gpd.GeoDataFrame, tiers_min,
                     L: Callable[..., str], legend: list[str]) -> None:
    """Demand points a covering run leaves uncovered, with the walk to the nearest site."""
    site_of, walk = tier_walks(result, tiers_min)
    unc = ~demand["covered"].astype(bool).to_numpy()
    idx = np.flatnonzero(unc)
    scale = max(float(demand["population"].max()), 1.0) if len(demand) else 1.0
    pop = demand["population"].to_numpy(dtype=float)
    points_layer(m, demand.iloc[idx], esc(L("uncovered")), colour=UNCOVERED_COLOUR,
                 radius=2 + 5 * np.sqrt(pop[idx] / scale),
                 tip=[f"{pop[i]:,.0f} {L('people')}; " + (
                     L("walk_to_site", m=walk[i], j=_site_name(result, int(site_of[i]), L))
                     if np.isfinite(walk[i])
                     else L("no_site_reachable")) for i in idx])
    legend.append(swatch(UNCOVERED_COLOUR, L("uncovered"), dot=True))


def _site_name(result: RunResult, j: int, L: Callable[..., str]) -> str:
    """A site as tooltips name it: its name, else 场所编号 w123 (its stable id)."""
    return site_title(result.sites.iloc[j], L)


def _flag(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.zeros(len(df), bool)
    return df[col].fillna(False).astype(bool).to_numpy()


def _communities(result: RunResult) -> gpd.GeoDataFrame | None:
    """Community outlines: hulls of each community's demand points (None without
    communities)."""
    d = result.demand
    if "community_id" not in d or d["community_id"].isna().all():
        return None
    names = d["community_name"] if "community_name" in d else d["community_id"]
    rows = []
    for cid, grp in d.groupby("community_id"):
        hull = shapely.convex_hull(shapely.union_all(grp.geometry.to_numpy())).buffer(40.0)
        rows.append({"community_name": as_text(names.loc[grp.index[0]]) or str(cid),
                     "geometry": hull})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=d.crs)


def population_cells(result: RunResult, cell_m: float = GRID_M) -> gpd.GeoDataFrame:
    """Demand summed into square cells, drawn as the population layers.

    Parameters
    ----------
    result
        The run.
    cell_m
        Cell size in metres.

    Returns
    -------
    geopandas.GeoDataFrame
        One square per cell with people (projected CRS): ``population`` and each demand
        group column present (``age_*``, ``households``).
    """
    d = result.demand
    cols = ["population"] + [c for c in d.columns
                             if (c.startswith("age_") or c == "households")
                             and pd.api.types.is_numeric_dtype(d[c])]
    ix = np.floor(d.geometry.x.to_numpy() / cell_m).astype(np.int64)
    iy = np.floor(d.geometry.y.to_numpy() / cell_m).astype(np.int64)
    g = pd.DataFrame(d[cols].to_numpy(dtype=float), columns=cols).assign(ix=ix, iy=iy)
    agg = g.groupby(["ix", "iy"], as_index=False)[cols].sum()
    x0, y0 = agg["ix"].to_numpy() * cell_m, agg["iy"].to_numpy() * cell_m
    geom = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    return gpd.GeoDataFrame(agg[cols], geometry=geom, crs=d.crs)


def _population_layers(m: folium.Map, result: RunResult, gcj: bool, L: Callable[..., str],
                       legend: list[str]) -> None:
    cells = population_cells(result)
    if cells.empty:
        return
    cells = frame(cells.to_crs("EPSG:4326"), gcj)
    for i, col in enumerate(c for c in cells.columns if c != "geometry"):
        vals = cells[col].to_numpy(dtype=float)
        keep = vals > 0
        if not keep.any():
            continue
        bins = np.unique(np.quantile(vals[keep], [0.2, 0.4, 0.6, 0.8]))
        cls = np.searchsorted(bins, vals[keep], side="right")
        name = L("population") if col == "population" else L("population_group",
                                                            group=L(col))
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": geom.__geo_interface__,
             "properties": {"v": round(float(v), 1),
                            "fill": POP_COLOURS[min(int(k), len(POP_COLOURS) - 1)]}}
            for geom, v, k in zip(cells.geometry[keep], vals[keep], cls)]}
        folium.GeoJson(
            fc, name=esc(name), show=i == 0,
            style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#999",
                                      "weight": 0.3, "fillOpacity": 0.55},
            tooltip=folium.GeoJsonTooltip(fields=["v"], aliases=[esc(L("people_per_cell"))]),
        ).add_to(m)
        if i == 0:
            edges = [0.0, *bins, float(vals.max())]
            legend += [swatch(POP_COLOURS[k], f"{L('population')} {edges[k]:,.0f}–{edges[k + 1]:,.0f}")
                       for k in range(len(edges) - 1)]


def _gap_text(gap, L: Callable[..., str]) -> str:
    """The MIP gap as the CLI prints it (``1.23 %``), or that no bound was proven."""
    if gap is None or not np.isfinite(float(gap)):
        return L("gap_unknown")
    return f"{100 * float(gap):.2f} %"


def _area_name(result: RunResult) -> str:
    """The run's name: the input file's stem, or the place."""
    src = as_text(result.summary.get("source")) or as_text(result.scenario.place)
    return Path(src).stem if src and ("/" in src or "." in src) else src


def _summary_html(result: RunResult, L: Callable[..., str], lang: str) -> str:
    """Title and summary panel: every number from ``result.summary`` (as in
    ``summary.json``), formatted as the CLI prints it; each text through :func:`esc`."""
    s = result.summary
    rows: list[tuple[str, str, str]] = []
    if s.get("cost_total") is not None:
        rows.append(("cost", L("plan_cost"), f"{s['cost_total']:,.0f} {L('cny')}"))
    if "budget" in s:
        rows.append(("budget", L("plan_budget"), budget_text(s, lang)))
    if "covered_population" in s:
        rows.append(("covered", L("people_covered"),
                     f"{s['covered_population']:,.0f} / {s['total_population']:,.0f} "
                     f"({100 * s['covered_share']:.1f} %)"))
    if "n_sites_chosen" in s:
        rows.append(("sites", L("chosen"),
                     f"{s['n_sites_chosen']} / {s['n_candidate_sites']}"))
    if s.get("served_by_service"):
        rows.append(("head", L("served_by_service"), ""))
    for k, v in (s.get("served_by_service") or {}).items():  # households for housekeeping
        rows.append(("served", L(k), served_text(result, k, v, L, lang, group=False)))
    if s.get("communities_total") is not None:
        rows.append(("standard", L("communities_meeting_standard"),
                     f"{s['communities_meeting_standard']} / {s['communities_total']}"))
    if "status" in s:
        rows.append(("solver", L("solver"), f"{s.get('solver', '')}: "
                     f"{value_label(str(s['status']), lang)}, "
                     f"{L('gap')} {_gap_text(s.get('mip_gap'), L)}"))
    body = "".join(f"<tr class='siting-row-{key}'><th colspan='2'>{esc(k)}</th></tr>"
                   if key == "head" else
                   f"<tr class='siting-row-{key}'><th>{esc(k)}</th><td>{esc(v)}</td></tr>"
                   for key, k, v in rows)
    return (f"<div class='siting-summary'><div class='siting-title'>{esc(L('map_title'))}</div>"
            f"<div class='siting-area'>{esc(_area_name(result))}</div>"
            f"<table>{body}</table></div>")


_MAP_CSS = f"""<style>
div.leaflet-container {{ background: {BASE_BACKGROUND}; }}
.siting-summary {{ position: fixed; top: 10px; left: 54px; z-index: 1000; max-width: 360px;
  background: rgba(255,255,255,.93); padding: 8px 12px; border-radius: 6px;
  box-shadow: 0 1px 6px rgba(0,0,0,.35); font: 12px/1.35 sans-serif; color: #222; }}
.siting-summary .siting-title {{ font-size: 15px; font-weight: bold; }}
.siting-summary .siting-area {{ color: #555; margin-bottom: 4px; }}
.siting-summary table {{ border-collapse: collapse; }}
.siting-summary th {{ text-align: left; font-weight: normal; color: #555; max-width: 170px;
  padding: 1px 10px 1px 0; vertical-align: top; }}
.siting-summary td {{ font-weight: bold; font-variant-numeric: tabular-nums;
  white-space: nowrap; text-align: right; vertical-align: top; }}
.siting-summary .siting-row-head th {{ color: #222; font-weight: bold; padding-top: 4px; }}
.siting-summary .siting-row-served th {{ padding-left: 10px; }}
.leaflet-tooltip.siting-label {{ background: rgba(255,255,255,.9); border: 1px solid #d62728;
  border-radius: 3px; padding: 1px 5px; font: bold 12px sans-serif; color: #222;
  box-shadow: 0 1px 2px rgba(0,0,0,.3); max-width: 180px; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }}
.leaflet-tooltip.siting-label:before {{ display: none; }}
</style>"""
