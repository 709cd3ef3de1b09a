"""Coverage models on an :class:`~siting.models.instance.Instance`, solved with HiGHS or CBC.

Each model is an object built from data with a docstring stating its formulation,
``solve()`` returning a :class:`CoverageSolution`. Status is reported honestly: a
run stopped by the time limit is ``"feasible"`` with its gap, never ``"optimal"``
(PuLP reports ``Optimal`` for such runs; the solvers' own status and bound are read).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from siting.config.scenario import DEFAULT_SOLVER
from siting.errors import SitingError
from siting.models._heuristics import (
    _covered_weight,
    _greedy_max_cover,
    _greedy_set_cover,
    _iterated_swap,
    _lagrangian_max_cover,
)
from siting.models._setcover import rwls_set_cover
from siting.models.instance import Instance
from siting.models.reduce import Reduced, reduce_coverage
from siting.models.results import CoverageSolution
from siting.solvers import MatrixModel, Progress, SolverResult, bound_and_gap, solve, write_model

# reduced coverage matrices with at least this many pairs get a Lagrangian bound first
LAGRANGE_NNZ = 300_000


class _Covering:
    """Shared plumbing: the model built once as matrices, reduced columns mapped back."""

    name = "covering"
    instance: Instance
    threshold_m: float
    fixed: np.ndarray
    reduced: Reduced
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

    def _finish(self, cols: np.ndarray, res: SolverResult, t0: float,
                lagrange: float | None = None) -> CoverageSolution:
        r = self.reduced
        # runtime and trace from the start of solve(), warm-start search included
        shift = time.perf_counter() - t0 - res.runtime_s
        bound, gap, status = res.bound, res.mip_gap, res.status
        if not np.isfinite(bound):  # stopped with no bound: a simple valid one
            bound, gap = bound_and_gap(res.objective, self.simple_bound(), False, 0.0)
        if status != "optimal" and lagrange is not None and lagrange < bound:
            # the Lagrangian bound (max cover) is the tighter one: report it, and the
            # proof when it meets the plan
            bound, gap = bound_and_gap(res.objective, max(lagrange, res.objective),
                                       False, 0.0)
            status = "optimal" if gap <= 1e-9 else status
        runtime = res.runtime_s + shift
        trace = [(t + shift, o, b) for t, o, b in res.trace]
        trace.append((runtime, res.objective, bound))
        chosen = np.asarray(sorted(set(r.sites[cols].tolist()) | set(self.fixed.tolist())),
                            dtype=np.int64)
        return CoverageSolution(
            chosen=chosen, covered=self.instance.covered_by(chosen, self.threshold_m),
            weight=self.instance.weight, model=self.name, objective=res.objective, bound=bound,
            mip_gap=gap, status=status, solver=res.solver, runtime_s=runtime, trace=trace,
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
        :func:`siting.costs.price`).
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

        A heuristic: used as the solver's warm start, never reported as optimal.

        Parameters
        ----------
        swap
            Follow the greedy with the iterated 1-swap search (only without a budget).
        time_s
            Seconds the swap search may run at most (default 15).

        Returns
        -------
        numpy.ndarray
            Column indices of the reduced model (``self.reduced.sites`` maps them to sites).
        """
        r = self.reduced
        cost = self.instance.cost[r.sites] if self.budget is not None else None
        chosen = _greedy_max_cover(r.cov, r.weight, self.p, cost, self.budget)
        if swap and self.p is not None and self.budget is None and len(chosen):
            chosen = _iterated_swap(r.cov, r.weight, chosen, time_s=time_s)
        return chosen

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              msg: bool = False, mip_gap: float = 0.0, warm_start: bool = True,
              progress: Progress | None = None) -> CoverageSolution:
        """Solve and return the chosen sites with status, objective, bound and gap.

        The warm start is the greedy + swap solution (:meth:`greedy`). On a large model
        (at least :data:`LAGRANGE_NNZ` pairs after the reductions) a Lagrangian relaxation
        of the cover rows runs first for at most 10 s (15 % of the limit): it gives a
        proven bound close to the LP bound in seconds, where the solver's root LP may
        not end within the limit, and its best plan may replace the warm start. The
        bound reported is the smaller of the solver's and the Lagrangian one; a plan that
        meets the Lagrangian bound is proven optimal.

        Parameters
        ----------
        solver
            ``"highs"`` or ``"cbc"`` (see :mod:`siting.solvers`).
        time_limit
            Seconds for the whole call, the warm start's search included.
        msg
            Show the solver's log.
        mip_gap
            Relative gap at which the solver may stop and report ``"optimal"``.
        warm_start
            Hand a heuristic solution to the solver as its first incumbent.
        progress
            Called with ``(seconds, incumbent, bound)`` during the solve.

        Returns
        -------
        CoverageSolution
        """
        r = self.reduced
        search_s = 15.0 if time_limit is None else min(15.0, 0.25 * time_limit)
        t0 = time.perf_counter()
        start = self.greedy(time_s=search_s) if warm_start and r.cov.shape[1] else None
        lagrange = None  # a proven bound from the Lagrangian relaxation (large models)
        if r.cov.nnz >= LAGRANGE_NNZ:  # a bound in seconds where the root LP may take minutes
            box = 10.0 if time_limit is None else min(10.0, 0.15 * time_limit)
            lower = 0.0 if start is None else _covered_weight(r.cov, r.weight, start)
            cost = self.instance.cost[r.sites] if self.budget is not None else None
            bound, plan = _lagrangian_max_cover(r.cov, r.weight, self.p, cost, self.budget,
                                                lower, time_s=box)
            lagrange = r.fixed_weight + bound
            if warm_start and _covered_weight(r.cov, r.weight, plan) > lower:
                start = plan
        model = self.model  # built before the time left is worked out
        if time_limit is not None:  # the warm start's search counts against the limit
            time_limit = max(0.05 * time_limit, time_limit - (time.perf_counter() - t0))
        res = solve(model, solver, time_limit, msg, mip_gap, self._start_vector(start),
                    progress)
        return self._finish(np.flatnonzero(res.x[:r.cov.shape[1]] > 0.5), res, t0, lagrange)

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
        lo: list = [np.full(nr, -np.inf)]
        hi: list = [np.zeros(nr)]
        extra = []
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

        Parameters
        ----------
        search_s
            Seconds for the local search; 0 (default) for the greedy cover alone.

        Returns
        -------
        numpy.ndarray
            Column indices of the reduced model (``self.reduced.sites`` maps them to sites).
        """
        r = self.reduced
        cost = self.cost[r.sites]
        cover = _greedy_set_cover(r.cov, cost)
        if search_s > 0 and cover.size > 1 and np.ptp(cost) == 0:
            cover = rwls_set_cover(r.cov, cover, time_s=search_s)
        return cover

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              msg: bool = False, mip_gap: float = 0.0, warm_start: bool = True,
              progress: Progress | None = None) -> CoverageSolution:
        """Solve and return the cheapest set of sites covering all coverable demand.

        The warm start is the greedy cover shrunk by local search (:meth:`greedy`).

        Parameters
        ----------
        solver
            ``"highs"`` or ``"cbc"`` (see :mod:`siting.solvers`).
        time_limit
            Seconds for the whole call, the warm start's search included.
        msg
            Show the solver's log.
        mip_gap
            Relative gap at which the solver may stop and report ``"optimal"``.
        warm_start
            Hand a heuristic solution to the solver as its first incumbent.
        progress
            Called with ``(seconds, incumbent, bound)`` during the solve.

        Returns
        -------
        CoverageSolution
        """
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
        model = self.model  # built before the time left is worked out
        if time_limit is not None:  # the start's search counts against the limit
            time_limit = max(time_limit - (time.perf_counter() - t0), 0.1 * time_limit)
        res = solve(model, solver, time_limit, msg, mip_gap, x0, progress)
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
