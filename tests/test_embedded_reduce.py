"""Merged demand rows (``reduce=True``) give the same optimum as the unmerged model.

Random instances with clustered demand (several points per spot, so many share their
sets of reachable sites) are solved with and without the merge for every objective
and constraint family; the reduced plan is re-checked per original demand point from
its result tables (tests/plan_check.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_embedded_bruteforce import WIDE, small_policy

from siting.errors import InfeasibleError
from siting.models.embedded import EmbeddedFacilities
from siting.models.instance import Instance

from plan_check import check_plan

REACH = 700.0


def clustered_case(seed, spots=6, per_spot=3, m=6):
    """Points in clusters (same spot = same sites in reach), two communities per spot."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 900, (spots, 2))
    d = np.repeat(c, per_spot, axis=0) + rng.uniform(-5, 5, (spots * per_spot, 2))
    s = rng.uniform(0, 900, (m, 2))
    dist = np.abs(d[:, None] - s[None]).sum(2)
    i, j = np.nonzero(dist <= REACH)
    n = len(d)
    pop = rng.integers(200, 3000, n).astype(float)
    inst = Instance(pop, np.zeros(m), i, j, dist[i, j], REACH)
    demand = pd.DataFrame({"population": pop,
                           "community_id": (np.arange(n) % 2 + 2 * (np.arange(n) // (2 * per_spot)))
                           .astype(str)})
    sites = pd.DataFrame({"usable_area_m2": rng.uniform(150, 1400, m).round(),
                          "cost": rng.uniform(2e5, 1.5e6, m).round(-3)})
    return inst, demand, sites


FEASIBLE: dict = {}
FAMILIES = {
    "budget_penalty": (["infant_care", "elderly_care", "meal_assist"], {"budget": 3e6}),
    "hard_standard": (["meal_assist", "elderly_care"],
                      {"budget": 6e6, "standard": 3.0, "standard_mode": "hard"}),
    "coverage": (["infant_care", "meal_assist"], {"budget": 2e6, "capacity": False}),
    "sites_equity": (["meal_assist", "after_school"],
                     {"max_new_sites": 3, "min_coverage": 0.05, "standard_mode": "off"}),
    "coverage_equity": (["meal_assist", "after_school"],
                        {"budget": 4e6, "capacity": False, "min_coverage": 0.05}),
    "min_cost": (["meal_assist", "after_school"], {"objective": "min_cost", "standard": 2.0}),
}


def _solve(model):
    try:
        return model.solve("highs")
    except InfeasibleError:
        return None


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("seed", range(3))
def test_reduced_optimum_equals_unreduced(seed, family):
    services, kw = FAMILIES[family]
    inst, demand, sites = clustered_case(seed)
    if family == "min_cost":  # large sites and long walks, so that serving everyone is possible
        sites["usable_area_m2"] = np.linspace(900, 1400, len(sites))
    pol = small_policy(services, WIDE if family == "min_cost" else None)
    full = EmbeddedFacilities(inst, pol, demand, sites, reduce=False, **kw)
    red = EmbeddedFacilities(inst, pol, demand, sites, reduce=True, **kw)
    n_full = sum(len(r.pi) for r in full.data.rows)
    n_red = sum(len(r.pi) for r in red.data.rows)
    assert n_red < n_full  # the merge did something
    a, b = _solve(full), _solve(red)
    assert (a is None) == (b is None)
    FEASIBLE.setdefault(family, []).append(a is not None)
    if a is None:
        return
    assert b.summary["status"] == a.summary["status"] == "optimal"
    assert b.summary["objective"] == pytest.approx(a.summary["objective"], rel=1e-6, abs=1e-6)
    assert b.summary["cost_total"] == pytest.approx(a.summary["cost_total"], rel=1e-6, abs=1.0)
    again = check_plan(red, b)
    assert again["cost"] == pytest.approx(b.summary["cost_total"], rel=1e-6, abs=1.0)
    # results per original point: every served point is an input point, within its reach
    if len(b.assignments):
        assert b.assignments["demand"].between(0, inst.n_demand - 1).all()
    assert b.services["served_people"].sum() == pytest.approx(
        a.services["served_people"].sum(), rel=1e-6, abs=1e-6)


def test_families_not_vacuous():
    """Every family had feasible plans to compare on most seeds (run after them)."""
    for fam in FAMILIES:
        if fam in FEASIBLE:
            assert sum(FEASIBLE[fam]) >= 2, (fam, FEASIBLE[fam])


def test_min_distance_keeps_points():
    pol = small_policy(["meal_assist"])
    inst, demand, sites = clustered_case(0)
    model = EmbeddedFacilities(inst, pol, demand, sites, objective="min_distance", budget=9e6,
                               standard_mode="off")
    assert len(model.data.rows[0].pi) == len(model.data.pairs[0][0])
