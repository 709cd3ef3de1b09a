"""Tests for siting.io.coords (WGS-84 / GCJ-02 / BD-09 conversions)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from siting.io import coords
from siting.io.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geodataframe_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres between two sets of points."""
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (lon1, lat1, lon2, lat2)))
    *_, dist = GEOD.inv(*(np.atleast_1d(a).ravel() for a in arrays))
    return np.asarray(dist)


# ---------------------------------------------------------------------------
# Published reference pairs, as (lon, lat). Note that the eviltransform tests
# list them as (lat, lon) and have been reordered here.
# ---------------------------------------------------------------------------
# WGS-84 -> GCJ-02.
#  * googollee/eviltransform, go/transform_test.go, python/test.py and
#    javascript/test.js: the Shanghai, Shenzhen and Beijing vectors.
#  * wandergis/coordtransform README.md, "wgs84togcj02(116.404, 39.915)".
WGS_GCJ_PAIRS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # wandergis README
]

# GCJ-02 -> BD-09 (the forward formula is closed-form, so these are exact).
#  * wandergis/coordtransform README.md, "gcj02tobd09(116.404, 39.915)".
#  * Glatzel/pyxis python/tests/test_crypto.py, `gcj02` / `bd09` constants.
#    Only the GCJ-BD pair is used from that file, because its WGS-84 -> GCJ-02
#    value is about 8e-8 degrees away from the Krasovsky result.
GCJ_BD_PAIRS = [
    ((116.404, 39.915), (116.41036949371029, 39.92133699351021)),
    ((121.09626935575027, 30.608604331756705), (121.10271732371203, 30.61484572185035)),
]

# BD-09 -> GCJ-02 computed with the common *closed-form approximate* inverse.
#  * wandergis/coordtransform README.md, "bd09togcj02(116.404, 39.915)".
# Our inverse is exact, so here the two agree only to a few 1e-7 degrees (a few cm).
BD_GCJ_APPROX_PAIRS = [
    ((116.404, 39.915), (116.39762729119315, 39.90865673957631)),
]


def _same_geoms(a: gpd.GeoSeries, b: gpd.GeoSeries, tol: float = 0.0) -> bool:
    """Vertex-by-vertex equality of two geometry columns, ignoring their CRS labels."""
    return bool(np.all(shapely.equals_exact(np.asarray(a.array), np.asarray(b.array), tolerance=tol)))


def _china_grid(n_lon: int = 60, n_lat: int = 45) -> tuple[np.ndarray, np.ndarray]:
    """A regular lon/lat grid covering the China box (just inside its edges)."""
    lon = np.linspace(73.0, 135.0, n_lon)
    lat = np.linspace(3.0, 53.5, n_lat)
    return tuple(a.ravel() for a in np.meshgrid(lon, lat))


# ---------------------------------------------------------------------------
# reference values
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PAIRS)
def test_wgs84_to_gcj02_reference(wgs, gcj):
    got = wgs84_to_gcj02(*wgs)
    assert got == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PAIRS)
def test_gcj02_to_wgs84_reference(wgs, gcj):
    lon, lat = gcj02_to_wgs84(*gcj)
    assert _metres(wgs[0], wgs[1], lon, lat) < 0.001  # 1 mm


def test_krasovsky_not_wgs84_semi_major_axis():
    # Using a = 6378137 (eviltransform #28/#44) shifts Beijing by ~1e-7 deg.
    # The reference vectors need the Krasovsky a, so check that it is used.
    assert coords._KRASOVSKY_A == 6378245.0
    assert coords._KRASOVSKY_EE == pytest.approx(0.00669342162296594323, rel=0, abs=0)


@pytest.mark.parametrize(("gcj", "bd"), GCJ_BD_PAIRS)
def test_gcj02_to_bd09_reference(gcj, bd):
    assert gcj02_to_bd09(*gcj) == pytest.approx(bd, abs=1e-12)


@pytest.mark.parametrize(("gcj", "bd"), GCJ_BD_PAIRS)
def test_bd09_to_gcj02_reference_exact(gcj, bd):
    assert bd09_to_gcj02(*bd) == pytest.approx(gcj, abs=1e-11)


@pytest.mark.parametrize(("bd", "gcj"), BD_GCJ_APPROX_PAIRS)
def test_bd09_to_gcj02_close_to_closed_form(bd, gcj):
    lon, lat = bd09_to_gcj02(*bd)
    assert (lon, lat) == pytest.approx(gcj, abs=1e-6)
    assert _metres(gcj[0], gcj[1], lon, lat) < 0.1
    # ...and ours is the better inverse: it maps back exactly.
    assert gcj02_to_bd09(lon, lat) == pytest.approx(bd, abs=1e-12)


def test_wgs84_to_bd09_composes():
    for wgs, gcj in WGS_GCJ_PAIRS:
        assert wgs84_to_bd09(*wgs) == pytest.approx(gcj02_to_bd09(*gcj), abs=1e-9)


# ---------------------------------------------------------------------------
# round trips over China
# ---------------------------------------------------------------------------
def test_gcj02_round_trip_grid_within_half_metre():
    lon, lat = _china_grid()
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
    err = _metres(lon, lat, g_lon, g_lat)
    assert err.max() < 0.5
    assert err.max() < 1e-3  # in practice far better: sub-millimetre
    # and the inverse really moved the points (by the GCJ offset, ~100 m-1 km)
    shift = _metres(lon, lat, w_lon, w_lat)
    assert shift.min() > 1.0


def test_wgs84_round_trip_grid():
    lon, lat = _china_grid()
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert _metres(lon, lat, w_lon, w_lat).max() < 1e-3


def test_bd09_round_trips_grid():
    lon, lat = _china_grid()
    # GCJ-02 -> BD-09 -> GCJ-02
    b_lon, b_lat = gcj02_to_bd09(lon, lat)
    g_lon, g_lat = bd09_to_gcj02(b_lon, b_lat)
    assert _metres(lon, lat, g_lon, g_lat).max() < 1e-3
    # BD-09 -> GCJ-02 -> BD-09
    g_lon, g_lat = bd09_to_gcj02(lon, lat)
    b_lon, b_lat = gcj02_to_bd09(g_lon, g_lat)
    assert _metres(lon, lat, b_lon, b_lat).max() < 1e-3
    # WGS-84 -> BD-09 -> WGS-84 and back
    b_lon, b_lat = wgs84_to_bd09(lon, lat)
    w_lon, w_lat = bd09_to_wgs84(b_lon, b_lat)
    assert _metres(lon, lat, w_lon, w_lat).max() < 1e-3
    w_lon, w_lat = bd09_to_wgs84(lon, lat)
    b_lon, b_lat = wgs84_to_bd09(w_lon, w_lat)
    assert _metres(lon, lat, b_lon, b_lat).max() < 1e-3


# ---------------------------------------------------------------------------
# outside China
# ---------------------------------------------------------------------------
OUTSIDE = [
    (0.0, 0.0),
    (-122.4194, 37.7749),  # San Francisco
    (2.3522, 48.8566),  # Paris
    (151.2093, -33.8688),  # Sydney
    (139.6917, 35.6895),  # Tokyo (east of 137.8347 E)
    (100.0, 60.0),  # north of 55.8271 N
    (72.0, 40.0),  # just west of 72.004 E
]


@pytest.mark.parametrize("pt", OUTSIDE)
def test_gcj02_unchanged_outside_china(pt):
    assert wgs84_to_gcj02(*pt) == pt
    assert gcj02_to_wgs84(*pt) == pt
    assert to_wgs84(*pt, "gcj02") == pt


@pytest.mark.parametrize("pt", OUTSIDE)
def test_bd09_outside_china_is_bd_step_only(pt):
    # Documented behaviour: the BD-09 step is applied everywhere, and the GCJ-02
    # step is the identity outside the box.
    assert wgs84_to_bd09(*pt) == pytest.approx(gcj02_to_bd09(*pt), abs=1e-12)
    b = wgs84_to_bd09(*pt)
    assert bd09_to_wgs84(*b) == pytest.approx(pt, abs=1e-11)


def test_mixed_inside_outside_array():
    lon = np.array([116.404, 2.3522, 121.5272106])
    lat = np.array([39.915, 48.8566, 31.1774276])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert g_lon[1] == lon[1] and g_lat[1] == lat[1]
    assert g_lon[0] != lon[0] and g_lon[2] != lon[2]


# ---------------------------------------------------------------------------
# arrays vs scalars, shapes, NaN
# ---------------------------------------------------------------------------
ALL_FUNCS = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_arrays_and_scalars_agree(func):
    lon = np.array([116.404, 121.5272106, 113.912316, 87.6, 2.35])
    lat = np.array([39.915, 31.1774276, 22.543847, 43.8, 48.85])
    a_lon, a_lat = func(lon, lat)
    assert isinstance(a_lon, np.ndarray) and a_lon.shape == lon.shape
    for i in range(lon.size):
        s_lon, s_lat = func(float(lon[i]), float(lat[i]))
        assert isinstance(s_lon, float) and isinstance(s_lat, float)
        assert (s_lon, s_lat) == pytest.approx((a_lon[i], a_lat[i]), abs=1e-12)


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_shapes_lists_and_nan(func):
    lon = np.array([[116.404, np.nan], [121.5, 113.9]])
    lat = np.array([[39.915, 30.0], [31.2, np.nan]])
    out_lon, out_lat = func(lon, lat)
    assert out_lon.shape == (2, 2) and out_lat.shape == (2, 2)
    assert np.isnan(out_lon[0, 1]) and np.isnan(out_lat[1, 1])
    assert np.isfinite(out_lon[0, 0]) and np.isfinite(out_lat[1, 0])
    # plain lists work too, and broadcasting a scalar latitude
    l_lon, _ = func([116.404, 121.5], 39.915)
    assert l_lon.shape == (2,)


def test_inputs_not_modified():
    lon = np.array([116.404, 121.5])
    lat = np.array([39.915, 31.2])
    lon0, lat0 = lon.copy(), lat.copy()
    for func in ALL_FUNCS:
        func(lon, lat)
    to_wgs84(lon, lat, "wgs84")[0][:] = 0.0  # identity returns a fresh array
    np.testing.assert_array_equal(lon, lon0)
    np.testing.assert_array_equal(lat, lat0)


# ---------------------------------------------------------------------------
# to_wgs84
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["wgs84", "WGS84", "EPSG:4326", "epsg:4326", "cgcs2000", "CGCS2000", "epsg:4490"])
def test_to_wgs84_identity(name):
    assert to_wgs84(116.404, 39.915, name) == (116.404, 39.915)


@pytest.mark.parametrize("name", ["gcj02", "GCJ-02", " gcj02 ", "amap", "Gaode", "tencent", "mars"])
def test_to_wgs84_gcj_aliases(name):
    assert to_wgs84(116.404, 39.915, name) == gcj02_to_wgs84(116.404, 39.915)


@pytest.mark.parametrize("name", ["bd09", "BD-09", "baidu", "bd09ll"])
def test_to_wgs84_bd_aliases(name):
    assert to_wgs84(116.404, 39.915, name) == bd09_to_wgs84(116.404, 39.915)


@pytest.mark.parametrize("bad", ["osgb36", "bd09mc", "", "epsg:3857", None, 4326])
def test_to_wgs84_unknown_crs(bad):
    with pytest.raises(ValueError) as exc:
        to_wgs84(116.404, 39.915, bad)
    msg = str(exc.value)
    for accepted in ("wgs84", "epsg:4326", "cgcs2000", "epsg:4490", "gcj02", "bd09"):
        assert repr(accepted) in msg


# ---------------------------------------------------------------------------
# geodataframe_to_wgs84
# ---------------------------------------------------------------------------
def _sample_gdf(crs="EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["pt", "line", "poly", "multi", "none"]},
        geometry=[
            Point(116.404, 39.915),
            LineString([(121.47, 31.23), (121.48, 31.24), (121.50, 31.22)]),
            Polygon([(113.9, 22.5), (114.0, 22.5), (114.0, 22.6), (113.9, 22.5)]),
            MultiPolygon([Polygon([(104.0, 30.6), (104.1, 30.6), (104.1, 30.7)])]),
            None,
        ],
        crs=crs,
    )


@pytest.mark.parametrize(("name", "func"), [("gcj02", gcj02_to_wgs84), ("baidu", bd09_to_wgs84)])
@pytest.mark.parametrize("input_crs", ["EPSG:4326", None])
def test_geodataframe_gcj_bd(name, func, input_crs):
    gdf = _sample_gdf(input_crs)
    before = gdf.copy()
    out = geodataframe_to_wgs84(gdf, name)

    # input untouched
    assert out is not gdf
    assert gdf.crs == before.crs
    assert _same_geoms(gdf.geometry.iloc[:4], before.geometry.iloc[:4], 0)
    assert gdf.geometry.iloc[4] is None
    # output labelled WGS-84, same rows and attributes
    assert out.crs.to_epsg() == 4326
    assert list(out["name"]) == list(gdf["name"])
    assert out.geometry.iloc[4] is None
    # every vertex converted with the vectorised function
    for g_in, g_out in zip(gdf.geometry.iloc[:4], out.geometry.iloc[:4]):
        xy_in = np.asarray(shapely.get_coordinates(g_in))
        xy_out = np.asarray(shapely.get_coordinates(g_out))
        exp_lon, exp_lat = func(xy_in[:, 0], xy_in[:, 1])
        np.testing.assert_allclose(xy_out[:, 0], exp_lon, atol=1e-12)
        np.testing.assert_allclose(xy_out[:, 1], exp_lat, atol=1e-12)
        assert g_out.geom_type == g_in.geom_type


def test_geodataframe_keeps_z_and_geometry_name():
    gdf = gpd.GeoDataFrame({"v": [1]}, geometry=[Point(116.404, 39.915, 42.0)], crs="EPSG:4326")
    gdf = gdf.rename_geometry("geom")
    out = geodataframe_to_wgs84(gdf, "gcj-02")
    assert out.geometry.name == "geom"
    p = out.geometry.iloc[0]
    assert p.has_z and p.z == 42.0
    assert (p.x, p.y) == pytest.approx(gcj02_to_wgs84(116.404, 39.915), abs=1e-12)


def test_geodataframe_wgs84_and_cgcs2000_identity():
    gdf = _sample_gdf("EPSG:4490")
    out = geodataframe_to_wgs84(gdf, "cgcs2000")
    assert out.crs.to_epsg() == 4326 and gdf.crs.to_epsg() == 4490
    assert _same_geoms(out.geometry.iloc[:4], gdf.geometry.iloc[:4], 0)


def test_geodataframe_epsg_uses_to_crs():
    wgs = _sample_gdf()
    utm = wgs.to_crs("EPSG:32650")
    before = utm.copy()
    out = geodataframe_to_wgs84(utm, "EPSG:32650")
    assert out.crs.to_epsg() == 4326
    assert _same_geoms(out.geometry.iloc[:4], wgs.geometry.iloc[:4], 1e-9)
    assert utm.crs.to_epsg() == 32650
    assert _same_geoms(utm.geometry.iloc[:4], before.geometry.iloc[:4], 0)
    # an unlabelled frame takes the given crs
    out2 = geodataframe_to_wgs84(utm.set_crs(None, allow_override=True), "EPSG:32650")
    assert _same_geoms(out2.geometry.iloc[:4], wgs.geometry.iloc[:4], 1e-9)


def test_geodataframe_errors():
    utm = _sample_gdf().to_crs("EPSG:32650")
    with pytest.raises(ValueError, match="projected"):
        geodataframe_to_wgs84(utm, "gcj02")
    with pytest.raises(ValueError, match="contradicts"):
        geodataframe_to_wgs84(utm, "EPSG:32651")
    with pytest.raises(ValueError, match="'gcj02'"):
        geodataframe_to_wgs84(_sample_gdf(), "not-a-crs")


def test_geodataframe_empty():
    out = geodataframe_to_wgs84(_sample_gdf().iloc[:0], "bd09")
    assert len(out) == 0 and out.crs.to_epsg() == 4326
