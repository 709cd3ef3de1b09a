"""The layered map (offline assets, tiers, labels, GCJ-02, escaping) and the report tables."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from siting.cli import app
from siting.errors import SitingError
from siting.io.coords import gcj02_to_wgs84, wgs84_to_gcj02
from siting.report.common import reach_polygons, served_by_tier
from siting.report.i18n import value_label
from siting.report.markup import esc
from siting.report.tables import report_tables, result_html
from siting.report.webmap import make_map, population_cells
from siting.report.write import write_outputs

from report_helpers import XSS, enriched, run_small, with_site_name

CDN = ("https://cdn", "jsdelivr", "cdnjs", "code.jquery", "bootstrapcdn")


@pytest.fixture(scope="module")
def hel(helsinki_osm):
    return run_small(helsinki_osm, max_sites=3)


@pytest.fixture(scope="module")
def nj(nanjing_osm):
    return run_small(nanjing_osm, max_sites=5)


def _html(m) -> str:
    return m.get_root().render()


def _has(html: str, text: str) -> bool:
    """``text`` in the page as HTML or as a JSON string (folium writes layer names as JSON)."""
    return text in html or json.dumps(text)[1:-1] in html


def _markers(html: str) -> np.ndarray:
    """(lat, lon) of every L.marker (chosen and existing sites; demand uses circleMarker)."""
    pts = re.findall(r"L\.marker\(\s*\[([-\d.]+),\s*([-\d.]+)\]", html)
    return np.array(pts, dtype=float)


def test_inline_map_references_no_cdn_and_carries_leaflet(hel):
    html = _html(make_map(hel))
    assert not [c for c in CDN if c in html]
    assert "<script src=" not in html and "<link rel=\"stylesheet\" href=" not in html
    assert "Leaflet 1.9.3" in html                 # leaflet.js banner, same version as folium
    assert "jQuery v3.7.1" in html
    assert "url(data:image/png;base64," in html    # leaflet.css images inlined
    cdn = _html(make_map(hel, assets="cdn"))
    assert "cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in cdn and "code.jquery" in cdn
    assert "bootstrap" not in cdn and "awesome-markers" not in cdn
    assert len(cdn) < len(html) - 100_000


def test_map_layers_english_outside_china(hel):
    html = _html(make_map(hel))
    for name in ("Study area", "Population", "5-min walking reach", "10-min walking reach",
                 "15-min walking reach", "Candidate sites", "Chosen sites", "Uncovered demand",
                 "Legend", "OpenStreetMap", "Light basemap"):
        assert _has(html, name), name
    assert html.count("siting-site siting-generic") == len(hel.solution.chosen)
    assert "Existing facilities" not in html  # the sample has none
    assert ("Communities" in html) == ("community_id" in hel.demand)  # planning-cell fallback
    assert len(_markers(html)) == len(hel.solution.chosen)
    assert "研究范围" in _html(make_map(hel, lang="zh"))


def test_chinese_labels_by_default_in_china(nj):
    html = _html(make_map(nj))
    for name in ("研究范围", "人口分布", "5 分钟步行范围", "候选场所", "选定场所", "未覆盖需求", "图例"):
        assert _has(html, name), name


@pytest.mark.parametrize("kw, message", [
    (dict(lang="fr"), "unknown language 'fr'"),
    (dict(assets="local"), "map assets must be one of"),
    (dict(basemap="google"), "basemap must be one of"),
    (dict(basemap="tianditu"), "needs a key"),
])
def test_bad_map_options(hel, kw, message):
    with pytest.raises(SitingError, match=message):
        make_map(hel, **kw)


def test_tianditu_with_key(hel):
    html = _html(make_map(hel, basemap="tianditu", tianditu_key="abc123"))
    assert "tianditu.gov.cn/vec_w" in html and "tk=abc123" in html


def test_reach_tiers_nested_and_tier_equal_to_threshold_matches(hel):
    tiers = reach_polygons(hel, tiers_min=(5, 10, 15))
    assert len(tiers) == 3 * len(hel.solution.chosen)
    plain = reach_polygons(hel)                     # the instance threshold: 10 min × 60 m/min
    for j, g in tiers.groupby("site_id"):
        a = g.set_index("minutes").geometry
        assert a[5.0].area < a[10.0].area < a[15.0].area
        assert a[10.0].difference(a[5.0]).area == pytest.approx(a[10.0].area - a[5.0].area)
        assert a[15.0].difference(a[10.0]).area == pytest.approx(a[15.0].area - a[10.0].area)
        same = plain.loc[plain["site_id"] == j].geometry.iloc[0]
        assert a[10.0].symmetric_difference(same).area < 0.01 * same.area


def test_served_by_tier_cumulative_and_matches_covered(hel):
    s = served_by_tier(hel)
    assert list(s.columns) == ["served_5min", "served_10min", "served_15min"]
    assert (s["served_5min"] <= s["served_10min"]).all()
    assert (s["served_10min"] <= s["served_15min"]).all()
    chosen = hel.sites.set_index("site_id").loc[s.index]
    # 10 min at 60 m/min is the model's own threshold: same people, same nearest site
    assert np.allclose(s["served_10min"], chosen["covered_population"])
    assert s["served_15min"].sum() <= hel.summary["total_population"]


def test_data_text_escaped_in_html_and_js(hel):
    nasty = XSS + " `${alert(2)}` \\ </script>"
    html = _html(make_map(with_site_name(hel, nasty)))
    assert XSS not in html and "${alert(2)}" not in html and "</script> `" not in html
    assert esc(XSS) in html  # outside a map, esc encodes at once
    assert esc(XSS) == "&#60;img src=x onerror=alert(1)&#62;"


def test_population_cells_keep_totals(hel):
    cells = population_cells(hel)
    assert cells["population"].sum() == pytest.approx(hel.summary["total_population"])
    assert cells.geometry.area.max() == pytest.approx(150.0 ** 2)


def test_amap_frame_moves_data_to_gcj02(nj):
    """Amap tiles are GCJ-02: every layer is shifted by wgs84_to_gcj02 (a few hundred metres
    in Nanjing) and shifting back recovers the WGS-84 positions."""
    chosen = nj.chosen_sites.to_crs("EPSG:4326")
    lon, lat = chosen.geometry.x.to_numpy(), chosen.geometry.y.to_numpy()
    wgs = _markers(_html(make_map(nj)))
    gcj = _markers(_html(make_map(nj, basemap="amap")))
    order = np.argsort(lon)
    assert np.allclose(np.sort(wgs[:, 1]), lon[order], atol=1e-9)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert np.allclose(np.sort(gcj[:, 1]), np.sort(g_lon), atol=1e-9)
    assert np.allclose(np.sort(gcj[:, 0]), np.sort(g_lat), atol=1e-9)
    # the offset itself, in metres, and the round trip
    dx = (g_lon - lon) * 111_320 * np.cos(np.radians(lat))
    dy = (g_lat - lat) * 110_574
    shift = np.hypot(dx, dy)
    assert ((shift > 300) & (shift < 800)).all(), shift
    b_lon, b_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert np.allclose(b_lon, lon, atol=1e-7) and np.allclose(b_lat, lat, atol=1e-7)
    html = _html(make_map(nj, basemap="amap"))
    assert "autonavi.com" in html and "tile.openstreetmap.org" not in html


def test_optional_columns_used_when_present(hel):
    r = enriched(hel)
    html = _html(make_map(r, lang="en"))
    n = len(r.solution.chosen)
    assert html.count("siting-site siting-complex") == 1
    assert html.count("siting-site siting-single") == n - 1
    assert html.count("siting-existing") == 1
    for text in ("Existing facilities", "Communities", "Population: Age 0–2",
                 "Population: Households", "Acquisition mode", "transfer",
                 "Service: Infant care", "Service: Elderly day care", "Total cost (CNY)",
                 "Service fit-out (CNY)",
                 "People covered within 15 min", "Service complex (several services)"):
        assert _has(html, text), text
    assert XSS not in html                     # community name escaped too
    zh = _html(make_map(r, lang="zh"))
    for text in ("获取方式", "置换", "服务: 婴幼儿托育", "综合服务设施（多功能）", "现有设施"):
        assert _has(zh, text), text
    t = report_tables(r)
    assert len(t["services"]) == n + 1
    assert t["services"]["units"].sum() == pytest.approx(15 * n + 20)
    assert list(t["communities"]["community_id"]) == ["C1", "C2"]
    assert set(t["unmet"]["community_id"]) <= {"C1", "C2"}
    assert "acquisition_mode" in t["sites"] and "acquisition_mode" in t["costs"]
    assert t["costs"]["cost_total"].iloc[-1] == pytest.approx(r.summary["cost_total"])
    parts = t["costs"][["cost_one_off", "cost_fit_out", "cost_rent_horizon"]].sum(axis=1)
    assert np.allclose(parts, t["costs"]["cost_total"])
    assert set(t["unmet_by_service"]["service"]) == {"infant_care", "elderly_care"}
    keys = set(t["summary"]["key"])
    assert {"served_by_service.infant_care", "communities_total", "budget"} <= keys


def test_tables_degrade_without_optional_columns(hel):
    t = report_tables(hel)
    assert set(t) == {"summary", "sites", "services", "communities", "costs", "unmet"}
    assert t["services"].empty and list(t["services"].columns) == [
        "site_id", "name", "service", "area_m2", "units"]
    assert len(t["communities"]) == hel.demand["community_id"].nunique()
    assert t["communities"]["covered_population"].sum() == pytest.approx(
        hel.summary["covered_population"])
    assert "community_id" in t["unmet"]  # per community (per component without communities)
    assert t["unmet"]["uncovered_population"].sum() == pytest.approx(
        hel.summary["total_population"] - hel.summary["covered_population"])


def _sheet(ws) -> pd.DataFrame:
    rows = list(ws.iter_rows(values_only=True))
    return pd.DataFrame(rows[2:], columns=rows[1])


@pytest.mark.parametrize("make", [lambda r: r, enriched], ids=["plain", "enriched"])
def test_excel_reread_matches_summary_json(hel, tmp_path, make):
    r = make(hel)
    out = write_outputs(r, tmp_path / "o", lang="zh")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    wb = openpyxl.load_workbook(out / "report.xlsx")
    expected = ["汇总指标", "选定场所", "场所服务配置", "社区达标", "费用构成", "未满足需求"]
    assert wb.sheetnames[:6] == expected
    for ws in wb.worksheets:
        assert ws.freeze_panes in ("A3", "B3")
        assert ws.cell(1, 1).font.bold
    ws = wb["选定场所"]
    assert ws.cell(1, 1).value == "场所编号" and ws.cell(2, 1).value == "Site ID"
    sites = _sheet(ws)
    assert len(sites) == summary["n_sites_chosen"]
    assert sites["People covered"].sum() == pytest.approx(summary["covered_population"])
    col = list(sites.columns).index("People covered") + 1
    assert ws.cell(3, col).number_format == "#,##0"
    kpi = _sheet(wb["汇总指标"]).set_index("Key")["Value"]
    assert kpi["status"] == value_label(summary["status"], "zh")  # values in the sheet's language
    for key in ("total_population", "covered_population", "n_sites_chosen",
                "threshold_m", "cost_total"):
        assert kpi[key] == pytest.approx(summary[key]) if isinstance(summary[key], float) \
            else kpi[key] == summary[key]
    costs = _sheet(wb["费用构成"])  # one-off + annual × horizon, as the budget counts
    assert costs["Total cost (CNY)"].iloc[-1] == pytest.approx(summary["cost_total"])
    assert costs["Total cost (CNY)"].iloc[:-1].sum() == pytest.approx(summary["cost_total"])
    unmet = _sheet(wb["未满足需求"])
    assert unmet["Uncovered population"].sum() == pytest.approx(
        summary["total_population"] - summary["covered_population"])
    comm = _sheet(wb["社区达标"])
    assert len(comm) == (2 if "communities_total" in summary
                         else r.demand["community_id"].nunique())
    # the same tables as CSV and GeoPackage layers
    csv = pd.read_csv(out / "tables" / "sites.csv")
    assert csv["covered_population"].sum() == pytest.approx(summary["covered_population"])
    layers = dict(pyogrio.list_layers(out / "report.gpkg"))
    assert {"summary", "sites", "services", "communities", "costs", "unmet"} <= set(layers)
    assert layers["sites"] == "Point"
    g = gpd.read_file(out / "report.gpkg", layer="sites")
    assert g.crs.to_epsg() == 4326 and len(g) == summary["n_sites_chosen"]


def test_repr_html_readable(hel):
    h = result_html(hel)
    assert "<table" in h and "People covered" in h and "Sites chosen" in h
    assert hel._repr_html_() == h
    assert "<table" in hel.solution._repr_html_()
    assert "&lt;img src=x onerror=alert(1)&gt;" in result_html(with_site_name(hel, XSS)) and XSS not in result_html(
        with_site_name(hel, XSS))


def test_cli_run_lang_and_assets(helsinki_osm, tmp_path):
    out = tmp_path / "zh"
    res = CliRunner().invoke(app, ["run", "--osm", str(helsinki_osm), "--out", str(out), "-p", "2",
                                   "--lang", "zh", "--map-assets", "cdn"])
    assert res.exit_code == 0, res.output
    assert "report.xlsx" in res.output and (out / "report.xlsx").exists()
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "选定场所" in html and "jsdelivr" in html
    assert openpyxl.load_workbook(out / "report.xlsx").sheetnames[0] == "汇总指标"
    bad = tmp_path / "bad"
    res = CliRunner().invoke(app, ["run", "--osm", str(helsinki_osm), "--out", str(bad),
                                   "--lang", "fr"])
    assert res.exit_code == 2 and "unknown language 'fr'" in res.output
    assert not bad.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".bad.")]


def test_merged_reach_is_union_of_site_reaches(hel):
    per_site = reach_polygons(hel, tiers_min=(5, 15))
    merged = reach_polygons(hel, tiers_min=(5, 15), merged=True)
    assert list(merged["site_id"]) == [-1, -1] and list(merged["minutes"]) == [5.0, 15.0]
    for minutes, shape in zip(merged["minutes"], merged.geometry):
        union = per_site[per_site["minutes"] == minutes].geometry.union_all()
        assert shape.symmetric_difference(union).area < 0.01 * union.area
