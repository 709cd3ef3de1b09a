"""Classic location models (p-median, p-center, backup and capacitated covering)
checked against brute force over every p-subset of sites, with the real solvers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import maximum_flow

from siting.errors import InfeasibleError, SitingError
from siting.models.backup import BackupCovering
from siting.models.capacitated import CapacitatedMaximalCovering
from siting.models.center import PCenter
from siting.models.instance import Instance
from siting.models.median import PMedian

SOLVERS = ("highs", "cbc")
SEEDS = range(8)


def random_instance(seed: int, n_demand: int = 10, n_sites: int = 7,
                    density: float | None = None,
                    reach: float = 9.0) -> tuple[Instance, np.ndarray]:
    """Integer distances 1..12 (many ties), pairs only within ``reach``, some demand
    without any pair, some zero weights. Returns the instance and the dense distances
    (inf where no pair). The default density varies with the seed so that some p are
    infeasible (p sites cannot reach every point) and most are not."""
    rng = np.random.default_rng(seed)
    density = 0.55 + 0.1 * (seed % 3) if density is None else density
    dist = rng.integers(1, 13, size=(n_demand, n_sites)).astype(float)
    dist[(rng.random(dist.shape) > density) | (dist > reach)] = np.inf
    dist[0] = np.inf  # one point no site reaches
    weight = rng.integers(0, 6, n_demand).astype(float)
    weight[1] = 0.0  # one point without people
    d, s = np.nonzero(np.isfinite(dist))
    inst = Instance(weight=weight, cost=np.ones(n_sites), pair_demand=d, pair_site=s,
                    pair_dist=dist[d, s], threshold_m=reach)
    return inst, dist


def _active(inst: Instance, dist: np.ndarray) -> np.ndarray:
    return (inst.weight > 0) & np.isfinite(dist).any(axis=1)


def brute_median(inst, dist, p, fixed=()):
    """Best total weighted distance over all p-subsets (plus fixed), None if none can
    reach every demand point with people and a pair."""
    act = _active(inst, dist)
    best = None
    free = [j for j in range(inst.n_sites) if j not in fixed]
    for s in itertools.combinations(free, p):
        near = dist[:, list(s) + list(fixed)].min(axis=1) if p + len(fixed) else \
            np.full(inst.n_demand, np.inf)
        if np.isinf(near[act]).any():
            continue
        v = float(inst.weight[act] @ near[act])
        best = v if best is None else min(best, v)
    return best


def brute_center(inst, dist, p):
    act = _active(inst, dist)
    best = None
    for s in itertools.combinations(range(inst.n_sites), p):
        near = dist[:, list(s)].min(axis=1) if p else np.full(inst.n_demand, np.inf)
        v = float(near[act].max()) if act.any() else 0.0
        if np.isfinite(v):
            best = v if best is None else min(best, v)
    return best


def brute_backup(inst, dist, p, theta, t):
    best = 0.0
    for s in itertools.combinations(range(inst.n_sites), p):
        k = (dist[:, list(s)] <= t).sum(axis=1)
        w = inst.weight
        best = max(best, theta * w[k >= 1].sum() + (1 - theta) * w[k >= 2].sum())
    return best


def brute_capacitated(inst, dist, p, cap, t):
    """Max weight served by the best p sites: an integer max flow per subset
    (source → demand: weight; demand → site in reach; site → sink: capacity)."""
    nd, ns = dist.shape
    best = 0
    big = int(inst.weight.sum()) + 1
    for s in itertools.combinations(range(ns), p):
        rows, cols, caps = [], [], []
        for i in range(nd):
            rows.append(0)
            cols.append(1 + i)
            caps.append(int(inst.weight[i]))
            for j in s:
                if dist[i, j] <= t:
                    rows.append(1 + i)
                    cols.append(1 + nd + j)
                    caps.append(big)
        for j in s:
            rows.append(1 + nd + j)
            cols.append(1 + nd + ns)
            caps.append(int(cap[j]))
        g = sp.csr_array((np.array(caps, np.int32), (rows, cols)), shape=(nd + ns + 2,) * 2)
        best = max(best, maximum_flow(g, 0, nd + ns + 1).flow_value)
    return float(best)


def _check_proven(sol, expected, tol=1e-6):
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(expected, abs=tol)
    assert sol.bound == pytest.approx(expected, abs=1e-4 * max(1.0, abs(expected)))
    assert sol.mip_gap <= 1e-4


def _check_assignment(sol, inst, dist):
    """Each assigned point goes to a nearest open site; unreachable points are -1."""
    open_ = sol.chosen
    for i in range(inst.n_demand):
        near = dist[i, open_].min() if len(open_) else np.inf
        if np.isinf(near):
            assert sol.assignment[i] == -1
        else:
            assert sol.assignment[i] in open_
            assert dist[i, sol.assignment[i]] == near == sol.distance[i]
    assert 0 in sol.unassigned  # point 0 has no pair at all


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", SEEDS)
def test_pmedian_matches_brute_force(seed, solver):
    inst, dist = random_instance(seed)
    for p in (1, 2, 3, 4):
        best = brute_median(inst, dist, p)
        if best is None:
            with pytest.raises(InfeasibleError, match="raise p"):
                PMedian(inst, p).solve(solver=solver)
            continue
        sol = PMedian(inst, p).solve(solver=solver)
        _check_proven(sol, best)
        assert len(sol.chosen) == p
        _check_assignment(sol, inst, dist)
        assert sol.objective == pytest.approx(np.nansum(inst.weight * sol.distance))


@pytest.mark.parametrize("seed", SEEDS)
def test_pmedian_fixed_sites_and_merged_rows(seed):
    inst, dist = random_instance(seed, n_demand=12, density=0.8, reach=12.0)
    # duplicate points: identical distance rows are merged, the optimum is unchanged
    act = np.flatnonzero(_active(inst, dist))
    dup = np.r_[np.arange(inst.n_demand), act[:2], act[1]]
    dd = dist[dup]
    d, s = np.nonzero(np.isfinite(dd))
    big = Instance(weight=inst.weight[dup], cost=inst.cost, pair_demand=d, pair_site=s,
                   pair_dist=dd[d, s], threshold_m=inst.threshold_m)
    model = PMedian(big, 2, fixed=(0,))
    assert model.reduction[-1]["rows"] < int(_active(big, dd).sum())  # rows were merged
    best = brute_median(big, dd, 2, fixed=(0,))
    if best is None:
        pytest.skip("no p-subset reaches every point for this seed")
    sol = model.solve()
    _check_proven(sol, best)
    assert 0 in sol.chosen and len(sol.chosen) == 3
    _check_assignment(sol, big, dd)


def test_pmedian_matches_scipy_milp_mid_size():
    """An independent dense formulation (scipy.optimize.milp) agrees on 60 × 25, p = 4."""
    rng = np.random.default_rng(7)
    nd, ns, p = 60, 25, 4
    pts, cand = rng.random((nd, 2)) * 1000, rng.random((ns, 2)) * 1000
    dist = np.round(np.hypot(*(pts[:, None, :] - cand[None, :, :]).transpose(2, 0, 1)))
    weight = rng.integers(1, 20, nd).astype(float)
    d, s = np.nonzero(dist >= 0)
    inst = Instance(weight=weight, cost=np.zeros(ns), pair_demand=d, pair_site=s,
                    pair_dist=dist[d, s], threshold_m=float(dist.max()))
    sol = PMedian(inst, p).solve()
    # dense: columns y (ns) then x (nd × ns, row-major)
    c = np.r_[np.zeros(ns), (weight[:, None] * dist).ravel()]
    assign = sp.hstack([sp.csr_array((nd, ns)), sp.kron(sp.eye(nd), np.ones((1, ns)))])
    link = sp.hstack([-sp.kron(np.ones((nd, 1)), sp.eye(ns)), sp.eye(nd * ns)])
    count = sp.csr_array(np.r_[np.ones(ns), np.zeros(nd * ns)][None, :])
    ref = milp(c, integrality=np.r_[np.ones(ns), np.zeros(nd * ns)], bounds=Bounds(0, 1),
               constraints=[LinearConstraint(assign, 1, 1), LinearConstraint(link, -np.inf, 0),
                            LinearConstraint(count, p, p)])
    assert ref.status == 0
    _check_proven(sol, ref.fun, tol=1e-6 * ref.fun)
    assert len(sol.chosen) == p


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", SEEDS)
def test_pcenter_matches_brute_force(seed, solver):
    inst, dist = random_instance(seed)
    for p in (1, 2, 3, 4):
        best = brute_center(inst, dist, p)
        for method in ("search", "milp"):
            model = PCenter(inst, p, method=method)
            if best is None:
                with pytest.raises(InfeasibleError, match="raise p"):
                    model.solve(solver=solver)
                continue
            sol = model.solve(solver=solver)
            _check_proven(sol, best)
            assert len(sol.chosen) <= p
            _check_assignment(sol, inst, dist)
            act = _active(inst, dist)
            assert np.nanmax(sol.distance[act]) == best


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", SEEDS)
def test_backup_covering_matches_brute_force(seed, solver):
    inst, dist = random_instance(seed, density=0.6)
    t = 7.0
    for p, theta in ((2, 0.0), (3, 0.0), (2, 0.3), (3, 0.5), (2, 1.0)):
        model = BackupCovering(inst, p, theta=theta, threshold_m=t)
        sol = model.solve(solver=solver)
        _check_proven(sol, brute_backup(inst, dist, p, theta, t))
        assert len(sol.chosen) <= p
        assert np.array_equal(sol.covered, (dist[:, sol.chosen] <= t).any(axis=1))


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", SEEDS)
def test_capacitated_covering_matches_max_flow(seed, solver):
    inst, dist = random_instance(seed, density=0.6)
    rng = np.random.default_rng(100 + seed)
    t = 8.0
    for p, cap in ((1, 5), (2, rng.integers(0, 9, inst.n_sites)), (3, 4)):
        cap = np.broadcast_to(cap, (inst.n_sites,))
        sol = CapacitatedMaximalCovering(inst, p, cap, threshold_m=t).solve(solver=solver)
        _check_proven(sol, brute_capacitated(inst, dist, p, cap, t))
        assert len(sol.chosen) <= p
        served_w = inst.weight * sol.served
        assert served_w.sum() == pytest.approx(sol.objective)
        assert np.all((sol.served > 1e-9) <= (sol.assignment >= 0))
        assert np.all(sol.served <= 1 + 1e-9)


def test_unlimited_capacity_is_maximal_covering():
    inst, dist = random_instance(3, density=0.6)
    sol = CapacitatedMaximalCovering(inst, 2, np.inf, threshold_m=8.0).solve()
    _check_proven(sol, brute_backup(inst, dist, 2, 1.0, 8.0))


@pytest.mark.parametrize("make", [
    lambda i: PMedian(i, i.n_sites + 1),
    lambda i: PMedian(i, -1),
    lambda i: PMedian(i, 2.5),
    lambda i: PMedian(i, i.n_sites, fixed=(0,)),
    lambda i: PMedian(i, 1, fixed=(99,)),
    lambda i: PCenter(i, i.n_sites + 1),
    lambda i: PCenter(i, -2),
    lambda i: PCenter(i, 2, method="lp"),
    lambda i: BackupCovering(i, i.n_sites + 1),
    lambda i: BackupCovering(i, 2, theta=1.5),
    lambda i: CapacitatedMaximalCovering(i, 2, -1.0),
    lambda i: CapacitatedMaximalCovering(i, 2, [5.0, -3.0, 1, 1, 1, 1, 1]),
    lambda i: CapacitatedMaximalCovering(i, 2, [5.0, 3.0]),
    lambda i: CapacitatedMaximalCovering(i, -1, 5.0),
])
def test_bad_input_is_a_clear_siting_error(make):
    inst, _ = random_instance(0)
    with pytest.raises(SitingError, match=r"p |p = |p must|capacit|theta|method|fixed"):
        make(inst)


@pytest.mark.parametrize("call", [
    lambda m: m.solve(solver="gurobi"),
    lambda m: m.solve(time_limit=0),
    lambda m: m.solve(time_limit=-5),
])
def test_bad_solve_arguments(call):
    inst, _ = random_instance(0)
    with pytest.raises(SitingError, match="solver|time limit"):
        call(PMedian(inst, 3))


@pytest.mark.parametrize("solver", SOLVERS)
def test_time_limited_stop_is_feasible_with_its_gap(solver):
    """Backup coverage of 400 points by 10 of 80 sites is not proven in 1 s: the result
    says "feasible", with a bound above the objective and a positive gap."""
    rng = np.random.default_rng(1)
    pts, cand = rng.random((400, 2)) * 1000, rng.random((80, 2)) * 1000
    dist = np.round(np.hypot(*(pts[:, None, :] - cand[None, :, :]).transpose(2, 0, 1)))
    d, s = np.nonzero(dist <= 250)
    inst = Instance(weight=rng.integers(0, 21, 400).astype(float), cost=np.ones(80),
                    pair_demand=d, pair_site=s, pair_dist=dist[d, s], threshold_m=250.0)
    model = BackupCovering(inst, 10, theta=0.0, threshold_m=200)
    sol = model.solve(solver=solver, time_limit=1.0)
    assert sol.status == "feasible"
    assert sol.bound > sol.objective > 0
    assert sol.mip_gap == pytest.approx((sol.bound - sol.objective) / sol.objective)
    assert sol.objective == model.value(sol.chosen)


def test_nobody_to_serve_is_trivially_optimal():
    """No demand with people: nothing constrains or scores; every model is optimal at 0
    and reports every point unassigned or unserved."""
    inst, _ = random_instance(2)
    empty = Instance(weight=np.zeros(inst.n_demand), cost=inst.cost,
                     pair_demand=inst.pair_demand, pair_site=inst.pair_site,
                     pair_dist=inst.pair_dist, threshold_m=inst.threshold_m)
    for model in (PMedian(empty, 0), PCenter(empty, 0), BackupCovering(empty, 2),
                  CapacitatedMaximalCovering(empty, 2, 5.0)):
        sol = model.solve()
        assert sol.status == "optimal"
        assert sol.objective == 0.0 and sol.bound == pytest.approx(0.0, abs=1e-9)
    sol = PMedian(empty, 2).solve()
    assert len(sol.chosen) == 2 and sol.objective == 0.0


def test_p_zero_with_demand_to_reach_is_infeasible():
    inst, _ = random_instance(2)
    for model in (PMedian(inst, 0), PCenter(inst, 0)):
        with pytest.raises(InfeasibleError, match="raise p"):
            model.solve()
