"""Capacitated maximal covering on an :class:`~siting.models.instance.Instance`."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from siting.errors import SitingError
from siting.models._classic import (
    AssignmentSolution,
    _check_p,
    _matrix_model,
    _merge_rows,
)
from siting.models.instance import Instance
from siting.solvers import MatrixModel, solve
from siting.solvers.base import check_solver

# Chosen by measurement (scripts/classic_models.py, 2 shared cores; seeded 400 points ×
# 80 sites, p = 8, capacity 400, every site full at the optimum): both prove all three.
# With the greedy MIP start CBC took 15.0/0.64/1.01 s (16.7 s) and HiGHS 5.5/11.6/3.6 s
# (20.7 s); without it CBC 18.0/2.4/1.6 s and HiGHS 3.9/52.0/5.3 s. HiGHS varies much
# more from instance to instance; CBC was lower in total both times.
DEFAULT_SOLVER = "cbc"


class CapacitatedMaximalCovering:
    """Capacitated maximal covering (Current & Storbeck 1988; Pirkul & Schilling 1991),
    demand may be split between sites.

    .. math::

        \\max \\sum_i \\sum_{j \\in N_i} w_i x_{ij} \\quad\\text{s.t.}\\quad
        \\sum_{j \\in N_i} x_{ij} \\le 1 \\;\\forall i,\\qquad
        \\sum_{i : j \\in N_i} w_i x_{ij} \\le Q_j y_j \\;\\forall j,

        x_{ij} \\le y_j,\\qquad \\sum_j y_j \\le p,\\qquad
        y_j \\in \\{0,1\\},\\; 0 \\le x_{ij} \\le 1

    :math:`x_{ij}` is the (continuous) share of demand point :math:`i`'s weight served
    by site :math:`j`, :math:`N_i` the sites within ``threshold_m`` of :math:`i`, and
    :math:`Q_j` the weight site :math:`j` can serve (``capacity``). The objective is the
    weight served. :math:`x_{ij} \\le y_j` is implied for integral :math:`y` and kept to
    tighten the LP relaxation.

    Exact reductions: demand with zero weight or no site in reach is left out; points
    with the same covering sites are merged into one row with the summed weight (a
    split of the merged row can be given to each of its points in equal shares); an
    infinite capacity, or one above the total weight, is capped at the total weight.

    The reported shares (``served``, per demand point) are those of a maximum
    allocation of the demand to the chosen sites, recomputed by an LP (HiGHS through
    :func:`scipy.optimize.linprog`), and the objective is that allocation's weight;
    ``assignment`` is the site serving a point's largest share (``-1`` if none).

    Parameters
    ----------
    instance
        Demand weights and pairs within reach.
    p
        Most sites to open.
    capacity
        Weight each site can serve: one number for all sites or one per site (>= 0).
    threshold_m
        Walking threshold; default the instance's.
    """

    name = "capacitated_maximal_covering"

    def __init__(self, instance: Instance, p: int, capacity, threshold_m: float | None = None):
        self.instance = instance
        self.p = _check_p(p, instance.n_sites)
        cap = np.broadcast_to(np.asarray(capacity, dtype=float), (instance.n_sites,)).copy() \
            if np.ndim(capacity) == 0 else np.asarray(capacity, dtype=float)
        if cap.shape != (instance.n_sites,):
            raise SitingError(f"capacity must be one number or one per site "
                              f"({instance.n_sites}), got shape {cap.shape}")
        if np.any(np.isnan(cap)) or np.any(cap < 0):
            raise SitingError("site capacities must be >= 0 (and not NaN)")
        total = float(instance.weight.sum())
        self.capacity = np.minimum(cap, total)
        self.threshold_m = instance.threshold_m if threshold_m is None else threshold_m
        cov = sp.csr_array(instance.coverage(self.threshold_m))
        cov.sort_indices()
        rows = np.repeat(np.arange(instance.n_demand), np.diff(cov.indptr))
        keep = instance.weight[rows] > 0
        self.group, rep = _merge_rows(rows[keep], cov.indices[keep], None, instance.n_demand)
        g = self.group
        self.row_weight = np.bincount(g[g >= 0], weights=instance.weight[g >= 0],
                                      minlength=len(rep))
        sub = sp.csr_array(cov[rep])
        self.pair_row = np.repeat(np.arange(len(rep)), np.diff(sub.indptr))
        self.pair_site = sub.indices.astype(np.int64)
        self.reduction = [{"step": "positive weight, coverable; identical rows merged",
                           "rows": len(rep), "cols": instance.n_sites, "nnz": sub.nnz}]

    def _matrices(self) -> MatrixModel:
        """Columns: ``y`` (every site), ``x`` (one per pair). Rows: ``sum_j x <= 1`` per
        model row, ``sum_i w x - Q y <= 0`` per site, ``x - y <= 0`` per pair, the count."""
        ns, nr, npair = self.instance.n_sites, len(self.row_weight), len(self.pair_row)
        k, ncol = np.arange(npair), ns + npair
        w = self.row_weight[self.pair_row]
        once = sp.csr_array((np.ones(npair), (self.pair_row, ns + k)), shape=(nr, ncol))
        cap = sp.csr_array((np.r_[w, -self.capacity], (np.r_[self.pair_site, np.arange(ns)],
                                                       np.r_[ns + k, np.arange(ns)])),
                           shape=(ns, ncol))
        link = sp.csr_array((np.r_[np.ones(npair), -np.ones(npair)],
                             (np.r_[k, k], np.r_[ns + k, self.pair_site])), shape=(npair, ncol))
        count = sp.csr_array(np.r_[np.ones(ns), np.zeros(npair)][None, :])
        A = sp.vstack([once, cap, link, count], format="csr")
        hi = np.r_[np.ones(nr), np.zeros(ns + npair), self.p]
        return _matrix_model(np.r_[np.zeros(ns), w], A, np.full(len(hi), -np.inf), hi,
                             np.ones(ncol), np.arange(ns), maximize=True)

    def allocate(self, chosen) -> np.ndarray:
        """Shares ``x`` (one per model pair) of a maximum allocation to ``chosen`` sites.

        Parameters
        ----------
        chosen
            Indices of open sites.

        Returns
        -------
        numpy.ndarray
            Share of each model pair's row weight served by its site.
        """
        is_open = np.zeros(self.instance.n_sites, bool)
        is_open[np.asarray(chosen, dtype=np.int64)] = True
        x = np.zeros(len(self.pair_row))
        m = np.flatnonzero(is_open[self.pair_site])
        if len(m) == 0:
            return x
        rows, sites = self.pair_row[m], self.pair_site[m]
        w = self.row_weight[rows]
        _, r = np.unique(rows, return_inverse=True)
        s_id, s = np.unique(sites, return_inverse=True)
        k = np.arange(len(m))
        A = sp.vstack([sp.csr_array((np.ones(len(m)), (r, k))),
                       sp.csr_array((w, (s, k)))], format="csr")
        b = np.r_[np.ones(r.max() + 1), self.capacity[s_id]]
        res = linprog(-w, A_ub=A, b_ub=b, bounds=(0, 1), method="highs")
        if res.status != 0:
            raise SitingError(f"allocation LP failed: {res.message}")
        x[m] = np.clip(res.x, 0.0, 1.0)
        return x

    def greedy(self) -> np.ndarray:
        """Sites picked one by one by the weight they can still serve: the unserved
        weight in reach, capped by capacity (ties: the least weight left in reach), which
        is then taken (a heuristic for the MIP start; never reported as optimal)."""
        ns, w = self.instance.n_sites, self.row_weight
        left = w.copy()
        by_site = sp.csc_array(sp.csr_array(
            (np.ones(len(self.pair_row)), (self.pair_row, self.pair_site)),
            shape=(len(w), ns)))
        chosen: list[int] = []
        for _ in range(self.p):
            reach = by_site.T @ left
            # ties (capacity binding) to the site leaving the least unserved in reach
            gain = np.minimum(reach, self.capacity) - 1e-6 * reach / max(w.sum(), 1e-9)
            gain[chosen] = -1.0
            j = int(np.argmax(gain)) if ns else 0
            if ns == 0 or gain[j] <= 0:
                break
            chosen.append(j)
            rows = by_site.indices[by_site.indptr[j]:by_site.indptr[j + 1]]
            room = self.capacity[j]
            for i in rows[np.argsort(left[rows], kind="stable")]:  # smallest first
                take = min(left[i], room)
                left[i] -= take
                room -= take
        return np.asarray(sorted(chosen), dtype=np.int64)

    def _start(self, chosen) -> np.ndarray:
        """A full column vector (``y``, then ``x``) for the sites ``chosen``."""
        y = np.zeros(self.instance.n_sites)
        y[chosen] = 1.0
        return np.r_[y, self.allocate(chosen)]

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              mip_gap: float = 0.0, msg: bool = False,
              warm_start: bool = True) -> AssignmentSolution:
        """Solve; the result's ``served`` is each demand point's served share and the
        objective the weight served. ``warm_start`` hands :meth:`greedy`'s sites (with
        their best allocation) to the solver as a MIP start.

        Parameters
        ----------
        solver
            ``"highs"`` or ``"cbc"``.
        time_limit
            Seconds for the solve; ``None`` for no limit. A stop at the limit is reported
            ``"feasible"`` with its bound and gap.
        mip_gap
            Relative gap at which the solver may stop and report ``"optimal"``.
        msg
            Show the solver's log.
        warm_start
            Start from :meth:`greedy`'s sites.

        Returns
        -------
        AssignmentSolution
        """
        solver = check_solver(solver, time_limit)
        t0 = time.perf_counter()
        start = self._start(self.greedy()) if warm_start else None
        if time_limit is not None:  # the start counts against the limit
            time_limit = max(time_limit - (time.perf_counter() - t0), 0.1 * time_limit)
        r = solve(self._matrices(), solver, time_limit, msg, mip_gap, start)
        ns = self.instance.n_sites
        chosen = np.flatnonzero(r.x[:ns] > 0.5)
        x = self.allocate(chosen)
        objective = float(self.row_weight[self.pair_row] @ x)
        nr = len(self.row_weight)
        share = np.bincount(self.pair_row, weights=x, minlength=nr)
        best = np.full(nr, -1, dtype=np.int64)  # site with the largest share of each row
        k = np.flatnonzero(x > 1e-9)
        k = k[np.lexsort((self.pair_site[k], -x[k], self.pair_row[k]))]
        first = np.r_[True, self.pair_row[k][1:] != self.pair_row[k][:-1]][:len(k)]
        best[self.pair_row[k[first]]] = self.pair_site[k[first]]
        g = self.group
        served, assignment = np.zeros(len(g)), np.full(len(g), -1, dtype=np.int64)
        served[g >= 0], assignment[g >= 0] = share[g[g >= 0]], best[g[g >= 0]]
        gap = abs(objective - r.bound) / max(abs(objective), 1e-9)
        return AssignmentSolution(
            chosen=chosen, assignment=assignment, objective=objective, bound=float(r.bound),
            mip_gap=float(r.mip_gap if r.status == "optimal" else gap), status=r.status,
            solver=r.solver, runtime_s=time.perf_counter() - t0, model=self.name,
            served=served, trace=list(r.trace), reduction=list(self.reduction))
