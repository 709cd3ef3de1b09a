"""Chinese map-datum conversions: WGS-84, GCJ-02 ("Mars") and BD-09 (Baidu).

Web maps and POI services in mainland China publish coordinates in obfuscated
datums. Amap/Gaode, Tencent and Google's China tiles use **GCJ-02**, which is
WGS-84 plus a deterministic, nonlinear offset of a few hundred metres. Baidu
uses **BD-09**, which is a further perturbation of GCJ-02. Walking networks from
OpenStreetMap are in WGS-84, so facility and demand data taken from Chinese
services must be converted before it can be snapped to the network.

All public functions are vectorised with numpy. They take scalars, sequences
or arrays (broadcast against each other) and return a ``(lon, lat)`` tuple.
Scalar inputs give Python floats and array inputs give float64 ndarrays.
Coordinates are always given as **longitude first**, in decimal degrees.

Notes
-----
*GCJ-02 forward transform.* This is the widely circulated reimplementation of
the official algorithm. It does not include the small pseudo-random noise that
the official implementation adds. The offset is computed in metres and turned
into degrees with the **Krasovsky 1940** ellipsoid (``a = 6378245 m``,
``e^2 = 0.00669342162296594323``). Some libraries replace ``a`` with the WGS-84
value 6378137 m, which does not reproduce GCJ-02 (see googollee/eviltransform
issues #28 and #44). That mistake shifts results by about 1e-7 degrees
(roughly 1 cm).

*China bounding box.* GCJ-02 is applied only inside the rectangle
72.004-137.8347 E, 0.8293-55.8271 N. This is the usual crude test for "in
China", and the same test is used by eviltransform, PRCoords and coordtransform.
Points outside the box pass through the GCJ-02 functions unchanged. The
forward transform tests the WGS-84 input against the box and the inverse
transform tests the GCJ-02 input. The two therefore disagree only in a band a
few hundred metres wide along the edges of the box, far away from any Chinese
city.

*Inverses.* GCJ-02 has no closed-form inverse. :func:`gcj02_to_wgs84` solves
``wgs84_to_gcj02(w) = g`` by fixed-point iteration
``w <- w - (wgs84_to_gcj02(w) - g)``, which is the method of Caijun (2014) as
used in PRCoords. The offset changes by only a few thousandths of a degree per degree, so
each step gains more than two decimal digits. The loop runs until every coordinate changes by
less than 1e-12 degrees, which takes about 5 steps. The measured round-trip
error is a few nanometres, far below 1 mm. :func:`bd09_to_gcj02` first applies
Baidu's usual closed-form approximate inverse and then refines it in the same
way. The closed form alone is off by a median of 4e-7 degrees and at most 2e-6
degrees over the China box, i.e. centimetres up to about 0.25 m.

*BD-09 outside China.* The BD-09 step (GCJ-02 to BD-09) is a small rotation and
scaling of the GCJ-02 lon/lat plus a constant shift of (0.0065, 0.006) degrees.
It is **applied everywhere** and has no bounding-box check, as in PRCoords and
coordtransform. Outside the China box, :func:`wgs84_to_bd09` therefore equals
the BD-09 step alone (the GCJ-02 step is the identity there), and
:func:`bd09_to_wgs84` undoes just that step. The functions round-trip
everywhere. However, Baidu's real behaviour abroad is undocumented, so BD-09
coordinates outside China should not be trusted.

*CGCS2000.* China's official geodetic datum (EPSG:4490) coincides with
WGS-84 (EPSG:4326) to within a few decimetres. That is below the accuracy of the
data this package handles at city scale, so :func:`to_wgs84` treats it as the
identity.

NaN coordinates propagate as NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from siting.config.datums import ACCEPTED_CRS, canonical_crs
from siting.errors import SitingError

if TYPE_CHECKING:  # pragma: no cover - import only for annotations
    import geopandas as gpd

__all__ = [
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "geodataframe_to_wgs84",
    "metric_crs",
]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm (NOT WGS-84's a).
_KRASOVSKY_A: float = 6378245.0
_KRASOVSKY_EE: float = 0.00669342162296594323

# Crude "in China" bounding box (degrees) used by all public implementations.
_CHINA_LON_MIN: float = 72.004
_CHINA_LON_MAX: float = 137.8347
_CHINA_LAT_MIN: float = 0.8293
_CHINA_LAT_MAX: float = 55.8271

# BD-09 constants: pi * 3000 / 180 and Baidu's constant shift.
_BD_X_PI: float = np.pi * 3000.0 / 180.0
_BD_DLON: float = 0.0065
_BD_DLAT: float = 0.006

# Fixed-point iteration controls for the inverses.
_INVERSE_TOL_DEG: float = 1e-12
_INVERSE_MAX_ITER: int = 30

Coords = tuple[Any, Any]
"""``(lon, lat)``; floats for scalar input, float64 ndarrays otherwise."""


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """Broadcast ``lon``/``lat`` (degrees) to float64 copies, so callers never alias the
    caller's buffers, and whether both inputs were scalars (0-d)."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    scalar = x.ndim == 0 and y.ndim == 0
    x, y = np.broadcast_arrays(x, y)
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64), scalar


def _out(lon: NDArray[np.float64], lat: NDArray[np.float64], scalar: bool) -> Coords:
    """Return floats for scalar calls and arrays otherwise."""
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def _in_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Boolean mask of points inside the crude China bounding box.

    NaN coordinates count as outside, so they pass through unchanged (as NaN).
    """
    return (lon >= _CHINA_LON_MIN) & (lon <= _CHINA_LON_MAX) \
        & (lat >= _CHINA_LAT_MIN) & (lat <= _CHINA_LAT_MAX)


def _gcj02_offset(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """GCJ-02 offset ``(dlon, dlat)`` in degrees at WGS-84 position ``(lon, lat)``.

    The offset (to add to ``lon`` and ``lat``) is applied unconditionally, without the
    bounding-box check.
    """
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * np.pi * x) + 20.0 * np.sin(2.0 * np.pi * x)) * 2.0 / 3.0

    # Offsets in metres (arc lengths) northwards and eastwards.
    dlat_m = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
        + common
        + (20.0 * np.sin(np.pi * y) + 40.0 * np.sin(np.pi * y / 3.0)) * 2.0 / 3.0
        + (160.0 * np.sin(np.pi * y / 12.0) + 320.0 * np.sin(np.pi * y / 30.0)) * 2.0 / 3.0
    )
    dlon_m = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
        + common
        + (20.0 * np.sin(np.pi * x) + 40.0 * np.sin(np.pi * x / 3.0)) * 2.0 / 3.0
        + (150.0 * np.sin(np.pi * x / 12.0) + 300.0 * np.sin(np.pi * x / 30.0)) * 2.0 / 3.0
    )

    # Metres -> degrees on the Krasovsky ellipsoid (meridional radius M and
    # prime-vertical radius N).
    rad_lat = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    m_radius = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (magic * sqrt_magic)
    n_radius = _KRASOVSKY_A / sqrt_magic
    dlat = np.degrees(dlat_m / m_radius)
    dlon = np.degrees(dlon_m / (n_radius * np.cos(rad_lat)))
    return dlon, dlat


def _wgs84_to_gcj02_raw(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """WGS-84 to GCJ-02 with no bounding-box check."""
    dlon, dlat = _gcj02_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj02_to_bd09_raw(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The GCJ-02 to BD-09 formula (applied everywhere)."""
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd09_to_gcj02_approx(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Baidu's usual closed-form approximate inverse (error up to about 2e-6 degrees)."""
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[NDArray[np.float64], NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64]]],
    target_lon: NDArray[np.float64],
    target_lat: NDArray[np.float64],
    guess_lon: NDArray[np.float64],
    guess_lat: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Solve ``forward(p) == target`` by fixed-point iteration (Caijun 2014).

    The update is ``p <- p - (forward(p) - target)``. This converges quickly
    when ``forward`` is the identity plus a slowly varying offset, which is
    true for GCJ-02 and BD-09.

    Parameters
    ----------
    forward : callable
        Vectorised forward transform ``(lon, lat) -> (lon, lat)``.
    target_lon, target_lat : ndarray of float64
        Coordinates in the forward transform's output datum.
    guess_lon, guess_lat : ndarray of float64
        Starting point.

    Returns
    -------
    lon, lat : ndarray of float64
        The solution. Iteration stops once every finite coordinate moves by
        less than ``_INVERSE_TOL_DEG``, or after ``_INVERSE_MAX_ITER`` steps.
    """
    lon, lat = guess_lon.copy(), guess_lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        f_lon, f_lat = forward(lon, lat)
        d_lon = f_lon - target_lon
        d_lat = f_lat - target_lat
        lon -= d_lon
        lat -= d_lat
        step = np.fmax(np.abs(d_lon), np.abs(d_lat))  # fmax ignores one NaN
        if step.size == 0 or not np.any(step >= _INVERSE_TOL_DEG):
            break
    return lon, lat


# --------------------------------------------------------------------------
# public conversions
# --------------------------------------------------------------------------
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Convert WGS-84 coordinates to GCJ-02.

    Parameters
    ----------
    lon : float or array_like
    lat : float or array_like
        WGS-84 longitude and latitude in degrees. They are broadcast together.

    Returns
    -------
    lon, lat : float or ndarray
        GCJ-02 coordinates. Points outside the China bounding box
        (72.004-137.8347 E, 0.8293-55.8271 N) are returned unchanged.

    Examples
    --------
    >>> wgs84_to_gcj02(116.404, 39.915)  # doctest: +ELLIPSIS
    (116.41024449..., 39.91640428...)
    """
    x, y, scalar = _as_arrays(lon, lat)
    inside = _in_china(x, y)
    gx, gy = _wgs84_to_gcj02_raw(x, y)
    return _out(np.where(inside, gx, x), np.where(inside, gy, y), scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Convert GCJ-02 coordinates to WGS-84 using the iterative exact inverse.

    Parameters
    ----------
    lon : float or array_like
    lat : float or array_like
        GCJ-02 longitude and latitude in degrees. They are broadcast together.

    Returns
    -------
    lon, lat : float or ndarray
        WGS-84 coordinates. ``wgs84_to_gcj02`` maps them back to the input to
        better than 1e-12 degrees (well under 1 mm). Points outside the China
        bounding box are returned unchanged.

    Notes
    -----
    The starting guess is ``g - offset(g)``, which is the one-step "rough"
    inverse found in most libraries and is good to a few metres. It is then
    refined by fixed-point iteration.
    """
    x, y, scalar = _as_arrays(lon, lat)
    inside = _in_china(x, y)
    dlon, dlat = _gcj02_offset(x, y)
    wx, wy = _invert(_wgs84_to_gcj02_raw, x, y, x - dlon, y - dlat)
    return _out(np.where(inside, wx, x), np.where(inside, wy, y), scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Convert GCJ-02 coordinates to Baidu BD-09.

    Parameters
    ----------
    lon : float or array_like
    lat : float or array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : float or ndarray
        BD-09 coordinates. The transform is applied everywhere, including
        outside China (see the module notes).

    Examples
    --------
    >>> gcj02_to_bd09(116.404, 39.915)  # doctest: +ELLIPSIS
    (116.41036949..., 39.92133699...)
    """
    x, y, scalar = _as_arrays(lon, lat)
    bx, by = _gcj02_to_bd09_raw(x, y)
    return _out(bx, by, scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Convert Baidu BD-09 coordinates to GCJ-02 using the iterative exact inverse.

    Parameters
    ----------
    lon : float or array_like
    lat : float or array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : float or ndarray
        GCJ-02 coordinates. ``gcj02_to_bd09`` maps them back to the input to
        better than 1e-12 degrees. The widespread closed-form formula is
        used as the starting guess. It differs from this result by up to
        2e-6 degrees (about 0.25 m). Applied everywhere, including outside China.
    """
    x, y, scalar = _as_arrays(lon, lat)
    gx, gy = _bd09_to_gcj02_approx(x, y)
    gx, gy = _invert(_gcj02_to_bd09_raw, x, y, gx, gy)
    return _out(gx, gy, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Convert WGS-84 coordinates to Baidu BD-09 (via GCJ-02).

    Parameters
    ----------
    lon : float or array_like
    lat : float or array_like
        WGS-84 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : float or ndarray
        BD-09 coordinates. Outside the China bounding box only the BD-09
        step is applied, because the GCJ-02 step is the identity there.
    """
    x, y, scalar = _as_arrays(lon, lat)
    gx, gy = wgs84_to_gcj02(x, y)
    bx, by = _gcj02_to_bd09_raw(gx, gy)
    return _out(bx, by, scalar)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """Convert Baidu BD-09 coordinates to WGS-84 (via GCJ-02, both exact inverses).

    Parameters
    ----------
    lon : float or array_like
    lat : float or array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : float or ndarray
        WGS-84 coordinates. Outside the China bounding box, measured on the
        intermediate GCJ-02 point, only the BD-09 step is undone.
    """
    x, y, scalar = _as_arrays(lon, lat)
    gx, gy = bd09_to_gcj02(x, y)
    wx, wy = gcj02_to_wgs84(gx, gy)
    return _out(wx, wy, scalar)


# --------------------------------------------------------------------------
# CRS dispatch
# --------------------------------------------------------------------------
_TO_WGS84: dict[str, Callable[[ArrayLike, ArrayLike], Coords]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def _unknown_crs_error(crs: object, extra: str = "") -> ValueError:
    """Build the ValueError for an unrecognised CRS name."""
    return ValueError(
        f"Unknown coordinate system {crs!r}; accepted values (case-insensitive) are: "
        + ", ".join(repr(a) for a in ACCEPTED_CRS)
        + extra
    )


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> Coords:
    """Convert coordinates in a named Chinese datum to WGS-84.

    Parameters
    ----------
    lon : float or array_like
    lat : float or array_like
        Longitude and latitude in degrees.
    crs : str
        Datum of the input. Matching is case-insensitive and ignores
        surrounding whitespace.

        * ``"wgs84"``, ``"wgs-84"``, ``"epsg:4326"``: returned unchanged.
        * ``"cgcs2000"``, ``"epsg:4490"``: returned unchanged. CGCS2000 and
          WGS-84 agree to within decimetres, which is negligible at city scale.
        * ``"gcj02"``, ``"gcj-02"``, ``"gcj"``, ``"mars"``, ``"amap"``,
          ``"gaode"``, ``"autonavi"``, ``"tencent"``, ``"qq"``: see
          :func:`gcj02_to_wgs84`.
        * ``"bd09"``, ``"bd-09"``, ``"bd09ll"``, ``"baidu"``: see
          :func:`bd09_to_wgs84`. Baidu's metre-based BD-09 Mercator
          ("bd09mc") is *not* supported.

    Returns
    -------
    lon, lat : float or ndarray
        WGS-84 coordinates. Array output is always a new array.

    Raises
    ------
    ValueError
        If ``crs`` is not one of the accepted names. The message lists them.
    """
    kind = canonical_crs(crs)
    if kind is None:
        raise _unknown_crs_error(crs)
    func = _TO_WGS84.get(kind)
    if func is not None:
        return func(lon, lat)
    x, y, scalar = _as_arrays(lon, lat)  # identity, but on fresh arrays
    return _out(x, y, scalar)


def _transform_coords_to_wgs84(kind: str) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """Return a ``shapely.transform`` callback mapping ``kind`` to WGS-84.

    The callback takes an ``(N, 2)`` or ``(N, 3)`` array and changes only the
    first two columns. Any Z values pass through unchanged.
    """
    func = _TO_WGS84[kind]

    def _callback(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.array(coords, dtype=np.float64, copy=True)
        if out.shape[0]:
            out[:, 0], out[:, 1] = func(coords[:, 0], coords[:, 1])
        return out

    return _callback


def geodataframe_to_wgs84(gdf: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` whose active geometry is in WGS-84 (EPSG:4326).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points, lines, polygons or their multi-part forms. The input is
        never modified.
    crs : str
        Datum of the coordinates stored in ``gdf``.

        * GCJ-02 or BD-09 names (see :func:`to_wgs84`): every vertex is
          converted with the vectorised functions through
          :func:`shapely.transform`. Z values are kept. These datums have no
          EPSG code, so such data is often labelled EPSG:4326 or left without
          a CRS. ``gdf.crs`` may therefore be None or any geographic CRS, but
          not a projected one.
        * ``"wgs84"``, ``"cgcs2000"`` and their aliases: coordinates are
          copied unchanged and relabelled EPSG:4326 (CGCS2000 is the identity
          at city scale). ``gdf.crs`` may be None or any geographic CRS.
        * Anything else that pyproj understands, e.g. ``"EPSG:32650"``:
          reprojected with :meth:`geopandas.GeoDataFrame.to_crs`.
          ``gdf.crs`` must be None or equal to ``crs``.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame with ``crs`` EPSG:4326. Non-geometry columns are copied.

    Raises
    ------
    ValueError
        If ``crs`` is not recognised, or if it contradicts ``gdf.crs`` as
        described above.
    """
    import geopandas as gpd  # local: keep the numeric functions importable without geopandas
    import shapely
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    kind = canonical_crs(crs)
    if kind is None:
        try:
            target = CRS.from_user_input(crs)
        except (CRSError, TypeError) as exc:
            raise _unknown_crs_error(crs, ", or any CRS understood by pyproj") from exc
        if gdf.crs is not None and not CRS.from_user_input(gdf.crs).equals(target):
            raise ValueError(f"crs={crs!r} contradicts the GeoDataFrame's own crs {gdf.crs.to_string()!r}")
        src = gdf.copy() if gdf.crs is not None else gdf.set_crs(target)  # set_crs returns a copy
        return src.to_crs("EPSG:4326")

    if gdf.crs is not None and not CRS.from_user_input(gdf.crs).is_geographic:
        raise ValueError(
            f"crs={crs!r} means longitude/latitude degrees, but the GeoDataFrame is labelled "
            f"with projected crs {gdf.crs.to_string()!r}"
        )

    out = gdf.copy()
    geom_col = out.geometry.name
    if kind in _TO_WGS84:
        geoms = np.asarray(gdf.geometry.array, dtype=object)
        new = shapely.transform(geoms, _transform_coords_to_wgs84(kind), include_z=True)
        out[geom_col] = gpd.GeoSeries(new, index=gdf.index)
    return out.set_crs("EPSG:4326", allow_override=True)


# --------------------------------------------------------------------------
# metric CRS
# --------------------------------------------------------------------------
def metric_crs(where: Any) -> str:
    """The metric CRS of a place: CGCS2000 3-degree Gauss-Krüger in China, else UTM.

    Inside China (73.5–136.5°E, 18–54°N) the CGCS2000 3-degree Gauss-Krüger zone
    (EPSG:4534–4554, central meridians 75°E–135°E) is used, as Chinese planning data
    are; elsewhere UTM. Every stage projects with this one rule.

    Parameters
    ----------
    where
        A point ``(lon, lat)`` or bounds ``(west, south, east, north)`` in degrees, a
        shapely geometry in WGS-84, or a GeoSeries/GeoDataFrame with a CRS; the zone is
        that of its (bounds') centre.

    Returns
    -------
    str
        ``"EPSG:<code>"``.

    Raises
    ------
    SitingError
        No CRS on a GeoSeries/GeoDataFrame, or a place that is not lon/lat degrees.
    """
    if hasattr(where, "total_bounds"):  # GeoSeries, GeoDataFrame
        if where.crs is None:
            raise SitingError("cannot choose a metric CRS for a layer without a CRS; set "
                              "its CRS first (e.g. layer.set_crs('EPSG:4326'))")
        bounds = tuple(where.to_crs("EPSG:4326").total_bounds)
    elif hasattr(where, "bounds"):  # shapely geometry
        bounds = tuple(where.bounds)
    else:
        bounds = tuple(float(v) for v in where)
        bounds = bounds * 2 if len(bounds) == 2 else bounds
    if len(bounds) != 4:
        raise SitingError(f"metric_crs needs (lon, lat) or (west, south, east, north): {where!r}")
    lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    if not (np.isfinite([lon, lat]).all() and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise SitingError(f"cannot choose a metric CRS at lon {lon:g}, lat {lat:g}: not "
                          "longitude/latitude degrees; give WGS-84 lon/lat (lon first), or a "
                          "layer with its CRS")
    if 73.5 <= lon <= 136.5 and 18.0 <= lat <= 54.0:
        cm = int(round(lon / 3.0) * 3)
        return f"EPSG:{4534 + (cm - 75) // 3}"
    zone = min(int((lon + 180) // 6) + 1, 60)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"
