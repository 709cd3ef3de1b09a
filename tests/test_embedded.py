"""Embedded model: diagnoses of bad input and infeasibility, marginal values, results."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_embedded_bruteforce import random_case, small_policy

from siting.errors import InfeasibleError, SitingError
from siting.models.embedded import EmbeddedFacilities
from siting.models.instance import Instance

from plan_check import check_plan


def test_budget_below_cheapest_site_is_diagnosed():
    inst, demand, sites, _ = random_case(0)
    pol = small_policy(["infant_care", "meal_assist"])
    cheapest = min(sites["cost"]) + 1500 * 20  # meal assistance at its 20 m² minimum
    with pytest.raises(SitingError, match="below the cheapest possible site") as err:
        EmbeddedFacilities(inst, pol, demand, sites, budget=1000.0)
    assert "Raise --budget to at least" in str(err.value)
    figure = float(re.search(r"at least ([\d,]+) CNY", str(err.value)).group(1).replace(",", ""))
    assert figure <= cheapest + 1
    # and that budget is enough to build something
    sol = EmbeddedFacilities(inst, pol, demand, sites, budget=figure + 1).solve()
    assert len(sol.sites) == 1


def test_threshold_reaching_no_candidate():
    inst, demand, sites, _ = random_case(1)
    pol = small_policy(["infant_care", "meal_assist"],
                       {"services": {"infant_care": {"walk_m": 1.0}}})
    with pytest.raises(SitingError, match=r"service infant_care: its threshold 1 m reaches no "
                                          r"candidate.*nearest candidate .* is \d+ m away"):
        EmbeddedFacilities(inst, pol, demand, sites)


def test_instance_too_short_for_policy():
    inst, demand, sites, _ = random_case(1)
    pol = small_policy(["meal_assist"], {"services": {"meal_assist": {"walk_m": 900.0}}})
    with pytest.raises(SitingError, match="walking distances reach 700 m but the policy needs 900 m"):
        EmbeddedFacilities(inst, pol, demand, sites)


def test_infeasible_standard_names_the_community():
    inst, demand, sites, _ = random_case(2)
    pol = small_policy(["meal_assist", "elderly_care"])
    with pytest.raises(InfeasibleError, match=r"community \d+ .* needs [\d,]+ m² \(80 m² per 100 "
                                              r"households\) but all candidates within 600 m"):
        EmbeddedFacilities(inst, pol, demand, sites, standard=80.0, standard_mode="hard",
                           budget=6e6).solve()


def test_infeasible_budget_gives_least_budget_that_works():
    inst, demand, sites, _ = random_case(0, n=8, m=6)
    sites["usable_area_m2"] = np.linspace(900, 1400, 6)
    pol = small_policy(["meal_assist", "after_school"],
                       {"services": {"meal_assist": {"walk_m": 650.0},
                                     "after_school": {"walk_m": 650.0}}})
    kw = dict(standard=10.0, standard_mode="hard")
    with pytest.raises(InfeasibleError, match="the least budget meeting every requirement") as err:
        EmbeddedFacilities(inst, pol, demand, sites, budget=1.5e6, **kw).solve()
    least = float(re.search(r"is ([\d,]+) CNY", str(err.value)).group(1).replace(",", ""))
    assert least > 1.5e6
    with pytest.raises(InfeasibleError):  # just below it: still no plan
        EmbeddedFacilities(inst, pol, demand, sites, budget=least * 0.999, **kw).solve()
    sol = EmbeddedFacilities(inst, pol, demand, sites, budget=least + 1, **kw).solve()
    assert sol.communities["met"].all()
    check_plan(EmbeddedFacilities(inst, pol, demand, sites, budget=least + 1, **kw), sol)


def test_marginal_value_matches_resolve_without_the_site():
    inst, demand, sites, _ = random_case(3)
    pol = small_policy(["infant_care", "elderly_care"])
    model = EmbeddedFacilities(inst, pol, demand, sites, budget=2.5e6)
    sol = model.solve()
    assert len(sol.sites) >= 1 and (sol.sites["marginal_value"] > 0).all()
    for _, row in sol.sites.iterrows():
        # removing the site, others keeping their areas, loses exactly marginal_value
        fixed = sol.sites[sol.sites["site"] != row["site"]]
        kept = {(int(r["site"]), s) for _, r in fixed.iterrows()
                for s in pol.active_services if r[f"area_m2_{s}"] > 0}
        m2 = EmbeddedFacilities(inst, pol, demand, sites, budget=2.5e6)
        form, services = m2.formulation, m2.data.services
        fix = form.problem.set_bounds
        for (j, si), var in form.host.items():
            fix(var, *[float((j, services[si]) in kept)] * 2)
            a = fixed.set_index("site")[f"area_m2_{services[si]}"].get(j, 0.0)
            fix(form.area[j, si], float(a), float(a))
        for j, var in form.open_site.items():
            fix(var, *[float(j in set(fixed["site"]))] * 2)
        for j, var in form.complex.items():
            fix(var, *[float(bool(fixed.set_index("site")["complex"].get(j, False)))] * 2)
        without = m2.solve(marginal=False).summary["objective"]
        assert sol.summary["primary_value"] - without == pytest.approx(row["marginal_value"],
                                                                       rel=1e-5, abs=1e-3)


def test_coverage_mode_and_tiers_and_html():
    inst, demand, sites, _ = random_case(4)
    pol = small_policy(["infant_care", "meal_assist"])
    model = EmbeddedFacilities(inst, pol, demand, sites, budget=2e6, capacity=False)
    sol = model.solve()
    check_plan(model, sol)
    sv = sol.services.set_index("service")
    # tiers are cumulative and end at the people served within the threshold
    assert (sv["served_3min"] <= sv["served_6min"] + 1e-9).all()
    assert sv.loc["meal_assist", "served_6min"] <= sv.loc["meal_assist", "served_people"] + 1e-9
    assert (sv["served_people"] + sv["unmet_people"]).to_numpy() == pytest.approx(
        sv["demand_people"].to_numpy())
    html = sol._repr_html_()
    assert "Communities" in html and "meal_assist" in html


def test_existing_facility_is_counted_and_stops_a_new_one():
    # one demand cluster, an existing meal point right there: no new meal point is needed
    d = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 60.0]])
    s = np.array([[10.0, 10.0], [20.0, 0.0], [600.0, 600.0]])
    dist = np.abs(d[:, None] - s[None]).sum(2)
    i, j = np.nonzero(dist <= 700)
    inst = Instance([3000.0, 2000.0, 2500.0], np.zeros(3), i, j, dist[i, j], 700.0)
    pol = small_policy(["meal_assist"])
    demand = pd.DataFrame({"population": inst.weight})
    base = pd.DataFrame({"usable_area_m2": [400.0, 400.0, 400.0], "cost": [5e5, 5e5, 5e5]})
    without = EmbeddedFacilities(inst, pol, demand, base, budget=2e6, standard_mode="off").solve()
    assert set(without.sites["site"]) & {0, 1}
    ex = base.assign(existing=[True, False, False], existing_services=["meal_assist", None, None],
                     cost=[0.0, 5e5, 5e5])
    model = EmbeddedFacilities(inst, pol, demand, ex, budget=2e6, standard_mode="off")
    sol = model.solve()
    check_plan(model, sol)
    assert list(sol.sites["site"]) == [0] and sol.summary["cost_total"] == 0
    # all in reach are served, to HiGHS's primal feasibility tolerance (1e-7 on scaled rows)
    assert sol.services["served_people"].iloc[0] == pytest.approx(
        sol.services["in_reach_people"].iloc[0], rel=1e-5)


def test_bad_tables():
    inst, demand, sites, _ = random_case(0)
    pol = small_policy(["meal_assist"])
    with pytest.raises(SitingError, match="usable_area_m2 is missing or negative for sites"):
        EmbeddedFacilities(inst, pol, demand, sites.assign(usable_area_m2=-1.0))
    with pytest.raises(SitingError, match="must match the instance"):
        EmbeddedFacilities(inst, pol, demand.iloc[:3], sites)
    with pytest.warns(UserWarning, match=r"offer \['spa'\], which are not services"):
        m = EmbeddedFacilities(inst, pol, demand, sites.assign(existing=True,
                                                               existing_services="spa,meal_assist"))
    assert all(svc == ["meal_assist"] for svc in m.data.sites["existing_services"])
    with pytest.raises(SitingError, match="unknown objective"):
        EmbeddedFacilities(inst, pol, demand, sites, objective="max_fun")


def test_write_lp_names_every_constraint(tmp_path):
    inst, demand, sites, _ = random_case(0)
    pol = small_policy(["infant_care", "meal_assist"])
    model = EmbeddedFacilities(inst, pol, demand, sites, budget=2e6)
    path = model.write_lp(tmp_path / "embedded.lp")
    text = path.read_text()
    assert "budget:" in text and re.search(r"^\s*serve_\d+_meal_assist:", text, re.M)
    assert re.search(r"^\s*capacity_\d+_infant_care:", text, re.M)
    assert re.search(r"^\s*standard_\d+:", text, re.M)
    # every row and column is named after what it says (none left as r_5 or x_3)
    built = model.problem.model(names=True)
    assert len(set(built.row_names)) == built.shape[0]
    assert not re.search(r"^\s*r_\d+:", text, re.M)
    assert re.search(r"\bf_0_\d+\b", text) and re.search(r"\by_\d+\b", text)


def test_solve_and_sweep_leave_the_model_as_built():
    inst, demand, sites, _ = random_case(3)
    pol = small_policy(["infant_care", "elderly_care"])
    model = EmbeddedFacilities(inst, pol, demand, sites, budget=2.5e6, standard_mode="penalty")
    rows = model.problem.model(names=True).row_names
    budget_row = model.problem.row("budget")
    rhs = model.problem.model().row_hi[budget_row]
    first, again = model.solve(), model.solve()
    assert first.summary["notes"] == again.summary["notes"]
    assert first.summary["objective"] == pytest.approx(again.summary["objective"])
    sols = model.budget_sweep([1e6, 2e6, 2.5e6])
    assert [s.summary["budget"] for s in sols] == [1e6, 2e6, 2.5e6]
    assert [s.summary["notes"] for s in sols] == [first.summary["notes"]] * 3
    assert model.problem.model(names=True).row_names == rows
    assert model.problem.model().row_hi[budget_row] == rhs and model.data.budget == 2.5e6
    assert model.solve().summary["objective"] == pytest.approx(first.summary["objective"])
