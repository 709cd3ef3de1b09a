"""Candidate sites: policy data, OSM stock, inventories, exclusions and existing facilities."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box
from typer.testing import CliRunner

from siting.buildings import classify
from siting.candidates import COLUMNS
from siting.cli import app
from siting.config.scenario import make_scenario
from siting.config.site_policy import MODES, load_site_policy
from siting.costs import price
from siting.errors import SitingError
from siting.inventory import read_existing, read_inventory
from siting.io.coords import wgs84_to_bd09, wgs84_to_gcj02
from siting.io.osm import read_osm
from siting.pipeline import run
from siting.sites import (
    apply_exclusions,
    candidates_from_buildings,
    read_exclusions,
    site_candidates,
)
from tests.conftest import SHARED, shared_file

CRS = "EPSG:4549"  # CGCS2000 / 3-degree GK CM 120E, the pipeline's choice for Nanjing


@pytest.fixture(scope="module")
def nanjing(nanjing_osm):
    ext = read_osm(nanjing_osm)
    return ext.buildings.to_crs(CRS), ext.landuse.to_crs(CRS), ext.study_area()


@pytest.fixture(scope="module")
def nanjing_candidates(nanjing):
    b, lu, area = nanjing
    return site_candidates(b, lu, area, CRS)


# --------------------------------------------------------------------------
# policy data
# --------------------------------------------------------------------------
def test_policy_numbers_have_a_source_or_are_placeholders():
    text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")
    data = tomllib.loads(text)
    assert "sites" in data  # this stage's table; services and standards are tested in test_policy
    table, placeholder_tables, undocumented = "", set(), []
    for line in text.splitlines():
        head = re.match(r"^\[([^\]]+)\]", line)
        if head:
            table = head.group(1)
            continue
        if not table.startswith("sites"):
            continue
        if re.match(r"^placeholder\s*=\s*true", line):
            placeholder_tables.add(table)
        elif re.match(r"^[\w\"]+\s*=\s*-?[\d.]+", line) and "#" not in line:
            if not any(table == t or table.startswith(t + ".") for t in placeholder_tables):
                undocumented.append(f"[{table}] {line}")
    assert not undocumented, undocumented
    policy = load_site_policy()
    assert set(MODES) <= set(policy["costs"])
    assert policy["costs"]["placeholder"] and policy["class_defaults"]["placeholder"]


def test_policy_file_override_changes_classes_and_costs(tmp_path, nanjing):
    b, lu, area = nanjing
    policy = load_site_policy()
    text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")
    custom = tmp_path / "city.toml"
    custom.write_text(text.replace('office = "office"\n', 'office = "community"\n', 1)
                      .replace("one_off_per_m2 = 1500.0", "one_off_per_m2 = 1.0"), "utf-8")
    mine = load_site_policy(custom)
    before = classify(b, lu, policy["classes"])
    after = classify(b, lu, mine["classes"])
    offices = b["building"].eq("office")
    assert offices.sum() > 0 and (before[offices] == "office").all()
    assert (after[offices] == "community").all()
    assert after[~offices].equals(before[~offices])
    c = candidates_from_buildings(b, lu, policy=mine)
    lease = c["acquisition_mode"].eq("lease")
    area_m2 = c.loc[lease, "usable_area_m2"].clip(upper=mine["cost_area_cap_m2"])
    assert np.allclose(c.loc[lease, "cost"], area_m2 * 1.0)


def test_one_cost_horizon_for_sites_and_embedded_model(tmp_path):
    from siting.config.policy import load_policy

    text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")
    assert load_site_policy()["costs"]["horizon_years"] == load_policy().costs.horizon_years
    custom = tmp_path / "city.toml"
    custom.write_text(re.sub(r"horizon_years = [\d.]+", "horizon_years = 3.0", text), "utf-8")
    mine = load_site_policy(custom)
    assert mine["costs"]["horizon_years"] == 3.0 == load_policy(custom).costs.horizon_years
    out = price([100.0], ["lease"], mine)
    assert out["cost_total"][0] == out["cost"][0] + 3.0 * out["annual_cost"][0] > 0
    old = tmp_path / "old.toml"
    old.write_text(text.replace("[sites.costs]\n", "[sites.costs]\nhorizon_years = 5\n"), "utf-8")
    with pytest.raises(SitingError, match=r"set horizon_years in \[costs\]"):
        load_site_policy(old)


@pytest.mark.parametrize("body, message", [
    ("[other]\nx = 1\n", "no [sites] table"),
    ("[sites]\nmin_floor_area_m2 = 1\n", "lacks 'classes'"),
    ("[sites\n", "not valid TOML"),
])
def test_bad_policy_file(tmp_path, body, message):
    p = tmp_path / "p.toml"
    p.write_text(body)
    with pytest.raises(SitingError, match=re.escape(message)):
        load_site_policy(p)


def test_price_caps_area_and_given_costs_win():
    policy = load_site_policy()
    cap = policy["cost_area_cap_m2"]
    horizon = policy["costs"]["horizon_years"]
    lease = policy["costs"]["lease"]
    out = price([500.0, 50_000.0, 500.0], ["lease", "lease", "renovate"], policy,
                cost=[np.nan, np.nan, 7.0], annual_cost=[np.nan, 3.0, np.nan])
    assert out["cost"].tolist() == [500 * lease["one_off_per_m2"], cap * lease["one_off_per_m2"], 7.0]
    assert out["annual_cost"].tolist() == [500 * lease["annual_per_m2"], 3.0, 0.0]
    assert np.allclose(out["cost_total"], out["cost"] + horizon * out["annual_cost"])


# --------------------------------------------------------------------------
# OSM candidates on the Nanjing extract
# --------------------------------------------------------------------------
def test_nanjing_candidate_table_by_class(nanjing, nanjing_candidates):
    b, lu, _ = nanjing
    c = nanjing_candidates
    policy = load_site_policy()
    assert list(c.columns) == [*COLUMNS, "geometry"] and c.crs == CRS
    assert c["site_id"].tolist() == list(range(len(c)))
    assert c["source_id"].is_unique and set(c["source"]) == {"osm"}
    table = c.groupby("kind").agg(
        n=("site_id", "size"), floor_area_m2=("floor_area_m2", "sum"),
        estimated=("levels_estimated", "sum"), excluded=("excluded_reason", "count"))
    print("\n" + table.to_string())
    assert {"commercial", "office"} <= set(table.index)
    # gross floor area = footprint × storeys; estimated storeys are the class default
    foot = b.loc[c["source_id"], "geometry"].area.to_numpy()
    est = c["levels_estimated"].to_numpy()
    levels = c["kind"].map(lambda k: policy["class_defaults"][k]["levels"]).to_numpy()
    assert est.any() and (~est).any()
    assert np.allclose(c["floor_area_m2"].to_numpy()[est], foot[est] * levels[est])
    tagged = b.loc[c["source_id"][~est], "building:levels"].astype(float).to_numpy()
    has_levels = ~np.isnan(tagged)
    assert np.allclose(c["floor_area_m2"].to_numpy()[~est][has_levels],
                       foot[~est][has_levels] * tagged[has_levels])
    ratio = c["kind"].map(lambda k: policy["class_defaults"][k]["usable_ratio"])
    assert np.allclose(c["usable_area_m2"], c["floor_area_m2"] * ratio)
    small = c["floor_area_m2"] < policy["min_floor_area_m2"]
    assert c.loc[small, "excluded_reason"].str.contains("below the minimum").all()
    assert c.loc[~small, "excluded_reason"].isna().all()


@pytest.mark.parametrize("form", ["gpkg", "parquet", "gcj02", "bd09"])
def test_exclusion_layer_reads_like_population(tmp_path, nanjing, nanjing_candidates, form):
    """An exclusion layer is read by the population layers' reader: GeoParquet, and
    polygons digitised on Amap (GCJ-02) or Baidu (BD-09) maps, exclude the same sites."""
    c = nanjing_candidates
    wgs = c.to_crs("EPSG:4326")
    x0, y0 = wgs.geometry.x.median(), wgs.geometry.y.median()
    square = box(x0 - 0.002, y0 - 0.002, x0 + 0.002, y0 + 0.002)
    zone = gpd.GeoDataFrame({"原因": ["施工"]}, geometry=[square], crs="EPSG:4326")
    crs = None
    if form == "parquet":
        pytest.importorskip("pyarrow")
        path = tmp_path / "zones.parquet"
        zone.to_parquet(path)
    else:
        path = tmp_path / "zones.gpkg"
        if form in ("gcj02", "bd09"):
            to = wgs84_to_gcj02 if form == "gcj02" else wgs84_to_bd09
            zone = zone.assign(geometry=shapely.transform(
                zone.geometry.to_numpy(), lambda xy: np.column_stack(to(xy[:, 0], xy[:, 1]))))
            crs = form
        zone.to_file(path)
    zones = read_exclusions(path, crs=crs)
    assert zones.crs == "EPSG:4326"
    assert zones.geometry.iloc[0].hausdorff_distance(square) < 1e-9  # degrees: back in WGS-84
    inside = wgs.within(square).to_numpy() & c["excluded_reason"].isna().to_numpy()
    out = apply_exclusions(c, zones)
    assert inside.sum() > 0
    assert (out.loc[inside, "excluded_reason"] == "in exclusion zone: 施工").all()
    assert out["excluded_reason"].notna().sum() == c["excluded_reason"].notna().sum() \
        + inside.sum()
    if form == "gcj02":  # the same through the candidate stage
        b, lu, area = nanjing
        run = site_candidates(b, lu, area, CRS, exclude=path, exclude_crs=crs)
        assert run["excluded_reason"].eq("in exclusion zone: 施工").sum() == inside.sum()


def test_study_area_in_metres_is_refused(tmp_path, nanjing):
    """A bare shapely study area is WGS-84 lon/lat; one in metres is told so where it enters."""
    buildings, landuse, area = nanjing
    metres = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(CRS).iloc[0]
    with pytest.raises(SitingError, match="not longitude/latitude degrees"):
        site_candidates(buildings, landuse, metres, CRS)
    inv = tmp_path / "inv.csv"
    inv.write_text("id,lon,lat,floor_area\n1,118.78,32.04,800\n", "utf-8")
    with pytest.raises(SitingError, match="not longitude/latitude degrees"):
        read_inventory(inv, study_area=metres)


def test_exclusion_polygon_reports_reason(tmp_path, nanjing_candidates):
    c = nanjing_candidates
    wgs = c.to_crs("EPSG:4326")
    x0, y0 = wgs.geometry.x.median(), wgs.geometry.y.median()
    zone = box(x0 - 0.002, y0 - 0.002, x0 + 0.002, y0 + 0.002)
    path = tmp_path / "zones.gpkg"
    gpd.GeoDataFrame({"原因": ["地铁施工安全缓冲区"]}, geometry=[zone], crs="EPSG:4326").to_file(path)
    out = apply_exclusions(c, read_exclusions(path))
    inside = wgs.within(zone).to_numpy() & c["excluded_reason"].isna().to_numpy()
    print(f"\n{inside.sum()} of {len(c)} candidates excluded by the test polygon")
    assert 0 < inside.sum() < len(c)
    assert (out.loc[inside, "excluded_reason"] == "in exclusion zone: 地铁施工安全缓冲区").all()
    assert out.loc[~inside, "excluded_reason"].equals(c.loc[~inside, "excluded_reason"])
    assert len(out) == len(c)  # reported, not dropped


def test_brownfield_land_is_a_new_build_candidate():
    crs = CRS
    buildings = gpd.GeoDataFrame({"building": ["office"], "name": ["A"]},
                                 geometry=[box(0, 0, 20, 20)], crs=crs)
    landuse = gpd.GeoDataFrame({"landuse": ["brownfield", "brownfield", "grass"],
                                "name": ["empty", "built", None]},
                               geometry=[box(100, 0, 140, 50), box(-5, -5, 30, 30),
                                         box(200, 0, 300, 100)], crs=crs)
    policy = load_site_policy()
    c = candidates_from_buildings(buildings, landuse, policy=policy)
    bf = c[c["kind"].eq("brownfield")]
    d = policy["class_defaults"]["brownfield"]
    assert bf["name"].tolist() == ["empty"]  # the parcel with a building on it is not free land
    assert bf["acquisition_mode"].tolist() == ["new_build"]
    assert bf["floor_area_m2"].iloc[0] == pytest.approx(min(2000 * d["plot_ratio"],
                                                            d["max_floor_area_m2"]))


# --------------------------------------------------------------------------
# inventories
# --------------------------------------------------------------------------
def _inventory_rows(nanjing_candidates, n=12):
    c = nanjing_candidates[nanjing_candidates["excluded_reason"].isna()].head(n)
    wgs = c.to_crs("EPSG:4326")
    modes = ["改造", "租赁", "置换", "新建"]
    return wgs, pd.DataFrame({
        "编号": [f"NJ-{i:03d}" for i in range(len(c))],
        "名称": [f"{n or '无名'}（清查）" for n in c["name"]],
        "经度": wgs.geometry.x.to_numpy(), "纬度": wgs.geometry.y.to_numpy(),
        "建筑面积（平方米）": c["floor_area_m2"].round(1).to_numpy(),
        "类型": c["kind"].to_numpy(),
        "权属": ["区国资委"] * len(c),
        "取得方式": [modes[i % 4] for i in range(len(c))],
        "楼层": [1 + i % 3 for i in range(len(c))],
        "可用年份": [2026 + i % 2 for i in range(len(c))],
    })


def test_excel_chinese_headers_gcj02_lands_within_a_metre(tmp_path, nanjing, nanjing_candidates):
    _, _, area = nanjing
    wgs, rows = _inventory_rows(nanjing_candidates)
    gx, gy = wgs84_to_gcj02(rows["经度"].to_numpy(), rows["纬度"].to_numpy())
    path = tmp_path / "清查.xlsx"
    rows.assign(经度=gx, 纬度=gy).to_excel(path, index=False)
    before = path.read_bytes()
    inv = read_inventory(path, "gcj02", study_area=area)
    assert path.read_bytes() == before  # the user's file is never touched
    err = inv.to_crs(CRS).distance(wgs.to_crs(CRS), align=False).to_numpy()
    raw_offset = gpd.GeoSeries(gpd.points_from_xy(gx, gy), crs="EPSG:4326").to_crs(CRS).distance(
        wgs.to_crs(CRS), align=False).to_numpy()
    print(f"\nGCJ-02 Excel inventory: max {err.max():.2e} m from the WGS84 sites "
          f"(unconverted: {raw_offset.min():.0f}–{raw_offset.max():.0f} m)")
    assert err.max() < 1.0 and raw_offset.min() > 100
    assert inv["acquisition_mode"].tolist()[:4] == ["renovate", "lease", "transfer", "new_build"]
    assert inv["source_id"].tolist() == rows["编号"].tolist()
    assert inv["source"].eq("inventory").all() and not inv["existing"].any()
    assert inv["ground_floor"].tolist() == rows["楼层"].astype(float).tolist()
    assert inv["year_available"].tolist() == rows["可用年份"].astype(float).tolist()
    assert inv["ownership"].eq("区国资委").all() and not inv["levels_estimated"].any()
    # the same sites as an English-header CSV in BD-09 give the same table
    bx, by = wgs84_to_bd09(rows["经度"].to_numpy(), rows["纬度"].to_numpy())
    english = rows.rename(columns={"编号": "id", "名称": "name", "经度": "lng", "纬度": "lat",
                                   "建筑面积（平方米）": "floor_area (m2)", "类型": "class",
                                   "权属": "ownership", "取得方式": "acquisition_mode",
                                   "楼层": "floor", "可用年份": "year_available"})
    csv = tmp_path / "inventory.csv"
    english.assign(lng=bx, lat=by).to_csv(csv, index=False)
    inv2 = read_inventory(csv, "bd09", study_area=area)
    assert inv2.to_crs(CRS).distance(inv.to_crs(CRS), align=False).max() < 1.0
    pd.testing.assert_frame_equal(inv2.drop(columns="geometry"), inv.drop(columns="geometry"))


def test_geopackage_inventory_in_a_projected_crs(tmp_path, nanjing, nanjing_candidates):
    _, _, area = nanjing
    wgs, rows = _inventory_rows(nanjing_candidates, n=5)
    path = tmp_path / "inv.gpkg"
    gpd.GeoDataFrame(rows.drop(columns=["经度", "纬度"]), geometry=wgs.to_crs(CRS).geometry.to_numpy(),
                     crs=CRS).to_file(path)
    inv = read_inventory(path, study_area=area)
    assert inv.crs.to_epsg() == 4326 and len(inv) == 5
    assert inv.to_crs(CRS).distance(wgs.to_crs(CRS), align=False).max() < 1e-3
    assert inv["floor_area_m2"].tolist() == rows["建筑面积（平方米）"].tolist()


def test_inventory_defaults_for_missing_optional_fields(tmp_path):
    path = tmp_path / "min.csv"
    path.write_text("lon,lat,floor_area\n118.78,32.04,800\n118.781,32.041,400\n", "utf-8")
    inv = read_inventory(path)
    policy = load_site_policy()
    d = policy["class_defaults"][policy["default_class"]]
    assert inv["source_id"].tolist() == ["1", "2"] and inv["name"].isna().all()
    assert inv["kind"].eq(policy["default_class"]).all()
    assert inv["acquisition_mode"].eq(d["acquisition_mode"]).all()
    assert np.allclose(inv["usable_area_m2"], [800 * d["usable_ratio"], 400 * d["usable_ratio"]])
    assert inv["ground_floor"].isna().all() and inv["year_available"].isna().all()
    assert (inv["cost_total"] > 0).all()
    assert inv["level"].isna().all()
    # 层级: an existing facility's level, as written (the model checks it against the policy)
    path.write_text("经度,纬度,建筑面积,现有,服务,层级\n118.78,32.04,800,是,meal_assist,社区级 \n",
                    "utf-8")
    assert read_inventory(path)["level"].tolist() == ["社区级"]


def test_inventory_and_population_tables_share_one_reader(tmp_path):
    """An inventory reads the files a population table reads: a GB18030 .txt with
    semicolons and unit-bracketed headers, ids kept as written."""
    from siting.demand import demand_from_table

    path = tmp_path / "inv.txt"
    path.write_bytes("编号;名称;经度;纬度;建筑面积（m²）;人口（人）\n"
                     "007;社区用房;118.78;32.04;800;1200\n".encode("gb18030"))
    inv = read_inventory(path)
    assert inv["source_id"].tolist() == ["007"] and inv["floor_area_m2"].tolist() == [800.0]
    pop = demand_from_table(path, out_crs=CRS)
    assert pop["population"].tolist() == [1200.0] and pop["name"].tolist() == ["社区用房"]


def _write(tmp_path, header, *rows, name="inv.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", "utf-8")
    return path


HEAD = "编号,名称,经度,纬度,建筑面积,取得方式"


@pytest.mark.parametrize("rows, message", [
    (["1,a,118.78,32.04,500,改造", "2,b,118.78,32.04,500,出售"],
     "row 3, column '取得方式': unknown acquisition mode '出售'"),
    (["1,a,118.78,32.04,500,改造", "2,b,118.78,32.04,-120,租赁"],
     "row 3, column '建筑面积': floor area -120 m² is not positive"),
    (["1,a,32.04,118.78,500,改造"], "row 2: lon 32.04, lat 118.78: lat and lon look swapped"),
    (["1,a,118.78,32.04,500,改造", "7,b,118.78,32.04,500,改造", "7,c,118.78,32.04,500,改造"],
     "id '7' appears in row 3 and row 4"),
    (["1,a,384331,3547312,500,改造"], "not lon/lat degrees (projected metres?)"),
    (["1,a,118.78,32.04,,改造"], "row 2, column '建筑面积': floor area is missing"),
    (["1,a,118.78,abc,500,改造"], "row 2, column '纬度': 'abc' is not a number"),
])
def test_bad_inventory_names_row_and_column(tmp_path, rows, message):
    with pytest.raises(SitingError, match=re.escape(message)):
        read_inventory(_write(tmp_path, HEAD, *rows))


def test_inventory_without_floor_area_column(tmp_path):
    with pytest.raises(SitingError, match="no floor-area column; add one headed 建筑面积"):
        read_inventory(_write(tmp_path, "名称,经度,纬度", "a,118.78,32.04"))


def test_inventory_far_from_study_area(tmp_path, nanjing):
    _, _, area = nanjing
    x, y = area.centroid.x, area.centroid.y
    # a Shanghai inventory given for Nanjing: every row ~270 km away
    far = _write(tmp_path, HEAD, "1,a,121.47,31.23,500,改造", "2,b,121.48,31.24,500,改造")
    with pytest.raises(SitingError, match=r"every row lies outside the study area \(nearest 2\d\d"):
        read_inventory(far, study_area=area)
    # one stray row: warned about by row, kept in the table with its reason
    some = _write(tmp_path, HEAD, f"1,a,{x},{y},500,改造", "2,b,121.47,31.23,500,改造",
                  name="some.csv")
    with pytest.warns(UserWarning, match=r"1 rows lie more than 200 m outside .*\(row 3\)"):
        inv = read_inventory(some, study_area=area)
    assert inv["excluded_reason"].isna().tolist() == [True, False]
    assert inv["excluded_reason"].iloc[1].endswith("m outside the study area")
    # lat/lon swapped where both fit in degrees: caught through the study area
    sq = box(10, 20, 11, 21)
    swapped = _write(tmp_path, HEAD, "1,a,20.5,10.5,500,改造", name="sw.csv")
    with pytest.raises(SitingError, match="inside it with lat and lon swapped"):
        read_inventory(swapped, study_area=sq)


def test_bad_crs_names_are_rejected(tmp_path):
    path = _write(tmp_path, HEAD, "1,a,118.78,32.04,500,改造")
    with pytest.raises(SitingError, match="Unknown coordinate system 'gcj03'"):
        read_inventory(path, "gcj03")
    with pytest.raises(SitingError, match="inventory_crs must be wgs84, gcj02 or bd09"):
        make_scenario(osm=path, inventory_crs="web mercator")


# --------------------------------------------------------------------------
# existing facilities
# --------------------------------------------------------------------------
def test_shanghai_poi_health_stations_as_existing():
    path = shared_file(SHARED / "shanghai_poi_amap" / "shanghai_hospital.csv")
    area = box(121.44, 31.20, 121.50, 31.25)  # central Huangpu / Jing'an
    with pytest.warns(UserWarning, match="name no modelled service and are left out: row 2 "
                                         r"上海长征医院 \(not a modelled service: 医院\)"):
        ex = read_existing(path, study_area=area)
    raw = pd.read_csv(path)
    inside = raw[(raw.lon.between(121.44, 121.50)) & (raw.lat.between(31.20, 31.25))]
    # the words of [sites.service_vocabulary] found in these names (hospitals are not)
    expect = inside["name"].str.contains("社区卫生服务|卫生服务站|卫生服务中心|养老|敬老|日间照料|托育"
                                         "|托儿所|老年人日间|助餐|老年食堂|文化活动站")
    print(f"\n{len(ex)} existing facilities in the box, services: "
          f"{ex['existing_services'].value_counts().to_dict()}")
    assert len(ex) == expect.sum() > 5
    assert ex["existing"].all() and ex["source"].eq("existing").all()
    assert ex["existing_services"].str.contains("health_station").sum() >= len(ex) - 3
    assert ex["cost_total"].eq(0).all() and ex.within(area).all()


def test_existing_facility_changes_the_optimum(tmp_path, nanjing_osm):
    base = run(make_scenario(osm=nanjing_osm, max_sites=1))
    first = base.chosen_sites.iloc[0]
    lon, lat = gpd.GeoSeries([first.geometry], crs=base.sites.crs).to_crs("EPSG:4326").iloc[0].coords[0]
    ex = _write(tmp_path, "名称,经度,纬度,服务", f"新街口社区卫生服务站,{lon},{lat},health_station",
                name="existing.csv")
    res = run(make_scenario(osm=nanjing_osm, max_sites=1, existing=ex))
    s, sites, inst = res.summary, res.sites, res.instance
    fixed = np.flatnonzero(sites["existing"])
    new = np.flatnonzero(sites["chosen"] & ~sites["existing"])
    assert s["n_existing_sites"] == 1 and s["n_new_sites_chosen"] == 1 and len(new) == 1
    assert sites.loc[new[0], "source_id"] != first["source_id"]  # no second site where one operates
    assert s["covered_population"] > base.summary["covered_population"]
    # brute force: the best one new site next to the existing one
    best = max(inst.weight[inst.covered_by([*fixed, k])].sum()
               for k in range(inst.n_sites) if k not in fixed)
    assert s["covered_population"] == pytest.approx(best)
    assert s["status"] == "optimal"


def test_cli_inventory_existing_exclude_to_candidates_gpkg(tmp_path, nanjing, nanjing_osm,
                                                           nanjing_candidates):
    _, _, area = nanjing
    wgs, rows = _inventory_rows(nanjing_candidates, n=6)
    gx, gy = wgs84_to_gcj02(rows["经度"].to_numpy(), rows["纬度"].to_numpy())
    inv = tmp_path / "inv.xlsx"
    area_m2 = rows["建筑面积（平方米）"].to_numpy().copy()
    area_m2[0] = 100.0  # below --min-floor-area
    rows.assign(经度=gx, 纬度=gy, **{"建筑面积（平方米）": area_m2}).to_excel(inv, index=False)
    c = area.centroid
    ex = _write(tmp_path, "name,lon,lat", f"某某社区卫生服务中心,{c.x},{c.y}", name="ex.csv")
    zone = box(c.x - 0.003, c.y - 0.003, c.x + 0.003, c.y + 0.003)
    zones = tmp_path / "zones.geojson"
    gpd.GeoDataFrame({"name": ["test zone"]}, geometry=[zone], crs="EPSG:4326").to_file(zones)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [str(a) for a in (
        "run", "--osm", nanjing_osm, "--out", out, "--max-sites", 2, "--inventory", inv,
        "--inventory-crs", "gcj02", "--existing", ex, "--exclude", zones,
        "--min-floor-area", 200, "--plan-year", 2026)])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    cand = gpd.read_file(out / "candidates.gpkg")
    assert cand.crs.to_epsg() == 4326 and set(COLUMNS) - {"site_id"} <= set(cand.columns)
    assert "site_id" not in cand  # the internal row number is never written out
    assert s["n_existing_sites"] == 1 and s["n_new_sites_chosen"] == 2
    assert s["n_candidates_excluded"] == cand["excluded_reason"].notna().sum() > 0
    assert s["n_candidate_sites"] == cand["excluded_reason"].isna().sum()
    assert cand["source"].eq("inventory").sum() == 6
    small = cand[cand["source"].eq("inventory") & (cand["floor_area_m2"] < 200)]
    assert small["excluded_reason"].str.contains("below the minimum 200").all() and len(small) == 1
    # 可用年份 2027 is after --plan-year 2026 (rows 1, 3, 5; row 1 is not small)
    late = cand["excluded_reason"].fillna("").str.contains("available from 2027, after the plan")
    assert sorted(cand.loc[late, "source_id"]) == ["NJ-001", "NJ-003", "NJ-005"]
    # each inventory row lies in an OSM candidate's building: that building is not offered twice
    described = cand["excluded_reason"].fillna("").str.startswith("in the inventory as NJ-")
    assert cand.loc[described, "source"].eq("osm").all()
    ids = cand.loc[described, "excluded_reason"].str.extract(r"(NJ-\d+)")[0]
    assert set(ids) == set(rows["编号"])  # (a row inside nested outlines names each)
    own = nanjing_candidates[nanjing_candidates["excluded_reason"].isna()].head(6)["source_id"]
    assert set(own) <= set(cand.loc[described, "source_id"])
    assert not cand["source_id"].isin(own).to_numpy()[cand["excluded_reason"].isna()].any()
    zoned = cand["excluded_reason"].fillna("").eq("in exclusion zone: test zone")
    assert zoned.sum() > 0 and not cand.loc[zoned, "chosen"].astype(bool).any()
    assert cand.loc[zoned].within(zone.buffer(1e-9)).all()
    existing = cand[cand["existing"].astype(bool)]
    assert len(existing) == 1 and existing["chosen"].astype(bool).all()
    assert existing["existing_services"].iloc[0] == "health_station"
    assert existing.within(zone).all()  # inside the zone, but operating: never excluded
    chosen = gpd.read_file(out / "sites.gpkg")
    assert len(chosen) == 3 and chosen["excluded_reason"].isna().all()


def test_chinese_class_names_take_their_class_defaults(tmp_path):
    path = _write(tmp_path, "名称,经度,纬度,建筑面积,类型",
                  "旧厂房,118.78,32.04,1000,厂房", "底商,118.78,32.04,1000,商业",
                  "某用房,118.78,32.04,1000,文物建筑")
    inv = read_inventory(path)
    d = load_site_policy()["class_defaults"]
    assert inv["kind"].tolist() == ["industrial", "commercial", "文物建筑"]
    assert inv["acquisition_mode"].tolist() == [d["industrial"]["acquisition_mode"],
                                               d["commercial"]["acquisition_mode"],
                                               d["other"]["acquisition_mode"]]
    assert inv["usable_area_m2"].tolist() == [1000 * d["industrial"]["usable_ratio"],
                                             1000 * d["commercial"]["usable_ratio"],
                                             1000 * d["other"]["usable_ratio"]]


def test_cli_bad_inventory_clear_error_and_no_output(tmp_path, helsinki_osm):
    inv = _write(tmp_path, HEAD, "1,a,24.94,60.17,500,出售")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--osm", str(helsinki_osm), "--out", str(out),
                                   "--inventory", str(inv)])
    assert res.exit_code == 2
    assert "inv.csv row 2, column '取得方式': unknown acquisition mode '出售'" in res.output
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
