"""Demand: where people live and how many, as points in the network's CRS.

Population comes from one of four sources, all ending in the same demand layer:

* buildings only (:func:`demand_from_buildings`): residential floor area × occupancy;
* a population raster such as WorldPop or GHS-POP
  (:func:`siting.population.demand_from_raster`);
* polygons or a vector grid with a population column, e.g. subdistrict totals
  (:func:`siting.population.demand_from_polygons`);
* a household or residential-compound table, CSV or Excel, with lon/lat in
  WGS-84, GCJ-02 or BD-09 (:func:`demand_from_table`).

:func:`load_population` picks the reader from the file. Raster cells and polygons are
split onto the residential buildings inside them by floor area (dasymetric mapping)
and, where they hold no residential building, onto a point or a regular grid.
:func:`add_groups` then adds people per age group and households, and
:func:`siting.communities.assign_communities` tags every point with its community (社区).

Study-area rule (the same on every path): a raster cell or polygon only partly inside
the study area contributes ``population × (area inside) / (area of the cell or
polygon)``, measured in the metric output CRS; points (table rows, point layers) count
when they lie inside. Population is conserved: the output total equals the sum of
these in-area shares up to floating-point rounding. A study area given in degrees is
densified every 0.0005° (≈ 50 m) before it is projected, so its edges follow the
meridians and parallels; a bare shapely study area is WGS-84 lon/lat, and one whose
bounds are not degrees is refused (:func:`siting.io.vectors.study_area`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.config.datums import canonical_crs
from siting.config.policy import AGE_GROUPS, check_age_shares, packaged_policy
from siting.errors import SitingError
from siting.io.coords import geodataframe_to_wgs84
from siting.io.tables import TABLE_SUFFIXES, pick_column, read_table
from siting.io.vectors import area_in, bounds_wgs84, read_vector, study_area
from siting.population import (
    RASTER_SUFFIXES,
    demand_from_polygons,
    demand_from_raster,
    output_crs,
    population_values,
    raster_cells,
    residential_points,
)

# Demand groups a service may serve (policy ``demand_group``), besides "all" (= population)
# and "households": the policy's age groups (60+ ⊃ 65+ ⊃ 80+ nest)
DEMAND_GROUPS = AGE_GROUPS
ALL_GROUPS = (*DEMAND_GROUPS, "all", "households")

# Defaults come from the packaged policy (siting/config/policies/cn_default.toml, the one home
# of every default, with sources): 7th-census age shares and household size. A run passes
# its own policy.
DEFAULT_AGE_SHARES: dict[str, float] = dict(packaged_policy().population.age_shares)
DEFAULT_HOUSEHOLD_SIZE = packaged_policy().population.household_size

_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度")
_POP_NAMES = ("population", "pop", "人口", "人数")
_HH_NAMES = ("households", "hh", "户数")
_NAME_NAMES = ("name", "compound", "community", "小区", "小区名称", "名称")


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
    res = residential_points(buildings, landuse, default_levels, min_footprint_m2)
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
    """Demand from a point or polygon layer with a population column (polygons → centres).

    Parameters
    ----------
    points
        Points or polygons with a CRS.
    column
        The population column (non-negative numbers).

    Returns
    -------
    geopandas.GeoDataFrame
        ``demand_id`` and ``population`` per point, in the layer's CRS.
    """
    pop = population_values(points, column, "population layer")
    geom = points.geometry
    if not (geom.geom_type == "Point").all():
        geom = geom.representative_point()
    return gpd.GeoDataFrame(
        {"demand_id": np.arange(len(points)), "population": pop},
        geometry=geom.to_numpy(),
        crs=points.crs,
    )


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
    lon
    lat
        Coordinate columns; default: the first of ``lon/lng/longitude/x/经度`` and
        ``lat/latitude/y/纬度`` present.
    crs
        Datum of lon/lat: ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"`` (Amap, Tencent),
        ``"bd09"`` (Baidu), or an EPSG code; converted with :mod:`siting.io.coords`.
    population
    households
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
        Output CRS (metric). Default: :func:`siting.io.coords.metric_crs` of the
        points (CGCS2000 Gauss-Krüger in China, UTM elsewhere).
    sheet
        Excel sheet (default the first).

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``demand_id``, ``population``, ``households`` (NaN where the table
        has none), ``kind`` = ``"point"``, ``zone_id`` (table row), ``name``.
    """
    where = str(path) if not isinstance(path, pd.DataFrame) else "population table"
    df = path if isinstance(path, pd.DataFrame) else read_table(path, "population table",
                                                                sheet=sheet)
    lon = pick_column(df, lon, _LON_NAMES, "longitude", where, "lon")
    lat = pick_column(df, lat, _LAT_NAMES, "latitude", where, "lat")
    x = pd.to_numeric(df[lon], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(df[lat], errors="coerce").to_numpy(dtype=float)
    named = canonical_crs(crs) is not None
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if named:
        bad |= (np.abs(x) > 180) | (np.abs(y) > 90)
    if bad.any():
        raise SitingError(f"{where}: missing or invalid coordinates in columns {lon!r}/{lat!r} "
                          f"at rows {list(df.index[bad][:5])}; every row needs a location")
    if household_size <= 0:
        raise SitingError(f"household_size must be > 0, got {household_size}")
    pop_col = pick_column(df, population, _POP_NAMES, "population", where, None)
    hh_col = pick_column(df, households, _HH_NAMES, "households", where, None)
    if pop_col is None and hh_col is None:
        raise SitingError(f"{where}: no population or households column (columns are "
                          f"{list(df.columns)}); name one with population= or households=")
    hh = (population_values(df, hh_col, where, what="households") if hh_col
          else np.full(len(df), np.nan))
    pop = (population_values(df, pop_col, where) if pop_col else hh * household_size)
    name_col = pick_column(df, name, _NAME_NAMES, "name", where, None)
    pts = gpd.GeoDataFrame(
        {"population": pop, "households": hh,
         "name": df[name_col].astype(str).to_numpy() if name_col else None,
         "zone_id": df.index.astype(str).to_numpy()},
        geometry=shapely.points(x, y))
    try:
        pts = geodataframe_to_wgs84(pts, crs)
    except ValueError as exc:
        raise SitingError(f"{where}: {exc}") from None
    return _points_demand(pts, area, out_crs, where)


def _points_demand(pts: gpd.GeoDataFrame, area, out_crs, where: str) -> gpd.GeoDataFrame:
    """Points (WGS-84 or any CRS) kept where inside the area, in the metric output CRS."""
    area_s = None if area is None else study_area(area)
    crs = output_crs(out_crs, None, area_s if area_s is not None else pts)
    pts = pts.to_crs(crs)
    if area_s is not None:
        inside = pts.within(area_in(area_s, crs)).to_numpy()
        if not inside.any():
            raise SitingError(
                f"{where}: none of the {len(pts)} points lies in the study area (points "
                f"{bounds_wgs84(pts)}, study area {bounds_wgs84(area_s)} in WGS-84); check "
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
    :func:`siting.population.demand_from_raster`; tables (``.csv``, ``.txt``, ``.tsv``,
    ``.xlsx``, ``.xls``; :func:`siting.io.tables.read_table`) to :func:`demand_from_table`;
    vector layers (:func:`siting.io.vectors.read_vector`) with polygons to
    :func:`siting.population.demand_from_polygons`, with points to the table rule (a point
    counts when it lies in the study area).

    Parameters
    ----------
    path
        The population file.
    area
        Study area (shapely geometry in WGS-84, or GeoSeries/GeoDataFrame with a CRS);
        required for rasters.
    buildings
    landuse
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
    household_size
    default_levels
    min_footprint_m2
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
    if suffix in RASTER_SUFFIXES:
        if area is None:
            raise SitingError("a population raster needs a study area to read its window")
        return demand_from_raster(path, area, buildings, landuse=landuse, crs=crs,
                                  raster_crs=source_crs, default_levels=default_levels,
                                  min_footprint_m2=min_footprint_m2)
    if suffix in TABLE_SUFFIXES:
        return demand_from_table(
            path, crs=source_crs or "wgs84",
            population=column if column != "population" else None,
            household_size=household_size, area=area, out_crs=output_crs(crs, buildings, None))
    layer = read_vector(path, "population", crs=source_crs, crs_flag="--population-crs")
    where = str(path)
    if layer.geom_type.isin(["Point", "MultiPoint"]).all():
        if layer.geom_type.eq("MultiPoint").any():
            layer = layer.explode(index_parts=False)
        pts = gpd.GeoDataFrame({"population": population_values(layer, column, where),
                                "zone_id": layer.index.astype(str).to_numpy()},
                               geometry=layer.geometry.to_numpy(), crs=layer.crs)
        return _points_demand(pts, area, output_crs(crs, buildings, None), where)
    return demand_from_polygons(layer, column, buildings, area=area, landuse=landuse, crs=crs,
                                default_levels=default_levels,
                                min_footprint_m2=min_footprint_m2)


# --------------------------------------------------------------------------
# groups and households
# --------------------------------------------------------------------------
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
        :data:`DEFAULT_AGE_SHARES` (see :func:`siting.config.policy.check_age_shares` for the
        rules).
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
    shares = check_age_shares(age_shares, DEFAULT_AGE_SHARES)
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
    area_s = None if area is None else study_area(area)
    area_m = None if area_s is None else area_in(area_s, crs)
    cells = raster_cells(path, area_s, area_m, crs, raster_crs=raster_crs,
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


def population_by_group(demand: pd.DataFrame) -> dict[str, float]:
    """Total people per demand group (the groups present, plus ``"all"``).

    Parameters
    ----------
    demand
        Demand points with ``population`` and the group columns of :func:`add_groups`.

    Returns
    -------
    dict
    """
    out = {g: float(demand[g].sum()) for g in DEMAND_GROUPS if g in demand}
    out["all"] = float(demand["population"].sum())
    return out
