"""Basemaps of the map and the frame they are drawn in.

The basemap shown first is drawn from the extract itself (streets of the walking graph and
building footprints, :func:`extract_basemap`) in a pane under every overlay, so the map
works with no tiles at all; tile basemaps (:data:`TILES`) are offered in the layer control
and are the only network use, once picked.

Coordinates: data are WGS-84. OpenStreetMap, the light basemap and Tianditu (CGCS2000,
within a metre of WGS-84) share that frame. Amap tiles are drawn in GCJ-02, so with the
Amap basemap every layer is moved to GCJ-02 (:func:`frame`, :func:`to_gcj02`) before
drawing (a map is in one frame only; the WGS-84 basemaps are then not offered, as they
would be off by the same few hundred metres).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import shapely

from siting.errors import SitingError
from siting.io.coords import wgs84_to_gcj02
from siting.report.common import street_lines
from siting.report.markup import esc, swatch

if TYPE_CHECKING:
    from siting.pipeline import RunResult

BASEMAPS = ("osm", "light", "amap", "tianditu")
# url, attribution, subdomains of each tile basemap
TILES: dict[str, tuple[str, str, str | None]] = {
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
_STREET_STYLE: dict[str, dict[str, Any]] = {"major": {"color": "#c9a46b", "weight": 3.5},
                 "minor": {"color": "#a7a39c", "weight": 2.0},
                 "path": {"color": "#b9b5ad", "weight": 1.0, "dashArray": "3 2"}}
_BUILDING_STYLE: dict[str, Any] = {"color": "#a99d91", "weight": 0.6, "fillColor": "#d8cfc4",
                   "fillOpacity": 1.0}
BASE_BACKGROUND = "#f4f2ee"
COORD_DECIMALS = 5  # ~1 m


def to_gcj02(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """WGS-84 layer moved to GCJ-02 (vertex by vertex) to line up with Amap tiles.

    Parameters
    ----------
    gdf
        A layer in WGS-84 (EPSG:4326).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with every vertex in GCJ-02 (the CRS still says EPSG:4326).

    Raises
    ------
    SitingError
        When ``gdf`` is not in WGS-84.
    """
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        raise SitingError("to_gcj02 needs a WGS-84 (EPSG:4326) layer")

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out.geometry = shapely.transform(gdf.geometry.to_numpy(), shift)
    return out


def frame(gdf: gpd.GeoDataFrame, gcj: bool) -> gpd.GeoDataFrame:
    """A layer in the map's frame.

    Parameters
    ----------
    gdf
        A layer in any CRS.
    gcj
        Whether the map is drawn in GCJ-02 (the Amap basemap).

    Returns
    -------
    geopandas.GeoDataFrame
        ``gdf`` in WGS-84, moved to GCJ-02 when ``gcj``.
    """
    gdf = gdf.to_crs("EPSG:4326")
    return to_gcj02(gdf) if gcj else gdf


def _rounded(geom) -> list:
    """Coordinates of a line or ring rounded to :data:`COORD_DECIMALS` (repeats dropped)."""
    xy = np.round(np.asarray(geom.coords)[:, :2], COORD_DECIMALS)
    keep = np.ones(len(xy), bool)
    keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
    return xy[keep].tolist()


def extract_basemap(m: folium.Map, result: RunResult, gcj: bool, L: Callable[..., str],
                    legend: list[str]) -> bool:
    """Add the extract's streets and building footprints as the first base layer.

    The layer is drawn in a pane under every overlay, so the map works with no tiles at all.

    Parameters
    ----------
    m
        The map.
    result
        The run (its walking graph and ``buildings``).
    gcj
        Whether the map is drawn in GCJ-02.
    L
        Label of a key in the map's language (:func:`siting.report.i18n.label`).
    legend
        Legend entries; those of buildings and streets are appended.

    Returns
    -------
    bool
        ``False`` when the run has neither streets nor buildings (nothing added).
    """
    streets = street_lines(result.graph)
    blds = result.buildings
    if streets.empty and (blds is None or len(blds) == 0):
        return False
    features = []
    if blds is not None and len(blds):
        polys = frame(blds, gcj).geometry.explode(index_parts=False)
        polys = polys[polys.geom_type == "Polygon"]
        rings = [[_rounded(p.exterior)] for p in polys]
        features.append({"type": "Feature", "properties": {"k": "building"}, "geometry": {
            "type": "MultiPolygon", "coordinates": [r for r in rings if len(r[0]) >= 4]}})
        legend.append(swatch(_BUILDING_STYLE["fillColor"], L("buildings")))
    if not streets.empty:
        streets = frame(streets, gcj)
        for cls in ("path", "minor", "major"):  # major streets drawn last, on top
            lines = streets.geometry[(streets["street_class"] == cls).to_numpy()]
            lines = lines.explode(index_parts=False)
            coords = [c for c in (_rounded(g) for g in lines if g.geom_type == "LineString")
                      if len(c) >= 2]
            if coords:
                features.append({"type": "Feature", "properties": {"k": cls}, "geometry": {
                    "type": "MultiLineString", "coordinates": coords}})
        legend.append(swatch(_STREET_STYLE["major"]["color"], L("streets"), solid=3))
    folium.map.CustomPane("sitingbase", z_index=250, pointer_events=False).add_to(m)
    g = folium.FeatureGroup(name=esc(L("extract_basemap")), overlay=False, show=True)
    folium.GeoJson({"type": "FeatureCollection", "features": features}, pane="sitingbase",
                   interactive=False, smooth_factor=1.0,
                   style_function=lambda f: _BUILDING_STYLE if f["properties"]["k"] == "building"
                   else _STREET_STYLE[f["properties"]["k"]]).add_to(g)
    g.add_to(m)
    return True


def tile_basemaps(m: folium.Map, basemap: str, tianditu_key: str | None,
                  L: Callable[..., str], shown: bool = True) -> None:
    """Add the tile basemaps as base layers.

    Parameters
    ----------
    m
        The map.
    basemap
        The basemap asked for (:data:`BASEMAPS`); it comes first. ``"amap"`` offers the
        Amap tiles only (the map is in GCJ-02), the others OpenStreetMap, the light
        basemap and Tianditu when there is a key.
    tianditu_key
        Tianditu API key (Tianditu layers only with one).
    L
        Label of a key in the map's language.
    shown
        Whether the first tile layer is shown (not when the extract's basemap is).
    """
    if basemap == "amap":
        order = [("amap", "amap_basemap"), ("amap_satellite", "amap_satellite")]
    else:
        order = [("osm", "osm_basemap"), ("light", "light_basemap")]
        if tianditu_key:
            order.append(("tianditu", "tianditu_basemap"))
        order.sort(key=lambda t: t[0] != basemap)
    for i, (key, name) in enumerate(order):
        folium.TileLayer(**_tiles(key, tianditu_key), name=esc(L(name)), overlay=False,
                         control=True, show=shown and i == 0, max_zoom=19).add_to(m)
    if basemap != "amap" and tianditu_key:
        folium.TileLayer(**_tiles("tianditu_labels", tianditu_key),
                         name=esc(L("tianditu_basemap")) + " 注记", overlay=True,
                         show=shown and basemap == "tianditu").add_to(m)


def _tiles(key: str, tianditu_key: str | None) -> dict[str, Any]:
    """``folium.TileLayer`` arguments of a :data:`TILES` basemap (Tianditu with its key)."""
    url, attr, subs = TILES[key]
    if key.startswith("tianditu"):
        url += tianditu_key or ""
    return {"tiles": url, "attr": attr, **({"subdomains": subs} if subs else {})}
