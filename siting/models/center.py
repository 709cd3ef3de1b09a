"""The p-center problem on the sparse walking-distance pairs of an
:class:`~siting.models.instance.Instance`, solved exactly by a search over the distinct
distances with a set covering MILP at each, or as one MILP."""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from siting.errors import InfeasibleError, SitingError
from siting.models._classic import (
    AssignmentSolution,
    _check_p,
    _matrix_model,
    _merge_rows,
    _nearest_open,
    _pairs,
)
from siting.models.instance import Instance
from siting.solvers import MatrixModel, solve
from siting.solvers.base import check_solver, within

# Chosen by measurement (scripts/classic_models.py, 2 shared cores): the search proves
# pmed1–5 and three seeded 400 × 80 instances with either solver; HiGHS took 4.0 s in all
# against CBC's 4.9 s (each instance within 0.4 s of the other). The one-MILP form
# (method="milp", --center-milp) proves none of pmed1–3 in 30 s with either solver
# (bounds 62–93 against optima 93–127).
DEFAULT_SOLVER = "highs"
METHODS = ("search", "milp")


class PCenter:
    """Vertex p-center problem (Hakimi 1965; Minieka 1970) on the stored pairs.

    Minimise the largest walking distance from a demand point of :math:`I^+` to its
    nearest open site:

    .. math::

        r^* = \\min_{S \\subseteq J,\\, |S| \\le p}\\; \\max_{i \\in I^+}\\;
        \\min_{j \\in S \\cap N_i} d_{ij}

    :math:`N_i` are the sites stored as pairs of demand point :math:`i`, :math:`d_{ij}`
    their walking distances. :math:`I^+` is the demand with positive weight and at
    least one pair; weights do not enter otherwise. A point without any pair is
    reported unassigned (``assignment`` ``-1``); if ``p`` sites cannot reach every point
    of :math:`I^+`, :class:`~siting.errors.InfeasibleError` is raised. Opening more
    sites never raises the radius, so :math:`|S| \\le p` and :math:`|S| = p` have the
    same optimum; the sites reported may be fewer than ``p``.

    ``method="search"`` (default) uses that :math:`r^*` is one of the distinct pair
    distances :math:`D_1 < \\dots < D_K`, and that radius :math:`D_k` is feasible iff
    the set covering problem

    .. math::

        \\min \\sum_j y_j \\quad\\text{s.t.}\\quad
        \\sum_{j \\in N_i,\\, d_{ij} \\le D_k} y_j \\ge 1 \\;\\forall i \\in I^+,\\qquad
        y_j \\in \\{0,1\\}

    has optimum :math:`\\le p`. A binary search over :math:`k` solves that MILP at each
    step; a cover with at most ``p`` sites (found greedily or by the solver) proves a
    radius feasible, and a proven MILP bound :math:`> p` proves it infeasible. It starts
    from the lower bound :math:`\\max_{i} \\min_{j \\in N_i} d_{ij}`, and a feasible cover
    moves the upper end to the radius it actually attains. ``status`` is ``"optimal"``
    only when the reported radius is the smallest not proven infeasible; ``bound`` is
    the smallest radius not proven infeasible.

    ``method="milp"`` solves the classic formulation directly:

    .. math::

        \\min W \\quad\\text{s.t.}\\quad W \\ge \\sum_{j \\in N_i} d_{ij} x_{ij},\\;
        \\sum_{j \\in N_i} x_{ij} = 1 \\;\\forall i \\in I^+,\\qquad
        x_{ij} \\le y_j,\\qquad \\sum_j y_j = p,\\qquad y_j \\in \\{0,1\\},\\; x_{ij} \\ge 0

    (:math:`x` may be continuous: for binary :math:`y` each point's best choice is a
    nearest open site).

    Exact reductions: points with zero weight or no pair are left out; points with
    identical distance rows (same sites, same distances) are merged; in the search,
    points with the same covering sites at the radius tried are merged.

    Parameters
    ----------
    instance
        Demand weights and the sparse walking distances (site costs are not used).
    p
        Most sites to open.
    method
        ``"search"`` (binary search over distances) or ``"milp"``.
    """

    name = "p_center"

    def __init__(self, instance: Instance, p: int, method: str = "search"):
        if method not in METHODS:
            raise SitingError(f"unknown p-center method {method!r}; use one of {METHODS}")
        self.instance, self.method = instance, method
        self.p = _check_p(p, instance.n_sites)
        d, s, t = _pairs(instance, instance.weight > 0)
        group, rep = _merge_rows(d, s, t, instance.n_demand)
        m = np.isin(d, rep)
        self.pair_row, self.pair_site, self.pair_dist = group[d[m]], s[m], t[m]
        self.n_rows = len(rep)
        self.reduction = [{"step": "positive weight, reachable; identical rows merged",
                           "rows": self.n_rows, "cols": instance.n_sites, "nnz": int(m.sum())}]

    # ------------------------------------------------------------------ search
    def _cover_matrices(self, radius: float) -> tuple[MatrixModel, np.ndarray]:
        """Set covering at ``radius`` (identical rows merged): matrices and the sites
        that are columns."""
        m = self.pair_dist <= radius
        r, s = self.pair_row[m], self.pair_site[m]
        group, rep = _merge_rows(r, s, None, self.n_rows)
        keep = np.isin(r, rep)
        sites = np.unique(s[keep])
        cols = np.searchsorted(sites, s[keep])
        A = sp.csr_array((np.ones(int(keep.sum())), (group[r[keep]], cols)),
                         shape=(len(rep), len(sites)))
        n = len(sites)
        return _matrix_model(np.ones(n), A, np.ones(len(rep)), np.full(len(rep), np.inf),
                             np.ones(n), np.arange(n), maximize=False), sites

    def _radius(self, chosen) -> float:
        """Largest distance of a model row to its nearest chosen site (inf if unreached)."""
        is_open = np.zeros(self.instance.n_sites, bool)
        is_open[np.asarray(chosen, dtype=np.int64)] = True
        near = np.full(self.n_rows, np.inf)
        m = is_open[self.pair_site]
        np.minimum.at(near, self.pair_row[m], self.pair_dist[m])
        return float(near.max()) if self.n_rows else 0.0

    def _feasible(self, radius, solver, time_limit, msg):
        """``(True, sites)``, ``(False, None)`` proven, or ``(None, None)`` when unknown."""
        model, sites = self._cover_matrices(radius)
        cover = _greedy_cover(model.A)
        if len(cover) <= self.p:
            return True, sites[cover]
        try:
            res = solve(model, solver, time_limit, msg, 0.0)
        except InfeasibleError:  # a point with no site within the radius
            return False, None
        except SitingError:  # no cover found within the time left: unknown
            return None, None
        if res.objective <= self.p + 1e-6:
            return True, sites[np.flatnonzero(res.x > 0.5)]
        if math.ceil(res.bound - 1e-6) > self.p:
            return False, None
        return None, None

    def _search(self, solver, time_limit, msg, mip_gap, t0):
        D = np.unique(self.pair_dist)
        first = np.r_[True, self.pair_row[1:] != self.pair_row[:-1]]
        lo = int(np.searchsorted(D, self.pair_dist[first].max()))  # below: infeasible
        left = None if time_limit is None else time_limit
        ok, best = self._feasible(D[-1], solver, left, msg)
        if ok is False:
            raise InfeasibleError(
                f"p-center: {self.p} sites cannot reach every demand point with people "
                "that has a site within reach; raise p")
        if ok is None:
            raise SitingError(f"{solver} found no p-center solution {within(time_limit)}")
        hi = int(np.searchsorted(D, self._radius(best)))
        trace = [(time.perf_counter() - t0, float(D[hi]), float(D[lo]))]
        while lo < hi and (D[hi] - D[lo]) > mip_gap * D[hi]:
            if time_limit is not None:
                left = time_limit - (time.perf_counter() - t0)
                if left <= 0:
                    break
            mid = (lo + hi) // 2
            ok, sites = self._feasible(D[mid], solver, left, msg)
            if ok is None:
                break
            if ok:
                best = sites
                hi = int(np.searchsorted(D, self._radius(sites)))
            else:
                lo = mid + 1
            trace.append((time.perf_counter() - t0, float(D[hi]), float(D[lo])))
        status = "optimal" if lo == hi else "feasible"
        return np.sort(best), float(D[lo]), status, trace

    # -------------------------------------------------------------------- milp
    def _matrices(self) -> MatrixModel:
        """The one-MILP form. Columns: ``y`` (every site), ``x`` (one per pair), ``W``.
        Rows: assignment, linking ``x - y <= 0``, the site count, ``W - sum d x >= 0``."""
        ns, nr, npair = self.instance.n_sites, self.n_rows, len(self.pair_row)
        k, ncol = np.arange(npair), ns + npair + 1
        assign = sp.csr_array((np.ones(npair), (self.pair_row, ns + k)), shape=(nr, ncol))
        link = sp.csr_array((np.r_[np.ones(npair), -np.ones(npair)],
                             (np.r_[k, k], np.r_[ns + k, self.pair_site])), shape=(npair, ncol))
        count = sp.csr_array(np.r_[np.ones(ns), np.zeros(npair + 1)][None, :])
        radius = sp.csr_array((np.r_[np.ones(nr), -self.pair_dist],
                               (np.r_[np.arange(nr), self.pair_row],
                                np.r_[np.full(nr, ncol - 1), ns + k])), shape=(nr, ncol))
        A = sp.vstack([assign, link, count, radius], format="csr")
        lo = np.r_[np.ones(nr), np.full(npair, -np.inf), self.p, np.zeros(nr)]
        hi = np.r_[np.ones(nr), np.zeros(npair), self.p, np.full(nr, np.inf)]
        c = np.zeros(ncol)
        c[-1] = 1.0
        col_hi = np.r_[np.ones(ns + npair), self.pair_dist.max() if npair else 0.0]
        return _matrix_model(c, A, lo, hi, col_hi, np.arange(ns), maximize=False)

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              mip_gap: float = 0.0, msg: bool = False) -> AssignmentSolution:
        """Solve and return the open sites, each demand point's nearest open site and
        the largest distance of a demand point with people to its site.

        Parameters
        ----------
        solver
            ``"highs"`` or ``"cbc"``.
        time_limit
            Seconds for the solve; ``None`` for no limit. A stop at the limit is reported
            ``"feasible"`` with its bound and gap.
        mip_gap
            Relative gap at which the solver may stop; the search stops once the radius
            found is within it of the smallest radius not proven infeasible (reported
            ``"optimal"`` only when the two are equal).
        msg
            Show the solver's log.

        Returns
        -------
        AssignmentSolution
        """
        solver = check_solver(solver, time_limit)
        t0 = time.perf_counter()
        if self.n_rows == 0:
            chosen, bound, status, trace = np.zeros(0, np.int64), 0.0, "optimal", []
        elif self.method == "search":
            chosen, bound, status, trace = self._search(solver, time_limit, msg, mip_gap, t0)
        else:
            try:
                r = solve(self._matrices(), solver, time_limit, msg, mip_gap)
            except InfeasibleError:
                raise InfeasibleError(
                    f"p-center: {self.p} sites cannot reach every demand point with people "
                    "that has a site within reach; raise p") from None
            chosen = np.flatnonzero(r.x[:self.instance.n_sites] > 0.5)
            bound, status, trace = float(r.bound), r.status, list(r.trace)
        assignment, dist = _nearest_open(self.instance, chosen)
        objective = self._radius(chosen)
        gap = abs(objective - bound) / max(abs(objective), 1e-9)
        return AssignmentSolution(
            chosen=chosen, assignment=assignment, objective=objective, bound=bound,
            mip_gap=float(gap), status=status, solver=solver,
            runtime_s=time.perf_counter() - t0, model=self.name, distance=dist,
            served=(assignment >= 0).astype(float), trace=trace,
            reduction=list(self.reduction))


def _greedy_cover(A: sp.csr_array) -> np.ndarray:
    """Columns of a greedy cover of every row of ``A`` (most uncovered rows first)."""
    csc = sp.csc_array(A)
    count = np.diff(csc.indptr).astype(float)
    covered = np.zeros(A.shape[0], bool)
    chosen = []
    while not covered.all():
        j = int(np.argmax(count))
        if count[j] <= 0:
            break
        chosen.append(j)
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        rows = rows[~covered[rows]]
        covered[rows] = True
        sub = A[rows]
        np.subtract.at(count, sub.indices, 1.0)
    return np.asarray(chosen, dtype=np.int64)
