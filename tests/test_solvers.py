"""The solver interface: one model as matrices, the same answer from HiGHS and CBC, honest
status, named rows in an exported file. Checked against brute force on small knapsacks."""

from __future__ import annotations

import itertools

import numpy as np
import pulp
import pytest
import scipy.sparse as sp

from siting import Instance, MaximalCovering, SetCovering
from siting.errors import InfeasibleError, SitingError
from siting.solvers import MatrixModel, SolverResult, solve, write_model


def _knapsack(seed: int, n: int = 9) -> tuple[MatrixModel, float]:
    """A 0/1 knapsack with a side constraint, and its optimum by enumeration."""
    rng = np.random.default_rng(seed)
    value, weight, group = rng.integers(1, 30, n), rng.integers(1, 15, n), rng.integers(0, 2, n)
    cap = float(weight.sum() // 2)
    A = sp.csr_array(np.vstack([weight, group]).astype(float))
    model = MatrixModel(c=value, A=A, row_lo=[-np.inf, -np.inf], row_hi=[cap, 2.0],
                        col_hi=np.ones(n), integer=np.arange(n), maximize=True, offset=7.0,
                        col_names=[f"take_{j}" for j in range(n)],
                        row_names=["capacity", "at_most_two_of_group_1"])
    best = max(float(value[list(s)].sum()) for k in range(n + 1)
               for s in itertools.combinations(range(n), k)
               if weight[list(s)].sum() <= cap and group[list(s)].sum() <= 2)
    return model, best + 7.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_both_back_ends_reach_the_brute_force_optimum(seed, solver):
    model, best = _knapsack(seed)
    res = solve(model, solver)
    assert isinstance(res, SolverResult) and res.solver == solver
    assert res.status == "optimal" and res.mip_gap <= 1e-9
    assert res.objective == pytest.approx(best)
    assert res.bound == pytest.approx(best)
    assert res.objective == pytest.approx(model.value(res.x))  # offset counted once
    assert np.allclose(res.x, np.round(res.x))


def test_start_is_used_and_checked():
    model, best = _knapsack(0)
    res = solve(model, "highs", start=np.zeros(len(model.c)))  # a feasible (empty) start
    assert res.status == "optimal" and res.objective == pytest.approx(best)


def test_exported_model_names_rows_and_columns(tmp_path):
    model, _ = _knapsack(1)
    text = write_model(model, tmp_path / "knapsack.lp").read_text()
    assert "capacity" in text and "at_most_two_of_group_1" in text and "take_3" in text


def test_covering_models_export_named_rows(tmp_path, small_instance):
    text = MaximalCovering(small_instance, p=2, reduce=False).write(tmp_path / "mc.lp").read_text()
    assert "max_sites" in text and "cover_0" in text and "y_0" in text
    text = SetCovering(small_instance, reduce=False).write(tmp_path / "sc.lp").read_text()
    assert "cover_0" in text


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_covering_models_agree_across_back_ends(solver, small_instance):
    ref = MaximalCovering(small_instance, p=2, reduce=False).solve("highs")
    got = MaximalCovering(small_instance, p=2).solve(solver)
    assert got.status == "optimal" and got.objective == pytest.approx(ref.objective)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_infeasible_model_is_refused(solver):
    model = MatrixModel(c=[1.0], A=sp.csr_array([[1.0]]), row_lo=[2.0], row_hi=[np.inf],
                        col_hi=[1.0], integer=[0])
    with pytest.raises(InfeasibleError):
        solve(model, solver)


def test_bad_models_and_settings_are_refused():
    with pytest.raises(SitingError, match="row bounds"):
        MatrixModel(c=[1.0], A=sp.csr_array([[1.0]]), row_lo=[], row_hi=[1.0], col_hi=[1.0],
                    integer=[0])
    with pytest.raises(SitingError, match="column names"):
        MatrixModel(c=[1.0], A=sp.csr_array([[1.0]]), row_lo=[0.0], row_hi=[1.0],
                    col_hi=[1.0], integer=[0], col_names=["a", "b"])
    model, _ = _knapsack(0)
    with pytest.raises(SitingError, match="unknown solver"):
        solve(model, "gurobi")
    with pytest.raises(SitingError, match="time limit"):
        solve(model, "highs", time_limit=0)


@pytest.fixture
def small_instance() -> Instance:
    rng = np.random.default_rng(5)
    n_d, n_s = 12, 6
    pairs = [(i, j, float(rng.uniform(50, 400))) for i in range(n_d) for j in range(n_s)
             if rng.random() < 0.4]
    d, s, dist = map(np.array, zip(*pairs))
    return Instance(rng.integers(1, 50, n_d), rng.integers(1, 9, n_s), d, s, dist, 400.0)


def test_progress_reports_the_incumbents_as_highs_finds_them():
    model, best = _knapsack(3)
    seen = []
    res = solve(model, "highs", progress=lambda t, o, b: seen.append((t, o, b)))
    assert seen, "HiGHS logged no incumbent"
    assert all(np.isfinite(o) for _, o, _ in seen)
    # the incumbents only improve and the last one is the optimum returned (offset included)
    incumbents = [o for _, o, _ in seen]
    assert incumbents == sorted(incumbents)
    assert incumbents[-1] == pytest.approx(res.objective) == pytest.approx(best)


def _hard_knapsack(seed: int, m: int = 6, n: int = 60) -> MatrixModel:
    """A multi-dimensional 0/1 knapsack with market-split rows (Cornuéjols & Dawande
    1998): a plan at once, a proof only after a long branch and bound."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, (m, n))
    return MatrixModel(a[:, :].sum(axis=0) + 0.5, sp.csr_array(a.astype(float)),
                       np.full(m, -np.inf), (a.sum(axis=1) // 2).astype(float), np.ones(n),
                       np.arange(n), maximize=True)


def test_a_solve_keeps_to_its_time_limit():
    """HiGHS is stopped at the limit (hand-over included) and then says what it knows: a
    plan without proof, never "optimal"."""
    import time

    model = _hard_knapsack(1)
    t0 = time.perf_counter()
    res = solve(model, "highs", time_limit=1.0)
    assert time.perf_counter() - t0 < 2.0
    assert res.status == "feasible" and res.bound >= res.objective and res.mip_gap > 0
    assert len(res.x) == model.shape[1]


def test_solver_threads_setting_takes_effect(monkeypatch):
    """``SITING_SOLVER_THREADS`` (set by ``siting batch`` on its workers) reaches HiGHS
    and CBC; a value that is not a count is refused."""
    from siting.solvers import highs
    from siting.solvers.base import THREADS_ENV

    model, best = _knapsack(1)
    for n in ("2", "1"):
        monkeypatch.setenv(THREADS_ENV, n)
        assert highs._loaded(model, False, 0.0).getOptionValue("threads")[1] == int(n)
    seen = []
    real = pulp.PULP_CBC_CMD
    monkeypatch.setattr(pulp, "PULP_CBC_CMD", lambda **kw: seen.append(kw) or real(**kw))
    assert solve(model, "cbc").objective == pytest.approx(best)
    assert seen and seen[0]["threads"] == 1
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(SitingError, match="SITING_SOLVER_THREADS='many'"):
        solve(model, "highs")


def test_highs_is_not_run_when_its_presolve_cannot_end_in_the_time_left(monkeypatch):
    """HiGHS's presolve cannot be interrupted (it took 28.7 s of a 27.3 s limit on a 1M-node
    max cover): with a start and less time than it needs by the model's size, the start
    stands, feasible with no bound, and HiGHS is not run; without a start HiGHS runs."""
    import highspy

    from siting.solvers import highs

    model, best = _knapsack(2)
    start = np.zeros(model.shape[1])
    runs = []
    real_run = highspy.Highs.run
    monkeypatch.setattr(highspy.Highs, "run", lambda self: runs.append(1) or real_run(self))
    assert solve(model, "highs", time_limit=30.0, start=start).status == "optimal"
    assert len(runs) == 1
    monkeypatch.setattr(highs, "PRESOLVE_S_PER_NZ", 30.0 / model.A.nnz * 2)  # too short now
    res = solve(model, "highs", time_limit=30.0, start=start)
    assert len(runs) == 1 and res.status == "feasible" and np.isnan(res.bound)
    assert res.objective == pytest.approx(7.0) and res.runtime_s < 1.0
    res = solve(model, "highs", time_limit=30.0)
    assert len(runs) == 2 and res.status == "optimal" and res.objective == pytest.approx(best)


def test_a_covering_solve_with_a_short_limit_keeps_to_it():
    """A 200k-pair maximal covering stopped after 0.5 s: warm start, hand-over and HiGHS
    (whose presolve alone took 0.5-1.9 s on it) stay within the limit + 1 s."""
    import time

    from scipy.spatial import cKDTree

    rng = np.random.default_rng(4)
    d, s = rng.uniform(0, 1, (1500, 2)), rng.uniform(0, 1, (4500, 2))
    pairs = cKDTree(s).query_ball_point(d, 0.085)
    i = np.repeat(np.arange(1500), [len(p) for p in pairs])
    j = np.concatenate([np.asarray(p, dtype=np.int64) for p in pairs])
    inst = Instance(rng.integers(50, 151, 1500).astype(float), np.zeros(4500), i, j,
                    np.linalg.norm(d[i] - s[j], axis=1), 0.085)
    model = MaximalCovering(inst, p=25, reduce=False)
    t0 = time.perf_counter()
    sol = model.solve("highs", time_limit=0.5)
    assert time.perf_counter() - t0 < 1.5
    assert sol.status == "feasible" and sol.bound >= sol.objective > 0
    assert sol.objective == pytest.approx(inst.weight[sol.covered].sum())
