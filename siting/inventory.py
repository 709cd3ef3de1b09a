"""City inventories and existing facilities: rows of a table or points of a layer as candidates.

:func:`read_inventory` reads a city's site inventory (CSV, Excel or GeoPackage; Chinese or
English headers; lon/lat in WGS-84, GCJ-02 or BD-09) into the candidate table
(:mod:`siting.candidates`); :func:`read_existing` reads facilities already operating, such
as POI exports, as fixed sites. Cells are read by :mod:`siting.vocabulary`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from siting.candidates import candidate_frame, class_default
from siting.config.datums import canonical_crs
from siting.config.site_policy import load_site_policy
from siting.errors import SitingError
from siting.io.coords import geodataframe_to_wgs84, metric_crs, to_wgs84
from siting.io.tables import TABLE_SUFFIXES, match_headers, read_table
from siting.io.vectors import VECTOR_SUFFIXES, check_lonlat, read_layer
from siting.vocabulary import (
    YES_WORDS,
    given,
    read_lifts,
    read_modes,
    read_numbers,
    read_services,
    read_storeys,
)

# field → how inventories head its column (matched by siting.io.tables.header_key)
_HEADER_ALIASES = {
    "id": ("id", "site_id", "编号", "序号", "编码", "代码"),
    "name": ("name", "名称", "名字", "设施名称", "场所名称", "地点"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "floor_area_m2": ("floor_area", "floor_area_m2", "area", "area_m2", "gfa", "建筑面积",
                      "面积"),
    "usable_area_m2": ("usable_area", "usable_area_m2", "可用面积", "使用面积"),
    "kind": ("class", "kind", "类型", "类别", "用途"),
    "ownership": ("ownership", "owner", "权属", "产权", "产权单位"),
    "acquisition_mode": ("acquisition_mode", "mode", "acquisition", "取得方式", "获取方式",
                         "方式"),
    "cost": ("cost", "one_off_cost", "费用", "一次性费用", "改造费用"),
    "annual_cost": ("annual_cost", "rent", "年租金", "年费用", "租金"),
    "floor": ("floor", "storey", "楼层", "所在楼层", "所在层"),
    "lift": ("lift", "elevator", "电梯", "有无电梯", "是否有电梯", "有电梯"),
    "year_available": ("year_available", "year", "可用年份", "可用年度", "年份"),
    "existing": ("existing", "现有", "是否现有", "已建"),
    "existing_services": ("services", "service", "existing_services", "服务", "服务内容",
                          "现有服务"),
    "level": ("level", "层级", "设施层级", "级别"),
}


def read_inventory(
    path: str | Path,
    crs: str = "wgs84",
    *,
    study_area: BaseGeometry | None = None,
    policy: dict | None = None,
    existing: bool = False,
    _problems: dict | None = None,
) -> gpd.GeoDataFrame:
    """A city's site inventory (CSV, Excel or GeoPackage) as candidate sites in WGS84.

    Headers may be Chinese or English (case and bracketed units ignored): 编号/id,
    名称/name, 经度/lon/lng, 纬度/lat (or a point geometry), 建筑面积/floor_area,
    可用面积/usable_area, 类型/class, 权属/ownership, 取得方式/acquisition_mode
    (改造/租赁/置换/新建 or renovate/lease/transfer/new_build), 费用/cost (one-off CNY),
    年租金/annual_cost (CNY per year), 楼层/floor (see :func:`parse_storey`: 1, -1, B1, 1F,
    地下一层, 首层, 二楼, 1-2层 …), 电梯/lift (有/无, yes/no; blank unknown),
    可用年份/year_available, 现有/existing (是/否), 服务/services (words of the policy's
    ``[sites.service_vocabulary]`` such as 日间照料;助餐 or service keys, split on
    ; ； 、 , / and spaces).

    Required: a location, and a floor area unless the row is an existing facility
    (an existing facility without one is given the sum of its services'
    ``min_floor_m2``, with a note). Existing rows (现有 = 是) naming no modelled service
    are excluded and named in a note. Defaults for missing optional values: id = row
    number; name = None; class = the policy's
    ``default_class`` (Chinese class names such as 商业, 办公, 厂房 are mapped through
    ``[sites.class_names]``; a class without defaults takes the default class's); usable area = floor area × the class's usable ratio;
    acquisition mode = the class's; costs from ``[sites.costs]``; floor and year
    unknown (NaN); existing = ``existing``.

    Parameters
    ----------
    path
        The file; never modified.
    crs
        Datum of lon/lat: ``wgs84`` (also CGCS2000), ``gcj02`` (Amap, Tencent) or
        ``bd09`` (Baidu); converted on ingest with :mod:`siting.io.coords` (round trip
        within 0.5 m). GeoPackages with a projected CRS are reprojected.
    study_area
        Polygon in WGS-84 lon/lat (bounds not in degrees raise). Rows far outside it raise (all rows) or warn and are
        excluded (some rows); rows that would fall inside with lat and lon swapped raise.
    policy
        The ``[sites]`` table; default the packaged one.
    existing
        Treat every row as an operating facility (see :func:`read_existing`).
    _problems
        Internal (:func:`read_existing`): collects the rows whose services were not
        understood instead of warning.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 with the columns in :data:`COLUMNS`.

    Raises
    ------
    SitingError
        Unreadable file, missing required column or value, unknown acquisition mode,
        negative or zero area, a 楼层 or 电梯 value it cannot read, coordinates that are not lon/lat degrees or look
        swapped, duplicate ids, or an inventory entirely outside the study area;
        messages name the file, row and column.
    """
    policy = load_site_policy() if policy is None else policy
    if study_area is not None:
        check_lonlat(study_area)
    path = Path(path)
    raw, geom, row_label = _read_rows(path, crs)
    cols = match_headers(raw, _HEADER_ALIASES)
    lon, lat = _coordinates(raw, cols, geom, path, row_label, crs)
    n = len(raw)

    def col(field):
        return raw[cols[field]] if field in cols else pd.Series([None] * n, index=raw.index)

    def where(i, field):
        return f"{path.name} {row_label(i)}, column {cols.get(field, field)!r}"

    ids = col("id")
    ids = pd.Series([str(v).strip() if given(v) else str(i + 1) for i, v in enumerate(ids)])
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        rows = [row_label(i) for i in np.flatnonzero(ids.eq(first))]
        raise SitingError(f"{path.name}: id {first!r} appears in {' and '.join(rows)}; "
                          f"ids must be unique (fix or delete the duplicate)")

    is_existing = pd.Series([existing or (given(v) and str(v).strip().lower() in YES_WORDS)
                             for v in col("existing")])
    area = read_numbers(col("floor_area_m2"), "floor_area_m2", where)
    if "floor_area_m2" not in cols and not existing:
        raise SitingError(f"{path.name}: no floor-area column; add one headed 建筑面积 or "
                          f"floor_area (gross floor area, m²)")
    for i in range(n):
        if np.isnan(area[i]) and not is_existing[i]:
            raise SitingError(f"{where(i, 'floor_area_m2')}: floor area is missing; give the "
                              f"gross floor area in m²")
        if area[i] <= 0:
            raise SitingError(f"{where(i, 'floor_area_m2')}: floor area {area[i]:g} m² is not "
                              f"positive; give the gross floor area in m²")
    services, problems = read_services(col("existing_services"), col("name"), is_existing,
                                       policy, row_label)
    # an operating facility without a floor area: the minimum its services need
    mins = policy.get("service_min_floor_m2", {})
    no_area = np.isnan(area) & is_existing.to_numpy()
    for r in np.flatnonzero(no_area):
        keys = services[r].split(",") if services[r] else []
        if keys:
            area[r] = sum(mins.get(k, float(policy["min_floor_area_m2"])) for k in keys)
    n_default = int((no_area & ~np.isnan(area)).sum())
    if _problems is not None:  # read_existing counts the rows it keeps
        _problems["area_defaulted"] = set(np.flatnonzero(no_area & ~np.isnan(area)).tolist())
    elif n_default:
        _area_note(path, n_default, mins)
    usable = read_numbers(col("usable_area_m2"), "usable_area_m2", where)
    for r in np.flatnonzero(usable <= 0):
        raise SitingError(f"{where(r, 'usable_area_m2')}: usable area {usable[r]:g} m² is not "
                          f"positive")
    default_class = policy.get("default_class", "other")
    names = policy.get("class_names", {})
    kind = pd.Series([names.get(str(v).strip(), str(v).strip()) if given(v) else default_class
                      for v in col("kind")])
    if existing:
        kind[col("kind").isna().to_numpy()] = "existing"
    ratio = class_default(policy, kind, "usable_ratio").astype(float)
    usable = np.where(np.isnan(usable), area * ratio, usable)
    usable[no_area] = area[no_area]  # the defaulted area is the usable area services need
    mode = read_modes(col("acquisition_mode"), class_default(policy, kind, "acquisition_mode"),
                  where)
    out = pd.DataFrame({
        "source_id": ids, "name": [v if given(v) else None for v in col("name")],
        "kind": kind, "floor_area_m2": area, "usable_area_m2": usable,
        "levels_estimated": False, "acquisition_mode": mode,
        "cost": read_numbers(col("cost"), "cost", where, nonneg=True),
        "annual_cost": read_numbers(col("annual_cost"), "annual_cost", where, nonneg=True),
        "ground_floor": read_storeys(col("floor"), where),
        "lift": read_lifts(col("lift"), where),
        "year_available": read_numbers(col("year_available"), "year_available", where),
        "ownership": [str(v) if given(v) else None for v in col("ownership")],
        "existing": is_existing.to_numpy(), "existing_services": services,
        "level": [str(v).strip() if given(v) else None for v in col("level")],
        "source": np.where(is_existing, "existing", "inventory"),
    })
    frame = candidate_frame(out, gpd.points_from_xy(lon, lat), "EPSG:4326", policy)
    if _problems is not None:
        _problems.update(problems)
    elif problems:  # existing rows of an inventory: a row with no service is not a facility
        none = [i for i in problems if services[i] is None]
        frame.loc[none, "excluded_reason"] = "existing facility naming no modelled service"
        _problem_note(path, problems, sorted(problems), int(is_existing.sum()), len(none),
                      "existing rows (现有) name no modelled service and are excluded")
    if study_area is not None:
        frame = _check_study_area(frame, lon, lat, study_area, path, row_label, policy, crs)
    return frame


def read_existing(
    path: str | Path,
    crs: str = "wgs84",
    *,
    study_area: BaseGeometry | None = None,
    policy: dict | None = None,
) -> gpd.GeoDataFrame:
    """Facilities already operating, as fixed sites (``existing=True``), in WGS84.

    Reads an inventory (see :func:`read_inventory`; floor area optional) or a POI file
    such as the Amap exports (``name,address,adname,pname,type,lat,lon``, with or
    without a 服务/services column). Services come from the 服务/services column (words
    such as ``日间照料;助餐``, split on ; ； 、 , / and spaces), else from the name, both
    through the policy's one vocabulary ``[sites.service_vocabulary]`` (e.g. 社区卫生服务站
    → ``health_station``, 老年餐桌 → ``meal_assist``; 幼儿园, schools and hospitals are
    not modelled services). Rows outside the study area are dropped (a POI file usually
    covers a whole city); rows inside it that name no modelled service are dropped too,
    and listed by row number and name in one note, as are rows with unrecognised words.
    An existing facility without a floor area gets its services' ``min_floor_m2``.

    Parameters
    ----------
    path
        An inventory or POI file (CSV, Excel, GeoPackage …).
    crs
        Datum of lon/lat: ``wgs84``, ``gcj02`` or ``bd09``.
    study_area
        Polygon in WGS-84 lon/lat; rows outside it are dropped.
    policy
        The ``[sites]`` table; default the packaged one.

    Returns
    -------
    geopandas.GeoDataFrame
        Existing facilities in EPSG:4326 with the candidate columns.
    """
    policy = load_site_policy() if policy is None else policy
    if study_area is not None:
        check_lonlat(study_area)
    path = Path(path)
    problems: dict = {}
    frame = read_inventory(path, crs, policy=policy, existing=True, _problems=problems)
    rows = np.arange(len(frame))
    if study_area is not None:
        inside = frame.within(study_area).to_numpy()
        if not inside.any():
            raise SitingError(f"{path.name}: none of the {len(frame)} existing facilities "
                              f"lies in the study area {tuple(round(v, 4) for v in study_area.bounds)};"
                              f" check the file and --existing-crs")
        frame, rows = frame[inside], rows[inside]
    no_service = frame["existing_services"].isna().to_numpy()
    if no_service.all():
        shown = "; ".join(problems[i] for i in rows[:10] if i in problems)
        raise SitingError(
            f"{path.name}: no row names a modelled service ({shown}); add a 服务/services "
            f"column (e.g. 日间照料;助餐 or elderly_care) or use names with words of the "
            f"policy's [sites.service_vocabulary] (托育, 日间照料, 助餐, 社区卫生服务站 …)")
    _problem_note(path, problems, rows.tolist(), len(frame), int(no_service.sum()))
    n_default = len(problems.get("area_defaulted", set()) & set(rows[~no_service].tolist()))
    if n_default:
        _area_note(path, n_default, policy.get("service_min_floor_m2", {}))
    frame = frame[~no_service]
    return frame.reset_index(drop=True).assign(site_id=np.arange(int(len(frame))))


def _read_rows(path: Path, crs: str):
    """Raw rows, optional geometry (WGS-84 points), and a function naming row ``i``."""
    suffix = path.suffix.lower()
    if path.exists() and suffix not in TABLE_SUFFIXES + VECTOR_SUFFIXES:
        raise SitingError(f"{path.name}: unsupported inventory format {suffix!r}; give "
                          f".csv, .xlsx or .gpkg")
    geom = None
    if suffix in VECTOR_SUFFIXES:
        gdf = read_layer(path, "inventory")
        if gdf.geometry.notna().any():
            # a projected layer is reprojected; lon/lat are in the inventory's datum
            try:
                gdf = (gdf.to_crs("EPSG:4326") if gdf.crs is not None and gdf.crs.is_projected
                       else geodataframe_to_wgs84(gdf, crs))
            except ValueError as exc:
                raise SitingError(f"{path.name}: {exc}") from exc
            geom = gdf.geometry.representative_point()
        raw = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    else:
        raw = read_table(path, "inventory", text=True)
    if raw.empty:
        raise SitingError(f"{path.name}: the inventory has no rows")
    raw = raw.reset_index(drop=True)
    geom = None if geom is None else geom.reset_index(drop=True)
    if geom is not None:
        def row_label(i):
            return f"feature {i + 1}"
    else:
        def row_label(i):  # spreadsheet numbering: the header is row 1
            return f"row {i + 2}"
    return raw, geom, row_label


def _coordinates(raw, cols, geom, path, row_label, crs):
    """WGS84 lon, lat arrays from geometry or lon/lat columns, checked."""
    if geom is not None:
        return geom.x.to_numpy(), geom.y.to_numpy()
    missing = [f for f in ("lon", "lat") if f not in cols]
    if missing:
        raise SitingError(f"{path.name}: no {' or '.join(missing)} column; give 经度/lon and "
                          f"纬度/lat in degrees (or a GeoPackage with points)")
    vals = {}
    for f in ("lon", "lat"):
        v = pd.to_numeric(raw[cols[f]], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(np.isnan(v))
        if len(bad):
            raise SitingError(f"{path.name} {row_label(bad[0])}, column {cols[f]!r}: "
                              f"{raw[cols[f]].iloc[bad[0]]!r} is not a number of degrees")
        vals[f] = v
    lon, lat = vals["lon"], vals["lat"]
    for i in range(len(lon)):
        if abs(lat[i]) > 90 or abs(lon[i]) > 180:
            if abs(lon[i]) <= 90 and abs(lat[i]) <= 180:
                hint = "lat and lon look swapped; check which column is 经度 (lon) and 纬度 (lat)"
            else:
                hint = "these are not lon/lat degrees (projected metres?); give WGS84/GCJ-02/BD-09 degrees"
            raise SitingError(f"{path.name} {row_label(i)}: lon {lon[i]:g}, lat {lat[i]:g}: {hint}")
    return _convert_datum(lon, lat, crs, path)


def _convert_datum(lon, lat, crs: str, path: Path):
    try:
        return to_wgs84(lon, lat, crs)
    except ValueError as exc:
        raise SitingError(f"{path.name}: {exc}") from exc


def _check_study_area(frame, lon, lat, area, path, row_label, policy,
                      crs: str = "wgs84") -> gpd.GeoDataFrame:
    """Swapped coordinates raise; rows far outside warn and are excluded; all outside raise."""
    from shapely.geometry import Point

    tol_m = float(policy.get("outside_tolerance_m", 200.0))
    local = metric_crs(area)
    area_m = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(local).iloc[0]
    dist = frame.to_crs(local).distance(area_m).to_numpy()
    far = dist > tol_m
    for i in np.flatnonzero(far):
        if area.contains(Point(lat[i], lon[i])):
            raise SitingError(f"{path.name} {row_label(i)}: lon {lon[i]:g}, lat {lat[i]:g} lies "
                              f"outside the study area but inside it with lat and lon swapped; "
                              f"check which column is 经度 (lon) and 纬度 (lat)")
    if far.all():
        hint = _datum_hint(lon, lat, crs, area_m, local, tol_m)
        raise SitingError(
            f"{path.name}: every row lies outside the study area "
            f"(nearest {dist.min() / 1000:,.1f} km away); "
            + (hint or "check --inventory-crs (wgs84, gcj02 or bd09) and that the file "
                       "covers this area"))
    if far.any():
        rows = ", ".join(row_label(i) for i in np.flatnonzero(far)[:10])
        warnings.warn(f"{path.name}: {int(far.sum())} rows lie more than {tol_m:g} m outside the "
                      f"study area and are excluded ({rows})", stacklevel=3)
        frame.loc[far, "excluded_reason"] = [f"{d:,.0f} m outside the study area"
                                             for d in dist[far]]
    return frame


def _datum_hint(lon, lat, crs, area_m, local, tol_m) -> str | None:
    """When WGS84 rows miss the area but would hit it read as GCJ-02 or BD-09: say so."""
    if canonical_crs(crs) != "wgs84":
        return None
    for other, who in (("gcj02", "GCJ-02 (Amap, Tencent)"), ("bd09", "BD-09 (Baidu)")):
        try:
            x, y = to_wgs84(lon, lat, other)
        except ValueError:
            continue
        pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs="EPSG:4326").to_crs(local)
        if (pts.distance(area_m) <= tol_m).mean() > 0.5:
            return (f"the coordinates look like {who}, not WGS84: give --inventory-crs "
                    f"{other} (--existing-crs {other} for existing facilities) "
                    f"(or inventory_crs/existing_crs = \"{other}\" in the scenario)")
    return None


def _area_note(path: Path, n: int, mins: dict) -> None:
    warnings.warn(f"{path.name}: {n} existing {'facility has' if n == 1 else 'facilities have'}"
                  f" no floor area; each is given the minimum floor area of its services "
                  f"([services.<key>] min_floor_m2, e.g. elderly_care "
                  f"{mins.get('elderly_care', float('nan')):g} m², meal_assist "
                  f"{mins.get('meal_assist', float('nan')):g} m²); add a 建筑面积 column for "
                  f"their real size", UserWarning, stacklevel=3)


def _problem_note(path: Path, problems: dict, rows, total: int, dropped: int,
                  left_out: str = "rows name no modelled service and are left out") -> None:
    """One note naming the rows whose services were not (fully) recognised."""
    rows = [i for i in rows if i in problems]
    if not rows:
        return
    shown = "; ".join(problems[i] for i in rows[:15])
    more = f"; … and {len(rows) - 15} more" if len(rows) > 15 else ""
    head = (f"{path.name}: {dropped} of {total} {left_out}" if dropped
            else f"{path.name}: some service words are not recognised")
    warnings.warn(f"{head}: {shown}{more}. Services are recognised by the words of the "
                  f"policy's [sites.service_vocabulary] (e.g. 托育, 日间照料, 助餐, 社区卫生服务站, "
                  f"or keys such as elderly_care)", UserWarning, stacklevel=3)
