"""Coverage models against brute force over all site subsets, with both solvers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from siting import Instance, MaximalCovering, SetCovering, SitingError


def random_instance(seed: int, n: int = 14, m: int = 7, reach: float = 0.35,
                    costs: bool = False) -> Instance:
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, 1, (n, 2))
    s = rng.uniform(0, 1, (m, 2))
    dist = np.linalg.norm(d[:, None] - s[None], axis=2)
    i, j = np.nonzero(dist <= reach)
    cost = rng.integers(1, 10, m).astype(float) if costs else np.zeros(m)
    return Instance(rng.integers(0, 50, n), cost, i, j, dist[i, j], reach)


def disk_instance(rng, side: float, n: int, m: int, reach: float, weight=None) -> Instance:
    """Demand and sites uniform on a square, covered within straight-line ``reach``.

    ``weight`` defaults to random integer populations 1..99.
    """
    from scipy.spatial import cKDTree

    d, s = rng.uniform(0, side, (n, 2)), rng.uniform(0, side, (m, 2))
    pairs = cKDTree(s).query_ball_point(d, reach)
    i = np.repeat(np.arange(n), [len(p) for p in pairs])
    j = np.concatenate([np.asarray(p, dtype=np.int64) for p in pairs])
    weight = rng.integers(1, 100, n) if weight is None else weight
    return Instance(weight, np.zeros(m), i, j, np.linalg.norm(d[i] - s[j], axis=1), reach)


def covered_weight(inst: Instance, subset) -> float:
    return float(inst.weight[inst.covered_by(list(subset))].sum())


def brute_max_cover(inst: Instance, p=None, budget=None) -> float:
    best = 0.0
    for k in range(inst.n_sites + 1):
        for subset in itertools.combinations(range(inst.n_sites), k):
            if p is not None and k > p:
                continue
            if budget is not None and inst.cost[list(subset)].sum() > budget + 1e-9:
                continue
            best = max(best, covered_weight(inst, subset))
    return best


def brute_set_cover(inst: Instance) -> float:
    need = inst.coverable() & (inst.weight > 0)
    cost = inst.cost if inst.cost.any() else np.ones(inst.n_sites)
    best = np.inf
    for k in range(inst.n_sites + 1):
        for subset in itertools.combinations(range(inst.n_sites), k):
            if np.all(inst.covered_by(list(subset))[need]):
                best = min(best, cost[list(subset)].sum())
    return best


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize("seed", range(6))
def test_max_cover_p_matches_brute_force(seed, solver):
    inst = random_instance(seed)
    for p in (1, 2, 3):
        sol = MaximalCovering(inst, p=p).solve(solver)
        assert sol.status == "optimal" and sol.mip_gap == 0
        assert len(sol.chosen) <= p
        # the solution's own coverage, recomputed from the chosen sites
        assert covered_weight(inst, sol.chosen) == pytest.approx(sol.objective)
        assert sol.objective == pytest.approx(brute_max_cover(inst, p=p))


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize("seed", range(6))
def test_max_cover_budget_matches_brute_force(seed, solver):
    inst = random_instance(seed, costs=True)
    for budget in (5, 9, 14):
        sol = MaximalCovering(inst, budget=budget).solve(solver)
        assert inst.cost[sol.chosen].sum() <= budget + 1e-9
        assert covered_weight(inst, sol.chosen) == pytest.approx(sol.objective)
        assert sol.objective == pytest.approx(brute_max_cover(inst, budget=budget))


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("costs", [False, True])
def test_set_cover_matches_brute_force(seed, solver, costs):
    inst = random_instance(seed, costs=costs)
    sol = SetCovering(inst).solve(solver)
    need = inst.coverable() & (inst.weight > 0)
    assert np.all(sol.covered[need])
    cost = inst.cost if costs else np.ones(inst.n_sites)
    assert cost[sol.chosen].sum() == pytest.approx(brute_set_cover(inst))
    assert sol.objective == pytest.approx(brute_set_cover(inst))


def test_fixed_sites_stay_open_and_are_free():
    inst = random_instance(3)
    best_with_0 = max(covered_weight(inst, (0, *s)) for s in itertools.combinations(range(1, 7), 2))
    sol = MaximalCovering(inst, p=2, fixed=[0]).solve()
    assert 0 in sol.chosen and len(sol.chosen) <= 3
    assert sol.objective == pytest.approx(best_with_0)


def test_time_limited_run_is_never_called_optimal():
    # a connected lattice-like instance that CBC cannot prove in a fraction of a second
    rng = np.random.default_rng(7)
    inst = disk_instance(rng, 6000, 2500, 1200, 600)
    for solver in ("highs", "cbc"):
        try:
            sol = MaximalCovering(inst, p=30).solve(solver, time_limit=1.0)
        except SitingError as exc:  # no integer solution within the limit: said so
            assert "no integer solution" in str(exc)
            continue
        if sol.status == "optimal":
            assert sol.mip_gap <= 1e-9
        else:
            assert sol.status == "feasible"
            assert sol.bound >= sol.objective - 1e-6
            assert sol.mip_gap == pytest.approx((sol.bound - sol.objective) / sol.objective)


def test_bad_model_input_errors():
    inst = random_instance(0)
    with pytest.raises(SitingError, match="larger than the 7 candidate"):
        MaximalCovering(inst, p=8)
    with pytest.raises(SitingError, match="unknown solver 'gurobi'"):
        MaximalCovering(inst, p=2).solve("gurobi")
    with pytest.raises(SitingError, match="needs p"):
        MaximalCovering(inst)
    with pytest.raises(SitingError, match="threshold must be > 0"):
        inst.coverage(0)


def _brute_unicost_cover(cov) -> int:
    nr, nc = cov.shape
    for k in range(1, nc + 1):
        for subset in itertools.combinations(range(nc), k):
            if np.all(cov[:, list(subset)].sum(axis=1) > 0):
                return k
    raise AssertionError("no cover")


@pytest.mark.parametrize("seed", range(8))
def test_rwls_search_returns_a_valid_cover_no_larger_than_its_start(seed):
    import scipy.sparse as sp

    from siting.models._heuristics import _greedy_set_cover
    from siting.models._setcover import rwls_set_cover

    rng = np.random.default_rng(seed)
    nr, nc = 30, 12
    cov = (rng.random((nr, nc)) < 0.2).astype(float)
    cov[np.arange(nr), rng.integers(0, nc, nr)] = 1  # every row coverable
    A = sp.csr_array(cov)
    start = _greedy_set_cover(A, np.ones(nc))
    found = rwls_set_cover(A, start, time_s=2.0, seed=seed)
    assert np.all(cov[:, found].sum(axis=1) > 0)
    assert len(set(found.tolist())) == found.size <= start.size
    assert found.size == _brute_unicost_cover(cov)  # small enough to reach the optimum


def test_set_cover_start_search_shrinks_the_greedy_cover_on_a_lattice_like_instance():
    # disks on a square: greedy is several sites off and the search must not be worse
    inst = disk_instance(np.random.default_rng(11), 3000, 600, 900, 500, np.ones(600))
    model = SetCovering(inst)
    greedy, searched = model.greedy(), model.greedy(search_s=1.0)
    cov = model.reduced.cov
    assert np.all(cov[:, searched].sum(axis=1) > 0)
    assert searched.size < greedy.size
    sol = model.solve(time_limit=2.0)
    assert np.all(sol.covered[inst.coverable()])
    assert sol.objective <= searched.size


@pytest.mark.parametrize("seed", range(4))
def test_simple_bounds_are_valid(seed):
    """``simple_bound`` (reported when a solve stops with no proven bound) never cuts off
    the optimum: above it for maximal covering (p and budget), below it for set covering."""
    inst = random_instance(seed, n=14, m=7, costs=True)
    assert MaximalCovering(inst, p=2).simple_bound() >= brute_max_cover(inst, p=2) - 1e-9
    mc = MaximalCovering(inst, budget=9.0, fixed=[0])
    best = max(covered_weight(inst, set(s) | {0}) for k in range(8)
               for s in itertools.combinations(range(1, 7), k)
               if inst.cost[list(s)].sum() <= 9.0)
    assert mc.simple_bound() >= best - 1e-9
    assert 0 < SetCovering(inst).simple_bound() <= brute_set_cover(inst) + 1e-9


def test_stopped_without_a_bound_reports_no_proof(monkeypatch):
    """A solve stopped by its limit before HiGHS proved any bound must not report gap 0
    with the objective as bound: it reports the model's simple bound and its gap."""
    import highspy

    inst = random_instance(3, n=30, m=12, costs=False)
    real_info = highspy.Highs.getInfo

    def no_bound(self):
        info = real_info(self)
        info.mip_dual_bound = float("inf")
        return info

    monkeypatch.setattr(highspy.Highs, "getInfo", no_bound)
    monkeypatch.setattr(highspy.Highs, "getModelStatus",
                        lambda self: highspy.HighsModelStatus.kTimeLimit)
    for model in (MaximalCovering(inst, p=3), SetCovering(inst)):
        sol = model.solve("highs", time_limit=5)
        assert sol.status == "feasible"
        assert sol.bound == pytest.approx(model.simple_bound())
        assert sol.bound != sol.objective and sol.mip_gap > 0


def test_swap_search_stops_at_its_deadline():
    """The 1-swap pass checks its deadline between moves (a pass at 1M nodes took 5 s
    past the limit): with the deadline passed it returns its start, still p sites."""
    import time

    from siting.models._heuristics import _iterated_swap, _swap_max_cover

    inst = random_instance(5, n=40, m=12)
    cov = inst.coverage(inst.threshold_m)
    start = np.array([0, 1, 2])
    assert _swap_max_cover(cov, inst.weight, start, deadline=time.perf_counter()).tolist() \
        == [0, 1, 2]
    better = _swap_max_cover(cov, inst.weight, start)
    assert covered_weight(inst, better) >= covered_weight(inst, start)
    assert len(_iterated_swap(cov, inst.weight, start, time_s=0.0)) == 3


def test_highs_objective_is_checked_against_its_solution(helsinki_osm):
    """HiGHS 1.16 reported 47.9 M as the proven optimum of this set cover after a MIP start
    while its solution cost 49.9 M (CBC proves 49.9 M): the reported objective is always the
    cost of the sites returned, and a proof only when the two agree."""
    from siting.config.scenario import make_scenario
    from siting.pipeline import run

    inst = run(make_scenario(osm=helsinki_osm, max_sites=3)).instance
    for reduce in (False, True):
        sol = SetCovering(inst, reduce=reduce).solve("highs")
        assert sol.objective == pytest.approx(inst.cost[sol.chosen].sum(), rel=1e-9)
    assert sol.objective == pytest.approx(SetCovering(inst).solve("cbc").objective, rel=1e-9)


def _lp_max_cover(cov, w, p=None, cost=None, budget=None) -> float:
    """The LP relaxation of maximal covering, solved by HiGHS (an independent formulation
    of the bound the Lagrangian relaxation tends to)."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    nr, nc = cov.shape
    A = sp.hstack([-sp.csr_array(cov, dtype=float), sp.identity(nr)])  # z_i - sum y_j <= 0
    rows, rhs = [A], [np.zeros(nr)]
    if p is not None:
        rows.append(sp.csr_array(np.r_[np.ones(nc), np.zeros(nr)][None]))
        rhs.append([p])
    if budget is not None:
        rows.append(sp.csr_array(np.r_[cost, np.zeros(nr)][None]))
        rhs.append([budget])
    res = linprog(-np.r_[np.zeros(nc), w], A_ub=sp.vstack(rows), b_ub=np.concatenate(rhs),
                  bounds=(0, 1), method="highs")
    return -res.fun


@pytest.mark.parametrize("seed", range(5))
def test_lagrangian_bound_is_valid_and_reaches_the_lp_bound(seed):
    """The Lagrangian bound of maximal covering never cuts off the optimum (brute force),
    lies within 0.5 % of the LP bound it tends to (an independent LP), and its plan is
    feasible."""
    from siting.models._heuristics import _covered_weight, _lagrangian_max_cover

    inst = random_instance(seed, n=40, m=12, costs=True)
    mc = MaximalCovering(inst, p=3, reduce=False)
    cov, w = mc.reduced.cov, mc.reduced.weight
    for p, budget in ((3, None), (None, 9.0), (3, 9.0)):
        best = brute_max_cover(inst, p=p, budget=budget)
        cost = inst.cost if budget is not None else None
        bound, plan = _lagrangian_max_cover(cov, w, p, cost, budget, time_s=5.0)
        lp = _lp_max_cover(cov, w, p, cost, budget)
        assert bound >= best - 1e-6 and bound >= lp - 1e-6
        # with both limits it tends to the smaller of the two single-limit LP bounds
        near = lp if p is None or budget is None else min(
            _lp_max_cover(cov, w, p=p), _lp_max_cover(cov, w, cost=cost, budget=budget))
        assert bound <= near * 1.005 + 1e-6
        assert (p is None or len(plan) <= p) and (budget is None or cost[plan].sum() <= budget)
        assert _covered_weight(cov, w, plan) <= best + 1e-9


def test_a_stopped_max_cover_reports_the_lagrangian_bound(monkeypatch):
    """Where HiGHS stops without a good bound, the Lagrangian one is reported (and is
    valid); where it meets the plan, the plan is proven optimal."""
    import highspy

    import siting.models.coverage as cv

    inst = random_instance(2, n=60, m=14, costs=False)
    best = brute_max_cover(inst, p=3)
    monkeypatch.setattr(cv, "LAGRANGE_NNZ", 0)
    real_info = highspy.Highs.getInfo

    def no_bound(self):
        info = real_info(self)
        info.mip_dual_bound = float("inf")
        return info

    monkeypatch.setattr(highspy.Highs, "getInfo", no_bound)
    monkeypatch.setattr(highspy.Highs, "getModelStatus",
                        lambda self: highspy.HighsModelStatus.kTimeLimit)
    model = MaximalCovering(inst, p=3)
    sol = model.solve("highs", time_limit=5)
    assert sol.objective == pytest.approx(best)
    assert best - 1e-9 <= sol.bound < model.simple_bound()
    assert (sol.status == "optimal") == (sol.mip_gap <= 1e-9)
