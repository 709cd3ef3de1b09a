"""The city-wide decomposition of the embedded model against the whole model and brute force.

Copies of a small real extract (Nanjing Xinjiekou, a corner of it) are a city of
districts sharing only the budget: the decomposed solve must prove the same optimum as
the whole model. The knapsack and the curve bound are checked against brute force on
random curves.
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from siting.access import build_instance
from siting.config.policy import load_policy
from siting.config.scenario import make_scenario
from siting.errors import SitingError
from siting.models.embedded import EmbeddedFacilities
from siting.models.embedded.allocate import (
    Curve,
    Point,
    curve_bound,
    mckp,
    relaxed_curve,
    solve_lagrange,
    solve_point,
)
from siting.models.embedded.decompose import refusal, split
from siting.models.embedded.price import MAX_PRICES, PriceSearch
from siting.models.embedded.tiles import joined, tiled
from siting.pipeline import run
from siting.solvers import solve as solve_matrix

from plan_check import check_plan

CORNER = (118.776, 32.041, 118.781, 32.045)  # 8 buildings, 56 candidate sites


@pytest.fixture(scope="module")
def corner(nanjing_osm):
    r = run(make_scenario(osm=nanjing_osm, model="max_cover", max_sites=1, bbox=CORNER))
    pol = load_policy()
    inst = build_instance(r.access, r.demand["population"].to_numpy(), r.sites["cost"].to_numpy(),
                          pol.max_threshold_m)
    return inst, pol, r.demand, r.sites


def test_decomposed_proves_the_whole_models_optimum(corner):
    inst, pol, demand, sites = corner
    # two districts with other prices: two distinct groups under one budget
    big, d, st = tiled(inst, demand, sites, 2, cost_factors=[1.0, 1.3])
    m = EmbeddedFacilities(big, pol, d, st, budget=1.6e6)
    parts = split(m.formulation)
    assert parts.n_groups == 2 and parts.classes == [0, 1]
    whole = m.solve("highs", mip_gap=0.0, marginal=False, decompose=False).summary
    with ThreadPoolExecutor(2) as pool:
        sol = m.solve("highs", mip_gap=1e-9, marginal=False, mapper=pool.map, workers=2,
                      decompose=True)
    s = sol.summary
    assert any("decomposed into 2 independent groups" in n for n in s["notes"])
    assert whole["status"] == s["status"] == "optimal"
    assert s["objective"] == pytest.approx(whole["objective"], rel=1e-6)
    assert s["best_bound"] >= whole["objective"] - 1e-6 * abs(whole["objective"])
    assert s["mip_gap"] <= 1e-6
    assert s["cost_total"] <= 1.6e6 + 1.0
    # the plan reads as the whole model's does: same tables, same columns
    ref = m.solve("highs", mip_gap=0.0, marginal=False, decompose=False)
    for name in ("sites", "services", "communities", "assignments", "community_area"):
        assert list(getattr(sol, name).columns) == list(getattr(ref, name).columns)
    assert sum(g["cost"] for g in s["groups"]) == pytest.approx(s["cost_total"], rel=1e-6)
    again = check_plan(m, sol)  # every rule, recomputed from the plan's tables
    assert again["cost"] == pytest.approx(s["cost_total"], rel=1e-6)


def test_split_refusal_and_joined_copies(corner):
    inst, pol, demand, sites = corner
    big, d, st = tiled(inst, demand, sites, 3)
    parts = split(EmbeddedFacilities(big, pol, d, st, budget=1e6).formulation)
    assert parts.n_groups == 3 and parts.classes == [0, 0, 0]  # identical copies
    assert all(len(g) == len(parts.groups[0]) for g in parts.groups)
    # joined by streets across the seams: the districts no longer separate
    jb, jd, js = joined(inst, demand, sites, 3)
    assert len(jb.pair_dist) > len(big.pair_dist)
    mj = EmbeddedFacilities(jb, pol, jd, js, budget=1e6)
    n_joined = split(mj.formulation).n_groups
    assert n_joined < 3
    notes = mj.solve("highs", time_limit=4, mip_gap=0.01, marginal=False,
                     decompose=True).summary["notes"]
    said = "decomposition asked for" if n_joined == 1 else f"decomposed into {n_joined}"
    assert any(said in n for n in notes)
    cheap = EmbeddedFacilities(big, pol, d, st, objective="min_cost")
    assert "objective min_cost" in refusal(cheap.data, cheap.formulation)
    free = EmbeddedFacilities(big, pol, d, st)
    assert refusal(free.data, free.formulation) == "no budget"
    with pytest.raises(SitingError, match="cannot be decomposed: no budget"):
        free.solve("highs", decompose=True)


def _brute(values, costs, budget):
    best = (-math.inf, math.inf, None)
    for pick in itertools.product(*[range(len(v)) for v in values]):
        c = sum(costs[g][i] for g, i in enumerate(pick))
        v = sum(values[g][i] for g, i in enumerate(pick))
        if c <= budget + 1e-9 and (v > best[0] + 1e-9 or (abs(v - best[0]) <= 1e-9
                                                         and c < best[1])):
            best = (v, c, pick)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_knapsack_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_g = int(rng.integers(2, 5))
    values = [np.round(rng.normal(0, 50, rng.integers(1, 5)), 1) for _ in range(n_g)]
    costs = [np.round(rng.uniform(0, 100, len(v))) for v in values]
    least, most = sum(c.min() for c in costs), sum(c.max() for c in costs)
    budget = float(least + rng.uniform(0.2, 0.8) * (most - least))
    v_best, c_best, _ = _brute(values, costs, budget)
    choice, v, bound = mckp(values, costs, budget)
    cost = sum(costs[g][i] for g, i in enumerate(choice))
    assert v == pytest.approx(v_best, abs=1e-6) and bound >= v_best - 1e-6
    assert cost == pytest.approx(c_best, abs=1e-6)  # ties by least cost


@pytest.mark.parametrize("seed", range(4))
def test_curve_bound_against_brute_force(seed):
    # random nondecreasing curves with jumps (a site's fixed cost) and slopes (its area)
    rng = np.random.default_rng(100 + seed)
    grid = np.linspace(0.0, 10.0, 101)
    n_g, budget = 3, 12.0
    true = []
    for _ in range(n_g):
        jumps = np.sort(rng.uniform(0, 10, 3))
        val = sum(rng.uniform(1, 5) * (grid >= j) for j in jumps) + rng.uniform(0, 1) * grid
        true.append(np.maximum.accumulate(val))
    def brute(money):  # best over the grid allocations (all 101³ of them)
        total = true[0][:, None, None] + true[1][None, :, None] + true[2][None, None, :]
        spent = grid[:, None, None] + grid[None, :, None] + grid[None, None, :]
        return float(total[spent <= money + 1e-9].max())

    best = brute(budget)
    curves = []
    for val in true:
        c = Curve()
        for b in np.sort(rng.choice(grid[1:], 4, replace=False)).tolist() + [10.0]:
            i = int(round(b * 10))
            c.add(Point(b, float(val[i]), b, np.zeros(1), float(val[i])))
        # a line over one interval: the exact max of value - λ cost there
        lo, hi = c.points[1].budget, c.points[2].budget
        sel = (grid >= lo - 1e-9) & (grid <= hi + 1e-9)
        lam = float(rng.uniform(0, 1))
        c.lines.append((lo, hi, lam, float(np.max(val[sel] - lam * grid[sel]))))
        curves.append(c)
    bound, interval, spend = curve_bound(curves, budget)
    assert bound >= best - 1e-6
    assert spend.sum() <= budget + 1e-6 and len(interval) == n_g
    # with every grid point known, the bound is within one grid step per group: at
    # most the optimum with n_g steps more budget
    for c, val in zip(curves, true):
        for i, b in enumerate(grid[1:], start=1):
            c.add(Point(float(b), float(val[i]), float(b), np.zeros(1), float(val[i])))
    bound, _, _ = curve_bound(curves, budget)
    assert best - 1e-6 <= bound <= brute(budget + n_g * 0.1) + 1e-6


def test_groups_sheet_rolls_up_to_the_city(corner):
    inst, pol, demand, sites = corner
    big, d, st = tiled(inst, demand, sites, 2, cost_factors=[1.0, 1.3])
    m = EmbeddedFacilities(big, pol, d, st, budget=1.6e6)
    sol = m.solve("highs", mip_gap=1e-6, marginal=False, decompose=True)
    t = sol.sheets["groups"]
    s = sol.summary
    assert list(t["group"]) == [1, 2]
    assert t["cost_total"].sum() == pytest.approx(s["cost_total"], rel=1e-6)
    assert t["budget"].sum() <= 1.6e6 + 1.0
    assert t["n_sites"].sum() == s["n_sites_new"]
    for svc, people in s["served_by_service"].items():  # one number, one source
        assert t[f"served_{svc}"].sum() == pytest.approx(people, rel=1e-9, abs=1e-6)
    # each group's new sites are its own: the ids of the plan's sites, split
    rows = sol.sites.loc[~sol.sites["existing"].astype(bool), "site"]
    ids = list(m.data.sites["source_id"].to_numpy()[rows.to_numpy()])  # stable ids (copies share)
    listed = [i for cell in t["site_ids"] for i in cell.split(", ") if i]
    assert sorted(listed) == sorted(ids)


def test_dask_client_map_gives_the_in_process_plan(corner):
    """The group solves through a dask ``Client.map`` (2 workers) give the plan of the
    built-in ``map``: same optimum, same groups with the same budgets and sites."""
    from distributed import Client, LocalCluster

    inst, pol, demand, sites = corner
    big, d, st = tiled(inst, demand, sites, 2, cost_factors=[1.0, 1.3])
    m = EmbeddedFacilities(big, pol, d, st, budget=1.6e6)
    here = m.solve("highs", mip_gap=1e-9, marginal=False, decompose=True).summary
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        calls = []

        def dask_map(fn, tasks):
            calls.append(len(tasks))
            return client.map(fn, tasks, pure=False)  # futures: gathered by the solve

        there = m.solve("highs", mip_gap=1e-9, marginal=False, decompose=True,
                        mapper=dask_map, workers=2).summary
    assert calls and sum(calls) >= 2  # the group solves went through the cluster
    assert here["status"] == there["status"] == "optimal"
    assert there["objective"] == pytest.approx(here["objective"], rel=1e-6)
    key = [(g["group"], g["sites_new"]) for g in here["groups"]]
    assert [(g["group"], g["sites_new"]) for g in there["groups"]] == key
    for a, b in zip(here["groups"], there["groups"]):
        assert b["value"] == pytest.approx(a["value"], rel=1e-6, abs=1e-6)
        assert b["cost"] == pytest.approx(a["cost"], rel=1e-6, abs=1.0)


def test_a_point_stopped_before_its_bound_is_bounded_by_the_lp(corner):
    inst, pol, demand, sites = corner
    big, d, st = tiled(inst, demand, sites, 2)
    parts = split(EmbeddedFacilities(big, pol, d, st, budget=1.6e6).formulation)
    model = parts.models[0]
    exact = solve_point((model, 8e5, None, None, 0.0, "highs"))
    stopped = solve_point((model, 8e5, None, 1e-4, 0.0, "highs"))  # no time for a bound
    assert exact.bound == pytest.approx(exact.value, rel=1e-6)
    assert math.isfinite(stopped.bound)  # the LP relaxation's optimum: a valid bound
    assert stopped.bound >= exact.value - 1e-6 * abs(exact.value)


def test_lp_lines_and_prices_bound_every_plan(corner):
    """The LP sweep (one HiGHS, warm-started) gives each LP's own optimum; its lines and
    a Lagrangian MILP line over all costs lie above every plan solved at any budget."""
    inst, pol, demand, sites = corner
    big, d, st = tiled(inst, demand, sites, 2)
    model = split(EmbeddedFacilities(big, pol, d, st, budget=1.6e6).formulation).models[0]
    budgets = [1e5, 4e5, 8e5, 1.2e6, 1.6e6]
    points, lines = relaxed_curve((model, budgets, None))
    for p in points:  # the sweep equals a fresh LP at each budget
        hi = model.row_hi.copy()
        hi[-1] = p.budget
        lp = replace(model, row_hi=hi, integer=np.zeros(0, np.int64))
        assert p.bound == pytest.approx(solve_matrix(lp, "highs").objective, rel=1e-7, abs=1e-6)
    assert lines and all(lo == 0 and hi == math.inf for lo, hi, _, _ in lines)
    lam = lines[len(lines) // 2][2]
    milp_line, plan = solve_lagrange((model, lam, 0.0, 1.6e6, None, 0.0, "highs"))
    assert plan is not None and plan.cost <= 1.6e6 + 1e-6
    for b in np.linspace(5e4, 1.6e6, 9):  # every plan, whatever its budget
        p = solve_point((model, float(b), None, None, 0.0, "highs"))
        if p.x is None:
            continue
        assert p.bound <= next(q.bound for q in points if q.budget >= b) + 1e-6 * abs(p.bound)
        for _, _, lam_l, M in lines + [milp_line]:
            assert p.value <= M + lam_l * p.cost + 1e-6 * max(1.0, abs(M))


def test_price_search_finds_the_minimum_of_a_convex_dual():
    """The budget's price: from a start far off, on both sides, then to the kink of a
    piecewise-linear convex L(λ) (plans (cost, value) per group, two identical groups)."""
    plans = [(0.0, 0.0), (3.0, 10.0), (5.0, 14.0), (9.0, 18.0)]
    budget, count = 10.0, np.array([2])

    def solve(lam):
        c, v = max(plans, key=lambda p: (p[1] - lam * p[0], -p[0]))
        return v - lam * c, c

    lams = np.linspace(0, 5, 50001)
    L = [2 * solve(x)[0] + x * budget for x in lams]
    best = float(min(L))
    for start in (0.1, 2.0, 4.5):
        dual = PriceSearch(budget, start)
        while prices := dual.next(2):
            for lam in prices:
                M, c = solve(lam)
                dual.add(lam, [M], [c], count)
        found = min(t[1] for t in dual.tried)
        assert len(dual.tried) <= MAX_PRICES * 2
        assert best - 1e-9 <= found <= best + 1e-3 * abs(best), start



def test_price_search_stops_within_its_tolerance():
    """On a smooth concave value curve (many plans) the search with a tolerance stops
    sooner than without, its bound within the tolerance of L's minimum."""
    plans = [(c, 20 * np.sqrt(c)) for c in np.arange(0, 9.01, 0.05)]
    budget, count = 10.0, np.array([2])

    def solve(lam):
        c, v = max(plans, key=lambda p: (p[1] - lam * p[0], -p[0]))
        return v - lam * c, c

    best = min(2 * solve(x)[0] + x * budget for x in np.linspace(0, 20, 20001))
    fewer = 0
    for start in (2.0, 4.5, 15.0):
        tried = []
        for tol in (0.0, 0.01):
            dual = PriceSearch(budget, start, tol=tol)
            while prices := dual.next(1):
                M, c = solve(prices[0])
                dual.add(prices[0], [M], [c], count)
            tried.append(dual.tried)
            assert best - 1e-9 <= min(t[1] for t in dual.tried) <= best * (1 + max(tol, 1e-3))
        assert len(tried[1]) <= len(tried[0])
        fewer += len(tried[1]) < len(tried[0])
    assert fewer >= 2


def test_identical_copies_mix_plans_to_the_whole_models_optimum(corner):
    """Three identical districts (one curve, the budget's price at work): the decomposed
    plan and bound meet the whole model's proven optimum, the budget binding."""
    inst, pol, demand, sites = corner
    big, d, st = tiled(inst, demand, sites, 3)
    m = EmbeddedFacilities(big, pol, d, st, budget=1.2e6)
    whole = m.solve("highs", mip_gap=0.0, marginal=False, decompose=False).summary
    s = m.solve("highs", mip_gap=1e-9, marginal=False, decompose=True).summary
    assert any(n.startswith("decomposed into 3 independent groups") and "(1 distinct" in n
               for n in s["notes"])
    assert s["status"] == "optimal"
    assert s["objective"] == pytest.approx(whole["objective"], rel=1e-6)
    assert s["best_bound"] >= whole["objective"] - 1e-6 * abs(whole["objective"])
    assert whole["cost_total"] == pytest.approx(1.2e6)  # the budget binds
    assert s["cost_total"] <= 1.2e6 + 1.0
