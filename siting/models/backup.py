"""Backup coverage (covering demand twice) on an :class:`~siting.models.instance.Instance`."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from siting.errors import SitingError
from siting.models._classic import (
    _check_p,
    _matrix_model,
    _merge_rows,
)
from siting.models.instance import Instance
from siting.models.results import CoverageSolution
from siting.solvers import MatrixModel, solve
from siting.solvers.base import check_solver

# Chosen by measurement (scripts/classic_models.py, 2 shared cores, 30 s limit; seeded
# 400 points × 80 sites, p = 10): theta = 0 is hard for both — HiGHS proved one of three
# (28.9 s) and ended with the better incumbent on the other two (2281 vs 2253, 2389 vs
# 2379), CBC proved none; theta = 0.5 both prove all three in < 1 s (0.86 s vs 0.76 s).
DEFAULT_SOLVER = "highs"


class BackupCovering:
    """Backup coverage problem (Hogan & ReVelle 1986, BACOP2) on sparse coverage.

    .. math::

        \\max\\; \\theta \\sum_i w_i u_i + (1 - \\theta) \\sum_i w_i v_i
        \\quad\\text{s.t.}\\quad
        u_i + v_i \\le \\sum_{j \\in N_i} y_j,\\qquad v_i \\le u_i \\;\\forall i,

        \\sum_j y_j \\le p,\\qquad y_j \\in \\{0,1\\},\\; 0 \\le u_i, v_i \\le 1

    :math:`N_i` are the sites within ``threshold_m`` of demand point :math:`i`;
    :math:`u_i = 1` when :math:`i` is covered at least once, :math:`v_i = 1` when at least
    twice (a backup site in reach). ``theta`` weighs first against second coverage:
    ``theta = 0`` (default) maximises the weight covered twice only, ``theta = 1`` is
    maximal covering, ``theta = 0.5`` counts both equally. The objective reported is
    :math:`\\theta W_1 + (1-\\theta) W_2` with :math:`W_1`, :math:`W_2` the weight covered
    at least once and at least twice.

    For :math:`\\theta \\ge 1/2` both :math:`u, v` may be continuous (with one site in
    reach the optimum is :math:`u = 1, v = 0`); for :math:`\\theta < 1/2` a single site
    would let :math:`u = v = 1/2` score more than :math:`u = 1`, so :math:`v` is binary
    (then :math:`u` is integral at the optimum).

    Exact reductions: demand with zero weight or no site in reach is left out; points
    with the same covering sites are merged into one row with the summed weight.

    Parameters
    ----------
    instance
        Demand weights and pairs within reach.
    p
        Most sites to open.
    theta
        Weight of first coverage, in ``[0, 1]``; ``1 - theta`` weighs second coverage.
    threshold_m
        Walking threshold; default the instance's.
    """

    name = "backup_covering"

    def __init__(self, instance: Instance, p: int, theta: float = 0.0,
                 threshold_m: float | None = None):
        if not 0.0 <= float(theta) <= 1.0:
            raise SitingError(f"theta must lie in [0, 1], got {theta}")
        self.instance, self.theta = instance, float(theta)
        self.p = _check_p(p, instance.n_sites)
        self.threshold_m = instance.threshold_m if threshold_m is None else threshold_m
        cov = sp.csr_array(instance.coverage(self.threshold_m))
        cov.sort_indices()
        n = np.diff(cov.indptr)
        rows = np.repeat(np.arange(instance.n_demand), n)
        keep = instance.weight[rows] > 0
        group, rep = _merge_rows(rows[keep], cov.indices[keep], None, instance.n_demand)
        self.row_weight = np.bincount(group[group >= 0], weights=instance.weight[group >= 0],
                                      minlength=len(rep))
        self.cov = sp.csr_array(cov[rep])
        self.reduction = [{"step": "positive weight, coverable; identical rows merged",
                           "rows": len(rep), "cols": instance.n_sites, "nnz": self.cov.nnz}]

    def _matrices(self) -> MatrixModel:
        """Columns: ``y`` (every site), ``u`` and ``v`` (one each per model row). Rows:
        ``u + v - sum y <= 0``, ``v - u <= 0``, the site count."""
        ns, nr = self.instance.n_sites, len(self.row_weight)
        i = np.arange(nr)
        cov = self.cov
        r = np.repeat(i, np.diff(cov.indptr))
        twice = sp.csr_array((np.r_[-np.ones(cov.nnz), np.ones(2 * nr)],
                              (np.r_[r, i, i], np.r_[cov.indices, ns + i, ns + nr + i])),
                             shape=(nr, ns + 2 * nr))
        order = sp.csr_array((np.r_[-np.ones(nr), np.ones(nr)],
                              (np.r_[i, i], np.r_[ns + i, ns + nr + i])), shape=(nr, ns + 2 * nr))
        count = sp.csr_array(np.r_[np.ones(ns), np.zeros(2 * nr)][None, :])
        A = sp.vstack([twice, order, count], format="csr")
        w = self.row_weight
        c = np.r_[np.zeros(ns), self.theta * w, (1.0 - self.theta) * w]
        integer = np.arange(ns) if self.theta >= 0.5 else np.r_[np.arange(ns), ns + nr + i]
        return _matrix_model(c, A, np.full(2 * nr + 1, -np.inf),
                             np.r_[np.zeros(2 * nr), self.p], np.ones(ns + 2 * nr), integer,
                             maximize=True)

    def times_covered(self, chosen) -> np.ndarray:
        """Per demand point: how many of the ``chosen`` sites are within the threshold.

        Parameters
        ----------
        chosen
            Indices of open sites.

        Returns
        -------
        numpy.ndarray
            ``(n_demand,)`` counts.
        """
        y = np.zeros(self.instance.n_sites)
        y[np.asarray(chosen, dtype=np.int64)] = 1
        return np.asarray(self.instance.coverage(self.threshold_m) @ y).astype(np.int64)

    def value(self, chosen) -> float:
        """The objective :math:`\\theta W_1 + (1-\\theta) W_2` of a set of sites.

        Parameters
        ----------
        chosen
            Indices of open sites.

        Returns
        -------
        float
        """
        k, w = self.times_covered(chosen), self.instance.weight
        return float(self.theta * w[k >= 1].sum() + (1.0 - self.theta) * w[k >= 2].sum())

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              mip_gap: float = 0.0, msg: bool = False) -> CoverageSolution:
        """Solve; ``covered`` in the result is "covered at least once" (use
        :meth:`times_covered` for the count), the objective the weighted coverage.

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

        Returns
        -------
        CoverageSolution
        """
        solver = check_solver(solver, time_limit)
        t0 = time.perf_counter()
        r = solve(self._matrices(), solver, time_limit, msg, mip_gap)
        chosen = np.flatnonzero(r.x[:self.instance.n_sites] > 0.5)
        objective = self.value(chosen)
        gap = abs(objective - r.bound) / max(abs(objective), 1e-9)
        return CoverageSolution(
            chosen=chosen, covered=self.times_covered(chosen) >= 1, objective=objective,
            bound=float(r.bound), mip_gap=float(r.mip_gap if r.status == "optimal" else gap),
            status=r.status, solver=r.solver, runtime_s=time.perf_counter() - t0,
            model=self.name, weight=self.instance.weight, trace=list(r.trace),
            reduction=list(self.reduction))
