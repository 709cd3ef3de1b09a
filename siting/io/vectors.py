"""Vector layers: population polygons, community boundaries, exclusion zones, buildings.

One reader for every layer a run takes, so each accepts the same files and coordinate
systems: any format GeoPandas reads (GeoPackage, GeoJSON, shapefile, a file geodatabase
…) and GeoParquet (``.parquet``/``.geoparquet``, needs pyarrow), in the CRS the file
declares, or a CRS given for a file without one, or ``gcj02``/``bd09`` for layers
digitised on Chinese web maps (converted to WGS-84 with :mod:`siting.io.coords`).
Messages name the layer and, when a CRS can be given for it, the flag that gives it.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from siting.config.datums import canonical_crs
from siting.errors import SitingError
from siting.io.coords import geodataframe_to_wgs84

PARQUET_SUFFIXES = (".parquet", ".geoparquet")
# vector files an inventory may be (other layers take any format GDAL reads)
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", *PARQUET_SUFFIXES)


def read_vector(source: gpd.GeoDataFrame | str | Path, what: str, *, crs=None,
                crs_flag: str | None = None) -> gpd.GeoDataFrame:
    """A vector layer with a known CRS.

    Parameters
    ----------
    source
        A GeoDataFrame (checked as a file would be) or a file: GeoPackage, GeoJSON,
        shapefile, any other format GeoPandas reads, or GeoParquet.
    what
        The layer, named in errors: ``"population"``, ``"community"``, ``"exclusion"`` …
    crs
        ``gcj02``/``bd09`` (and their aliases, see :data:`siting.config.datums.ACCEPTED_CRS`):
        the coordinates are lon/lat in that datum and are converted to WGS-84;
        ``wgs84``/``cgcs2000`` or any CRS pyproj reads: the CRS of a layer that declares
        none (a declared CRS wins).
    crs_flag
        The option that gives ``crs`` for this layer (e.g. ``--population-crs``), named
        when the layer has no CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        The layer in its own CRS (EPSG:4326 after a GCJ-02/BD-09 conversion).

    Raises
    ------
    SitingError
        A missing or unreadable file, an empty layer, a table without geometry, an
        unknown or contradicting CRS, or a layer without a CRS.
    """
    if isinstance(source, gpd.GeoDataFrame):
        gdf, where = source, f"the {what} layer"
    else:
        gdf, where = read_layer(source, what), str(source)
    if gdf.empty:
        raise SitingError(f"{where}: the {what} layer is empty")
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.isna().all():
        raise SitingError(f"{where}: the {what} layer has no geometry (a table without "
                          "shapes?); give a vector file such as .gpkg, .geojson or .shp")
    if crs is not None:
        if canonical_crs(crs) is not None:
            try:
                gdf = geodataframe_to_wgs84(gdf, crs)
            except ValueError as exc:
                raise SitingError(f"{where}: {exc}") from None
        elif gdf.crs is None:
            gdf = gdf.set_crs(pyproj_crs(crs, where))
    if gdf.crs is None:
        raise SitingError(f"{where}: the {what} layer has no CRS; save it with one (e.g. "
                          "EPSG:4326)" + (f" or give {crs_flag}" if crs_flag else ""))
    return gdf


def read_layer(path: str | Path, what: str) -> gpd.GeoDataFrame:
    """A vector file as GeoPandas reads it, unchecked (see :func:`read_vector` for the checks).

    Parameters
    ----------
    path
        GeoParquet (``.parquet``, ``.geoparquet``, read through pyarrow) or any file GDAL
        reads.
    what
        The layer, named in errors (``"inventory"``, ``"population"`` …).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer as read (possibly without geometry or CRS).
    """
    path = Path(path)
    if not path.exists():
        raise SitingError(f"{what} file not found: {path}")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return gpd.read_parquet(path)
        return gpd.read_file(path)
    except ImportError as exc:
        raise SitingError(f"{path}: reading GeoParquet needs pyarrow "
                          "(pip install 'siting[parquet]')") from exc
    except Exception as exc:  # pyogrio/pyarrow raise many kinds
        raise SitingError(f"{path}: cannot read the {what} layer ({exc})") from exc


def pyproj_crs(value, where: str) -> CRS:
    """The pyproj CRS a user named (``wgs84``/``cgcs2000`` are EPSG:4326 at city scale).

    Parameters
    ----------
    value
        An EPSG code, WKT, PROJ string or datum name.
    where
        The file or layer the CRS is for, named in errors.

    Returns
    -------
    pyproj.CRS

    Raises
    ------
    SitingError
        ``value`` is no CRS pyproj knows; the message starts with ``where``.
    """
    if canonical_crs(value) in ("wgs84", "cgcs2000"):
        return CRS.from_epsg(4326)
    try:
        return CRS.from_user_input(value)
    except CRSError:
        raise SitingError(f"{where}: unknown CRS {value!r}; give an EPSG code such as "
                          "EPSG:4326, or wgs84/cgcs2000") from None


# --------------------------------------------------------------------------
# the study area
# --------------------------------------------------------------------------
_DEGREE_SEGMENT = 0.0005  # densify geographic study areas (≈ 50 m) before projecting


def check_lonlat(geometry, what: str = "the study area"):
    """``geometry``, a shapely geometry taken to be WGS-84 lon/lat, checked to be degrees.

    A bare geometry carries no CRS: one whose bounds are not lon/lat (projected metres,
    or latitudes beyond ±90°) is refused where it enters instead of landing nowhere.

    Parameters
    ----------
    geometry
        The geometry (a study area, a clipping polygon).
    what
        Its name in errors.

    Returns
    -------
    shapely.Geometry
        ``geometry`` itself.

    Raises
    ------
    SitingError
        Naming ``what``, its bounds and how to give it.
    """
    if geometry is None or geometry.is_empty:
        raise SitingError(f"{what} is empty")
    b = geometry.bounds
    w, s, e, n = b
    if not (all(math.isfinite(v) for v in b) and -180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise SitingError(
            f"{what} has bounds {tuple(round(v, 4) for v in b)}, which are not longitude/"
            "latitude degrees; a shapely geometry is taken to be WGS-84 lon/lat (lon first): "
            "reproject it to EPSG:4326, or pass a GeoSeries with its CRS")
    return geometry


def study_area(area) -> gpd.GeoSeries:
    """The study area as a one-row GeoSeries with a CRS.

    Parameters
    ----------
    area
        A GeoSeries or GeoDataFrame with a CRS (its parts are united), or a shapely
        geometry in WGS-84 lon/lat (checked with :func:`check_lonlat`).

    Returns
    -------
    geopandas.GeoSeries
        One geometry; an area in degrees is densified every 0.0005° (≈ 50 m), so its
        edges follow the meridians and parallels once projected.
    """
    if isinstance(area, gpd.GeoDataFrame):
        area = area.geometry
    if isinstance(area, gpd.GeoSeries):
        if area.crs is None:
            raise SitingError("the study area has no CRS")
        s = gpd.GeoSeries([shapely.union_all(area.to_numpy())], crs=area.crs)
    else:
        s = gpd.GeoSeries([check_lonlat(area)], crs="EPSG:4326")
    if s.iloc[0] is None or s.iloc[0].is_empty or s.iloc[0].area == 0:
        raise SitingError("the study area is empty")
    if s.crs.is_geographic:
        s = gpd.GeoSeries(shapely.segmentize(s.to_numpy(), _DEGREE_SEGMENT), crs=s.crs)
    return s


def area_in(area_s: gpd.GeoSeries, crs):
    """The study area as one valid geometry in ``crs``.

    Parameters
    ----------
    area_s
        The study area from :func:`study_area`.
    crs
        The target CRS (metric, usually).

    Returns
    -------
    shapely.Geometry
    """
    g = area_s.to_crs(crs).iloc[0]
    return g if g.is_valid else shapely.make_valid(g)


def bounds_wgs84(gdf) -> tuple:
    """Bounds of a layer in WGS-84 degrees, rounded, for messages.

    Parameters
    ----------
    gdf
        A GeoDataFrame or GeoSeries with a CRS.

    Returns
    -------
    tuple
        ``(west, south, east, north)``, or ``("?",)`` when they cannot be computed.
    """
    try:
        b = gdf.to_crs("EPSG:4326").total_bounds
    except Exception:  # pyproj may fail for coordinates far outside the CRS
        return ("?",)
    return tuple(round(float(v), 4) for v in b)
