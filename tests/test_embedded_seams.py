"""A connected city by districts: the seams' Lagrangian relaxation against the whole model.

Two copies of a corner of the Nanjing extract joined by streets (people near the seam
walk to sites across it) are one group that :mod:`.decompose` alone cannot split. On a
site graph of three towns the districts found must be the towns; the relaxation must bound the whole model's
optimum at any prices (checked by solving both as MILPs) and equal its LP at the LP's
prices; the plan must be feasible and below the proven optimum, the bound above it.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from siting.access import build_instance
from siting.config.policy import load_policy
from siting.config.scenario import make_scenario
from siting.errors import SitingError
from siting.models.embedded import EmbeddedFacilities, seams
from siting.models.embedded.tiles import joined
from siting.pipeline import run
from siting.solvers import solve as solve_matrix
from siting.solvers.highs import lp_duals

from plan_check import check_plan

CORNER = (118.776, 32.041, 118.781, 32.045)  # 8 buildings, 56 candidate sites
BUDGET = 1.6e6


@pytest.fixture(scope="module")
def city(nanjing_osm):
    r = run(make_scenario(osm=nanjing_osm, model="max_cover", max_sites=1, bbox=CORNER))
    pol = load_policy()
    inst = build_instance(r.access, r.demand["population"].to_numpy(),
                          r.sites["cost"].to_numpy(), pol.max_threshold_m)
    big, d, st = joined(inst, r.demand, r.sites, 2)
    return EmbeddedFacilities(big, pol, d, st, budget=BUDGET), inst.n_sites


def _rows(m):
    form = m.formulation
    whole = form.problem.model()
    b = form.problem.row("budget")
    keep = np.setdiff1d(np.arange(whole.shape[0]), [b])
    return form, whole, keep


def test_districts_cut_where_few_people_walk_across():
    """Three towns of 40 sites, each demand row reaching 3 sites of its town, a few rows
    reaching across: the districts are the towns, whatever the numbering."""
    rng = np.random.default_rng(0)
    town = rng.permutation(np.repeat(np.arange(3), 40))
    pi, pj = [], []
    for i in range(600):
        t = i % 3
        pj.extend(rng.choice(np.flatnonzero(town == t), 3, replace=False))
        pi.extend([i] * 3)
    for i in range(600, 606):  # the seams: a row reaching two towns
        pj.extend([rng.choice(np.flatnonzero(town == i % 3)),
                   rng.choice(np.flatnonzero(town == (i + 1) % 3))])
        pi.extend([i] * 2)
    rows = [SimpleNamespace(pi=np.array(pi), pj=np.array(pj), D=np.ones(606))]
    data = SimpleNamespace(sites=pd.DataFrame({"site": range(120)}), rows=rows,
                           standard_reach=(np.zeros(0, np.int64), np.zeros(0, np.int64)))
    part = seams.districts(data, size=40)
    assert sorted(np.bincount(part)) == [40, 40, 40]
    for t in range(3):
        assert len(np.unique(part[town == t])) == 1
    assert seams.districts(data, size=10 ** 6).max() == 0  # room for all: one district
    with pytest.raises(SitingError, match="at least 2 sites"):
        seams.districts(data, size=1)


def test_relaxation_bounds_the_optimum_at_any_prices(city):
    m, n_copy = city
    form, whole, keep = _rows(m)
    label = seams.column_districts(form, m.data, seams.districts(m.data, size=n_copy),
                                   whole.A[keep])
    opt = solve_matrix(whole, "highs", mip_gap=0.0).objective
    lp, duals = lp_duals(whole)
    relaxed, seam = seams.relax_seams(whole, label, keep, duals)
    assert len(seam) > 0
    # at the LP's prices the relaxation's LP is the LP (strong duality)
    assert lp_duals(relaxed)[0] == pytest.approx(lp, rel=1e-7)
    # the pairs' prices (the solve's) bound it too, and no worse than prices of 0
    b = form.problem.row("budget")
    at_pairs = lp_duals(seams.relax_seams(
        whole, label, keep, seams.pair_prices(whole, label, keep, b))[0])[0]
    at_zero = lp_duals(seams.relax_seams(whole, label, keep, 0 * duals)[0])[0]
    assert lp - 1e-6 * abs(lp) <= at_pairs <= at_zero + 1e-6 * abs(lp)
    # at any prices >= 0 its MILP optimum bounds the whole model's
    rng = np.random.default_rng(3)
    for scale in (0.0, 1.0, 5.0):
        y = duals.copy()
        y[seam] = rng.uniform(-scale, scale, len(seam))
        r = solve_matrix(seams.relax_seams(whole, label, keep, y)[0], "highs", mip_gap=0.0)
        assert r.objective >= opt - 1e-6 * abs(opt)


def test_decomposed_at_the_seams_brackets_the_whole_optimum(city, monkeypatch):
    m, n_copy = city
    whole = m.solve("highs", mip_gap=0.0, marginal=False, decompose=False).summary
    assert whole["status"] == "optimal"
    monkeypatch.setattr(seams, "SITES_PER_DISTRICT", n_copy)
    sol = m.solve("highs", mip_gap=1e-9, marginal=False, decompose=True)
    s = sol.summary
    said = [n for n in s["notes"] if "Lagrangian bound" in n]
    assert len(said) == 1 and "rows across their seams" in said[0]
    # its least cost is for the districts' sites only: not claimed over every plan
    assert "not proven least" in said[0] and s["stage2_status"] == "feasible"
    assert math.isnan(s["stage2_mip_gap"])
    opt = whole["objective"]
    assert s["objective"] <= opt + 1e-6 * abs(opt)
    assert s["best_bound"] >= opt - 1e-6 * abs(opt)
    assert s["mip_gap"] == pytest.approx((s["best_bound"] - s["objective"]) / s["objective"])
    assert s["mip_gap"] < 0.05
    again = check_plan(m, sol)  # every rule, recomputed from the plan's tables
    assert again["cost"] == pytest.approx(s["cost_total"], rel=1e-6)
    assert s["cost_total"] <= BUDGET + 1.0
    assert len(s["groups"]) >= 2
    assert sum(g["cost"] for g in s["groups"]) == pytest.approx(s["cost_total"], rel=1e-6)
    assert sum(g["value"] for g in s["groups"]) == pytest.approx(s["objective"], rel=1e-6)


def test_auto_takes_the_seams_from_enough_districts(city, monkeypatch):
    """``decompose=None`` solves one group at its seams only from ``AUTO_DISTRICTS``
    districts; below, whole (and says nothing: auto chose)."""
    from siting.models.embedded import city as city_mod

    m, n_copy = city
    monkeypatch.setattr(seams, "SITES_PER_DISTRICT", n_copy)
    k = int(seams.districts(m.data, size=n_copy).max()) + 1
    for need, at_seams in ((k, True), (k + 1, False)):
        monkeypatch.setattr(city_mod, "AUTO_DISTRICTS", need)
        notes = m.solve("highs", mip_gap=0.01, marginal=False,
                        decompose=None).summary["notes"]
        assert any("Lagrangian bound" in n for n in notes) == at_seams
        assert not any("decomposition asked for" in n for n in notes)
