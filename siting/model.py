"""Coverage models on an :class:`~siting.instance.Instance`, solved with HiGHS or CBC.

Each model is an object built from data with a docstring stating its formulation,
``solve()`` returning a :class:`CoverageSolution`. Status is reported honestly: a
run stopped by the time limit is ``"feasible"`` with its gap, never ``"optimal"``
(PuLP reports ``Optimal`` for such runs; the solvers' own status and bound are read).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from siting._setcover import rwls_set_cover
from siting.errors import InfeasibleError, SitingError
from siting.instance import Instance
from siting.reduce import reduce_coverage

SOLVERS = ("cbc", "highs")
# Chosen by measurement. Through PuLP, CBC was 1–2.4× faster than HiGHS on the real
# extracts. With HiGHS fed straight from the sparse matrices and the exact reductions,
# both solve every real-extract model in < 0.15 s (scripts/solver_choice.py: 1.33 s CBC vs
# 1.22 s HiGHS in all). On the hard connected lattice (scripts/benchmark.py) HiGHS proves
# p = 25 optimal in 28.5 s where CBC is at 0.24 % after 60 s, and gets set covering to an
# 8.1 % gap against CBC's 13 %; CBC is faster only at p = 10 (1.3 s vs 3.2 s). The
# embedded model also measured HiGHS ahead (scripts/embedded_nanjing.py).
DEFAULT_SOLVER = "highs"


@dataclass
class CoverageSolution:
    """Result of a coverage model.

    Attributes
    ----------
    chosen
        Indices of opened sites (sorted).
    covered
        Boolean per demand point: within the threshold of an opened site.
    objective
        Objective value of the solution found (people covered, or total cost).
    bound
        Best proven bound (the MIP dual bound; equals ``objective`` when optimal). When
        the solver stopped before proving any bound, the model's ``simple_bound()``.
    mip_gap
        ``|objective - bound| / max(|objective|, 1e-9)``; 0 when proven optimal.
    status
        ``"optimal"`` (proven) or ``"feasible"`` (stopped by the time limit).
    solver, runtime_s, model
        Solver name, wall time of the solve, and the model's name.
    trace
        Progress of the solve: ``(seconds, objective, bound)`` tuples (gap over time).
    reduction
        Model size after each reduction step (see :mod:`siting.reduce`).
    """

    chosen: np.ndarray
    covered: np.ndarray
    objective: float
    bound: float
    mip_gap: float
    status: str
    solver: str
    runtime_s: float
    model: str
    weight: np.ndarray = field(repr=False, default=None)
    trace: list = field(repr=False, default_factory=list)
    reduction: list = field(repr=False, default_factory=list)

    @property
    def covered_population(self) -> float:
        return float(self.weight[self.covered].sum())

    def summary(self) -> dict:
        """Headline numbers as a plain dict (JSON-ready)."""
        return {
            "model": self.model,
            "status": self.status,
            "objective": self.objective,
            "lp_bound": self.bound,
            "mip_gap": self.mip_gap,
            "solver": self.solver,
            "solve_time_s": self.runtime_s,
            "n_sites_chosen": int(len(self.chosen)),
            "covered_population": self.covered_population,
        }

    def _repr_html_(self) -> str:
        return pd.Series(self.summary()).to_frame("value")._repr_html_()


class _Covering:
    """Shared plumbing: lazily built PuLP model, mapping reduced columns back to sites."""

    _problem = None

    @property
    def problem(self) -> pulp.LpProblem:
        """The PuLP model (built on first use; the HiGHS path does not need it)."""
        if self._problem is None:
            self._problem = self._build_pulp()
        return self._problem

    def _finish(self, cols: np.ndarray, result: dict, t0: float) -> CoverageSolution:
        r = self.reduced
        # runtime and trace from the start of solve(), warm-start search included
        shift = time.perf_counter() - t0 - result["runtime_s"]
        result["runtime_s"] += shift
        result["trace"] = [(t + shift, o, b) for t, o, b in result.get("trace", [])]
        if not np.isfinite(result["bound"]):  # stopped with no bound: a simple valid one
            bound = self.simple_bound()
            result["bound"], result["mip_gap"] = _bound_and_gap(
                result["objective"], bound, False, 0.0)
        result["trace"].append((result["runtime_s"], result["objective"], result["bound"]))
        chosen = sorted(set(r.sites[cols].tolist()) | set(self.fixed.tolist()))
        sol = _solution(self.instance, chosen, self.threshold_m, self.name, result)
        sol.reduction = r.steps
        return sol


class MaximalCovering(_Covering):
    """Maximal covering location problem (Church & ReVelle 1974) on sparse coverage.

    .. math::

        \\max \\sum_i w_i z_i \\quad\\text{s.t.}\\quad
        z_i \\le \\sum_{j \\in N_i} y_j \\;\\forall i,\\qquad
        \\sum_j y_j \\le p \\;\\text{and/or}\\; \\sum_j c_j y_j \\le B,\\qquad
        y_j \\in \\{0,1\\},\\; 0 \\le z_i \\le 1

    where :math:`N_i` are the sites within the walking threshold of demand point
    :math:`i`. :math:`z_i` may be continuous: for integral :math:`y` the optimum sets
    :math:`z_i = \\min(1, \\sum_{j\\in N_i} y_j)`, which is integral. Sites in ``fixed``
    are forced open (existing facilities) and do not count against ``p`` or the budget.

    By default the model is built on :func:`siting.reduce.reduce_coverage` (exact:
    uncoverable demand dropped, demand points with identical covering-site sets merged,
    dominated sites removed); ``reduce=False`` builds it on every point and site.
    Results are always reported per original demand point.

    Parameters
    ----------
    instance
        Demand weights, site costs and pairs within reach.
    p
        Most sites to open (besides ``fixed``).
    budget
        Most total cost of opened sites (besides ``fixed``), one cost per site
        (``instance.cost``; the pipeline gives ``sites["cost_total"]``, the price of the
        site's usable area: no m² are allocated here, so leases and renovations are
        charged on the usable area up to ``cost_area_cap_m2``, see
        :func:`siting.sites.price`).
    threshold_m
        Walking threshold; default the instance's.
    fixed
        Site indices that are already open.
    reduce
        Apply the exact model reductions (default True).
    """

    name = "maximal_covering"

    def __init__(self, instance: Instance, p: int | None = None, budget: float | None = None,
                 threshold_m: float | None = None, fixed=(), reduce: bool = True):
        if p is None and budget is None:
            raise SitingError("maximal covering needs p (max sites) or a budget")
        if p is not None and p < 0:
            raise SitingError(f"p must be >= 0, got {p}")
        if p is not None and p > instance.n_sites:
            raise SitingError(
                f"p = {p} is larger than the {instance.n_sites} candidate sites; "
                f"use p <= {instance.n_sites} or add candidates"
            )
        if budget is not None and budget < 0:
            raise SitingError(f"budget must be >= 0, got {budget}")
        self.instance, self.p, self.budget = instance, p, budget
        self.threshold_m = instance.threshold_m if threshold_m is None else threshold_m
        self.fixed = np.asarray(sorted(set(int(j) for j in fixed)), dtype=np.int64)
        self.reduced = reduce_coverage(
            instance.coverage(self.threshold_m), instance.weight, instance.cost,
            fixed=self.fixed, model="max_cover", cost_matters=budget is not None,
            merge_rows=reduce, drop_dominated=reduce,
        )
        self._problem = None

    def _build_pulp(self) -> pulp.LpProblem:
        r = self.reduced
        cov, cost = r.cov, self.instance.cost[r.sites]
        prob = pulp.LpProblem(self.name, pulp.LpMaximize)
        self.y = [prob.add_variable(f"y_{j}", cat="Binary") for j in r.sites.tolist()]
        self.z = [prob.add_variable(f"z_{i}", 0, 1) for i in range(cov.shape[0])]
        y, ind, ptr = self.y, cov.indices.tolist(), cov.indptr.tolist()
        for i, z in enumerate(self.z):
            prob.addConstraint(pulp.LpAffineExpression(
                [(z, 1.0)] + [(y[j], -1.0) for j in ind[ptr[i]:ptr[i + 1]]]) <= 0)
        prob.setObjective(pulp.LpAffineExpression(list(zip(self.z, r.weight.tolist())),
                                                  constant=r.fixed_weight))
        if self.p is not None:
            prob.addConstraint(pulp.lpSum(y) <= self.p, "max_sites")
        if self.budget is not None:
            prob.addConstraint(pulp.LpAffineExpression(list(zip(y, cost.tolist())))
                               <= self.budget, "budget")
        return prob

    def simple_bound(self) -> float:
        """A valid upper bound without a solve: coverable weight, capped by the ``p``
        largest single-site coverages and by the fractional knapsack of site coverages
        under the budget (plus the weight covered by ``fixed`` sites)."""
        r = self.reduced
        gain = np.asarray(sp.csc_array(r.cov).T @ r.weight, dtype=float)
        bound = float(r.weight.sum())
        if self.p is not None:
            bound = min(bound, float(np.sort(gain)[::-1][:self.p].sum()))
        if self.budget is not None:
            cost = self.instance.cost[r.sites].astype(float)
            free = cost <= 0
            order = np.argsort(-gain[~free] / cost[~free], kind="stable")
            g, c = gain[~free][order], cost[~free][order]
            full = np.searchsorted(np.cumsum(c), self.budget, side="right")
            left = self.budget - c[:full].sum()
            frac = g[full] * left / c[full] if full < len(c) else 0.0
            bound = min(bound, float(gain[free].sum() + g[:full].sum() + frac))
        return r.fixed_weight + bound

    def greedy(self, swap: bool = True, time_s: float = 15.0) -> np.ndarray:
        """Greedy sites (largest added coverage, per cost under a budget), then 1-swaps.

        With ``swap`` (count constraint only) an iterated local search follows: random
        kicks of a few sites, 1-swap descent, keep the better (seeded, deterministic).

        Returns column indices of the reduced model. A heuristic: used as the solver's
        warm start, never reported as optimal.
        """
        r = self.reduced
        cost = self.instance.cost[r.sites] if self.budget is not None else None
        chosen = _greedy_max_cover(r.cov, r.weight, self.p, cost, self.budget)
        if swap and self.p is not None and self.budget is None and len(chosen):
            chosen = _iterated_swap(r.cov, r.weight, chosen, time_s=time_s)
        return chosen

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              msg: bool = False, mip_gap: float = 0.0,
              warm_start: bool = True) -> CoverageSolution:
        """Solve and return the chosen sites with status, objective, bound and gap.

        ``warm_start`` hands the greedy + swap solution to the solver as a MIP start.
        """
        r = self.reduced
        search_s = 15.0 if time_limit is None else min(15.0, 0.25 * time_limit)
        t0 = time.perf_counter()
        start = self.greedy(time_s=search_s) if warm_start and r.cov.shape[1] else None
        if time_limit is not None:  # the warm start's search counts against the limit
            time_limit = max(1.0, time_limit - (time.perf_counter() - t0))
        if solver.lower() == "highs" and r.cov.shape[1]:
            result, cols = _solve_highs_direct(self._arrays(), time_limit, msg, mip_gap,
                                               self._start_vector(start))
            result["objective"] += r.fixed_weight
            result["bound"] += r.fixed_weight
        else:
            prob = self.problem
            if start is not None:
                self._set_start(start)
            result = _solve(prob, solver, time_limit, msg, mip_gap, warm_start=start is not None)
            cols = np.flatnonzero([(v.varValue or 0) > 0.5 for v in self.y])
        return self._finish(cols, result, t0)

    def _start_vector(self, start):
        if start is None:
            return None
        r = self.reduced
        y = np.zeros(r.cov.shape[1])
        y[start] = 1
        z = np.minimum(1.0, r.cov @ y)
        return np.concatenate([y, z])

    def _set_start(self, start) -> None:
        x = self._start_vector(start)
        for v, val in zip(self.y + self.z, x.tolist()):
            v.setInitialValue(val)

    def _arrays(self) -> dict:
        """The reduced model as matrices: columns y (sites) then z (demand rows)."""
        r = self.reduced
        cov = r.cov
        nr, nc = cov.shape
        # row i: z_i - sum_{j in N_i} y_j <= 0, then the p and budget rows
        ind = np.concatenate([cov.indices.astype(np.int64),
                              nc + np.arange(nr)]).reshape(-1)
        rows = np.concatenate([np.repeat(np.arange(nr), np.diff(cov.indptr)), np.arange(nr)])
        vals = np.concatenate([-np.ones(cov.nnz), np.ones(nr)])
        A = sp.csr_array((vals, (rows, ind)), shape=(nr, nc + nr))
        lo, hi, extra = [np.full(nr, -np.inf)], [np.zeros(nr)], []
        if self.p is not None:
            extra.append(np.concatenate([np.ones(nc), np.zeros(nr)]))
            lo.append([-np.inf])
            hi.append([float(self.p)])
        if self.budget is not None:
            extra.append(np.concatenate([self.instance.cost[r.sites], np.zeros(nr)]))
            lo.append([-np.inf])
            hi.append([float(self.budget)])
        if extra:
            A = sp.vstack([A, sp.csr_array(np.vstack(extra))], format="csr")
        return dict(c=np.concatenate([np.zeros(nc), r.weight]), A=A,
                    row_lo=np.concatenate(lo), row_hi=np.concatenate(hi),
                    col_hi=np.ones(nc + nr), integer=np.arange(nc), n_y=nc, maximize=True)


class SetCovering(_Covering):
    """Location set covering problem (Toregas et al. 1971) on sparse coverage.

    .. math::

        \\min \\sum_j c_j y_j \\quad\\text{s.t.}\\quad
        \\sum_{j \\in N_i} y_j \\ge 1 \\;\\forall i \\in I_c,\\qquad y_j \\in \\{0,1\\}

    :math:`I_c` is the set of demand points with positive weight and at least one site
    within reach (the coverable population; the rest is reported, not made
    infeasible). Costs :math:`c_j` default to 1 (fewest sites) when the instance
    has no costs or ``use_cost=False``. ``fixed`` sites are forced open at no cost.
    With ``reduce`` (default) identical and dominated rows and dominated sites are
    removed first (:func:`siting.reduce.reduce_coverage`; exact).
    """

    name = "set_covering"

    def __init__(self, instance: Instance, threshold_m: float | None = None, fixed=(),
                 use_cost: bool = True, reduce: bool = True):
        self.instance = instance
        self.threshold_m = instance.threshold_m if threshold_m is None else threshold_m
        self.fixed = np.asarray(sorted(set(int(j) for j in fixed)), dtype=np.int64)
        cost = instance.cost if use_cost and instance.cost.any() else np.ones(instance.n_sites)
        self.cost = cost
        self.reduced = reduce_coverage(
            instance.coverage(self.threshold_m), instance.weight, cost, fixed=self.fixed,
            model="set_cover", cost_matters=True, merge_rows=True, drop_dominated=reduce,
        )
        self._problem = None

    def _build_pulp(self) -> pulp.LpProblem:
        r = self.reduced
        prob = pulp.LpProblem(self.name, pulp.LpMinimize)
        self.y = [prob.add_variable(f"y_{j}", cat="Binary") for j in r.sites.tolist()]
        prob.setObjective(pulp.LpAffineExpression(
            list(zip(self.y, self.cost[r.sites].tolist()))))
        y, ind, ptr = self.y, r.cov.indices.tolist(), r.cov.indptr.tolist()
        for i in range(r.cov.shape[0]):
            prob.addConstraint(pulp.LpAffineExpression(
                [(y[j], 1.0) for j in ind[ptr[i]:ptr[i + 1]]]) >= 1)
        return prob

    def simple_bound(self) -> float:
        """A valid lower bound without a solve: every demand row needs one of its sites,
        so the cheapest site of the dearest-to-cover row."""
        r = self.reduced
        if r.cov.shape[0] == 0:
            return 0.0
        cost = self.cost[r.sites].astype(float)
        cov = sp.csr_array(r.cov)
        per_row = np.minimum.reduceat(cost[cov.indices], cov.indptr[:-1])
        return float(per_row.max())

    def greedy(self, search_s: float = 0.0) -> np.ndarray:
        """Chvátal's greedy cover (most new rows per cost), redundant sites dropped.

        With ``search_s > 0`` and equal site costs the cover is then shrunk by
        row-weighting local search (:func:`siting._setcover.rwls_set_cover`) for at
        most that many seconds; it stops sooner once it stops finding smaller covers.
        """
        r = self.reduced
        cost = self.cost[r.sites]
        cover = _greedy_set_cover(r.cov, cost)
        if search_s > 0 and cover.size > 1 and np.ptp(cost) == 0:
            cover = rwls_set_cover(r.cov, cover, time_s=search_s)
        return cover

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              msg: bool = False, mip_gap: float = 0.0,
              warm_start: bool = True) -> CoverageSolution:
        """Solve and return the cheapest set of sites covering all coverable demand."""
        r = self.reduced
        nr, nc = r.cov.shape
        t0 = time.perf_counter()
        # a quarter of the time limit (at most 30 s) for the start's local search
        search_s = min(30.0, 0.25 * time_limit) if time_limit else 30.0
        start = self.greedy(search_s) if warm_start and nr else None
        x0 = None
        if start is not None:
            x0 = np.zeros(nc)
            x0[start] = 1
        if time_limit is not None:  # the start's search counts against the limit
            time_limit = max(time_limit - (time.perf_counter() - t0), 0.1 * time_limit)
        if solver.lower() == "highs" and nr:
            arrays = dict(c=self.cost[r.sites].astype(float), A=sp.csr_array(r.cov, dtype=float),
                          row_lo=np.ones(nr), row_hi=np.full(nr, np.inf), col_hi=np.ones(nc),
                          integer=np.arange(nc), n_y=nc, maximize=False)
            result, cols = _solve_highs_direct(arrays, time_limit, msg, mip_gap, x0)
        else:
            prob = self.problem
            if x0 is not None:
                for v, val in zip(self.y, x0.tolist()):
                    v.setInitialValue(val)
            result = _solve(prob, solver, time_limit, msg, mip_gap, warm_start=x0 is not None)
            cols = np.flatnonzero([(v.varValue or 0) > 0.5 for v in self.y])
        return self._finish(cols, result, t0)


def _solution(inst: Instance, chosen, threshold_m, name, result) -> CoverageSolution:
    chosen = np.asarray(chosen, dtype=np.int64)
    return CoverageSolution(
        chosen=chosen,
        covered=inst.covered_by(chosen, threshold_m),
        weight=inst.weight,
        model=name,
        **result,
    )


def _solve(prob: pulp.LpProblem, solver: str, time_limit: float | None, msg: bool,
           mip_gap: float, warm_start: bool = False, start: dict | None = None) -> dict:
    """Run CBC or HiGHS; return objective, bound, gap, status, solver, runtime_s, trace.

    ``warm_start`` passes the variables' initial values to CBC as a MIP start;
    ``start`` (variable name → value of a complete feasible solution) is handed to
    HiGHS as its first incumbent.
    """
    solver = solver.lower()
    if solver not in SOLVERS:
        raise SitingError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if time_limit is not None and time_limit <= 0:
        raise SitingError(f"time limit must be > 0 s, got {time_limit}")
    maximize = prob.sense == pulp.LpMaximize
    t0 = time.perf_counter()
    if not prob.variables():  # nothing to decide: no site covers anyone
        const = float(prob.objective.constant) if prob.objective is not None else 0.0
        return dict(objective=const, bound=const, mip_gap=0.0, status="optimal", solver=solver,
                    runtime_s=0.0)
    if solver == "highs":
        status, bound = _solve_highs(prob, time_limit, msg, mip_gap, maximize, start)
        trace = []
    else:
        status, bound, trace = _solve_cbc(prob, time_limit, msg, mip_gap, warm_start)
    runtime = time.perf_counter() - t0
    if prob.status == pulp.LpStatusInfeasible:
        raise InfeasibleError(f"the {prob.name} model is infeasible")
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        raise SitingError(
            f"{solver} found no integer solution for {prob.name} within {time_limit} s; "
            "raise --time-limit"
        )
    objective = float(pulp.value(prob.objective) or 0.0)
    bound, gap = _bound_and_gap(objective, bound, status == "optimal", mip_gap)
    return dict(objective=objective, bound=bound, mip_gap=gap, status=status,
                solver=solver, runtime_s=runtime, trace=trace)


def _bound_and_gap(objective: float, bound: float | None, optimal: bool,
                   mip_gap: float) -> tuple[float, float]:
    """The proven bound and relative gap to report: a solve stopped without a finite
    bound has none (NaN, NaN) — never the objective, which would read as proven."""
    finite = bound is not None and np.isfinite(bound)
    if not finite:
        if not optimal:
            return float("nan"), float("nan")
        bound = objective
    gap = abs(objective - bound) / max(abs(objective), 1e-9)
    return float(bound), float(min(gap, mip_gap) if optimal else gap)


@contextlib.contextmanager
def _quiet(active: bool = True):
    """Silence the C-level standard output (HiGHS writes its banner there, not to Python)."""
    if not active:
        yield
        return
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (e.g. some notebook kernels): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class _HiGHSBulk(pulp.HiGHS):
    """PuLP's HiGHS, with the model handed over in one ``passModel`` call.

    PuLP adds every column and row through its own highspy call, which takes seconds
    on a city-sized embedded model; here the coefficients are gathered once into CSR
    arrays. Column and row indices (``var.index``, ``constraint.index``) are set as
    PuLP sets them, so reading the solution back is PuLP's own code.
    """

    def buildSolverModel(self, lp):
        import highspy

        inf = highspy.kHighsInf
        variables = lp.variables()
        for i, var in enumerate(variables):
            var.index = i
        mult = -1.0 if lp.sense == pulp.LpMaximize else 1.0
        model = highspy.HighsLp()
        model.num_col_ = len(variables)
        model.col_cost_ = np.array([mult * lp.objective.get(v, 0.0) for v in variables])
        model.col_lower_ = np.array([-inf if v.lowBound is None else v.lowBound
                                     for v in variables], dtype=float)
        model.col_upper_ = np.array([inf if v.upBound is None else v.upBound
                                     for v in variables], dtype=float)
        if self.mip:
            model.integrality_ = [highspy.HighsVarType.kInteger if v.cat == pulp.LpInteger
                                  else highspy.HighsVarType.kContinuous for v in variables]
        starts, index, value, lower, upper = [0], [], [], [], []
        for i, con in enumerate(lp._constraints.values()):
            con.index = i
            for var, coef in con.items():
                if coef != 0:
                    index.append(var.index)
                    value.append(coef)
            starts.append(len(index))
            lb, ub = con.getLb(), con.getUb()
            lower.append(-inf if lb is None else lb)
            upper.append(inf if ub is None else ub)
        model.num_row_ = len(lower)
        model.row_lower_ = np.array(lower, dtype=float)
        model.row_upper_ = np.array(upper, dtype=float)
        model.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        model.a_matrix_.start_ = np.array(starts, dtype=np.int32)
        model.a_matrix_.index_ = np.array(index, dtype=np.int32)
        model.a_matrix_.value_ = np.array(value, dtype=float)
        model.a_matrix_.num_col_ = model.num_col_
        model.a_matrix_.num_row_ = model.num_row_
        lp.solverModel.passModel(model)


class _HiGHSFrom(_HiGHSBulk):
    """PuLP's HiGHS, handed a complete starting solution before it runs.

    The start must give every column (HiGHS silently rejects a partial or slightly
    infeasible vector); missing names count as 0.
    """

    def __init__(self, start: dict, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def callSolver(self, lp):
        import highspy

        sol = highspy.HighsSolution()
        sol.col_value = [float(self.start.get(v.name, 0.0)) for v in lp.variables()]
        sol.value_valid = True
        lp.solverModel.setSolution(sol)
        lp.solverModel.run()


def _solve_highs(prob, time_limit, msg, mip_gap, maximize, start=None):
    import highspy

    kwargs = {"msg": msg, "gapRel": mip_gap}
    if time_limit is not None:
        kwargs["timeLimit"] = time_limit
    with _quiet(not msg):
        prob.solve(_HiGHSFrom(start, **kwargs) if start else _HiGHSBulk(**kwargs))
    h = prob.solverModel
    model_status = h.getModelStatus()
    info = h.getInfo()
    bound = info.mip_dual_bound
    # PuLP hands HiGHS the minimisation of -objective for a maximisation
    if maximize and h.getObjectiveSense()[1] == highspy.ObjSense.kMinimize:
        bound = -bound
    if not np.isfinite(bound):
        bound = None
    status = "optimal" if model_status == highspy.HighsModelStatus.kOptimal else "feasible"
    reported = info.objective_function_value * (-1 if maximize and h.getObjectiveSense()[1]
                                                == highspy.ObjSense.kMinimize else 1)
    actual = float(pulp.value(prob.objective) or 0.0)  # PuLP's: from the values returned
    const = float(prob.objective.constant) if prob.objective is not None else 0.0
    off = min(abs(reported - actual), abs(reported - (actual - const)))  # offset passed or not
    if start and off > 1e-6 * max(1.0, abs(actual)):
        # a wrong optimum reported after a MIP start (see _solve_highs_direct): no proof
        status, bound = "feasible", None
    return status, bound


_CBC_RESULT = re.compile(r"Result - (.+)")
_CBC_BOUND = re.compile(r"(?:Lower|Upper) bound:\s+(-?[\d.eE+-]+)")


_CBC_PROGRESS = re.compile(
    r"Cbc0010I After \d+ nodes, \d+ on tree, (\S+) best solution, best possible (\S+) "
    r"\(([\d.]+) seconds\)")


def _solve_cbc(prob, time_limit, msg, mip_gap, warm_start=False):
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cbc.log"
        with warnings.catch_warnings():  # PuLP 3.3 deprecates its bundled CBC for 4.0
            warnings.simplefilter("ignore", DeprecationWarning)
            cmd = pulp.PULP_CBC_CMD(msg=msg, timeLimit=time_limit, gapRel=mip_gap,
                                    logPath=str(log), warmStart=warm_start)
            prob.solve(cmd)
        text = log.read_text(errors="replace") if log.exists() else ""
    result = _CBC_RESULT.search(text)
    result = result.group(1).strip() if result else ""
    bound = _CBC_BOUND.search(text)
    bound = float(bound.group(1)) if bound else None
    # PuLP runs CBC with -max for maximisation; the summary bound is in the original sense
    status = "optimal" if result.startswith("Optimal") else "feasible"
    sign = -1.0 if prob.sense == pulp.LpMaximize else 1.0  # CBC logs -max as a minimum
    trace = [(float(t), sign * float(o), sign * float(b))
             for o, b, t in _CBC_PROGRESS.findall(text) if o != "1e+50"]
    return status, bound, trace


def _solve_highs_direct(arrays: dict, time_limit, msg, mip_gap, start=None):
    """Solve a model given as matrices with highspy (no PuLP): fast to build at scale.

    ``arrays``: ``c`` objective, ``A`` CSR constraint matrix with ``row_lo``/``row_hi``,
    column bounds ``[0, col_hi]``, ``integer`` column indices, ``n_y`` leading site
    columns, ``maximize``. Returns the :func:`_solve`-style dict (with a ``trace`` of
    ``(seconds, objective, bound)``) and the site columns set to 1.
    """
    import highspy

    if time_limit is not None and time_limit <= 0:
        raise SitingError(f"time limit must be > 0 s, got {time_limit}")
    A = sp.csc_array(arrays["A"])
    A.sort_indices()
    nrow, ncol = A.shape
    integrality = np.zeros(ncol, dtype=np.int32)
    integrality[arrays["integer"]] = 1  # kInteger
    t_enter = time.perf_counter()
    with _quiet(not msg):  # HiGHS prints its banner when constructed
        h = highspy.Highs()
    h.setOptionValue("output_flag", bool(msg))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    maximize = arrays["maximize"]
    t0 = time.perf_counter()
    h.passModel(
        ncol, nrow, A.nnz, 1, -1 if maximize else 1, 0.0,  # colwise; sense
        np.asarray(arrays["c"], float), np.zeros(ncol), np.asarray(arrays["col_hi"], float),
        np.asarray(arrays["row_lo"], float), np.asarray(arrays["row_hi"], float),
        A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float),
        integrality,
    )
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, start))
        sol.value_valid = True
        h.setSolution(sol)
    if time_limit is not None:  # HiGHS times run() only: the hand-over counts too
        spent = time.perf_counter() - t_enter
        h.setOptionValue("time_limit", float(max(time_limit - spent, 0.05 * time_limit)))
    trace = []

    def _log(e):
        d = e.data_out
        trace.append((float(d.running_time), float(d.mip_primal_bound),
                      float(d.mip_dual_bound)))

    h.cbMipImprovingSolution.subscribe(_log)
    h.cbMipLogging.subscribe(_log)
    h.run()
    runtime = time.perf_counter() - t0
    status = h.getModelStatus()
    S = highspy.HighsModelStatus
    if status == S.kInfeasible:
        raise InfeasibleError("the covering model is infeasible")
    info = h.getInfo()
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        raise SitingError(
            f"highs found no integer solution within {time_limit} s; raise --time-limit")
    x = np.asarray(h.getSolution().col_value)
    objective = float(info.objective_function_value)
    actual = float(np.asarray(arrays["c"], float) @ x)
    if abs(actual - objective) > 1e-6 * max(1.0, abs(actual)):
        # HiGHS 1.16 can report the objective and bound of a wrong optimum after a MIP
        # start (seen on a set cover: 47.9 M reported, the solution costs 49.9 M, CBC and
        # HiGHS without the start prove 49.9 M): never trust it, solve again without it
        if start is not None:
            left = None if time_limit is None else time_limit - (time.perf_counter() - t_enter)
            if left is None or left > 0.05 * time_limit:
                return _solve_highs_direct(arrays, left, msg, mip_gap, None)
        objective, status = actual, None  # the solution stands; no proof, no bound
    optimal = status == S.kOptimal
    dual = float(info.mip_dual_bound) if status is not None else float("nan")
    bound, gap = _bound_and_gap(objective, dual, optimal, mip_gap)
    trace = [(t, o, b) for t, o, b in trace if np.isfinite(o) and abs(o) < 1e30]
    result = dict(objective=objective, bound=bound, mip_gap=gap,
                  status="optimal" if optimal else "feasible", solver="highs",
                  runtime_s=runtime, trace=trace)
    return result, np.flatnonzero(x[:arrays["n_y"]] > 0.5)


def _greedy_max_cover(cov: sp.csr_array, w: np.ndarray, p, cost=None, budget=None):
    """Columns picked greedily by added covered weight (per cost when a budget is set)."""
    nr, nc = cov.shape
    csc = sp.csc_array(cov)
    gain = np.asarray(csc.T @ w, dtype=float)
    covered = np.zeros(nr, bool)
    chosen, spent = [], 0.0
    avail = np.ones(nc, bool)
    limit = nc if p is None else min(p, nc)
    while len(chosen) < limit:
        score = gain.copy()
        if cost is not None:
            avail &= cost <= (budget - spent) + 1e-9
            score = gain / np.maximum(cost, 1e-9)
        score[~avail] = -1.0
        j = int(np.argmax(score))
        if score[j] <= 0:
            break
        chosen.append(j)
        avail[j] = False
        spent += 0.0 if cost is None else float(cost[j])
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        rows = rows[~covered[rows]]
        covered[rows] = True
        # the newly covered rows no longer add to any site's gain
        sub = cov[rows]
        np.subtract.at(gain, sub.indices, np.repeat(w[rows], np.diff(sub.indptr)))
    return np.asarray(chosen, dtype=np.int64)


def _swap_max_cover(cov: sp.csr_array, w: np.ndarray, chosen: np.ndarray,
                    max_rounds: int = 200, deadline: float = np.inf) -> np.ndarray:
    """Best-improvement 1-swap local search for p-site maximal covering, stopped (with
    the best set so far) at ``deadline`` (a ``time.perf_counter()`` value)."""
    csc = sp.csc_array(cov)
    covT = sp.csr_array(csc.T)
    chosen = list(chosen)
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        y = np.zeros(cov.shape[1])
        y[chosen] = 1
        times = cov @ y
        unc_gain = covT @ (w * (times == 0))  # weight newly covered by adding j
        best, move = 1e-9, None
        for s in chosen:
            if time.perf_counter() > deadline:  # keep the best move found so far
                break
            only = times == 1
            rows_s = csc.indices[csc.indptr[s]:csc.indptr[s + 1]]
            u = np.zeros(cov.shape[0])
            u[rows_s[only[rows_s]]] = w[rows_s[only[rows_s]]]
            loss = u.sum()
            # swap s -> j: gain(j) - loss(s) + weight only s covered that j covers too
            delta = unc_gain + covT @ u - loss
            delta[chosen] = -np.inf
            j = int(np.argmax(delta))
            if delta[j] > best:
                best, move = delta[j], (s, j)
        if move is None:
            break
        chosen[chosen.index(move[0])] = move[1]
    return np.asarray(sorted(chosen), dtype=np.int64)


def _covered_weight(cov: sp.csr_array, w: np.ndarray, chosen) -> float:
    y = np.zeros(cov.shape[1])
    y[np.asarray(chosen, dtype=np.int64)] = 1
    return float(w[(cov @ y) > 0].sum())


def _iterated_swap(cov: sp.csr_array, w: np.ndarray, chosen: np.ndarray, kicks: int = 200,
                   patience: int = 40, time_s: float = 15.0, seed: int = 0) -> np.ndarray:
    """Ruin and recreate: drop a few random sites, refill greedily, 1-swap descent, keep best."""
    rng = np.random.default_rng(seed)
    csc = sp.csc_array(cov)
    covT = sp.csr_array(csc.T)
    deadline = time.perf_counter() + time_s
    best = _swap_max_cover(cov, w, chosen, deadline=deadline)
    best_val = _covered_weight(cov, w, best)
    nc, p = cov.shape[1], len(best)
    if nc <= p or p == 0:
        return best
    stale = 0
    for _ in range(kicks):
        if stale >= patience or time.perf_counter() > deadline:
            break
        k = min(p, int(rng.integers(2, max(3, p // 3) + 1)))
        keep = list(np.delete(best, rng.choice(p, k, replace=False)))
        y = np.zeros(nc)
        y[keep] = 1
        unc = (cov @ y) == 0
        while len(keep) < p:  # greedy refill, ties broken at random
            gain = covT @ (w * unc)
            gain[keep] = -1
            top = np.flatnonzero(gain >= gain.max() - 1e-9)
            j = int(rng.choice(top))
            keep.append(j)
            unc[csc.indices[csc.indptr[j]:csc.indptr[j + 1]]] = False
        cand = _swap_max_cover(cov, w, np.asarray(keep, dtype=np.int64), deadline=deadline)
        val = _covered_weight(cov, w, cand)
        if val > best_val + 1e-9:
            best, best_val, stale = cand, val, 0
        else:
            stale += 1
    return best


def _greedy_set_cover(cov: sp.csr_array, cost: np.ndarray) -> np.ndarray:
    """Chvátal's greedy set cover, then sites whose rows are all covered twice dropped."""
    nr, nc = cov.shape
    csc = sp.csc_array(cov)
    count = np.diff(csc.indptr).astype(float)
    covered = np.zeros(nr, bool)
    chosen = []
    while not covered.all():
        j = int(np.argmax(count / np.maximum(cost, 1e-9)))
        if count[j] <= 0:
            break
        chosen.append(j)
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        rows = rows[~covered[rows]]
        covered[rows] = True
        sub = cov[rows]
        np.subtract.at(count, sub.indices, 1.0)
    y = np.zeros(nc)
    y[chosen] = 1
    times = cov @ y
    for j in sorted(chosen, key=lambda j: -cost[j]):  # drop redundant, dearest first
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        if np.all(times[rows] >= 2):
            times[rows] -= 1
            y[j] = 0
    return np.flatnonzero(y)
