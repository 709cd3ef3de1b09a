"""Population layers: rasters and polygons of people, split onto residential buildings.

A raster cell or polygon only partly inside the study area contributes ``population ×
(area inside) / (area of the cell or polygon)``, measured in the metric output CRS;
each cell's or polygon's in-area people are split onto the residential buildings in it
by floor area (dasymetric mapping) and, where it holds no residential building, onto a
point or a regular grid. :func:`siting.demand.load_population` picks the reader.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from siting.buildings import classify, floor_area
from siting.errors import SitingError
from siting.io.coords import metric_crs
from siting.io.vectors import area_in, bounds_wgs84, pyproj_crs, read_vector, study_area

DEFAULT_GRID_M = 100.0  # spacing of the points a polygon without buildings is split onto
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc", ".nc")
# columns that label a population polygon (zone_id of its demand points), in order
ZONE_ID_COLUMNS = ("zone_id", "id", "code", "编码", "代码", "subdistrict", "街道", "name", "名称")
_COLUMNS = ["demand_id", "population", "kind", "zone_id", "osm_id", "name", "floor_area_m2",
            "levels_estimated"]


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
    buildings
    landuse
        Projected building (and land-use) polygons with OSM tags for the dasymetric
        split; without them every populated cell is one demand point.
    crs
        Output CRS (metric). Default: the buildings' CRS, else
        :func:`siting.io.coords.metric_crs` of the area.
    band
        Band holding the counts.
    raster_crs
        CRS to assume when the raster has none (otherwise that is an error).
    default_levels
    min_footprint_m2
        Residential buildings, as in :func:`siting.demand.demand_from_buildings`.

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
    area_s = study_area(area)
    crs = output_crs(crs, buildings, area_s)
    area_m = area_in(area_s, crs)
    cells = raster_cells(path, area_s, area_m, crs, band=band, raster_crs=raster_crs)
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


def raster_cells(path, area_s: gpd.GeoSeries, area_m, crs, *, band=1, raster_crs=None,
                  all_cells_of: gpd.GeoSeries | None = None) -> _Cells:
    """Read the study-area window of a count raster and weight cells by their share inside.

    With ``all_cells_of`` (points) and no area, the cells under those points count in full.

    Parameters
    ----------
    path
        The raster of people per cell.
    area_s
        The study area (:func:`siting.io.vectors.study_area`), or None with ``all_cells_of``.
    area_m
        The study area in ``crs``, or None.
    crs
        The output CRS (metric).
    band
        Band holding the counts.
    raster_crs
        CRS to assume when the raster has none.
    all_cells_of
        Points whose cells count in full (used without an area).
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
            src_crs = pyproj_crs(raster_crs, str(path))
        src_crs = CRS.from_user_input(src_crs)
        t = ds.transform
        if t.b != 0 or t.d != 0:
            raise SitingError(f"{path}: rotated rasters are not supported; warp it north-up first")
        if not 1 <= band <= ds.count:
            raise SitingError(f"{path}: band {band} does not exist (the raster has {ds.count})")
        window = area_s if area_s is not None else all_cells_of
        if window is None:
            raise ValueError("raster_cells needs a study area or points (all_cells_of)")
        w, s, e, n = window.to_crs(src_crs).total_bounds
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
        under = np.unique(cells.locate(window.to_crs(crs)))
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
    buildings
    landuse
        Projected building (and land-use) polygons with OSM tags.
    area
        Study area (shapely geometry in WGS-84, or a GeoSeries/GeoDataFrame with a CRS);
        ``None`` keeps every polygon whole.
    crs
        Output CRS (metric). Default: the buildings' CRS, else
        :func:`siting.io.coords.metric_crs` of the layer.
    source_crs
        CRS of the layer when the file has none, or ``"gcj02"``/``"bd09"`` for layers
        digitised on Chinese web maps (see :func:`siting.io.coords.geodataframe_to_wgs84`).
    grid_m
        Spacing of the fallback grid, metres.
    default_levels
    min_footprint_m2
        Residential buildings, as in :func:`siting.demand.demand_from_buildings`.

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
    polys = read_vector(gdf_or_path, "population", crs=source_crs, crs_flag="--population-crs")
    where = "the population layer" if isinstance(gdf_or_path, gpd.GeoDataFrame) \
        else str(gdf_or_path)
    pop = population_values(polys, column, where)
    polys = polys.assign(_pop=pop)
    polys = polys[polys.geometry.notna() & ~polys.geometry.is_empty]
    if not polys.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        kinds = sorted(set(polys.geom_type) - {"Polygon", "MultiPolygon"})
        raise SitingError(f"{where}: expected polygons, found {kinds}; points go through "
                          "demand_from_table or load_population")
    area_s = None if area is None else study_area(area)
    crs = output_crs(crs, buildings, area_s if area_s is not None else polys)
    polys_m = polys.to_crs(crs)
    geoms = polys_m.geometry.to_numpy()
    finite = np.isfinite(shapely.bounds(geoms)).all(axis=1)
    if area_s is not None:
        area_m = area_in(area_s, crs)
        share = np.zeros(len(geoms))
        pts = np.array(shapely.point_on_surface(geoms), dtype=object)
        share[finite], pts[finite] = _share_inside(geoms[finite], area_m)
        if not (share > 0).any():
            raise SitingError(
                f"{where}: none of the {len(polys)} polygons overlaps the study area "
                f"(layer bounds {bounds_wgs84(polys)}, study area {bounds_wgs84(area_s)} in "
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


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def residential_points(buildings, landuse, default_levels, min_footprint_m2) -> gpd.GeoDataFrame:
    """Residential buildings (projected) as representative points with floor area.

    Parameters
    ----------
    buildings
        Building polygons in a projected CRS with OSM tags.
    landuse
        Land-use polygons (to read ``building=yes``), or None.
    default_levels
        Storeys where the tags give none.
    min_footprint_m2
        Smaller footprints hold no one.
    """
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
    res = residential_points(b, landuse, default_levels, min_footprint_m2)
    if area_m is not None and not res.empty:
        res = res[res.within(area_m).to_numpy()]
    return res


def population_values(df: pd.DataFrame, column: str, where: str,
                       what: str = "population") -> np.ndarray:
    """The numbers of a population (or households) column, checked non-negative.

    Parameters
    ----------
    df
        The table or layer.
    column
        The column.
    where
        The file, named in errors.
    what
        What the column counts, named in errors.

    Returns
    -------
    numpy.ndarray
    """
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


def output_crs(crs, buildings, fallback):
    """Metric output CRS: given, else the buildings', else :func:`siting.io.coords.metric_crs`
    of ``fallback``.

    Parameters
    ----------
    crs
        The CRS asked for, or None.
    buildings
        The buildings, whose CRS is the default, or None.
    fallback
        A layer (with a CRS) whose metric CRS is taken when neither is given, or None.

    Returns
    -------
    pyproj.CRS or None

    Raises
    ------
    SitingError
        An unknown or geographic CRS, saying to give a projected one.
    """
    if crs is None and buildings is not None and buildings.crs is not None:
        crs = buildings.crs
    if crs is None:
        if fallback is None:
            return None
        crs = metric_crs(fallback)
    crs = pyproj_crs(crs, "the output CRS") if isinstance(crs, str) else CRS.from_user_input(crs)
    if not crs.is_projected:
        raise SitingError(f"the output CRS must be projected (metres), got {crs.to_string()}; "
                          "give a metric CRS such as EPSG:4549, or none to take the buildings'")
    return crs
