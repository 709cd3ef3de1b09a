"""Planner controls: --require and --forbid by stable candidate id, --min-coverage."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from siting.cli import app


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
    """The embedded model opens a required site (y = 1) and charges it to the budget."""
    _, cand = base
    free = cand[cand["excluded_reason"].isna() & (cand["usable_area_m2"] > 600)
                & (cand["population_in_reach"] > 0)]
    req = str(free.sort_values("population_in_reach")["source_id"].iloc[0])
    out = tmp_path / "emb"
    res = _run("--osm", helsinki_osm, "--out", out, "--model", "embedded", "--budget", 2e7,
               "--time-limit", 8, "--require", req, "--min-coverage", 0)
    assert res.exit_code == 0, res.output
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
    again = tmp_path / "without"
    res = _run("--osm", nanjing_osm, "--out", again, "-p", 4, "--cost-per-m2", 1000,
               "--forbid", j["source_id"])
    assert res.exit_code == 0, res.output
    s2 = json.loads((again / "summary.json").read_text())
    assert j["loss_if_dropped"] == pytest.approx(s["covered_population"] - s2["covered_population"],
                                                 abs=1e-6)
    import openpyxl

    head = [c.value for c in openpyxl.load_workbook(out / "report.xlsx")["选定场所"][1]]
    assert "去掉此处后减少的服务人口" in head
