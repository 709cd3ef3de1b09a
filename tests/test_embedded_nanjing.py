"""The embedded model on the Nanjing Xinjiekou OSM extract with the default policy.

Solves are time-limited (reported gaps are honest); each test takes seconds.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import pandas as pd
import pytest

from siting.access import build_instance
from siting.config.policy import load_policy
from siting.config.scenario import make_scenario
from siting.models.embedded import EmbeddedFacilities
from siting.pipeline import run

from plan_check import check_plan

pytestmark = pytest.mark.slow
SUB_BBOX = (118.772, 32.039, 118.788, 32.048)  # central part of the extract, for the sweep


def _inputs(osm, bbox=None):
    # the cheapest pipeline run gives the network access, demand and candidate tables
    r = run(make_scenario(osm=osm, model="max_cover", max_sites=1, bbox=bbox))
    pol = load_policy()
    inst = build_instance(r.access, r.demand["population"].to_numpy(), r.sites["cost"].to_numpy(),
                          pol.max_threshold_m)
    return inst, pol, r.demand, r.sites


@pytest.fixture(scope="module")
def nanjing(nanjing_osm):
    return _inputs(nanjing_osm)


def _report(tag, sol):
    s = sol.summary
    print(f"\n{tag}: status {s['status']}, objective {s['objective']:,.0f}, bound "
          f"{s['best_bound']:,.0f}, gap {s['mip_gap']:.3f}, cost {s['cost_total']:,.0f} CNY, "
          f"sites {s['n_sites_new']} ({s['n_complexes']} complexes), communities meeting "
          f"{s['communities_meeting_standard']}/{s['communities_total']}, "
          f"people served {sum(s['served_by_service'].values()):,.0f}, run {s['runtime_s']:.1f} s")


def test_plan_within_budget(nanjing):
    inst, pol, demand, sites = nanjing
    model = EmbeddedFacilities(inst, pol, demand, sites, budget=2e7)
    sol = model.solve("highs", time_limit=8, mip_gap=0.02)
    _report("nanjing 20M CNY", sol)
    again = check_plan(model, sol)
    assert again["cost"] <= 2e7 + 1
    assert sol.summary["status"] in ("optimal", "feasible")
    assert math.isnan(sol.summary["mip_gap"]) or sol.summary["mip_gap"] >= 0
    com = sol.communities
    assert len(com) == sol.summary["communities_total"] > 1  # 500 m planning cells
    assert com["required_m2"].sum() == pytest.approx(0.30 * demand["population"].sum() / 2.62)
    assert (com["provided_m2"] <= com["reachable_m2"] + 1e-6).all()
    print(com.sort_values("households", ascending=False).head(8).to_string())
    assert sum(sol.served_by_service.values()) > 0
    assert (sol.sites["marginal_value"] > 0).all()


def test_time_limit_returns_best_plan_with_gap(nanjing):
    inst, pol, demand, sites = nanjing
    model = EmbeddedFacilities(inst, pol, demand, sites, budget=3e7)
    sol = model.solve("highs", time_limit=1.0, marginal=False)
    _report("nanjing 1 s", sol)
    assert sol.summary["status"] == "feasible"
    assert not (sol.summary["mip_gap"] == 0)  # stopped early: a gap (or no bound, with a note)
    check_plan(model, sol)
    assert len(sol.sites) >= 1


def test_budget_sweep_coverage_rises(nanjing_osm):
    inst, pol, demand, sites = _inputs(nanjing_osm, SUB_BBOX)
    budgets = [2e6, 5e6, 1e7, 2e7, 4e7]
    model = EmbeddedFacilities(inst, pol, demand, sites, budget=max(budgets))
    sols = model.budget_sweep(budgets, "cbc", time_limit=3, mip_gap=0.02)
    values = [s.summary["objective"] for s in sols]
    for b, s in zip(budgets, sols):
        _report(f"sweep {b:,.0f}", s)
        check_plan(model, s)
        assert s.summary["cost_total"] <= b + 1
    assert all(b >= a - 1e-6 * abs(a) for a, b in zip(values, values[1:]))
    assert values[-1] > values[0]
    weighted = [s.summary["weighted_served"] for s in sols]
    assert weighted[-1] > weighted[0]


def test_cli_run_writes_embedded_outputs(nanjing_osm, tmp_path):
    from typer.testing import CliRunner

    from siting.cli import app
    from siting.config.policy import DEFAULT_POLICY

    out = tmp_path / "out"
    policy = tmp_path / "policy.toml"
    from importlib import resources
    policy.write_text(resources.files("siting.config").joinpath(f"policies/{DEFAULT_POLICY}.toml")
                      .read_text("utf-8"), encoding="utf-8")
    res = CliRunner().invoke(app, ["run", "--osm", str(nanjing_osm), "--policy", str(policy),
                                   "--budget", "15000000", "--standard", "30",
                                   "--time-limit", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "嵌入式方案：费用" in res.output  # Nanjing: the run's lines in Chinese
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("budget", "cost_total", "served_by_service", "unmet_by_service",
                "communities_meeting_standard", "communities_total", "best_bound"):
        assert key in s
    assert s["budget"] == 15e6 and s["cost_total"] <= 15e6 + 1
    com = pd.read_csv(out / "tables" / "communities.csv", encoding="utf-8-sig")
    assert list(com.columns[:6]) == ["community_id", "name", "households", "required_m2",
                                     "provided_m2", "met"]
    assert int(com["met"].sum()) == s["communities_meeting_standard"]
    assert "covered_population" in com and not (out / "communities.csv").exists()
    sheet = pd.read_excel(out / "report.xlsx", sheet_name="社区达标", header=0)
    assert {"应配面积（平方米）", "已配面积（平方米）", "达标"} <= set(sheet.columns)
    assert len(sheet) == len(com) + 1  # the English header row, then one row per community
    assert any("penalty mode" in n for n in s["notes"])
    # a Chinese report shows values in Chinese too: no mode, class or service keys
    import openpyxl

    keys = {"lease", "renovate", "transfer", "new_build", "infant_care", "elderly_care",
            "meal_assist", "osm", "inventory", "commercial", "industrial"}
    wb = openpyxl.load_workbook(out / "report.xlsx")
    cells = {str(c.value) for ws in wb for row in ws.iter_rows(min_row=3) for c in row}
    assert not cells & keys, cells & keys
    names = {str(c.value) for row in wb["社区达标"].iter_rows(min_row=3) for c in row}
    assert any("米规划单元" in c for c in names) and not any("planning cell" in c for c in names)
    chosen = gpd.read_file(out / "sites.gpkg")
    pol = load_policy()
    for svc in pol.active_services:
        assert f"area_m2_{svc}" in chosen and f"units_{svc}" in chosen
    area = chosen[[f"area_m2_{svc}" for svc in pol.active_services]].sum(axis=1)
    assert (area <= chosen["usable_area_m2"] + 1e-6).all()
    # floor areas from the file add up to the cost in summary.json
    fit = sum(chosen[f"area_m2_{svc}"].sum() * (pol.services[svc].fit_out_per_m2
                                               or pol.costs.fit_out_per_m2)
              for svc in pol.active_services)
    # acquisition: the plan's one-off and yearly cost per site (policy [sites.costs]:
    # leases and renovations charged on the m² used)
    acq = float(chosen["cost"].sum()) + pol.costs.horizon_years * float(chosen["annual_cost"].sum())
    assert (chosen["cost"] == chosen["cost_one_off"]).all()
    assert fit + acq == pytest.approx(s["cost_total"], rel=1e-6)
    assert s["served_by_service"].keys() == s["unmet_by_service"].keys() == set(pol.active_services)
    assert all(v >= 0 for v in (*s["served_by_service"].values(), *s["unmet_by_service"].values()))


SMALL_BBOX = (118.774, 32.040, 118.786, 32.047)  # a few blocks, solved to optimality


def test_reduced_equals_unreduced_on_sub_area(nanjing_osm):
    """Merging demand rows keeps the proven optimum on real data (a few blocks)."""
    inst, pol, demand, sites = _inputs(nanjing_osm, SMALL_BBOX)
    budget = 4e6
    full = EmbeddedFacilities(inst, pol, demand, sites, budget=budget, reduce=False)
    red = EmbeddedFacilities(inst, pol, demand, sites, budget=budget)
    assert red.formulation.n_flows < full.formulation.n_flows
    a = full.solve("highs", mip_gap=1e-4, marginal=False)
    b = red.solve("highs", mip_gap=1e-4, marginal=False)
    print(f"\nsub-area {budget:,.0f} CNY: flows {full.formulation.n_flows} -> "
          f"{red.formulation.n_flows}, objective "
          f"{a.summary['objective']:,.1f} / {b.summary['objective']:,.1f}, run "
          f"{a.summary['runtime_s']:.1f} / {b.summary['runtime_s']:.1f} s")
    assert a.summary["status"] == b.summary["status"] == "optimal"
    assert b.summary["objective"] == pytest.approx(a.summary["objective"], rel=2e-4)
    check_plan(red, b)
