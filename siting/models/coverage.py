"""Coverage models on an :class:`~siting.models.instance.Instance`, solved with HiGHS or CBC.

Each model is an object built from data with a docstring stating its formulation,
``solve()`` returning a :class:`CoverageSolution`. Status is reported honestly: a
run stopped by the time limit is ``"feasible"`` with its gap, never ``"optimal"``
(PuLP reports ``Optimal`` for such runs; the solvers' own status and bound are read).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting.config.scenario import DEFAULT_SOLVER
from siting.errors import SitingError
from siting.models._setcover import rwls_set_cover
from siting.models.instance import Instance
from siting.models.reduce import reduce_coverage
from siting.solvers import MatrixModel, SolverResult, bound_and_gap, solve, write_model

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
        Model size after each reduction step (see :mod:`siting.models.reduce`).
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
    """Shared plumbing: the model built once as matrices, reduced columns mapped back."""

    name = "covering"
    reduced = None  # set by subclasses (siting.models.reduce.Reduced)
    _model: MatrixModel | None = None

    @property
    def model(self) -> MatrixModel:
        """The reduced model as matrices with named rows and columns (built on first use)."""
        if self._model is None:
            self._model = self._matrices()
        return self._model

    def write(self, path: str | Path) -> Path:
        """Write the model to an ``.lp`` or ``.mps`` file (named rows and columns)."""
        return write_model(self.model, path)

    def _matrices(self) -> MatrixModel:
        raise NotImplementedError

    def _finish(self, cols: np.ndarray, res: SolverResult, t0: float) -> CoverageSolution:
        r = self.reduced
        # runtime and trace from the start of solve(), warm-start search included
        shift = time.perf_counter() - t0 - res.runtime_s
        bound, gap = res.bound, res.mip_gap
        if not np.isfinite(bound):  # stopped with no bound: a simple valid one
            bound, gap = bound_and_gap(res.objective, self.simple_bound(), False, 0.0)
        runtime = res.runtime_s + shift
        trace = [(t + shift, o, b) for t, o, b in res.trace]
        trace.append((runtime, res.objective, bound))
        chosen = sorted(set(r.sites[cols].tolist()) | set(self.fixed.tolist()))
        chosen = np.asarray(chosen, dtype=np.int64)
        return CoverageSolution(
            chosen=chosen, covered=self.instance.covered_by(chosen, self.threshold_m),
            weight=self.instance.weight, model=self.name, objective=res.objective, bound=bound,
            mip_gap=gap, status=res.status, solver=res.solver, runtime_s=runtime, trace=trace,
            reduction=r.steps)

    def simple_bound(self) -> float:
        raise NotImplementedError


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

    By default the model is built on :func:`siting.models.reduce.reduce_coverage` (exact:
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
        self._model = None

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
        res = solve(self.model, solver, time_limit, msg, mip_gap, self._start_vector(start))
        return self._finish(np.flatnonzero(res.x[:r.cov.shape[1]] > 0.5), res, t0)

    def _start_vector(self, start: np.ndarray | None) -> np.ndarray | None:
        if start is None:
            return None
        r = self.reduced
        y = np.zeros(r.cov.shape[1])
        y[start] = 1
        z = np.minimum(1.0, r.cov @ y)
        return np.concatenate([y, z])

    def _matrices(self) -> MatrixModel:
        """The reduced model: columns ``y_<site>`` then ``z_<row>``; rows ``cover_<row>``,
        then ``max_sites`` and ``budget``."""
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
        names = [f"cover_{i}" for i in range(nr)]
        if self.p is not None:
            extra.append(np.concatenate([np.ones(nc), np.zeros(nr)]))
            lo.append([-np.inf])
            hi.append([float(self.p)])
            names.append("max_sites")
        if self.budget is not None:
            extra.append(np.concatenate([self.instance.cost[r.sites], np.zeros(nr)]))
            lo.append([-np.inf])
            hi.append([float(self.budget)])
            names.append("budget")
        if extra:
            A = sp.vstack([A, sp.csr_array(np.vstack(extra))], format="csr")
        return MatrixModel(
            c=np.concatenate([np.zeros(nc), r.weight]), A=A, row_lo=np.concatenate(lo),
            row_hi=np.concatenate(hi), col_hi=np.ones(nc + nr), integer=np.arange(nc),
            maximize=True, offset=float(r.fixed_weight),
            col_names=[f"y_{j}" for j in r.sites.tolist()] + [f"z_{i}" for i in range(nr)],
            row_names=names)


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
    removed first (:func:`siting.models.reduce.reduce_coverage`; exact).
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
        self._model = None

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
        row-weighting local search (:func:`siting.models._setcover.rwls_set_cover`) for at
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
        res = solve(self.model, solver, time_limit, msg, mip_gap, x0)
        return self._finish(np.flatnonzero(res.x > 0.5), res, t0)

    def _matrices(self) -> MatrixModel:
        """The reduced model: columns ``y_<site>``, rows ``cover_<row>``."""
        r = self.reduced
        nr, nc = r.cov.shape
        return MatrixModel(
            c=self.cost[r.sites].astype(float), A=sp.csr_array(r.cov, dtype=float),
            row_lo=np.ones(nr), row_hi=np.full(nr, np.inf), col_hi=np.ones(nc),
            integer=np.arange(nc), maximize=False,
            col_names=[f"y_{j}" for j in r.sites.tolist()],
            row_names=[f"cover_{i}" for i in range(nr)])


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
