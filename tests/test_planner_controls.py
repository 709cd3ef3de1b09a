"""Planner controls: --require and --forbid by stable candidate id, --min-coverage; the same
ids across runs; every output in one language."""

from __future__ import annotations

import html
import json
import re

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from siting.cli import app
from siting.config.site_policy import MODES
from siting.report.fonts import cjk_font
from siting.report.i18n import SERVICE_LABELS, VALUE_LABELS

from output_check import popups


def _run(*args):
    return CliRunner().invoke(app, ["run", *map(str, args)])


@pytest.fixture(scope="module")
def base(helsinki_osm, tmp_path_factory):
    out = tmp_path_factory.mktemp("ctl") / "base"
    res = _run("--osm", helsinki_osm, "--out", out, "-p", 3, "--cost-per-m2", 1000)
    assert res.exit_code == 0, res.output
    return out, gpd.read_file(out / "candidates.gpkg")


def test_required_site_is_opened_with_its_cost_and_forbidden_one_is_not(base, helsinki_osm,
                                                                        tmp_path):
    """--require opens a site the optimum left out (within the same p, cost counted);
    --forbid keeps a chosen one closed, with the reason in candidates.gpkg."""
    out, cand = base
    chosen = cand[cand["chosen"].astype(bool)]
    spare = cand[~cand["chosen"].astype(bool) & cand["excluded_reason"].isna()
                 & (cand["population_in_reach"] > 0)]
    req, forb = str(spare["source_id"].iloc[0]), str(chosen["source_id"].iloc[0])
    o2 = tmp_path / "ctl"
    res = _run("--osm", helsinki_osm, "--out", o2, "-p", 3, "--cost-per-m2", 1000,
               "--require", req, "--forbid", forb)
    assert res.exit_code == 0, res.output
    s = json.loads((o2 / "summary.json").read_text())
    c2 = gpd.read_file(o2 / "candidates.gpkg")
    picked = c2[c2["chosen"].astype(bool)]
    assert req in set(picked["source_id"]) and forb not in set(picked["source_id"])
    assert s["n_sites_chosen"] == 3
    assert s["cost_total"] == pytest.approx(float(picked["cost_total"].sum()))
    assert c2.loc[c2["source_id"] == forb, "excluded_reason"].iloc[0] == "forbidden (--forbid)"
    # the same ids name the same buildings in both runs
    assert set(c2["source_id"]) == set(cand["source_id"])


def test_unknown_or_excluded_ids_are_refused(helsinki_osm, tmp_path):
    """An id that names no candidate, or both --require and --forbid on one id: exit 2."""
    res = _run("--osm", helsinki_osm, "--out", tmp_path / "a", "-p", 2, "--require", "w0")
    assert res.exit_code == 2 and "--require: no candidate site has id 'w0'" in res.output
    assert not (tmp_path / "a").exists()


def test_required_site_in_the_embedded_plan(base, helsinki_osm, tmp_path):
    """The embedded model opens a required site (y = 1) and charges it to the budget; its
    outputs (``--lang zh``) are in Chinese throughout."""
    _, cand = base
    free = cand[cand["excluded_reason"].isna() & (cand["usable_area_m2"] > 600)
                & (cand["population_in_reach"] > 0)]
    req = str(free.sort_values("population_in_reach")["source_id"].iloc[0])
    out = tmp_path / "emb"
    res = _run("--osm", helsinki_osm, "--out", out, "--model", "embedded", "--budget", 2e7,
               "--time-limit", 8, "--require", req, "--min-coverage", 0, "--lang", "zh")
    assert res.exit_code == 0, res.output
    assert "嵌入式方案：费用" in res.output and "获服务：" in res.output
    _in_one_language(out, "zh")  # services, modes, statuses … in Chinese too
    sites = gpd.read_file(out / "sites.gpkg")
    assert req in set(sites["source_id"])
    s = json.loads((out / "summary.json").read_text())
    assert s["cost_total"] <= 2e7 + 1


def test_explanations_match_a_resolve_without_the_site(nanjing_osm, tmp_path):
    """Each chosen site says what it adds: people only it reaches, per 10,000 CNY, its cost
    rank among candidates in reach, and what is lost if it is dropped — the last checked
    against an independent re-run of the whole plan with that site forbidden."""
    out = tmp_path / "nj"
    res = _run("--osm", nanjing_osm, "--out", out, "-p", 4, "--cost-per-m2", 1000)
    assert res.exit_code == 0, res.output
    sites = gpd.read_file(out / "sites.gpkg")
    s = json.loads((out / "summary.json").read_text())
    assert (sites["unique_covered"] >= 0).all()
    assert (sites["unique_covered"] <= sites["covered_population"] + 1e-6).all()
    assert (sites["cost_rank_in_reach"] >= 1).all()
    assert (sites["loss_if_dropped"] <= sites["unique_covered"] + 1e-6).all()  # re-planning helps
    j = sites.sort_values("loss_if_dropped").iloc[-1]
    # the re-run drops the site with --exclude: a 2 m square around it
    zone = tmp_path / "zone.geojson"
    gpd.GeoDataFrame({"reason": ["dropped"]}, geometry=[j.geometry.buffer(2e-5, cap_style=3)],
                     crs="EPSG:4326").to_file(zone)
    again = tmp_path / "without"
    res = _run("--osm", nanjing_osm, "--out", again, "-p", 4, "--cost-per-m2", 1000,
               "--exclude", zone)
    assert res.exit_code == 0, res.output
    s2 = json.loads((again / "summary.json").read_text())
    assert j["loss_if_dropped"] == pytest.approx(s["covered_population"] - s2["covered_population"],
                                                 abs=1e-6)
    import openpyxl

    head = [c.value for c in openpyxl.load_workbook(out / "report.xlsx")["选定场所"][1]]
    assert "去掉此处后减少的覆盖人口" in head
    _same_ids_same_buildings(out, again, j["source_id"])
    _in_one_language(out, "zh")


def _same_ids_same_buildings(a, b, dropped: str) -> None:
    """Two runs, one with a site excluded: every id names the same building in both, in
    every output a planner reads, although the sites' rows in the optimiser moved."""
    ca = gpd.read_file(a / "candidates.gpkg").set_index("source_id")
    cb = gpd.read_file(b / "candidates.gpkg").set_index("source_id")
    assert "site_id" not in ca and ca.index.is_unique and set(ca.index) == set(cb.index)
    assert ca.geometry.geom_equals_exact(cb.geometry.loc[ca.index], 1e-9).all()
    assert cb.loc[dropped, "excluded_reason"] == "in exclusion zone: dropped"
    # the internal row numbers did move: the dropped site's row went to the end
    offered = ca.index[ca["excluded_reason"].isna()]
    assert list(offered).index(dropped) < len(offered) - 1
    for out in (a, b):
        sites = gpd.read_file(out / "sites.gpkg").set_index("source_id")
        assert sites.geometry.geom_equals_exact(ca.geometry.loc[sites.index], 1e-9).all()
        for name in ("sites", "costs"):
            t = pd.read_csv(out / "tables" / f"{name}.csv", dtype={"source_id": str})
            assert "site_id" not in t and set(t["source_id"].dropna()) == set(sites.index)
        sheet = list(openpyxl.load_workbook(out / "report.xlsx")["选定场所"].iter_rows(
            min_row=3, values_only=True))
        assert {r[0] for r in sheet} == set(sites.index)
        pops = popups((out / "map.html").read_text(encoding="utf-8"))
        assert {p["OSM 编号"] for p in pops} == set(sites.index)
        demand = gpd.read_file(out / "demand.gpkg")
        assert set(demand["nearest_site"].dropna()) <= set(sites.index)
    assert dropped not in set(gpd.read_file(b / "sites.gpkg")["source_id"])


# the vocabularies whose keys a report shows as labels: services, acquisition modes,
# sources, building classes, statuses and models (every key with a zh/en label)
VOCAB = sorted({*SERVICE_LABELS, *VALUE_LABELS, *MODES} - {"osm"})  # osm: "OpenStreetMap"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _untranslated(text: str, lang: str) -> list[str]:
    """Vocabulary keys or English labels in a zh text; Chinese in an en text."""
    if lang == "en":
        return CJK.findall(text)
    text = re.sub(r"--\n?[a-z-]+(?:[ =][a-z_]+)?", " ", text)  # a flag to type is no value
    words = [*VOCAB, *(t[1] for t in (*SERVICE_LABELS.values(), *VALUE_LABELS.values())
                       if t[1] != "OpenStreetMap")]
    return [w for w in words if re.search(rf"(?<![A-Za-z_]){re.escape(w)}(?![A-Za-z_])", text)]


def _in_one_language(folder, lang: str) -> None:
    """The workbook's values and items (not its machine keys nor its second, English header
    row), the map's popups, summary panel and legend, and the PDF's text are in ``lang``."""
    wb = openpyxl.load_workbook(folder / "report.xlsx", read_only=True)
    for ws in wb.worksheets:
        for row in list(ws.iter_rows(values_only=True))[2:]:
            summary = ws.title in ("汇总指标", "Summary")
            for v in row[1:] if summary else row:
                if isinstance(v, str):
                    assert not _untranslated(v, lang), (ws.title, v)
    page = (folder / "map.html").read_text(encoding="utf-8")
    parts = [" ".join(p.values()) + " " + " ".join(p) for p in popups(page)]
    parts += [html.unescape(re.sub(r"<[^>]+>", " ", m)) for m in re.findall(
        r"<div class='siting-(?:summary|legend)'.*?</table></div>", page, re.DOTALL)]
    for text in parts:
        assert not _untranslated(text, lang), text
    pymupdf = pytest.importorskip("pymupdf")
    with pymupdf.open(folder / "report.pdf") as doc:
        text = "\n".join(p.get_text() for p in doc)
    if lang == "en" or cjk_font() is not None:  # without a CJK font the PDF is in English
        assert not _untranslated(text, lang), _untranslated(text, lang)


def test_outputs_in_english_outside_china(base):
    """An en run (Helsinki): no Chinese in the workbook's values, the map's texts or the PDF."""
    _in_one_language(base[0], "en")


def test_infeasibility_explained_in_chinese():
    """The explanation is one reason a line, in English and in Chinese (siting run prints
    the outputs' language), planning-cell names translated."""
    from test_embedded_bruteforce import random_case, small_policy

    from siting.cli import _in_lang
    from siting.errors import InfeasibleError
    from siting.models.embedded import EmbeddedFacilities

    inst, demand, sites, _ = random_case(2)
    demand["community_name"] = "500 m planning cell E1.5 km N3550.0 km"
    with pytest.raises(InfeasibleError) as err:
        EmbeddedFacilities(inst, small_policy(["meal_assist", "elderly_care"]), demand, sites,
                           standard=80.0, standard_mode="hard", budget=6e6).solve()
    why = err.value.args[0]  # the explanation the CLI prints
    en, zh = _in_lang(why, "en"), _in_lang(why, "zh")
    assert en.startswith("no feasible plan:\n- community ") and "needs" in en
    assert zh.startswith("无可行方案：\n- 社区 ") and "每百户 80 m²" in zh
    assert not re.search(r"[A-Za-z]{4,}", zh.replace("m²", "")), zh
    assert _in_lang(why, None) == f"{en}\n{zh}"


def test_ids_shared_by_two_sources_are_made_unique_the_same_way_in_every_run():
    """An inventory row and an existing facility both numbered 1: the facility becomes
    existing:1 whether or not the inventory row is excluded (rows are reordered then)."""
    from shapely.geometry import Point

    from siting.sites import assemble

    def part(source, reason=None):
        return gpd.GeoDataFrame({"source_id": ["1", "2"] if source == "inventory" else ["1"],
                                 "source": source, "excluded_reason": reason},
                                geometry=[Point(0, 0)] * (2 if source == "inventory" else 1),
                                crs="EPSG:3857")

    for reason in (None, "in exclusion zone 1"):
        c = assemble([part("inventory", reason), part("existing")], "EPSG:3857")
        assert sorted(c["source_id"]) == ["1", "2", "existing:1"]
        assert c.set_index("source_id").loc["existing:1", "source"] == "existing"
        assert list(c["site_id"]) == list(range(3))  # the internal row number
