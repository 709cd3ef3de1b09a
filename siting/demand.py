"""Demand: where people live and how many, as points in the network's CRS.

Population comes from one of four sources, all ending in the same demand layer:

* buildings only (:func:`demand_from_buildings`): residential floor area × occupancy;
* a population raster such as WorldPop or GHS-POP (:func:`demand_from_raster`);
* polygons or a vector grid with a population column, e.g. subdistrict totals
  (:func:`demand_from_polygons`);
* a household or residential-compound table, CSV or Excel, with lon/lat in
  WGS-84, GCJ-02 or BD-09 (:func:`demand_from_table`).

:func:`load_population` picks the reader from the file. Raster cells and polygons are
split onto the residential buildings inside them by floor area (dasymetric mapping)
and, where they hold no residential building, onto a point or a regular grid.
:func:`add_groups` then adds people per age group and households, and
:func:`assign_communities` tags every point with its community (社区).

Study-area rule (the same on every path): a raster cell or polygon only partly inside
the study area contributes ``population × (area inside) / (area of the cell or
polygon)``, measured in the metric output CRS; points (table rows, point layers) count
when they lie inside. Population is conserved: the output total equals the sum of
these in-area shares up to floating-point rounding. A study area given in degrees is
densified every 0.0005° (≈ 50 m) before it is projected, so its edges follow the
meridians and parallels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from siting.buildings import classify, floor_area
from siting.errors import SitingError
from siting.config.policy import load_policy

# Demand groups a service may serve (policy ``demand_group``), besides "all" (= population)
# and "households". 60+ ⊃ 65+ ⊃ 80+ nest; 0–2, 3–5, 6–14 and 60+ are disjoint.
DEMAND_GROUPS = ("age_0_2", "age_3_5", "age_6_14", "age_60_plus", "age_65_plus", "age_80_plus")
ALL_GROUPS = (*DEMAND_GROUPS, "all", "households")
_DISJOINT_GROUPS = ("age_0_2", "age_3_5", "age_6_14", "age_60_plus")
_NESTED_GROUPS = ("age_60_plus", "age_65_plus", "age_80_plus")  # each ⊇ the next

# Defaults come from the packaged policy (siting/config/policies/cn_default.toml, the one home
# of every default, with sources): 7th-census age shares and household size; the
# fallback community unit, a 500 m planning cell ≈ 5–10 thousand people at Chinese urban
# densities, the size of a 完整居住社区 (STANDARDS.md §3). A run passes its own policy.
_PACKAGED = load_policy()
DEFAULT_AGE_SHARES: dict[str, float] = dict(_PACKAGED.population.age_shares)
DEFAULT_HOUSEHOLD_SIZE = _PACKAGED.population.household_size
DEFAULT_COMMUNITY_CELL_M = _PACKAGED.area_standard.fallback_cell_m
DEFAULT_GRID_M = 100.0  # spacing of the points a polygon without buildings is split onto

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc", ".nc")
# columns that label a population polygon (zone_id of its demand points), in order
ZONE_ID_COLUMNS = ("zone_id", "id", "code", "编码", "代码", "subdistrict", "街道", "name", "名称")
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度")
_POP_NAMES = ("population", "pop", "人口", "人数")
_HH_NAMES = ("households", "hh", "户数")
_NAME_NAMES = ("name", "compound", "community", "小区", "小区名称", "名称")
_COMMUNITY_ID_NAMES = ("community_id", "id", "code", "社区代码", "社区编码", "编码")
_COMMUNITY_NAME_NAMES = ("community_name", "name", "社区", "社区名称", "名称", "乡")
_DEGREE_SEGMENT = 0.0005  # densify geographic study areas (≈ 50 m) before projecting

_COLUMNS = ["demand_id", "population", "kind", "zone_id", "osm_id", "name", "floor_area_m2",
            "levels_estimated"]


# --------------------------------------------------------------------------
# buildings only
# --------------------------------------------------------------------------
def demand_from_buildings(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame | None = None,
    *,
    m2_per_person: float = 40.0,
    default_levels: float = 6.0,
    min_footprint_m2: float = 30.0,
    population_total: float | None = None,
) -> gpd.GeoDataFrame:
    """Residential buildings as demand points, population from floor area.

    Population = footprint × storeys / ``m2_per_person`` (gross floor area per
    resident; China's 2020 urban average housing floor area is about 40 m² per
    person), optionally scaled so that the total equals ``population_total``.

    Parameters
    ----------
    buildings
        Building polygons in a projected CRS with OSM tags (see :mod:`siting.io.osm`).
    landuse
        Land-use polygons used to read ``building=yes`` (see :func:`siting.buildings.classify`).
    m2_per_person
        Gross residential floor area per person.
    default_levels
        Storeys assumed where the building has neither ``building:levels`` nor ``height``.
    min_footprint_m2
        Smaller residential footprints (sheds, kiosks) hold no one.
    population_total
        Known total population of the study area to scale to.

    Returns
    -------
    geopandas.GeoDataFrame
        One point per residential building (``representative_point``) with
        ``demand_id``, ``osm_id``, ``floor_area_m2``, ``levels_estimated``, ``population``.
    """
    if m2_per_person <= 0:
        raise SitingError(f"m2_per_person must be > 0, got {m2_per_person}")
    if population_total is not None and population_total < 0:
        raise SitingError(f"population_total must be >= 0, got {population_total}")
    if buildings is None or buildings.empty:
        raise SitingError("no buildings in the study area: cannot place any population")
    res = _residential(buildings, landuse, default_levels, min_footprint_m2)
    if res.empty:
        raise SitingError(
            "no residential buildings in the study area (building=residential/apartments/"
            "house or building=yes outside commercial and industrial land); give a population "
            "layer instead"
        )
    population = res["floor_area_m2"] / m2_per_person
    if population_total is not None:
        population = population * (population_total / population.sum())
    out = gpd.GeoDataFrame(
        {
            "demand_id": np.arange(len(res)),
            "osm_id": res.index.to_numpy(),
            "name": res["name"].to_numpy() if "name" in res else None,
            "floor_area_m2": res["floor_area_m2"].to_numpy(),
            "levels_estimated": res["levels_estimated"].to_numpy(),
            "population": population.to_numpy(),
            "kind": "building",
        },
        geometry=res.geometry.to_numpy(),
        crs=buildings.crs,
    )
    return out


def demand_from_points(points: gpd.GeoDataFrame, column: str = "population") -> gpd.GeoDataFrame:
    """Demand from a point or polygon layer with a population column (polygons → centres)."""
    pop = _population_values(points, column, "population layer")
    geom = points.geometry
    if not (geom.geom_type == "Point").all():
        geom = geom.representative_point()
    return gpd.GeoDataFrame(
        {"demand_id": np.arange(len(points)), "population": pop},
        geometry=geom.to_numpy(),
        crs=points.crs,
    )


# --------------------------------------------------------------------------
# rasters
# --------------------------------------------------------------------------
def demand_from_raster(
    path: str | Path,
    area,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    landuse: gpd.GeoDataFrame | None = None,
    crs=None,
    band: int = 1,
    raster_crs=None,
    default_levels: float = 6.0,
    min_footprint_m2: float = 30.0,
) -> gpd.GeoDataFrame:
    """Demand from a population-count raster (WorldPop, GHS-POP …) in any CRS.

    Only the window of the raster that covers the study area is read. Nodata cells
    (the band's nodata value, or NaN) hold no one. Each cell's population inside the
    study area is split onto the residential buildings whose representative point
    falls in the cell, in proportion to their floor area; a cell without residential
    buildings becomes one point at its centre (reprojected to the output CRS), or at
    the representative point of its in-area part when the cell is cut by the boundary.

    Parameters
    ----------
    path
        GeoTIFF (or any raster GDAL reads) of people per cell.
    area
        Study area: a shapely geometry in WGS-84 or a GeoSeries/GeoDataFrame with a CRS.
    buildings, landuse
        Projected building (and land-use) polygons with OSM tags for the dasymetric
        split; without them every populated cell is one demand point.
    crs
        Output CRS (metric). Default: the buildings' CRS, else the UTM zone of the area.
    band
        Band holding the counts.
    raster_crs
        CRS to assume when the raster has none (otherwise that is an error).
    default_levels, min_footprint_m2
        Residential buildings, as in :func:`demand_from_buildings`.

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``demand_id``, ``population``, ``kind`` (``"building"`` or
        ``"cell"``), ``zone_id`` (``"r{row}c{col}"`` of the raster cell), ``osm_id``,
        ``name``, ``floor_area_m2``, ``levels_estimated``.

    Notes
    -----
    Partly covered cells contribute ``value × (cell area inside) / (cell area)``,
    measured in the output CRS, so the output total equals the sum of the in-area shares.
    """
    area_s = _area_series(area)
    crs = _output_crs(crs, buildings, area_s)
    area_m = _area_in(area_s, crs)
    cells = _raster_cells(path, area_s, area_m, crs, band=band, raster_crs=raster_crs)
    res = _residential_in(buildings, landuse, area_m, crs, default_levels, min_footprint_m2)
    if not res.empty:
        res = res.assign(zone=cells.locate(res.geometry))
    zones = gpd.GeoDataFrame(
        {"zone_id": cells.ids, "population": cells.people},
        geometry=cells.points, crs=crs)
    return _split_onto_buildings(zones, res, crs, empty_kind="cell", grid_of=None)


class _Cells:
    """Populated raster cells of one window, in-area share and output-CRS geometry."""

    def __init__(self, rows, cols, people, points, transform, to_src):
        self.rows, self.cols, self.people, self.points = rows, cols, people, points
        self.ids = np.array([f"r{r}c{c}" for r, c in zip(rows, cols)], dtype=object)
        self._transform, self._to_src = transform, to_src
        self._index = {(r, c): k for k, (r, c) in enumerate(zip(rows, cols))}

    def locate(self, points: gpd.GeoSeries) -> np.ndarray:
        """Index into the cells of each point (−1 outside every populated cell)."""
        x, y = self._to_src.transform(points.x.to_numpy(), points.y.to_numpy())
        col, row = _pixel(self._transform, np.asarray(x), np.asarray(y))
        row = np.floor(row).astype(np.int64)
        col = np.floor(col).astype(np.int64)
        return np.array([self._index.get((r, c), -1) for r, c in zip(row, col)], dtype=np.int64)


def _raster_cells(path, area_s: gpd.GeoSeries, area_m, crs, *, band=1, raster_crs=None,
                  all_cells_of: gpd.GeoSeries | None = None) -> _Cells:
    """Read the study-area window of a count raster and weight cells by their share inside.

    With ``all_cells_of`` (points) and no area, the cells under those points count in full.
    """
    import rasterio
    from rasterio.windows import Window

    path = Path(path)
    if not path.exists():
        raise SitingError(f"population raster not found: {path}")
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise SitingError(f"{path}: cannot read the raster ({exc})") from exc
    with ds:
        src_crs = ds.crs
        if src_crs is None:
            if raster_crs is None:
                raise SitingError(
                    f"{path}: the raster has no CRS, so its cells cannot be placed; save it "
                    "with one (e.g. gdal_edit.py -a_srs EPSG:4326) or pass population_crs"
                )
            src_crs = CRS.from_user_input(_pyproj_crs(raster_crs, path))
        src_crs = CRS.from_user_input(src_crs)
        t = ds.transform
        if t.b != 0 or t.d != 0:
            raise SitingError(f"{path}: rotated rasters are not supported; warp it north-up first")
        if not 1 <= band <= ds.count:
            raise SitingError(f"{path}: band {band} does not exist (the raster has {ds.count})")
        w, s, e, n = (all_cells_of if area_s is None else area_s).to_crs(src_crs).total_bounds
        if not np.all(np.isfinite([w, s, e, n])):
            raise SitingError(f"{path}: the study area cannot be expressed in the raster's CRS "
                              f"{src_crs.to_string()}")
        cs, rs = _pixel(t, np.array([w, e, w, e]), np.array([s, s, n, n]))
        # one cell of margin: straight edges in one CRS bulge slightly in another
        c0 = max(int(math.floor(min(cs))) - 1, 0)
        c1 = min(int(math.ceil(max(cs))) + 1, ds.width)
        r0 = max(int(math.floor(min(rs))) - 1, 0)
        r1 = min(int(math.ceil(max(rs))) + 1, ds.height)
        beyond = (min(cs) < -1e-6 or max(cs) > ds.width + 1e-6 or min(rs) < -1e-6
                  or max(rs) > ds.height + 1e-6)
        if c0 >= c1 or r0 >= r1:
            rb = ds.bounds
            raise SitingError(
                f"{path}: the raster (bounds {tuple(round(v, 4) for v in rb)} in "
                f"{src_crs.to_string()}) does not overlap the study area (bounds "
                f"{tuple(round(v, 4) for v in (w, s, e, n))} in the same CRS); check the "
                "raster's CRS and extent"
            )
        if beyond and area_s is not None:
            warnings.warn(f"{path}: the study area reaches beyond the raster's extent; people "
                          "living outside the raster are not counted", UserWarning, stacklevel=3)
        data = ds.read(band, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
    values = np.ma.filled(data.astype(np.float64), np.nan)
    bad = np.isfinite(values) & (values < 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise SitingError(
            f"{path}: negative population {values[r, c]} in cell row {r + r0}, column {c + c0} "
            f"({int(bad.sum())} such cells) and no nodata value covers it; set the nodata "
            "value (e.g. gdal_edit.py -a_nodata -99999)"
        )
    rr, cc = np.nonzero(np.isfinite(values) & (values > 0))
    vals = values[rr, cc]
    rows, cols = rr + r0, cc + c0
    to_out = Transformer.from_crs(src_crs, crs, always_xy=True)
    to_src = Transformer.from_crs(crs, src_crs, always_xy=True)
    x0, y0 = t.c + t.a * cols, t.f + t.e * rows
    x1, y1 = x0 + t.a, y0 + t.e
    cx, cy = to_out.transform(x0 + t.a / 2, y0 + t.e / 2)
    centres = shapely.points(np.asarray(cx), np.asarray(cy))
    if area_m is None:  # cells under the given points, in full
        cells = _Cells(rows, cols, vals, centres, t, to_src)
        under = np.unique(cells.locate(all_cells_of.to_crs(crs)))
        under = under[under >= 0]
        return _Cells(rows[under], cols[under], vals[under], centres[under], t, to_src)
    boxes = gpd.GeoSeries(shapely.box(np.minimum(x0, x1), np.minimum(y0, y1),
                                      np.maximum(x0, x1), np.maximum(y0, y1)), crs=src_crs)
    boxes = boxes.to_crs(crs).to_numpy()
    share, points = _share_inside(boxes, area_m, centres)
    keep = share > 0
    return _Cells(rows[keep], cols[keep], vals[keep] * share[keep], points[keep], t, to_src)


def _pixel(t, x, y):
    """Fractional (column, row) of map coordinates in a north-up raster with transform ``t``."""
    return (x - t.c) / t.a, (y - t.f) / t.e


def _share_inside(shapes: np.ndarray, area_m, points: np.ndarray | None = None):
    """Area share of each shape inside ``area_m`` and a point for its in-area part."""
    shapely.prepare(area_m)
    inside = shapely.contains_properly(area_m, shapes)
    share = inside.astype(np.float64)
    pts = np.array(points if points is not None else shapely.point_on_surface(shapes), dtype=object)
    cut = np.flatnonzero(~inside & shapely.intersects(area_m, shapes))
    if len(cut):
        part = shapely.intersection(shapes[cut], area_m)
        full = shapely.area(shapes[cut])
        with np.errstate(invalid="ignore", divide="ignore"):
            share[cut] = np.where(full > 0, shapely.area(part) / full, 0.0)
        ok = ~shapely.is_empty(part)
        pts[cut[ok]] = shapely.point_on_surface(part[ok])
    return share, pts


# --------------------------------------------------------------------------
# polygons and vector grids
# --------------------------------------------------------------------------
def demand_from_polygons(
    gdf_or_path: gpd.GeoDataFrame | str | Path,
    column: str = "population",
    buildings: gpd.GeoDataFrame | None = None,
    *,
    area=None,
    landuse: gpd.GeoDataFrame | None = None,
    crs=None,
    source_crs=None,
    grid_m: float = DEFAULT_GRID_M,
    default_levels: float = 6.0,
    min_footprint_m2: float = 30.0,
) -> gpd.GeoDataFrame:
    """Demand from polygons (districts, subdistricts, a vector grid) with population totals.

    Each polygon's population inside the study area is split onto the residential
    buildings whose representative point lies in it, in proportion to their floor
    area. A polygon without residential buildings is split equally onto a regular
    ``grid_m`` grid of points inside it (its representative point if it is smaller
    than one grid cell).

    Parameters
    ----------
    gdf_or_path
        Polygon layer or a file (GeoPackage, GeoJSON, Shapefile, GeoParquet …).
    column
        Column with people per polygon (non-negative numbers).
    buildings, landuse
        Projected building (and land-use) polygons with OSM tags.
    area
        Study area (shapely geometry in WGS-84, or a GeoSeries/GeoDataFrame with a CRS);
        ``None`` keeps every polygon whole.
    crs
        Output CRS (metric). Default: the buildings' CRS, else the UTM zone of the layer.
    source_crs
        CRS of the layer when the file has none, or ``"gcj02"``/``"bd09"`` for layers
        digitised on Chinese web maps (see :func:`siting.io.coords.geodataframe_to_wgs84`).
    grid_m
        Spacing of the fallback grid, metres.
    default_levels, min_footprint_m2
        Residential buildings, as in :func:`demand_from_buildings`.

    Returns
    -------
    geopandas.GeoDataFrame
        The columns of :func:`demand_from_raster`; ``kind`` is ``"building"`` or
        ``"grid"`` and ``zone_id`` the polygon's id or name (the first of
        :data:`ZONE_ID_COLUMNS` whose values are unique), else its row label.

    Notes
    -----
    A polygon only partly inside the study area contributes
    ``population × (area inside) / (polygon area)``, measured in the output CRS;
    the output total equals the sum of these shares. Buildings in two overlapping
    polygons are split by the first one only.
    """
    if grid_m <= 0:
        raise SitingError(f"grid_m must be > 0, got {grid_m}")
    polys, where = _read_vector(gdf_or_path, source_crs)
    pop = _population_values(polys, column, where)
    polys = polys.assign(_pop=pop)
    polys = polys[polys.geometry.notna() & ~polys.geometry.is_empty]
    if not polys.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        kinds = sorted(set(polys.geom_type) - {"Polygon", "MultiPolygon"})
        raise SitingError(f"{where}: expected polygons, found {kinds}; points go through "
                          "demand_from_table or load_population")
    area_s = None if area is None else _area_series(area)
    crs = _output_crs(crs, buildings, area_s if area_s is not None else polys)
    polys_m = polys.to_crs(crs)
    geoms = polys_m.geometry.to_numpy()
    finite = np.isfinite(shapely.bounds(geoms)).all(axis=1)
    if area_s is not None:
        area_m = _area_in(area_s, crs)
        share = np.zeros(len(geoms))
        pts = np.array(shapely.point_on_surface(geoms), dtype=object)
        share[finite], pts[finite] = _share_inside(geoms[finite], area_m)
        if not (share > 0).any():
            raise SitingError(
                f"{where}: none of the {len(polys)} polygons overlaps the study area "
                f"(layer bounds {_bounds_wgs84(polys)}, study area {_bounds_wgs84(area_s)} in "
                f"WGS-84); check the layer's CRS ({polys.crs.to_string()}) — a layer in GCJ-02 "
                "or a projected CRS labelled as another CRS lands elsewhere"
            )
        parts = np.array(geoms, dtype=object)
        cut = (share > 0) & (share < 1)
        parts[cut] = shapely.intersection(geoms[cut], area_m)
    else:
        area_m = None
        share = np.where(finite, 1.0, 0.0)
        parts = np.array(geoms, dtype=object)
    keep = share > 0
    zones = gpd.GeoDataFrame(
        {"zone_id": _zone_labels(polys_m)[keep],
         "population": polys_m["_pop"].to_numpy()[keep] * share[keep]},
        geometry=parts[keep], crs=crs)
    res = _residential_in(buildings, landuse, area_m, crs, default_levels, min_footprint_m2)
    if not res.empty:
        hit = gpd.sjoin(gpd.GeoDataFrame(geometry=res.geometry, crs=crs),
                        zones[["geometry"]], how="left", predicate="within")
        hit = hit[~hit.index.duplicated()]
        res = res.assign(zone=hit["index_right"].fillna(-1).astype(np.int64).to_numpy())
    return _split_onto_buildings(zones, res, crs, empty_kind="grid", grid_of=grid_m)


# --------------------------------------------------------------------------
# tables and point layers
# --------------------------------------------------------------------------
def demand_from_table(
    path: str | Path | pd.DataFrame,
    lon: str | None = None,
    lat: str | None = None,
    crs: str = "wgs84",
    *,
    population: str | None = None,
    households: str | None = None,
    name: str | None = None,
    household_size: float = DEFAULT_HOUSEHOLD_SIZE,
    area=None,
    out_crs=None,
    sheet: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Demand from a household or residential-compound table (CSV or Excel) with lon/lat.

    Parameters
    ----------
    path
        ``.csv``/``.txt``/``.tsv`` (UTF-8 or GB18030) or ``.xlsx`` file, or a DataFrame.
    lon, lat
        Coordinate columns; default: the first of ``lon/lng/longitude/x/经度`` and
        ``lat/latitude/y/纬度`` present.
    crs
        Datum of lon/lat: ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"`` (Amap, Tencent),
        ``"bd09"`` (Baidu), or an EPSG code; converted with :mod:`siting.io.coords`.
    population, households
        Columns with people and households per row; default ``population`` and
        ``households`` when present. At least one is needed; rows with households only
        get ``population = households × household_size``.
    name
        Compound-name column (default ``name``/``小区``/``名称`` when present).
    household_size
        Persons per household for rows without a population.
    area
        Study area; rows outside it are dropped (points count when inside).
    out_crs
        Output CRS (metric). Default: the UTM zone of the points.
    sheet
        Excel sheet (default the first).

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``demand_id``, ``population``, ``households`` (NaN where the table
        has none), ``kind`` = ``"point"``, ``zone_id`` (table row), ``name``.
    """
    where = str(path) if not isinstance(path, pd.DataFrame) else "population table"
    df = path if isinstance(path, pd.DataFrame) else _read_table(Path(path), sheet)
    lon = _pick_column(df, lon, _LON_NAMES, "longitude", where, "lon")
    lat = _pick_column(df, lat, _LAT_NAMES, "latitude", where, "lat")
    x = pd.to_numeric(df[lon], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(df[lat], errors="coerce").to_numpy(dtype=float)
    named = _is_named_datum(crs)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if named:
        bad |= (np.abs(x) > 180) | (np.abs(y) > 90)
    if bad.any():
        raise SitingError(f"{where}: missing or invalid coordinates in columns {lon!r}/{lat!r} "
                          f"at rows {list(df.index[bad][:5])}; every row needs a location")
    if household_size <= 0:
        raise SitingError(f"household_size must be > 0, got {household_size}")
    pop_col = _pick_column(df, population, _POP_NAMES, "population", where, None)
    hh_col = _pick_column(df, households, _HH_NAMES, "households", where, None)
    if pop_col is None and hh_col is None:
        raise SitingError(f"{where}: no population or households column (columns are "
                          f"{list(df.columns)}); name one with population= or households=")
    hh = (_population_values(df, hh_col, where, what="households") if hh_col
          else np.full(len(df), np.nan))
    pop = (_population_values(df, pop_col, where) if pop_col else hh * household_size)
    name_col = _pick_column(df, name, _NAME_NAMES, "name", where, None)
    pts = gpd.GeoDataFrame(
        {"population": pop, "households": hh,
         "name": df[name_col].astype(str).to_numpy() if name_col else None,
         "zone_id": df.index.astype(str).to_numpy()},
        geometry=shapely.points(x, y))
    try:
        from siting.io.coords import geodataframe_to_wgs84

        pts = geodataframe_to_wgs84(pts, crs)
    except ValueError as exc:
        raise SitingError(f"{where}: {exc}") from None
    return _points_demand(pts, area, out_crs, where)


def _points_demand(pts: gpd.GeoDataFrame, area, out_crs, where: str) -> gpd.GeoDataFrame:
    """Points (WGS-84 or any CRS) kept where inside the area, in the metric output CRS."""
    area_s = None if area is None else _area_series(area)
    crs = _output_crs(out_crs, None, area_s if area_s is not None else pts)
    pts = pts.to_crs(crs)
    if area_s is not None:
        inside = pts.within(_area_in(area_s, crs)).to_numpy()
        if not inside.any():
            raise SitingError(
                f"{where}: none of the {len(pts)} points lies in the study area (points "
                f"{_bounds_wgs84(pts)}, study area {_bounds_wgs84(area_s)} in WGS-84); check "
                "the coordinate columns (lon first) and crs")
        pts = pts[inside]
    out = pts.reset_index(drop=True)
    out.insert(0, "demand_id", np.arange(len(out)))
    out["kind"] = "point"
    for col in ("osm_id", "name", "floor_area_m2", "levels_estimated"):
        if col not in out:
            out[col] = None if col in ("osm_id", "name") else (
                False if col == "levels_estimated" else np.nan)
    return out


# --------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------
def load_population(
    path: str | Path,
    area=None,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    column: str = "population",
    source_crs: str | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    crs=None,
    household_size: float = DEFAULT_HOUSEHOLD_SIZE,
    default_levels: float = 6.0,
    min_footprint_m2: float = 30.0,
) -> gpd.GeoDataFrame:
    """Demand from a population file of any supported kind, detected from the file.

    Rasters (``.tif``, ``.tiff``, ``.vrt``, ``.img``, ``.asc``, ``.nc``) go to
    :func:`demand_from_raster`; tables (``.csv``, ``.txt``, ``.tsv``, ``.xlsx``) to
    :func:`demand_from_table`; vector files with polygons to
    :func:`demand_from_polygons`, with points to the table rule (a point counts when it
    lies in the study area).

    Parameters
    ----------
    path
        The population file.
    area
        Study area (shapely geometry in WGS-84, or GeoSeries/GeoDataFrame with a CRS);
        required for rasters.
    buildings, landuse
        Projected buildings (and land use) for the dasymetric split.
    column
        Population column of vector layers and tables (tables fall back to a
        ``households`` column).
    source_crs
        CRS of the data when the file has none; for tables the lon/lat datum
        (``wgs84``, ``gcj02``, ``bd09``; default ``wgs84``); for vector layers
        ``gcj02``/``bd09`` convert digitised web-map coordinates.
    crs
        Output CRS (metric); default the buildings' CRS.
    household_size, default_levels, min_footprint_m2
        Passed to the reader.

    Returns
    -------
    geopandas.GeoDataFrame
        Demand points (see the readers).
    """
    path = Path(path)
    if not path.exists():
        raise SitingError(f"population file not found: {path}")
    suffix = path.suffix.lower()
    opts = dict(default_levels=default_levels, min_footprint_m2=min_footprint_m2)
    if suffix in RASTER_SUFFIXES:
        if area is None:
            raise SitingError("a population raster needs a study area to read its window")
        return demand_from_raster(path, area, buildings, landuse=landuse, crs=crs,
                                  raster_crs=source_crs, **opts)
    if suffix in TABLE_SUFFIXES:
        return demand_from_table(
            path, crs=source_crs or "wgs84",
            population=column if column != "population" else None,
            household_size=household_size, area=area, out_crs=_output_crs(crs, buildings, None))
    layer, where = _read_vector(path, source_crs)
    if layer.geom_type.isin(["Point", "MultiPoint"]).all():
        if layer.geom_type.eq("MultiPoint").any():
            layer = layer.explode(index_parts=False)
        pts = gpd.GeoDataFrame({"population": _population_values(layer, column, where),
                                "zone_id": layer.index.astype(str).to_numpy()},
                               geometry=layer.geometry.to_numpy(), crs=layer.crs)
        return _points_demand(pts, area, _output_crs(crs, buildings, None), where)
    return demand_from_polygons(layer, column, buildings, area=area, landuse=landuse, crs=crs,
                                **opts)


# --------------------------------------------------------------------------
# groups and households
# --------------------------------------------------------------------------
def check_age_shares(age_shares: Mapping[str, float] | None = None) -> dict[str, float]:
    """Validated age shares: the defaults with ``age_shares`` on top.

    Rules: every key is one of :data:`DEMAND_GROUPS`; every share lies in [0, 1]; the
    disjoint groups 0–2, 3–5, 6–14 and 60+ sum to at most 1; and the nested groups
    satisfy 80+ ≤ 65+ ≤ 60+ (65+ and 80+ are part of 60+, so they are not added).

    Raises
    ------
    SitingError
        Naming the key or rule that fails.
    """
    shares = dict(DEFAULT_AGE_SHARES)
    for key, value in (age_shares or {}).items():
        if key not in DEMAND_GROUPS:
            raise SitingError(f"unknown age group {key!r} in age shares; use "
                              f"{', '.join(DEMAND_GROUPS)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise SitingError(f"age share {key} = {value!r} is not a number") from None
        if not 0 <= value <= 1:
            raise SitingError(f"age share {key} = {value} must be a fraction in [0, 1] "
                              "(e.g. 0.187 for 18.7 %)")
        shares[key] = value
    total = sum(shares[k] for k in _DISJOINT_GROUPS)
    if total > 1 + 1e-12:
        parts = " + ".join(f"{k} {shares[k]:g}" for k in _DISJOINT_GROUPS)
        raise SitingError(f"age shares of the disjoint groups sum to {total:g} > 1 ({parts}); "
                          "65+ and 80+ are counted inside 60+")
    for big, small in zip(_NESTED_GROUPS, _NESTED_GROUPS[1:]):
        if shares[small] > shares[big]:
            raise SitingError(f"age share {small} = {shares[small]:g} exceeds {big} = "
                              f"{shares[big]:g}, but every {small} person is also {big}")
    return shares


def add_groups(
    demand: gpd.GeoDataFrame,
    age_shares: Mapping[str, float] | None = None,
    household_size: float = DEFAULT_HOUSEHOLD_SIZE,
    group_rasters: Mapping[str, str | Path | Sequence[str | Path]] | None = None,
    *,
    area=None,
    raster_crs=None,
) -> gpd.GeoDataFrame:
    """Add people per demand group and households to every demand point.

    Parameters
    ----------
    demand
        Demand points with ``population`` (projected CRS).
    age_shares
        Share of the population in each of :data:`DEMAND_GROUPS`; missing keys keep
        :data:`DEFAULT_AGE_SHARES` (see :func:`check_age_shares` for the rules).
    household_size
        Persons per household; ``households = population / household_size`` where the
        demand has no ``households`` value of its own (e.g. from a compound table).
    group_rasters
        Per-group count rasters (e.g. WorldPop age/sex structure), a path or a list of
        paths that are summed, per group. They replace the share for that group: each
        cell's people (its in-``area`` share, as in :func:`demand_from_raster`) are split
        onto the demand points in the cell in proportion to their population; the people
        of a cell without demand points go to the nearest point. Without ``area`` only
        the cells under demand points count, in full.
    area
        Study area for the group rasters.
    raster_crs
        CRS to assume for group rasters without one.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with one float column per group in :data:`DEMAND_GROUPS` (people),
        ``households`` (float).
    """
    if "population" not in demand:
        raise SitingError("demand has no population column")
    if not household_size > 0:
        raise SitingError(f"household_size must be > 0, got {household_size}")
    shares = check_age_shares(age_shares)
    rasters = dict(group_rasters or {})
    for key in rasters:
        if key not in DEMAND_GROUPS:
            raise SitingError(f"group raster for unknown group {key!r}; use "
                              f"{', '.join(DEMAND_GROUPS)}")
    out = demand.copy()
    pop = out["population"].to_numpy(dtype=float)
    for group in DEMAND_GROUPS:
        if group in rasters:
            paths = rasters[group]
            paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
            out[group] = sum(_raster_to_points(p, out, area, raster_crs) for p in paths)
        else:
            out[group] = pop * shares[group]
    hh = pop / household_size
    if "households" in out:
        given = pd.to_numeric(out["households"], errors="coerce").to_numpy(dtype=float)
        hh = np.where(np.isfinite(given), given, hh)
    out["households"] = hh
    return out


def _raster_to_points(path, demand: gpd.GeoDataFrame, area, raster_crs) -> np.ndarray:
    """People of a count raster allocated to demand points (see :func:`add_groups`)."""
    n = len(demand)
    if n == 0:
        return np.zeros(0)
    crs = demand.crs
    area_s = None if area is None else _area_series(area)
    area_m = None if area_s is None else _area_in(area_s, crs)
    cells = _raster_cells(path, area_s, area_m, crs, raster_crs=raster_crs,
                          all_cells_of=demand.geometry)
    cell_of = cells.locate(demand.geometry)
    pop = demand["population"].to_numpy(dtype=float)
    out = np.zeros(n)
    ncell = len(cells.people)
    weight_sum = np.bincount(cell_of[cell_of >= 0], weights=pop[cell_of >= 0], minlength=ncell)
    count = np.bincount(cell_of[cell_of >= 0], minlength=ncell)
    has = cell_of >= 0
    c = cell_of[has]
    w = np.where(weight_sum[c] > 0, pop[has] / np.where(weight_sum[c] > 0, weight_sum[c], 1),
                 1.0 / np.maximum(count[c], 1))
    out[has] = cells.people[c] * w
    orphan = np.flatnonzero(count == 0)
    if len(orphan):
        from scipy.spatial import cKDTree

        xy = np.column_stack([demand.geometry.x, demand.geometry.y])
        pxy = shapely.get_coordinates(cells.points[orphan])
        _, nearest = cKDTree(xy).query(pxy)
        np.add.at(out, nearest, cells.people[orphan])
    return out


# --------------------------------------------------------------------------
# communities
# --------------------------------------------------------------------------
def assign_communities(
    demand: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame | str | Path | None = None,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    source_crs: str | None = None,
    cell_m: float = DEFAULT_COMMUNITY_CELL_M,
) -> gpd.GeoDataFrame:
    """Tag every demand point with its community (社区).

    With a community layer, each point gets the polygon it lies in; a point outside
    every polygon gets the nearest one (``community_match = "nearest"``). Without a
    layer the fallback is a regular grid of ``cell_m`` × ``cell_m`` planning cells
    aligned to multiples of ``cell_m`` in the demand's projected CRS
    (``community_match = "grid"``, ids ``"grid500_E{x}_N{y}"`` with the cell's lower-left
    corner in km) and a warning says so: 500 m cells hold about one 完整居住社区
    (0.5–1.2万 persons) at Chinese urban densities.

    Parameters
    ----------
    demand
        Demand points in a projected CRS.
    communities
        Community polygons (layer or file) with an id and a name column.
    id_column, name_column
        Default: the first of ``community_id/id/code/社区代码`` and
        ``community_name/name/社区/社区名称/名称`` present (the id falls back to the row).
    source_crs
        CRS of a layer without one, or ``gcj02``/``bd09`` (see :func:`demand_from_polygons`).
    cell_m
        Fallback cell size, metres.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``community_id`` (str), ``community_name`` (str), ``community_match``
        (``"within"``, ``"nearest"`` or ``"grid"``).
    """
    out = demand.copy()
    if communities is None:
        if not cell_m > 0:
            raise SitingError(f"cell_m must be > 0, got {cell_m}")
        if out.crs is None or not CRS.from_user_input(out.crs).is_projected:
            raise SitingError("assign_communities needs demand in a projected (metric) CRS")
        warnings.warn(
            f"no community layer given: demand is grouped into {cell_m:g} m planning cells "
            "(community_match = 'grid'); give --communities FILE for real 社区 boundaries",
            UserWarning, stacklevel=2)
        ix = np.floor(out.geometry.x.to_numpy() / cell_m).astype(np.int64)
        iy = np.floor(out.geometry.y.to_numpy() / cell_m).astype(np.int64)
        tag = f"grid{cell_m:g}"
        ids = [f"{tag}_E{x * cell_m / 1000:g}_N{y * cell_m / 1000:g}" for x, y in zip(ix, iy)]
        out["community_id"] = np.array(ids, dtype=object)
        out["community_name"] = np.array(
            [f"{cell_m:g} m planning cell E{x * cell_m / 1000:g} km N{y * cell_m / 1000:g} km"
             for x, y in zip(ix, iy)], dtype=object)
        out["community_match"] = "grid"
        return out
    layer, where = _read_vector(communities, source_crs, crs_flag=None)
    if not layer.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise SitingError(f"{where}: community boundaries must be polygons")
    id_col = _pick_column(layer, id_column, _COMMUNITY_ID_NAMES, "community id", where, None)
    name_col = _pick_column(layer, name_column, _COMMUNITY_NAME_NAMES, "community name",
                            where, None)
    ids = (layer[id_col] if id_col else pd.Series(layer.index, index=layer.index)).astype(str)
    names = layer[name_col].astype(str) if name_col else ids
    comm = gpd.GeoDataFrame({"_cid": ids.to_numpy(), "_cname": names.to_numpy()},
                            geometry=layer.geometry.to_numpy(), crs=layer.crs).to_crs(out.crs)
    pts = gpd.GeoDataFrame(geometry=out.geometry.to_numpy(), crs=out.crs)
    hit = gpd.sjoin(pts, comm, how="left", predicate="within")
    hit = hit[~hit.index.duplicated()]
    match = np.where(hit["_cid"].notna(), "within", "nearest").astype(object)
    if (match == "within").sum() == 0:
        raise SitingError(
            f"{where}: no demand point lies in any of the {len(comm)} communities (layer "
            f"{_bounds_wgs84(layer)}, demand {_bounds_wgs84(out)} in WGS-84); check the layer's CRS")
    cid, cname = hit["_cid"].to_numpy(dtype=object), hit["_cname"].to_numpy(dtype=object)
    miss = np.flatnonzero(match == "nearest")
    if len(miss):
        near = gpd.sjoin_nearest(pts.iloc[miss], comm, how="left")
        near = near[~near.index.duplicated()]
        cid[miss], cname[miss] = near["_cid"].to_numpy(), near["_cname"].to_numpy()
        warnings.warn(f"{len(miss)} demand points lie outside every community of {where}; "
                      "they were given the nearest (community_match = 'nearest')",
                      UserWarning, stacklevel=2)
    out["community_id"] = cid.astype(str)
    out["community_name"] = cname.astype(str)
    out["community_match"] = match
    return out


def population_by_group(demand: pd.DataFrame) -> dict[str, float]:
    """Total people per demand group (the groups present, plus ``"all"``)."""
    out = {g: float(demand[g].sum()) for g in DEMAND_GROUPS if g in demand}
    out["all"] = float(demand["population"].sum())
    return out


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _residential(buildings, landuse, default_levels, min_footprint_m2) -> gpd.GeoDataFrame:
    """Residential buildings (projected) as representative points with floor area."""
    cls = classify(buildings, landuse)
    res = buildings[cls.eq("residential")]
    fa = floor_area(res, default_levels)
    keep = (fa["footprint_m2"] >= min_footprint_m2).to_numpy()
    res, fa = res[keep], fa[keep]
    return gpd.GeoDataFrame(
        {"name": res["name"].to_numpy() if "name" in res else None,
         "floor_area_m2": fa["floor_area_m2"].to_numpy(),
         "levels_estimated": fa["levels_estimated"].to_numpy()},
        geometry=res.representative_point().to_numpy(), index=res.index, crs=res.crs)


def _residential_in(buildings, landuse, area_m, crs, default_levels, min_footprint_m2):
    """Residential building points in the output CRS, inside the study area if given."""
    if buildings is None or buildings.empty:
        return gpd.GeoDataFrame(geometry=[], crs=crs)
    if buildings.crs is None:
        raise SitingError("buildings have no CRS")
    b = buildings if CRS.from_user_input(buildings.crs).equals(CRS.from_user_input(crs)) \
        else buildings.to_crs(crs)
    landuse = None if landuse is None or landuse.empty else landuse.to_crs(crs)
    res = _residential(b, landuse, default_levels, min_footprint_m2)
    if area_m is not None and not res.empty:
        res = res[res.within(area_m).to_numpy()]
    return res


def _split_onto_buildings(zones: gpd.GeoDataFrame, res: gpd.GeoDataFrame, crs, *,
                          empty_kind: str, grid_of: float | None) -> gpd.GeoDataFrame:
    """Each zone's population onto its buildings by floor area, else a point or a grid.

    ``res.zone`` is the position in ``zones`` of each building (−1: none).
    """
    zpop = zones["population"].to_numpy(dtype=float)
    nz = len(zones)
    parts = []
    if not res.empty:
        zone = res["zone"].to_numpy()
        res = res[zone >= 0]
        zone = zone[zone >= 0]
        fa = res["floor_area_m2"].to_numpy(dtype=float)
        fa_sum = np.bincount(zone, weights=fa, minlength=nz)
        people = zpop[zone] * fa / fa_sum[zone]
        parts.append(pd.DataFrame({
            "population": people, "kind": "building",
            "zone_id": zones["zone_id"].to_numpy()[zone], "osm_id": res.index.to_numpy(),
            "name": res["name"].to_numpy(), "floor_area_m2": fa,
            "levels_estimated": res["levels_estimated"].to_numpy(dtype=bool),
            "geometry": res.geometry.to_numpy()}))
        covered = np.bincount(zone, minlength=nz) > 0
    else:
        covered = np.zeros(nz, bool)
    empty = np.flatnonzero(~covered & (zpop > 0))
    if len(empty):
        zgeom = zones.geometry.to_numpy()
        if grid_of:
            grids = [_grid_points(zgeom[k], grid_of) for k in empty]
            geoms = [p for g in grids for p in g]
            idx = np.repeat(empty, [len(g) for g in grids])
        else:
            geoms, idx = list(zgeom[empty]), empty
        n_per = np.bincount(idx, minlength=nz)
        parts.append(pd.DataFrame({
            "population": zpop[idx] / n_per[idx], "kind": empty_kind,
            "zone_id": zones["zone_id"].to_numpy()[idx], "osm_id": None, "name": None,
            "floor_area_m2": np.nan, "levels_estimated": False, "geometry": geoms}))
    cols = [c for c in _COLUMNS if c != "demand_id"] + ["geometry"]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    df = df[df["population"] > 0].reset_index(drop=True)
    if df.empty:
        raise SitingError("the population layer holds no one inside the study area")
    df.insert(0, "demand_id", np.arange(len(df)))
    df["levels_estimated"] = df["levels_estimated"].astype(bool)
    return gpd.GeoDataFrame(df, geometry="geometry", crs=crs)


def _grid_points(geom, step: float) -> list:
    """Centres of a ``step`` grid (aligned to multiples of ``step``) inside ``geom``."""
    if geom.geom_type == "Point":
        return [geom]
    w, s, e, n = geom.bounds
    xs = (np.arange(math.floor(w / step), math.ceil(e / step)) + 0.5) * step
    ys = (np.arange(math.floor(s / step), math.ceil(n / step)) + 0.5) * step
    if len(xs) * len(ys) > 1_000_000:
        raise SitingError(f"a polygon of {geom.area / 1e6:.0f} km² without buildings would "
                          f"need {len(xs) * len(ys):,} grid points; raise grid_m")
    gx, gy = np.meshgrid(xs, ys)
    pts = shapely.points(gx.ravel(), gy.ravel())
    shapely.prepare(geom)
    pts = pts[shapely.contains(geom, pts)]
    return list(pts) if len(pts) else [geom.representative_point()]


def _population_values(df: pd.DataFrame, column: str, where: str,
                       what: str = "population") -> np.ndarray:
    if column not in df:
        raise SitingError(f"{where}: no {what} column {column!r}; columns are "
                          f"{[c for c in df.columns if c != 'geometry']}")
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() | (values < 0) | ~np.isfinite(values)
    if bad.any():
        rows = list(df.index[bad.to_numpy()][:5])
        raise SitingError(f"{where}: {what} column {column!r} is missing, not a number or "
                          f"negative in {int(bad.sum())} rows, e.g. rows {rows}")
    return values.to_numpy(dtype=float)


def _zone_labels(polys: pd.DataFrame) -> np.ndarray:
    """Per polygon: its id or name from the first unique label column, else the row label.

    A name repeated in two districts (e.g. two 东风街道) is prefixed with the
    district column when that makes it unique.
    """
    lower = {str(c).strip().lower(): c for c in polys.columns}
    district = next((lower[c] for c in ("district", "区县", "区") if c in lower), None)
    for c in ZONE_ID_COLUMNS:
        col = lower.get(c.lower())
        if col is None or polys[col].isna().any():
            continue
        vals = polys[col].astype(str).str.strip()
        if vals.eq("").any():
            continue
        if vals.is_unique:
            return vals.to_numpy()
        if district is not None and col != district:
            both = polys[district].astype(str).str.strip() + " " + vals
            if both.is_unique:
                return both.to_numpy()
    return polys.index.astype(str).to_numpy()


def _pick_column(df, given, candidates, what, where, default_label):
    """The named column (must exist), else the first candidate present (case-insensitive)."""
    if given is not None:
        if given not in df:
            raise SitingError(f"{where}: no {what} column {given!r}; columns are "
                              f"{[c for c in df.columns if c != 'geometry']}")
        return given
    lower = {str(c).strip().lower(): c for c in df.columns}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    if default_label is not None:
        raise SitingError(f"{where}: no {what} column (tried {', '.join(candidates)}); columns "
                          f"are {list(df.columns)}; name it with {default_label}=")
    return None


def _read_table(path: Path, sheet) -> pd.DataFrame:
    if not path.exists():
        raise SitingError(f"population table not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            return pd.read_excel(path, sheet_name=0 if sheet is None else sheet)
        sep = "\t" if suffix == ".tsv" else None
        try:
            return pd.read_csv(path, sep=sep, engine="python", encoding="utf-8-sig")
        except UnicodeDecodeError:
            return pd.read_csv(path, sep=sep, engine="python", encoding="gb18030")
    except SitingError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many kinds for bad files
        raise SitingError(f"{path}: cannot read the table ({exc})") from exc


def _read_vector(obj, source_crs, crs_flag: str | None = "population_crs"
                 ) -> tuple[gpd.GeoDataFrame, str]:
    """A vector layer in a known CRS (WGS-84 after a GCJ-02/BD-09 conversion)."""
    if isinstance(obj, gpd.GeoDataFrame):
        gdf, where = obj, "population layer"
    else:
        path = Path(obj)
        where = str(path)
        if not path.exists():
            raise SitingError(f"file not found: {path}")
        try:
            gdf = (gpd.read_parquet(path) if path.suffix.lower() in (".parquet", ".geoparquet")
                   else gpd.read_file(path))
        except ImportError as exc:
            raise SitingError(f"{path}: reading GeoParquet needs pyarrow "
                              "(pip install 'siting[parquet]')") from exc
        except Exception as exc:  # pyogrio/pyarrow raise many kinds
            raise SitingError(f"{path}: cannot read the layer ({exc})") from exc
    if gdf.empty:
        raise SitingError(f"{where}: the layer is empty")
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.isna().all():
        raise SitingError(f"{where}: the layer has no geometry (a table without shapes?); give "
                          "a vector file such as .gpkg, .geojson or .shp")
    if source_crs is not None:
        if _is_named_datum(source_crs):
            from siting.io.coords import geodataframe_to_wgs84

            try:
                gdf = geodataframe_to_wgs84(gdf, source_crs)
            except ValueError as exc:
                raise SitingError(f"{where}: {exc}") from None
        elif gdf.crs is None:
            gdf = gdf.set_crs(_pyproj_crs(source_crs, where))
    if gdf.crs is None:
        raise SitingError(f"{where}: the layer has no CRS; save it with one (e.g. EPSG:4326)"
                          + (f" or give {crs_flag}" if crs_flag else ""))
    return gdf, where


def _is_named_datum(name) -> bool:
    from siting.io.coords import _canonical_crs

    return _canonical_crs(name) is not None


def _pyproj_crs(value, where):
    from siting.io.coords import _canonical_crs

    if _canonical_crs(value) in ("wgs84", "cgcs2000"):
        return CRS.from_epsg(4326)
    try:
        return CRS.from_user_input(value)
    except CRSError:
        raise SitingError(f"{where}: unknown CRS {value!r}; give an EPSG code such as "
                          "EPSG:4326, or wgs84/cgcs2000") from None


def _area_series(area) -> gpd.GeoSeries:
    """The study area as a one-row GeoSeries with a CRS (shapely input = WGS-84)."""
    if isinstance(area, gpd.GeoDataFrame):
        area = area.geometry
    if isinstance(area, gpd.GeoSeries):
        if area.crs is None:
            raise SitingError("the study area has no CRS")
        s = gpd.GeoSeries([shapely.union_all(area.to_numpy())], crs=area.crs)
    else:
        s = gpd.GeoSeries([area], crs="EPSG:4326")
    if s.iloc[0] is None or s.iloc[0].is_empty or s.iloc[0].area == 0:
        raise SitingError("the study area is empty")
    if s.crs.is_geographic:
        s = gpd.GeoSeries(shapely.segmentize(s.to_numpy(), _DEGREE_SEGMENT), crs=s.crs)
    return s


def _area_in(area_s: gpd.GeoSeries, crs):
    g = area_s.to_crs(crs).iloc[0]
    return g if g.is_valid else shapely.make_valid(g)


def _output_crs(crs, buildings, fallback):
    """Metric output CRS: given, else the buildings', else the UTM zone of ``fallback``."""
    if crs is None and buildings is not None and buildings.crs is not None:
        crs = buildings.crs
    if crs is None:
        if fallback is None:
            return None
        crs = fallback.to_crs("EPSG:4326").estimate_utm_crs()
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise SitingError(f"the output CRS must be projected (metres), got {crs.to_string()}")
    return crs


def _bounds_wgs84(gdf) -> tuple:
    try:
        b = gdf.to_crs("EPSG:4326").total_bounds
    except Exception:  # pyproj may fail for coordinates far outside the CRS
        return ("?",)
    return tuple(round(float(v), 4) for v in b)
