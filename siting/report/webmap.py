"""The layered Folium map: one HTML file that works with no internet at all.

Folium loads Leaflet, jQuery, Bootstrap and Font Awesome from CDNs. Here the map
drops the CDN links and inlines Leaflet 1.9.3 (folium's version) and jQuery from the
``XStatic-Leaflet`` / ``XStatic-jQuery`` wheels (``assets="inline"``, the default), or
links only those two from their CDNs (``assets="cdn"``, a small file). Markers are
Leaflet ``DivIcon``s and ``CircleMarker``s styled inline, so Bootstrap and the
awesome-markers plugin are not needed. The basemap shown first is drawn from the
extract (streets of the walking graph and building footprints, :func:`street_lines`,
``RunResult.buildings``) in a pane under every overlay; tile basemaps are offered in
the layer control and are the only network use, once picked. A title and summary
panel shows the numbers of ``summary.json`` and every chosen site has a permanent label.

Coordinates: data are WGS-84. OpenStreetMap, the light basemap and Tianditu (CGCS2000,
within a metre of WGS-84) share that frame. Amap tiles are drawn in GCJ-02, so with
``basemap="amap"`` every layer is moved to GCJ-02 with
:func:`siting.io.coords.wgs84_to_gcj02` before drawing (a map is in one frame only; the
WGS-84 basemaps are then not offered, as they would be off by the same few hundred
metres).

Text from data never reaches a template engine. folium renders each element's
output a second time as a Jinja template, so a name such as ``{{ 7*7 }}`` would be
evaluated while the map is written. Inside :func:`make_map` every text shown goes
through :func:`esc`, which files it away and returns an opaque token (letters and
digits only); the page is rendered by folium with the tokens, and only the finished
HTML string has each token replaced by its text, encoded as character references
that are inert in HTML text and attributes, JavaScript strings and template literals,
and JSON (:class:`_Texts`).
"""

from __future__ import annotations

import base64
import re
import secrets
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.io.coords import wgs84_to_gcj02
from siting.errors import SitingError
from siting.report.i18n import label, place_name
from siting.report.common import KIND_COLOURS, TIERS_MIN, map_lang, reach_polygons, service_mix, services, served_by_tier, tier_walks
from siting.sites import COST_PARTS

ASSET_MODES = ("inline", "cdn")
BASEMAPS = ("osm", "light", "amap", "tianditu")
CDN_JS = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"),
          ("jquery", "https://code.jquery.com/jquery-3.7.1.min.js")]
CDN_CSS = [("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css")]
TIER_COLOURS = {5: "#006d2c", 10: "#31a354", 15: "#a1d99b"}
POP_COLOURS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
UNCOVERED_COLOUR = "#e6007e"
GRID_M = 150.0  # population cell size
TILES = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
            None),
    "light": ("https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
              '&copy; OpenStreetMap contributors &copy; <a href="https://carto.com/">CARTO</a>',
              "abcd"),
    "tianditu": ("https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                 "&VERSION=1.0.0&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                 "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=",
                 "&copy; 天地图 Tianditu", "01234567"),
    "tianditu_labels": ("https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                        "&VERSION=1.0.0&LAYER=cva&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                        "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=",
                        "&copy; 天地图 Tianditu", "01234567"),
    "amap": ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
             "&x={x}&y={y}&z={z}", "&copy; 高德地图 AutoNavi", "1234"),
    "amap_satellite": ("https://webst0{s}.is.autonavi.com/appmaptile?style=6&x={x}&y={y}&z={z}",
                       "&copy; 高德地图 AutoNavi", "1234"),
}


def esc(value) -> str:
    """Text from data made safe to show: a token inside :func:`make_map` (replaced by the
    encoded text only after folium has rendered the page), else the encoded text."""
    texts = _TEXTS.get()
    return texts.token(value) if texts is not None else _encode(value)


# inert in HTML text and attributes, JS strings and template literals, JSON and Jinja
_UNSAFE = re.compile(r"[&<>\"'`$\\{}%#\x00-\x1f\x7f\u2028\u2029]")


def _encode(value) -> str:
    """``value`` as text with every character that means something to HTML, JavaScript,
    JSON or Jinja written as a numeric character reference."""
    return _UNSAFE.sub(lambda m: f"&#{ord(m.group())};", str(value))


class _Texts:
    """Texts of one map, each behind a token of letters and digits (a per-map nonce
    keeps tokens from matching anything else on the page)."""

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(8)
        self._texts: list[str] = []
        self._pattern = re.compile(f"siting{self._nonce}t(\\d+)x")

    def token(self, value) -> str:
        self._texts.append(str(value))
        return f"siting{self._nonce}t{len(self._texts) - 1}x"

    def fill(self, page: str) -> str:
        """The rendered page with every token replaced by its encoded text (one pass:
        replaced text is never scanned again)."""
        return self._pattern.sub(lambda m: _encode(self._texts[int(m.group(1))]), page)


_TEXTS: ContextVar[_Texts | None] = ContextVar("siting_map_texts", default=None)


class _Page(folium.Figure):
    """The map's root: folium renders it with tokens; the texts go in afterwards."""

    def __init__(self, texts: _Texts, **kwargs) -> None:
        super().__init__(**kwargs)
        self._texts = texts

    def render(self, **kwargs) -> str:
        return self._texts.fill(super().render(**kwargs))


@lru_cache(maxsize=None)
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


class _OfflineMap(folium.Map):
    """``folium.Map`` without Bootstrap/awesome-markers, Leaflet and jQuery inline or from CDN."""

    def __init__(self, *args, assets: str = "inline", **kwargs):
        super().__init__(*args, **kwargs)
        self._assets = assets
        # instance lists: folium's class lists are shared (and mutated by add_js_link)
        self.default_js = [] if assets == "inline" else list(CDN_JS)
        self.default_css = [] if assets == "inline" else list(CDN_CSS)

    def render(self, **kwargs):
        if self._assets == "inline":
            self.get_root().header.add_child(folium.Element(_inline_assets()),
                                             name="siting_assets")
        super().render(**kwargs)


def make_map(result, lang: str | None = None, assets: str = "inline", basemap: str = "osm",
             tianditu_key: str | None = None, tiers_min=TIERS_MIN) -> folium.Map:
    """Layered map of a run: an offline basemap of the extract's streets and buildings,
    study area, communities, population, walking reach by tier, candidates by class,
    chosen sites (icon by service mix, permanent name label), existing facilities and
    uncovered demand, with a layer control, a legend, and a title and summary panel.

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
    tiers_min
        Walking-time tiers (minutes) drawn as reach polygons and counted in popups.
    """
    check_map_options(lang, assets, basemap, tianditu_key)
    texts = _Texts()
    reset = _TEXTS.set(texts)
    try:
        return _build_map(_Page(texts), result, map_lang(result, lang), assets, basemap,
                          tianditu_key, tiers_min)
    finally:
        _TEXTS.reset(reset)


def _build_map(page: _Page, result, lang: str, assets: str, basemap: str,
               tianditu_key: str | None, tiers_min) -> folium.Map:
    gcj = basemap == "amap"
    L = lambda key, **f: label(key, lang, **f)  # noqa: E731

    area = _frame(gpd.GeoDataFrame(geometry=[result.study_area], crs="EPSG:4326"), gcj)
    w, s, e, n = area.total_bounds
    m = _OfflineMap(location=[(s + n) / 2, (w + e) / 2], zoom_start=15, tiles=None,
                    control_scale=True, assets=assets)
    m.add_to(page)
    legend: list[str] = []
    offline = _extract_basemap(m, result, gcj, L, legend)
    _basemaps(m, basemap, tianditu_key, L, shown=not offline)

    folium.GeoJson(area.geometry.iloc[0].__geo_interface__, name=esc(L("study_area")),
                   style_function=lambda _: {"fill": False, "color": "#444", "weight": 2,
                                             "dashArray": "6 4"}).add_to(m)
    legend.append(_swatch("#444", L("study_area"), line=True))
    comm = _communities(result)
    if comm is not None:
        g = folium.FeatureGroup(name=esc(L("communities")))
        for _, c in _frame(comm, gcj).iterrows():
            folium.GeoJson(c.geometry.__geo_interface__,
                           tooltip=esc(place_name(c["community_name"], lang)),
                           style_function=lambda _: {"color": "#6a3d9a", "weight": 1.5,
                                                     "fill": False}).add_to(g)
        g.add_to(m)
        legend.append(_swatch("#6a3d9a", L("communities"), line=True))

    _population_layers(m, result, gcj, L, legend)

    reach = reach_polygons(result, tiers_min=tuple(tiers_min), merged=True)
    for minutes in sorted(tiers_min, reverse=True):
        colour = TIER_COLOURS.get(int(minutes), "#31a354")
        g = folium.FeatureGroup(name=esc(L("reach_tier", m=f"{minutes:g}")))
        tier = reach[reach["minutes"] == float(minutes)]
        if len(tier):
            tier = tier.to_crs("EPSG:4326")
            shape = _frame(tier.set_geometry(tier.simplify(1e-6)), gcj)
            folium.GeoJson(shape.geometry.iloc[0].__geo_interface__,
                           style_function=lambda _, c=colour: {
                               "color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.15}
                           ).add_to(g)
        g.add_to(m)
        legend.append(_swatch(colour, L("reach_tier", m=f"{minutes:g}")))

    sites = _frame(result.sites.to_crs("EPSG:4326"), gcj)
    existing = _flag(sites, "existing")
    chosen = sites["chosen"].astype(bool).to_numpy()
    cand = sites[~chosen & ~existing]
    _points(m, cand, esc(L("candidates")), show=False,
            colour=[KIND_COLOURS.get(k, "#555") for k in cand["kind"]], radius=4.0,
            tip=[f"{_text(c.get('name')) or L('candidates')} ({L(str(c['kind']))}, "
                 f"{c['floor_area_m2']:,.0f} m²)" for _, c in cand.iterrows()])
    legend += [_swatch(col, f"{L('candidates')}: {L(kind)}", dot=True)
               for kind, col in KIND_COLOURS.items() if (sites["kind"] == kind).any()]

    if existing.any():
        g = folium.FeatureGroup(name=esc(L("existing_facilities")))
        for _, c in sites[existing].iterrows():
            folium.Marker([c.geometry.y, c.geometry.x],
                          icon=_icon("existing"), tooltip=esc(_text(c.get("name")) or
                                                             L("existing_facilities")),
                          popup=folium.Popup(_popup(c, result, L, None), max_width=340)
                          ).add_to(g)
        g.add_to(m)
        legend.append(f"{_icon_html('existing', size=12)} {esc(L('existing_facilities'))}")

    keys = services(result.sites)
    served = served_by_tier(result, tiers_min)
    g = folium.FeatureGroup(name=esc(L("chosen")))
    kinds_used = set()
    for _, c in sites[chosen & ~existing].iterrows():
        mix = service_mix(c, keys)
        kind = "generic" if not keys else ("complex" if len(mix) > 1 else "single")
        kinds_used.add(kind)
        folium.Marker([c.geometry.y, c.geometry.x], icon=_icon(kind, mix, lang),
                      tooltip=folium.Tooltip(
                          esc(_text(c.get("name")) or f"{L('site_id')} {int(c['site_id'])}"),
                          sticky=False, permanent=True, direction="right", offset=(12, 0),
                          class_name="siting-label"),
                      popup=folium.Popup(_popup(c, result, L, served), max_width=340)
                      ).add_to(g)
    g.add_to(m)
    for kind in ("complex", "single", "generic"):
        if kind in kinds_used:
            legend.append(f"{_icon_html(kind, size=12)} "
                          f"{esc(L('site_generic' if kind == 'generic' else kind))}")

    demand = _frame(result.demand.to_crs("EPSG:4326"), gcj)
    site_of, walk = tier_walks(result, tiers_min)
    unc = ~demand["covered"].astype(bool).to_numpy()
    idx = np.flatnonzero(unc)
    scale = max(float(demand["population"].max()), 1.0) if len(demand) else 1.0
    pop = demand["population"].to_numpy(dtype=float)
    _points(m, demand.iloc[idx], esc(L("uncovered")), colour=UNCOVERED_COLOUR,
            radius=2 + 5 * np.sqrt(pop[idx] / scale),
            tip=[f"{pop[i]:,.0f} {L('people')}; " + (
                L("walk_to_site", m=walk[i], j=int(site_of[i])) if np.isfinite(walk[i])
                else L("no_site_reachable")) for i in idx])
    legend.append(_swatch(UNCOVERED_COLOUR, L("uncovered"), dot=True))

    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().header.add_child(folium.Element(_MAP_CSS), name="siting_css")
    m.get_root().html.add_child(folium.Element(_legend_html(L("legend"), legend)))
    m.get_root().html.add_child(folium.Element(_summary_html(result, L)))
    m.fit_bounds([[s, w], [n, e]])
    return m


def check_map_options(lang: str | None = None, assets: str = "inline", basemap: str = "osm",
                      tianditu_key: str | None = None) -> None:
    """Raise :class:`SitingError` for a bad map option (before any work is done)."""
    from siting.report.i18n import check_lang

    if lang is not None:
        check_lang(lang)
    if assets not in ASSET_MODES:
        raise SitingError(f"map assets must be one of {', '.join(ASSET_MODES)}, got {assets!r}")
    if basemap not in BASEMAPS:
        raise SitingError(f"basemap must be one of {', '.join(BASEMAPS)}, got {basemap!r}")
    if basemap == "tianditu" and not tianditu_key:
        raise SitingError("the Tianditu basemap needs a key: pass tianditu_key "
                          "(free from https://console.tianditu.gov.cn)")


def _points(m, gdf: gpd.GeoDataFrame, name: str, colour, radius, tip: list[str],
            show: bool = True) -> None:
    """Many circle markers as one GeoJSON layer (a small file even with thousands of points);
    style per feature, tooltip text escaped here."""
    n = len(gdf)
    colour = [colour] * n if isinstance(colour, str) else list(colour)
    radius = np.broadcast_to(np.asarray(radius, dtype=float), (n,))
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point",
                                         "coordinates": [round(x, 7), round(y, 7)]},
         "properties": {"tip": esc(t), "c": c, "r": round(float(r), 2)}}
        for x, y, t, c, r in zip(gdf.geometry.x, gdf.geometry.y, tip, colour, radius)]}
    g = folium.FeatureGroup(name=name, show=show)
    if n:
        folium.GeoJson(
            fc, marker=folium.CircleMarker(radius=4, fill=True, weight=1),
            style_function=lambda f: {"color": f["properties"]["c"], "fillColor": f["properties"]["c"],
                                      "radius": f["properties"]["r"], "fillOpacity": 0.75,
                                      "weight": 1},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(g)
    g.add_to(m)


def _basemaps(m, basemap: str, tianditu_key: str | None, L, shown: bool = True) -> None:
    """Tile basemaps as base layers (the first one shown when ``shown``)."""
    if basemap == "amap":
        order = [("amap", "amap_basemap"), ("amap_satellite", "amap_satellite")]
    else:
        order = [("osm", "osm_basemap"), ("light", "light_basemap")]
        if tianditu_key:
            order.append(("tianditu", "tianditu_basemap"))
        order.sort(key=lambda t: t[0] != basemap)
    for i, (key, name) in enumerate(order):
        url, attr, subs = TILES[key]
        if key == "tianditu":
            url += tianditu_key
        kw = {"subdomains": subs} if subs else {}
        folium.TileLayer(url, attr=attr, name=esc(L(name)), overlay=False, control=True,
                         show=shown and i == 0, max_zoom=19, **kw).add_to(m)
    if basemap != "amap" and tianditu_key:
        url, attr, subs = TILES["tianditu_labels"]
        folium.TileLayer(url + tianditu_key, attr=attr, name=esc(L("tianditu_basemap")) + " 注记",
                         overlay=True, show=shown and basemap == "tianditu",
                         subdomains=subs).add_to(m)


def to_gcj02(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """WGS-84 layer moved to GCJ-02 (vertex by vertex) to line up with Amap tiles."""
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        raise SitingError("to_gcj02 needs a WGS-84 (EPSG:4326) layer")

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out.geometry = shapely.transform(gdf.geometry.to_numpy(), shift)
    return out


def _frame(gdf: gpd.GeoDataFrame, gcj: bool) -> gpd.GeoDataFrame:
    gdf = gdf.to_crs("EPSG:4326")
    return to_gcj02(gdf) if gcj else gdf


def _flag(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.zeros(len(df), bool)
    return df[col].fillna(False).astype(bool).to_numpy()


def _text(value) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    return str(value)


def _communities(result) -> gpd.GeoDataFrame | None:
    """Community outlines: ``result.communities`` polygons if any, else hulls of demand."""
    comm = getattr(result, "communities", None)
    if isinstance(comm, gpd.GeoDataFrame) and len(comm) and comm.geom_type.isin(
            ["Polygon", "MultiPolygon"]).all():
        name = comm["community_name"] if "community_name" in comm else comm.get(
            "community_id", pd.Series(range(len(comm)), index=comm.index))
        return gpd.GeoDataFrame({"community_name": name.astype(str)}, geometry=comm.geometry,
                                crs=comm.crs)
    d = result.demand
    if "community_id" not in d or d["community_id"].isna().all():
        return None
    names = d["community_name"] if "community_name" in d else d["community_id"]
    rows = []
    for cid, grp in d.groupby("community_id"):
        hull = shapely.convex_hull(shapely.union_all(grp.geometry.to_numpy())).buffer(40.0)
        rows.append({"community_name": _text(names.loc[grp.index[0]]) or str(cid),
                     "geometry": hull})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=d.crs)


def population_cells(result, cell_m: float = GRID_M) -> gpd.GeoDataFrame:
    """Demand summed into square cells (projected CRS): ``population`` and each demand
    group column present (``age_*``, ``households``)."""
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


def _population_layers(m, result, gcj: bool, L, legend: list[str]) -> None:
    cells = population_cells(result)
    if cells.empty:
        return
    cells = _frame(cells.to_crs("EPSG:4326"), gcj)
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
            legend += [_swatch(POP_COLOURS[k], f"{L('population')} {edges[k]:,.0f}–{edges[k + 1]:,.0f}")
                       for k in range(len(edges) - 1)]


def _popup(c, result, L, served: pd.DataFrame | None) -> str:
    rows: list[tuple[str, str]] = [
        (L("site_id"), str(int(c["site_id"]))),
        (L("name"), _text(c.get("name")) or "—"),
        (L("kind"), L(_text(c.get("kind")))),
    ]
    for key in ("acquisition_mode", "source", "existing_services"):
        if _text(c.get(key)):
            rows.append((L(key), ", ".join(L(v.strip()) for v in
                                           _text(c.get(key)).replace(";", ",").split(","))))
    rows.append((L("floor_area_m2"), f"{c['floor_area_m2']:,.0f}"
                 + (" *" if bool(c.get("levels_estimated", False)) else "")))
    rows.append((L("usable_area_m2"), f"{c['usable_area_m2']:,.0f}"))
    for k in services(result.sites):
        area = c.get(f"area_m2_{k}")
        units = c.get(f"units_{k}")
        if area is not None and np.isfinite(float(area)) and float(area) > 0:
            txt = f"{float(area):,.0f} m²"
            if units is not None and np.isfinite(float(units)):
                txt += f" · {float(units):,.0f} {L('units').split('（')[0].split(' (')[0]}"
            rows.append((f"{L('service')}: {L(k)}", txt))
    if "cost_total" in c:  # the breakdown every output shows (siting.report.tables.COST_COLUMNS)
        for key in (*COST_PARTS, "cost_total"):
            v = float(c.get(key, np.nan))
            if np.isfinite(v) and (v > 0 or key == "cost_total"):
                rows.append((L(key), f"{v:,.0f}"))
    elif "cost" in c and np.isfinite(float(c["cost"])) and float(c["cost"]) > 0:
        rows.append((L("cost"), f"{float(c['cost']):,.0f}"))
    if served is not None and int(c["site_id"]) in served.index:
        for col, v in served.loc[int(c["site_id"])].items():
            rows.append((L("served_tier", m=col[len("served_"):-len("min")]), f"{v:,.0f}"))
    rows.append((L("covered_population"), f"{c['covered_population']:,.0f}"))
    rows.append((L("population_in_reach"), f"{c['population_in_reach']:,.0f}"))
    if _text(c.get("osm_id")):
        rows.append((L("osm_id"), _text(c.get("osm_id"))))
    body = "".join(f"<tr><th style='text-align:left;padding-right:8px'>{esc(k)}</th>"
                   f"<td class='siting-val'>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table class='siting-popup' style='font-size:12px'>{body}</table>"


_ICON_STYLE = {
    "complex": ("#d62728", "50%", "★"),
    "single": ("#ff7f0e", "50%", ""),
    "generic": ("#d62728", "50%", "●"),
    "existing": ("#1f4e9c", "3px", "■"),
}


def _icon_html(kind: str, glyph: str | None = None, size: int = 20) -> str:
    colour, radius, default = _ICON_STYLE[kind]
    g = esc(glyph if glyph is not None else default)
    return (f"<span style='display:inline-block;width:{size}px;height:{size}px;"
            f"line-height:{size}px;border-radius:{radius};background:{colour};color:#fff;"
            f"border:{max(size // 10, 1)}px solid #fff;box-shadow:0 0 3px #000;text-align:center;"
            f"vertical-align:middle;font:bold {size * 3 // 5}px sans-serif'>{g}</span>")


def _icon(kind: str, mix: list[str] | None = None, lang: str = "en") -> folium.DivIcon:
    glyph = None
    if kind == "single" and mix:
        glyph = label(mix[0], lang)[:1]
    cls = "siting-existing" if kind == "existing" else f"siting-site siting-{kind}"
    return folium.DivIcon(html=_icon_html(kind, glyph), icon_size=(24, 24),
                          icon_anchor=(12, 12), class_name=cls)


def _swatch(colour: str, text: str, line: bool = False, dot: bool = False) -> str:
    shape = ("height:0;border-top:2px dashed " + colour if line else
             f"background:{colour};border-radius:{'50%' if dot else '2px'};height:12px;opacity:.8")
    return (f"<span style='display:inline-block;width:14px;{shape};margin-right:4px;"
            f"vertical-align:middle'></span>{esc(text)}")


def _legend_html(title: str, items: list[str]) -> str:
    rows = "".join(f"<div>{it}</div>" for it in items)
    return (f"<div class='siting-legend' style='position:fixed;bottom:28px;right:10px;z-index:1000;"
            f"background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;"
            f"box-shadow:0 0 4px rgba(0,0,0,.4);font:12px sans-serif;max-height:45%;"
            f"overflow:auto'><b>{esc(title)}</b>{rows}</div>")


# the offline basemap drawn from the extract: street classes by OSM highway tag
_STREET_CLASS = {**{k: "major" for k in (
    "motorway", "trunk", "primary", "secondary", "tertiary", "motorway_link", "trunk_link",
    "primary_link", "secondary_link", "tertiary_link")}, **{k: "minor" for k in (
        "residential", "unclassified", "living_street", "service", "road")}}
_STREET_STYLE = {"major": {"color": "#c9a46b", "weight": 3.5},
                 "minor": {"color": "#a7a39c", "weight": 2.0},
                 "path": {"color": "#b9b5ad", "weight": 1.0, "dashArray": "3 2"}}
_BUILDING_STYLE = {"color": "#a99d91", "weight": 0.6, "fillColor": "#d8cfc4",
                   "fillOpacity": 1.0}
BASE_BACKGROUND = "#f4f2ee"
STREET_SIMPLIFY_M = 2.0
COORD_DECIMALS = 5  # ~1 m


def _rounded(geom) -> list:
    """Coordinates of a line or ring rounded to :data:`COORD_DECIMALS` (repeats dropped)."""
    xy = np.round(np.asarray(geom.coords)[:, :2], COORD_DECIMALS)
    keep = np.ones(len(xy), bool)
    keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
    return xy[keep].tolist()


def street_lines(result) -> gpd.GeoDataFrame:
    """The walking graph's streets, one line per street (both directions merged), with
    ``street_class`` ``major``/``minor``/``path``, simplified (projected CRS kept)."""
    import osmnx as ox

    edges = ox.graph_to_gdfs(result.graph, nodes=False, fill_edge_geometry=True)
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


def _extract_basemap(m, result, gcj: bool, L, legend: list[str]) -> bool:
    """The extract's streets and building footprints as the first base layer (drawn in a
    pane under every overlay, so it works with no tiles at all); ``False`` when the run
    has neither."""
    graph = getattr(result, "graph", None)
    streets = street_lines(result) if graph is not None and graph.number_of_edges() else None
    blds = getattr(result, "buildings", None)
    if (streets is None or streets.empty) and (blds is None or len(blds) == 0):
        return False
    features = []
    if blds is not None and len(blds):
        polys = _frame(blds, gcj).geometry.explode(index_parts=False)
        polys = polys[polys.geom_type == "Polygon"]
        rings = [[_rounded(p.exterior)] for p in polys]
        features.append({"type": "Feature", "properties": {"k": "building"}, "geometry": {
            "type": "MultiPolygon", "coordinates": [r for r in rings if len(r[0]) >= 4]}})
        legend.append(_swatch(_BUILDING_STYLE["fillColor"], L("buildings")))
    if streets is not None and not streets.empty:
        streets = _frame(streets, gcj)
        for cls in ("path", "minor", "major"):  # major streets drawn last, on top
            lines = streets.geometry[(streets["street_class"] == cls).to_numpy()]
            lines = lines.explode(index_parts=False)
            coords = [c for c in (_rounded(g) for g in lines if g.geom_type == "LineString")
                      if len(c) >= 2]
            if coords:
                features.append({"type": "Feature", "properties": {"k": cls}, "geometry": {
                    "type": "MultiLineString", "coordinates": coords}})
        legend.append(f"<span style='display:inline-block;width:14px;height:0;border-top:3px "
                      f"solid {_STREET_STYLE['major']['color']};margin-right:4px;"
                      f"vertical-align:middle'></span>{esc(L('streets'))}")
    folium.map.CustomPane("sitingbase", z_index=250, pointer_events=False).add_to(m)
    g = folium.FeatureGroup(name=esc(L("extract_basemap")), overlay=False, show=True)
    folium.GeoJson({"type": "FeatureCollection", "features": features}, pane="sitingbase",
                   interactive=False, smooth_factor=1.0,
                   style_function=lambda f: _BUILDING_STYLE if f["properties"]["k"] == "building"
                   else _STREET_STYLE[f["properties"]["k"]]).add_to(g)
    g.add_to(m)
    return True


def _gap_text(gap, L) -> str:
    """The MIP gap as the CLI prints it (``1.23 %``), or that no bound was proven."""
    if gap is None or not np.isfinite(float(gap)):
        return L("gap_unknown")
    return f"{100 * float(gap):.2f} %"


def _area_name(result) -> str:
    """The run's name: the scenario's name, else the input file's stem or place."""
    sc = getattr(result, "scenario", None)
    name = _text(getattr(sc, "name", None))
    if name:
        return name
    src = _text(result.summary.get("source")) or _text(getattr(sc, "place", None))
    return Path(src).stem if src and ("/" in src or "." in src) else src


def _summary_html(result, L) -> str:
    """Title and summary panel: every number from ``result.summary`` (as in
    ``summary.json``), formatted as the CLI prints it; each text through :func:`esc`."""
    s = result.summary
    rows: list[tuple[str, str, str]] = []
    if s.get("cost_total") is not None:
        rows.append(("cost", L("plan_cost"), f"{s['cost_total']:,.0f} {L('cny')}"))
    if "budget" in s:
        rows.append(("budget", L("plan_budget"), L("no_budget") if s["budget"] is None
                     else f"{s['budget']:,.0f} {L('cny')}"))
    if "covered_population" in s:
        rows.append(("covered", L("people_covered"),
                     f"{s['covered_population']:,.0f} / {s['total_population']:,.0f} "
                     f"({100 * s['covered_share']:.1f} %)"))
    if "n_sites_chosen" in s:
        rows.append(("sites", L("chosen"),
                     f"{s['n_sites_chosen']} / {s['n_candidate_sites']}"))
    if s.get("served_by_service"):
        rows.append(("head", L("served_by_service"), ""))
    for k, v in (s.get("served_by_service") or {}).items():
        rows.append(("served", L(k), f"{v:,.0f} {L('people')}"))
    if s.get("communities_total") is not None:
        rows.append(("standard", L("communities_meeting_standard"),
                     f"{s['communities_meeting_standard']} / {s['communities_total']}"))
    if "status" in s:
        rows.append(("solver", L("solver"), f"{s.get('solver', '')}: {s['status']}, "
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
