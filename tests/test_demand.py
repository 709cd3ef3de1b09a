"""Population inputs, dasymetric split, demand groups, households and communities.

Rasters, polygons and tables are made here with rasterio/geopandas; the real Beijing
subdistrict totals are split onto a real Beijing OSM extract through ``siting run``.
"""

from __future__ import annotations

import json
import textwrap

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box
from typer.testing import CliRunner

from siting.cli import app
from siting.communities import assign_communities
from siting.config.policy import check_age_shares
from siting.demand import (
    DEFAULT_AGE_SHARES,
    DEMAND_GROUPS,
    add_groups,
    demand_from_buildings,
    demand_from_table,
    load_population,
)
from siting.errors import SitingError
from siting.io.coords import wgs84_to_bd09, wgs84_to_gcj02
from siting.io.vectors import _DEGREE_SEGMENT
from siting.population import demand_from_polygons, demand_from_raster

from conftest import SHARED, shared_file

GK = "EPSG:4548"  # CGCS2000 3° Gauss–Krüger, CM 117°E (Beijing, Nanjing)
NODATA = -99999.0
RTOL = 1e-9
BEIJING_POP = SHARED / "beijing_subdistrict_population" / "beijing_subdistrict_population.gpkg"
WANGJING = SHARED / "beijing_chaoyang_wangjing_osm" / "beijing_chaoyang_wangjing.osm"


def _worldpop(path, west=116.40, north=40.02, res=0.001, shape=(40, 50), crs="EPSG:4326",
              seed=0, nodata_cells=((3, 4), (10, 20), (11, 20)), values=None):
    """A WorldPop-style float32 GeoTIFF: people per cell, nodata -99999."""
    rng = np.random.default_rng(seed)
    data = (rng.gamma(2.0, 20.0, size=shape) if values is None else values).astype("float32")
    for r, c in nodata_cells:
        data[r, c] = NODATA
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
                       dtype="float32", crs=crs, transform=rasterio.Affine(res, 0, west, 0, -res, north),
                       nodata=None if crs is None and values is not None else NODATA) as ds:
        ds.write(data, 1)
    return data


def _cells(path):
    """Every cell of a raster as (row, col, value, polygon in the raster CRS); nodata → 0."""
    with rasterio.open(path) as ds:
        data = ds.read(1).astype(float)
        nod = ds.nodata
        t = ds.transform
        crs = ds.crs
    if nod is not None:
        data[data == nod] = 0.0
    rows, cols = np.indices(data.shape)
    rows, cols = rows.ravel(), cols.ravel()
    x0, y0 = t.c + t.a * cols, t.f + t.e * rows
    x1, y1 = x0 + t.a, y0 + t.e
    polys = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1),
                        np.maximum(y0, y1))
    return rows, cols, data.ravel(), gpd.GeoSeries(polys, crs=crs)


def _expected_in_area(path, area_m, crs=GK):
    """Sum of value × (cell area inside) / (cell area), computed cell by cell in ``crs``."""
    _, _, values, polys = _cells(path)
    polys = polys.to_crs(crs).to_numpy()
    hit = (values > 0) & shapely.intersects(polys, area_m)
    inside = shapely.area(shapely.intersection(polys[hit], area_m)) / shapely.area(polys[hit])
    return float((values[hit] * inside).sum())


def _area_gk():
    """An irregular study area (GK metres) inside the test raster, cutting through cells."""
    to_gk = Transformer.from_crs("EPSG:4326", GK, always_xy=True)
    x0, y0 = to_gk.transform(116.4123, 40.0071)
    x1, y1 = to_gk.transform(116.4371, 39.9953)
    return shapely.Polygon([(x0, y0), (x1, y0 + 150), (x1 - 90, y1), (x0 + 40, y1 - 60)])


def _buildings(points_xy, crs=GK, levels=None, size=20.0, kind="residential"):
    """Square residential building footprints in ``crs`` with OSM-style tags."""
    n = len(points_xy)
    levels = [None] * n if levels is None else levels
    return gpd.GeoDataFrame(
        {"building": [kind] * n, "building:levels": [None if lv is None else str(lv) for lv in levels],
         "height": [None] * n, "name": [f"b{i}" for i in range(n)]},
        geometry=[box(x - size / 2, y - size / 2, x + size / 2, y + size / 2) for x, y in points_xy],
        index=pd.Index([f"w{i}" for i in range(n)], name="osm_id"), crs=crs)


# ----------------------------------------------------------------------------------------
# rasters
# ----------------------------------------------------------------------------------------
def test_raster_other_crs_window_nodata_and_partial_cells(tmp_path, monkeypatch):
    path = tmp_path / "worldpop.tif"
    data = _worldpop(path, shape=(400, 500))  # 0.4° × 0.5°, far larger than the study area
    area = gpd.GeoSeries([_area_gk()], crs=GK)
    windows = []
    read = rasterio.io.DatasetReader.read

    def spy(self, *args, **kwargs):
        windows.append(kwargs.get("window"))
        return read(self, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    d = demand_from_raster(path, area, crs=GK)
    monkeypatch.undo()
    # only the study-area window was read (≈ 25 × 13 cells of 0.001° + margin), not 400 × 500
    assert len(windows) == 1 and windows[0] is not None
    assert windows[0].width <= 30 and windows[0].height <= 20
    assert d.crs.to_string() == GK and (d["kind"] == "cell").all()
    # conservation under the partial-cell rule, checked cell by cell
    expected = _expected_in_area(path, area.iloc[0])
    assert abs(d["population"].sum() - expected) <= RTOL * expected
    assert d["population"].sum() < data[data > 0].sum() / 100  # far from the whole raster
    # nodata cells (10, 20) and (11, 20) lie in the area and hold no one
    assert not d["zone_id"].isin(["r10c20", "r11c20"]).any()
    # fully inside cells keep their value and sit at their reprojected centre
    to_gk = Transformer.from_crs("EPSG:4326", GK, always_xy=True)
    row = d[d["zone_id"] == "r15c25"].iloc[0]
    assert row["population"] == pytest.approx(float(data[15, 25]), rel=1e-6)
    cx, cy = to_gk.transform(116.40 + 25.5 * 0.001, 40.02 - 15.5 * 0.001)
    assert row.geometry.x == pytest.approx(cx, abs=1e-6)
    assert row.geometry.y == pytest.approx(cy, abs=1e-6)
    # every point lies in the study area
    assert d.within(area.iloc[0].buffer(1e-6)).all()


def test_raster_partial_cells_exact_in_the_same_crs(tmp_path):
    """Cells of 100 m in GK; the area covers 2.5 × 3 cells, so the total is known exactly."""
    path = tmp_path / "gk.tif"
    values = np.arange(1, 4 * 5 + 1, dtype="float32").reshape(4, 5)
    with rasterio.open(path, "w", driver="GTiff", width=5, height=4, count=1, dtype="float32",
                       crs=GK, transform=rasterio.Affine(100, 0, 500000, 0, -100, 4430000),
                       nodata=NODATA) as ds:
        ds.write(values, 1)
    area = gpd.GeoSeries([box(500000, 4430000 - 300, 500250, 4430000)], crs=GK)
    d = demand_from_raster(path, area)
    expected = values[:3, :2].sum() + 0.5 * values[:3, 2].sum()
    assert abs(d["population"].sum() - expected) <= RTOL * expected
    half = d[d["zone_id"] == "r1c2"].iloc[0]
    assert half["population"] == pytest.approx(0.5 * values[1, 2], rel=RTOL)
    # the point of a cut cell lies in its part inside the area
    assert 500200 <= half.geometry.x <= 500250


def test_raster_dasymetric_onto_buildings_3857(tmp_path):
    """A Web-Mercator raster split onto GK buildings by floor area; empty cells stay cells."""
    to_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    west, north = to_3857.transform(116.40, 40.02)
    path = tmp_path / "pop3857.tif"
    data = _worldpop(path, west=west, north=north, res=100.0, shape=(30, 30), crs="EPSG:3857",
                     nodata_cells=())
    to_gk = Transformer.from_crs("EPSG:3857", GK, always_xy=True)
    # three buildings in cell (5, 5), one in cell (8, 9)
    pts = [(west + 520, north - 520), (west + 560, north - 560), (west + 580, north - 530),
           (west + 950, north - 850)]
    xy = [to_gk.transform(x, y) for x, y in pts]
    b = _buildings(xy, levels=[6, 3, 12, 4], size=10)
    area = gpd.GeoSeries([box(west + 150, north - 2050, west + 1950, north - 250)],
                         crs="EPSG:3857")
    d = demand_from_raster(path, area, b)
    assert d.crs.to_string() == GK
    assert d.loc[d["kind"] == "building", "osm_id"].tolist() == ["w0", "w1", "w2", "w3"]
    in_cell = d[d["zone_id"] == "r5c5"]
    assert set(in_cell["kind"]) == {"building"}
    assert in_cell["population"].sum() == pytest.approx(float(data[5, 5]), rel=1e-6)
    fa = in_cell["floor_area_m2"].to_numpy()
    assert np.allclose(in_cell["population"] / fa, in_cell["population"].sum() / fa.sum())
    assert in_cell["population"].to_numpy() == pytest.approx(
        float(data[5, 5]) * np.array([6, 3, 12]) / 21, rel=1e-6)
    assert (d[d["zone_id"] == "r8c9"]["kind"] == "building").all()
    assert (d.loc[~d["zone_id"].isin(["r5c5", "r8c9"]), "kind"] == "cell").all()
    # conservation: area is cut through cells on every side (x: 1.5 → 19.5, y: 2.5 → 20.5)
    area_ = gpd.GeoSeries([area.iloc[0]], crs="EPSG:3857").to_crs(GK).iloc[0]
    expected = _expected_in_area(path, area_)
    assert abs(d["population"].sum() - expected) <= RTOL * expected


def test_raster_without_crs(tmp_path):
    path = tmp_path / "nocrs.tif"
    _worldpop(path, crs=None, values=np.full((40, 50), 5.0), nodata_cells=())
    area = box(116.41, 40.0, 116.42, 40.01)
    with pytest.raises(SitingError, match="no CRS"):
        demand_from_raster(path, area, crs=GK)
    d = demand_from_raster(path, area, crs=GK, raster_crs="EPSG:4326")
    assert d["population"].sum() == pytest.approx(5.0 * 100, rel=1e-3)


def test_raster_errors(tmp_path):
    path = tmp_path / "pop.tif"
    _worldpop(path)
    with pytest.raises(SitingError, match="does not overlap"):
        demand_from_raster(path, box(121.4, 31.2, 121.5, 31.3), crs=GK)
    with pytest.warns(UserWarning, match="beyond the raster's extent"):  # raster ends at 116.45
        d = demand_from_raster(path, box(116.44, 39.99, 116.46, 40.0), crs=GK)
    assert d.to_crs(4326).geometry.x.max() < 116.45
    neg = tmp_path / "neg.tif"
    values = np.full((40, 50), 3.0)
    values[20, 20] = -4
    with rasterio.open(neg, "w", driver="GTiff", width=50, height=40, count=1, dtype="float32",
                       crs="EPSG:4326", transform=rasterio.Affine(0.001, 0, 116.40, 0, -0.001, 40.02)) as ds:
        ds.write(values.astype("float32"), 1)
    with pytest.raises(SitingError, match="negative population"):
        demand_from_raster(neg, box(116.41, 39.99, 116.43, 40.01), crs=GK)
    with pytest.raises(SitingError, match="not found"):
        demand_from_raster(tmp_path / "missing.tif", box(116.41, 39.99, 116.43, 40.01), crs=GK)


def test_group_rasters(tmp_path):
    """Per-group rasters replace the shares; the in-area group total is conserved."""
    total = tmp_path / "total.tif"
    _worldpop(total, shape=(40, 50))
    elderly_f, elderly_m = tmp_path / "f60.tif", tmp_path / "m60.tif"
    f = _worldpop(elderly_f, shape=(40, 50), seed=1, values=np.random.default_rng(1).uniform(0, 5, (40, 50)))
    m = _worldpop(elderly_m, shape=(40, 50), seed=2, values=np.random.default_rng(2).uniform(0, 4, (40, 50)))
    area = gpd.GeoSeries([_area_gk()], crs=GK)
    d = demand_from_raster(total, area, crs=GK)
    # split one cell's people over two points to check the proportional rule
    g = add_groups(d, group_rasters={"age_60_plus": [elderly_f, elderly_m]}, area=area)
    expected = _expected_in_area(elderly_f, area.iloc[0]) + _expected_in_area(elderly_m, area.iloc[0])
    assert abs(g["age_60_plus"].sum() - expected) <= RTOL * expected
    row = g[g["zone_id"] == "r15c25"].iloc[0]
    assert row["age_60_plus"] == pytest.approx(float(f[15, 25] + m[15, 25]), rel=1e-6)
    # groups without a raster keep the shares
    assert np.allclose(g["age_0_2"], g["population"] * DEFAULT_AGE_SHARES["age_0_2"])
    # two points in one cell share the cell's group people by population
    two = pd.concat([d[d["zone_id"] == "r15c25"]] * 2, ignore_index=True)
    two["population"] = [10.0, 30.0]
    two = gpd.GeoDataFrame(two, geometry="geometry", crs=GK)
    g2 = add_groups(two, group_rasters={"age_80_plus": elderly_f})
    assert g2["age_80_plus"].tolist() == pytest.approx([f[15, 25] / 4, 3 * f[15, 25] / 4], rel=1e-6)
    with pytest.raises(SitingError, match="unknown group"):
        add_groups(d, group_rasters={"age_90_plus": elderly_f})


# ----------------------------------------------------------------------------------------
# polygons
# ----------------------------------------------------------------------------------------
def _zones():
    """Three polygons in WGS-84 (GK squares of 1 km): A with buildings, B without, C half out."""
    squares = [box(500000, 4430000, 501000, 4431000), box(501000, 4430000, 502000, 4431000),
               box(502000, 4430000, 503000, 4431000)]
    return gpd.GeoDataFrame({"name": ["A", "B", "C"], "population": [12000.0, 3000.0, 8000.0]},
                            geometry=squares, crs=GK).to_crs("EPSG:4326")


def test_polygons_dasymetric_grid_fallback_and_partial(tmp_path):
    zones = _zones()
    path = tmp_path / "zones.geojson"
    zones.to_file(path, driver="GeoJSON")
    b = _buildings([(500300, 4430300), (500700, 4430600), (502100, 4430500), (502800, 4430500)],
                   levels=[10, 30, 5, 5])
    area = gpd.GeoSeries([box(500000, 4430000, 502500, 4431000)], crs=GK)
    d = demand_from_polygons(path, "population", b, area=area, grid_m=100)
    a = d[d["zone_id"] == "A"]  # zone_id = the polygons' `name`
    assert a["kind"].eq("building").all() and len(a) == 2
    assert a["population"].tolist() == pytest.approx([3000.0, 9000.0], rel=1e-9)
    grid = d[d["zone_id"] == "B"]
    assert grid["kind"].eq("grid").all() and len(grid) == 100
    assert np.allclose(grid["population"], 30.0)
    c = d[d["zone_id"] == "C"]  # half inside: 4000 people onto the one building inside
    assert c["osm_id"].tolist() == ["w2"]
    # the input squares were reprojected twice, so shares are checked independently
    sq = zones.to_crs(GK).geometry
    expected = float((zones["population"] * sq.intersection(area.iloc[0]).area / sq.area).sum())
    assert c["population"].sum() == pytest.approx(8000 * sq.iloc[2].intersection(area.iloc[0]).area
                                                  / sq.iloc[2].area, rel=1e-9)
    assert abs(d["population"].sum() - expected) <= RTOL * expected
    # without an area every polygon counts whole
    whole = demand_from_polygons(zones, "population", b, grid_m=250)
    assert abs(whole["population"].sum() - 23000.0) <= RTOL * 23000.0


def test_polygon_bad_input(tmp_path):
    zones = _zones()
    area = gpd.GeoSeries([box(500000, 4430000, 502500, 4431000)], crs=GK)
    with pytest.raises(SitingError, match="no population column 'pop'"):
        demand_from_polygons(zones, "pop", area=area)
    neg = zones.assign(population=[1.0, -5.0, 2.0])
    with pytest.raises(SitingError, match="negative"):
        demand_from_polygons(neg, "population", area=area)
    missing = zones.assign(population=[1.0, None, 2.0])
    with pytest.raises(SitingError, match="missing"):
        demand_from_polygons(missing, "population", area=area)
    # GK metres mislabelled as Web Mercator: the polygons land near the Equator
    wrong = zones.to_crs(GK).set_crs("EPSG:3857", allow_override=True)
    with pytest.raises(SitingError, match="none of the 3 polygons overlaps the study area"):
        demand_from_polygons(wrong, "population", area=area)
    nocrs = zones.set_crs(None, allow_override=True)
    with pytest.raises(SitingError, match="has no CRS"):
        demand_from_polygons(nocrs, "population", area=area)


def test_polygons_gcj02_layer():
    """A layer digitised on Amap (GCJ-02) is converted when population_crs says so."""
    zones = _zones()
    shifted = zones.copy()
    shifted["geometry"] = shapely.transform(
        zones.geometry.to_numpy(), lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    area = gpd.GeoSeries([box(500000, 4430000, 502500, 4431000)], crs=GK)
    ref = demand_from_polygons(zones, area=area, grid_m=200)
    got = demand_from_polygons(shifted, area=area, source_crs="gcj02", grid_m=200)
    assert got["population"].sum() == pytest.approx(ref["population"].sum(), rel=1e-6)
    raw = demand_from_polygons(shifted, area=area, grid_m=200)  # unconverted: ≈ 500 m off
    assert abs(raw["population"].sum() - ref["population"].sum()) > 100


def test_community_layer_messages_name_the_community_layer(tmp_path):
    """A bad community layer is told about itself (no population flag), and a run names
    --communities."""
    demand = gpd.GeoDataFrame({"population": [10.0]}, geometry=[Point(500500, 4430500)], crs=GK)
    nocrs = tmp_path / "comm_nocrs.gpkg"
    gpd.GeoDataFrame({"name": ["社区"]}, geometry=[box(0, 0, 1, 1)]).to_file(nocrs)
    with pytest.raises(SitingError, match="the community layer has no CRS") as err:
        assign_communities(demand, nocrs)
    assert "population" not in str(err.value)
    from siting.config.scenario import make_scenario
    from siting.inputs import validate_inputs

    osm = tmp_path / "x.osm"
    osm.write_text("<osm/>", "utf-8")
    with pytest.raises(SitingError, match=r"^--communities: .*community layer has no CRS"):
        validate_inputs(make_scenario(osm=osm, communities=nocrs))


def test_study_area_in_metres_is_refused():
    """A bare shapely study area is WGS-84 lon/lat; one in metres is told so where it enters."""
    zones = _zones()
    with pytest.raises(SitingError, match="not longitude/latitude degrees"):
        demand_from_polygons(zones, area=box(500000, 4430000, 502500, 4431000))


@pytest.mark.slow
def test_beijing_subdistricts_onto_wangjing_buildings(tmp_path):
    """Real WorldPop subdistrict totals split onto real OSM buildings through `siting run`."""
    osm, pop = shared_file(WANGJING), shared_file(BEIJING_POP)
    out = tmp_path / "wj"
    res = CliRunner().invoke(app, ["run", "--osm", str(osm), "--population", str(pop),
                                   "--out", str(out), "--max-sites", "3",
                                   "--household-size", "2.5"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    # in = Σ subdistrict population × share of its area inside the extract's bounds (GK)
    # the study area is the extract's WGS-84 bounds, densified every _DEGREE_SEGMENT° in GK
    zones = gpd.read_file(pop).to_crs(GK)
    assert s["crs"] == GK
    bounds = box(116.4595, 39.9867, 116.4817, 40.0041)
    for step, rtol in ((_DEGREE_SEGMENT, RTOL), (1e-5, 1e-8)):
        area = gpd.GeoSeries([bounds.segmentize(step)], crs=4326).to_crs(GK).iloc[0]
        share = zones.intersection(area).area / zones.area
        expected = float((zones["population"] * share).sum())
        assert abs(s["total_population"] - expected) <= rtol * expected
    assert share.gt(0).sum() == 4  # 望京, 望京开发, 酒仙桥, 崔各庄
    demand = gpd.read_file(out / "demand.gpkg")
    # each point names its subdistrict (district + name: one name occurs in two districts)
    assert not zones["subdistrict"].is_unique
    inside = set(zones.loc[share.gt(0), "district"] + " " + zones.loc[share.gt(0), "subdistrict"])
    assert set(demand["zone_id"]) <= inside and len(set(demand["zone_id"])) >= 2
    assert any("望京" in z for z in demand["zone_id"])
    assert abs(demand["population"].sum() - s["total_population"]) <= RTOL * s["total_population"]
    assert (demand["kind"] == "building").sum() > 150
    for g in DEMAND_GROUPS:
        assert g in demand and s["population_by_group"][g] == pytest.approx(
            DEFAULT_AGE_SHARES[g] * s["total_population"], rel=1e-9)
    assert s["population_by_group"]["all"] == pytest.approx(s["total_population"], rel=1e-12)
    assert s["households"] == pytest.approx(s["total_population"] / 2.5, rel=1e-9)
    assert demand["community_id"].str.startswith("grid500_").all()
    assert s["communities"] == demand["community_id"].nunique() > 1


# ----------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------
def _compounds(n=30, seed=3):
    rng = np.random.default_rng(seed)
    lon = rng.uniform(116.41, 116.44, n)
    lat = rng.uniform(39.99, 40.01, n)
    return lon, lat, rng.integers(100, 3000, n).astype(float)


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
def test_table_chinese_datums_csv(tmp_path, datum):
    lon, lat, people = _compounds()
    conv = wgs84_to_gcj02 if datum == "gcj02" else wgs84_to_bd09
    glon, glat = conv(lon, lat)
    table = pd.DataFrame({"小区": [f"小区{i}" for i in range(len(lon))], "经度": glon,
                          "纬度": glat, "人口": people})
    path = tmp_path / "compounds.csv"
    table.to_csv(path, index=False, encoding="gb18030")
    area = box(116.41, 39.99, 116.43, 40.01)  # about two thirds of the compounds
    d = demand_from_table(path, crs=datum, area=area, out_crs=GK)
    inside = (lon < 116.43)
    assert len(d) == inside.sum() and (d["kind"] == "point").all()
    assert abs(d["population"].sum() - people[inside].sum()) <= RTOL * people[inside].sum()
    back = d.to_crs("EPSG:4326")
    assert np.allclose(back.geometry.x, lon[inside], atol=1e-7)
    assert np.allclose(back.geometry.y, lat[inside], atol=1e-7)
    assert d["name"].iloc[0].startswith("小区")


def test_table_excel_households_only(tmp_path):
    lon, lat, people = _compounds()
    hh = np.round(people / 3)
    path = tmp_path / "compounds.xlsx"
    pd.DataFrame({"name": range(len(lon)), "lng": lon, "lat": lat, "households": hh}).to_excel(
        path, index=False)
    d = demand_from_table(path, household_size=2.5)
    assert d["population"].sum() == pytest.approx(hh.sum() * 2.5, rel=RTOL)
    g = add_groups(d, household_size=3.0)  # the table's households are kept
    assert g["households"].sum() == pytest.approx(hh.sum(), rel=RTOL)


def test_table_bad_input(tmp_path):
    lon, lat, people = _compounds()
    path = tmp_path / "t.csv"
    pd.DataFrame({"lon": lon, "lat": lat, "population": people}).to_csv(path, index=False)
    with pytest.raises(SitingError, match="Unknown coordinate system 'wgs85'"):
        demand_from_table(path, crs="wgs85")
    with pytest.raises(SitingError, match="no population or households column"):
        demand_from_table(pd.DataFrame({"lon": lon, "lat": lat}))
    bad = pd.DataFrame({"lon": lon, "lat": lat, "population": -people})
    with pytest.raises(SitingError, match="negative"):
        demand_from_table(bad)
    with pytest.raises(SitingError, match="none of the 30 points lies in the study area"):
        demand_from_table(path, area=box(121.4, 31.2, 121.5, 31.3))
    swapped = pd.DataFrame({"lon": lat, "lat": lon, "population": people})
    with pytest.raises(SitingError, match="invalid coordinates"):
        demand_from_table(swapped, crs="gcj02")
    with pytest.raises(SitingError, match="no longitude column 'x_wgs'"):
        demand_from_table(path, lon="x_wgs")


# ----------------------------------------------------------------------------------------
# detection
# ----------------------------------------------------------------------------------------
def test_load_population_detects_the_kind(tmp_path):
    area = box(116.41, 39.99, 116.43, 40.01)
    tif = tmp_path / "p.tif"
    _worldpop(tif)
    assert set(load_population(tif, area, crs=GK)["kind"]) == {"cell"}
    lon, lat, people = _compounds()
    csv = tmp_path / "p.csv"
    pd.DataFrame({"lon": lon, "lat": lat, "population": people}).to_csv(csv, index=False)
    assert set(load_population(csv, area, crs=GK)["kind"]) == {"point"}
    pts = tmp_path / "p.gpkg"
    gpd.GeoDataFrame({"pop": people}, geometry=gpd.points_from_xy(lon, lat),
                     crs=4326).to_file(pts)
    got = load_population(pts, area, column="pop", crs=GK)
    assert set(got["kind"]) == {"point"}
    assert got["population"].sum() == pytest.approx(people[lon < 116.43].sum(), rel=RTOL)
    zone_area = gpd.GeoSeries([box(500000, 4430000, 502500, 4431000)], crs=GK)
    totals = []
    for name in ("zones.gpkg", "zones.shp", "zones.geojson", "zones.parquet"):
        if name.endswith(".parquet"):
            pytest.importorskip("pyarrow")
            _zones().to_parquet(tmp_path / name)
        else:
            _zones().to_file(tmp_path / name)
        got = load_population(tmp_path / name, zone_area, crs=GK)
        assert set(got["kind"]) == {"grid"}
        totals.append(got["population"].sum())
    assert totals == pytest.approx([12000 + 3000 + 4000] * 4, rel=1e-6)
    with pytest.raises(SitingError, match="not found"):
        load_population(tmp_path / "nope.gpkg", area)


# ----------------------------------------------------------------------------------------
# groups, households, communities
# ----------------------------------------------------------------------------------------
def _points(n=6):
    return gpd.GeoDataFrame({"demand_id": range(n), "population": np.arange(1.0, n + 1) * 100},
                            geometry=[Point(500100 + 400 * i, 4430100 + 150 * i) for i in range(n)],
                            crs=GK)


def test_groups_and_households_defaults_and_overrides():
    d = add_groups(_points())
    for g in DEMAND_GROUPS:
        assert d[g].dtype == float
        assert np.allclose(d[g], d["population"] * DEFAULT_AGE_SHARES[g])
    assert np.allclose(d["households"], d["population"] / 2.62)
    o = add_groups(_points(), {"age_60_plus": 0.25, "age_65_plus": 0.2}, household_size=3.0)
    assert np.allclose(o["age_60_plus"], o["population"] * 0.25)
    assert np.allclose(o["age_80_plus"], o["population"] * DEFAULT_AGE_SHARES["age_80_plus"])
    assert np.allclose(o["households"], o["population"] / 3.0)


def test_age_share_rules():
    assert check_age_shares() == DEFAULT_AGE_SHARES
    # 0.3 + 0.037 + 0.111 + 0.6 > 1 over the disjoint groups
    with pytest.raises(SitingError, match="disjoint groups sum to 1.048 > 1"):
        check_age_shares({"age_0_2": 0.3, "age_60_plus": 0.6})
    # nested groups are not summed: 60+ 0.5, 65+ 0.4, 80+ 0.3 is fine
    check_age_shares({"age_60_plus": 0.5, "age_65_plus": 0.4, "age_80_plus": 0.3})
    with pytest.raises(SitingError, match="age_65_plus = 0.2 exceeds age_60_plus = 0.15"):
        check_age_shares({"age_60_plus": 0.15, "age_65_plus": 0.2})
    with pytest.raises(SitingError, match="unknown age group 'age_0_3'"):
        check_age_shares({"age_0_3": 0.03})
    with pytest.raises(SitingError, match=r"in \[0, 1\]"):
        check_age_shares({"age_60_plus": 18.7})
    with pytest.raises(SitingError, match="household_size"):
        add_groups(_points(), household_size=0)


def test_communities_layer_and_fallback(tmp_path):
    d = _points()
    comm = gpd.GeoDataFrame(
        {"社区代码": ["110105001", "110105002"], "社区名称": ["望京西园", "花家地"]},
        geometry=[box(500000, 4430000, 501000, 4431000), box(501000, 4430000, 502000, 4431000)],
        crs=GK).to_crs(4326)
    path = tmp_path / "comm.gpkg"
    comm.to_file(path)
    with pytest.warns(UserWarning, match="outside every community"):
        c = assign_communities(d, path)
    assert c["community_id"].tolist() == ["110105001"] * 3 + ["110105002"] * 3
    assert c["community_name"].iloc[0] == "望京西园"
    assert c["community_match"].tolist() == ["within"] * 5 + ["nearest"]
    assert c["community_id"].iloc[5] == "110105002"  # nearest to the point beyond the layer
    with pytest.warns(UserWarning, match="500 m planning cells"):
        g = assign_communities(d)
    assert g["community_id"].iloc[0] == "grid500_E500_N4430"
    assert (g["community_match"] == "grid").all() and g["community_id"].nunique() == 5
    far = comm.to_crs(GK).translate(0, -50000).set_crs(GK, allow_override=True)
    with pytest.raises(SitingError, match="no demand point lies in any of the 2 communities"):
        assign_communities(d, gpd.GeoDataFrame(comm.drop(columns="geometry"), geometry=far))


def test_buildings_demand_unchanged_by_groups(helsinki_osm):
    """The buildings-only path keeps its totals; groups and households add up."""
    from siting.io.osm import read_osm

    ext = read_osm(helsinki_osm)
    area = ext.study_area()
    b = ext.buildings[ext.buildings.representative_point().within(area)].to_crs("EPSG:32635")
    d = demand_from_buildings(b, ext.landuse.to_crs("EPSG:32635"))
    g = add_groups(d)
    assert g["population"].sum() == d["population"].sum()
    assert g["households"].sum() == pytest.approx(d["population"].sum() / 2.62, rel=1e-12)


# ----------------------------------------------------------------------------------------
# CLI and scenario
# ----------------------------------------------------------------------------------------
def test_cli_raster_population_end_to_end(helsinki_osm, tmp_path):
    """GeoTIFFs in EPSG:3857 over the Helsinki sample, through a scenario file and flags."""
    to_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    west, north = to_3857.transform(24.930, 60.182)
    _worldpop(tmp_path / "hel.tif", west=west, north=north, res=100.0, shape=(40, 30),
              crs="EPSG:3857", nodata_cells=((10, 10),))
    old = _worldpop(tmp_path / "hel_80.tif", west=west, north=north, res=100.0, shape=(40, 30),
                    crs="EPSG:3857", nodata_cells=(), values=np.full((40, 30), 2.0))
    gpd.GeoDataFrame({"id": ["N", "S"], "name": ["north", "south"]},
                     geometry=[box(24.93, 60.1716, 24.96, 60.18), box(24.93, 60.16, 24.96, 60.1716)],
                     crs=4326).to_file(tmp_path / "comm.geojson", driver="GeoJSON")
    toml = tmp_path / "hel.toml"
    toml.write_text(textwrap.dedent(f"""\
        osm = "{helsinki_osm}"
        population = "hel.tif"
        communities = "comm.geojson"
        max_sites = 2
        age_shares = {{ age_0_2 = 0.02, age_60_plus = 0.25 }}
        group_rasters = {{ age_80_plus = "hel_80.tif" }}
        """), encoding="utf-8")
    out = tmp_path / "hel"
    res = CliRunner().invoke(app, ["run", str(toml), "--out", str(out), "--household-size", "2.0"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["crs"] == "EPSG:32635"
    bounds = box(24.9351762, 60.164155, 24.9534145, 60.179113)
    area = gpd.GeoSeries([bounds.segmentize(_DEGREE_SEGMENT)], crs=4326).to_crs(s["crs"]).iloc[0]
    expected = _expected_in_area(tmp_path / "hel.tif", area, s["crs"])
    assert abs(s["total_population"] - expected) <= RTOL * expected
    by_group = s["population_by_group"]
    assert by_group["age_0_2"] == pytest.approx(0.02 * s["total_population"], rel=1e-12)
    assert by_group["age_60_plus"] == pytest.approx(0.25 * s["total_population"], rel=1e-12)
    expected_80 = _expected_in_area(tmp_path / "hel_80.tif", area, s["crs"])
    assert abs(by_group["age_80_plus"] - expected_80) <= RTOL * expected_80
    # 100 Mercator units ≈ 100 × cos 60° = 50 m on the ground at Helsinki
    assert expected_80 == pytest.approx(2.0 * area.area / 50 ** 2, rel=0.02)
    assert old.sum() > 1.5 * expected_80  # cells outside the study area left out
    assert s["households"] == pytest.approx(s["total_population"] / 2.0, rel=1e-12)
    demand = gpd.read_file(out / "demand.gpkg")
    assert set(demand["community_id"]) == {"N", "S"} and s["communities"] == 2
    assert set(demand["kind"]) == {"building", "cell"}
    assert abs(demand["population"].sum() - s["total_population"]) <= RTOL * s["total_population"]
    assert {*DEMAND_GROUPS, "households", "community_name"} <= set(demand.columns)
    # the same group raster by flag; a group given twice is summed
    out2 = tmp_path / "hel2"
    res = CliRunner().invoke(app, [
        "run", "--osm", str(helsinki_osm), "--population", str(tmp_path / "hel.tif"),
        "--max-sites", "1", "--group-raster", f"age_80_plus={tmp_path / 'hel_80.tif'}",
        "--group-raster", f"age_0_2={tmp_path / 'hel_80.tif'}",
        "--group-raster", f"age_0_2={tmp_path / 'hel_80.tif'}", "--out", str(out2)])
    assert res.exit_code == 0, res.output
    by_group2 = json.loads((out2 / "summary.json").read_text())["population_by_group"]
    assert by_group2["age_80_plus"] == pytest.approx(by_group["age_80_plus"], rel=1e-9)
    assert by_group2["age_0_2"] == pytest.approx(2 * by_group["age_80_plus"], rel=1e-9)
    bad = CliRunner().invoke(app, ["run", "--osm", str(helsinki_osm), "--out",
                                   str(tmp_path / "o3"), "--group-raster", "age_80_plus"])
    assert bad.exit_code == 2 and "GROUP=PATH" in bad.output
    assert not (tmp_path / "o3").exists()


def test_cli_and_scenario_bad_shares(tmp_path, helsinki_osm):
    r = CliRunner().invoke(app, ["run", "--osm", str(helsinki_osm), "--out", str(tmp_path / "o"),
                                 "--age-shares", "age_0_2:0.03"])
    assert r.exit_code == 2 and "GROUP=SHARE" in r.output
    toml = tmp_path / "s.toml"
    toml.write_text(f'osm = "{helsinki_osm}"\n[age_shares]\nage_0_2 = 0.5\nage_60_plus = 0.6\n')
    r = CliRunner().invoke(app, ["run", str(toml), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "sum to 1.248 > 1" in r.output
    assert not (tmp_path / "o").exists()
