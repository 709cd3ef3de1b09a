"""The p-median problem on the sparse walking-distance pairs of an
:class:`~siting.models.instance.Instance`."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from siting.errors import InfeasibleError
from siting.models._classic import (
    AssignmentSolution,
    _check_p,
    _fixed_sites,
    _matrix_model,
    _merge_rows,
    _nearest_open,
    _pairs,
)
from siting.models.instance import Instance
from siting.solvers import MatrixModel, solve
from siting.solvers.base import check_solver

# Chosen by measurement (scripts/classic_models.py, 2 shared cores, 30 s limit): on
# OR-Library pmed1–5 HiGHS proves every optimum faster than CBC (0.78/2.41/1.46/0.48/0.64 s
# against 1.48/3.12/2.57/1.17/1.56 s; 5.8 s in all against 9.9 s).
DEFAULT_SOLVER = "highs"


class PMedian:
    """p-median problem (Hakimi 1964; ReVelle & Swain 1970), disaggregated form.

    .. math::

        \\min \\sum_{i \\in I^+} w_i \\sum_{j \\in N_i} d_{ij} x_{ij}
        \\quad\\text{s.t.}\\quad
        \\sum_{j \\in N_i} x_{ij} = 1 \\;\\forall i \\in I^+,\\qquad
        x_{ij} \\le y_j \\;\\forall i \\in I^+, j \\in N_i,

        \\sum_{j \\notin F} y_j = p,\\qquad y_j = 1 \\;\\forall j \\in F,\\qquad
        y_j \\in \\{0,1\\},\\; 0 \\le x_{ij} \\le 1

    :math:`N_i` are the sites stored as pairs of demand point :math:`i` (within the
    instance's ``threshold_m``), :math:`d_{ij}` their walking distances, :math:`F` the
    ``fixed`` (already open) sites, which do not count against ``p``. Only stored pairs
    exist: a site outside :math:`N_i` cannot serve :math:`i`.

    :math:`I^+` is the demand with positive weight and at least one pair. A demand
    point without any pair is *reported, not assigned*: its ``assignment`` is ``-1``
    and it adds nothing to the objective (``AssignmentSolution.unassigned`` lists
    those points). A zero-weight point with pairs is not in the model (it adds nothing
    to the objective and would only constrain it); it is reported assigned to its
    nearest open site in reach, or ``-1``. If ``p`` sites cannot reach every point of
    :math:`I^+`, :class:`~siting.errors.InfeasibleError` is raised.

    :math:`x` may be continuous: for binary :math:`y` the problem splits into one
    assignment per demand point, whose optimum puts :math:`x_{ij} = 1` on a nearest
    open site. The reported assignment is exactly that (ties: the lower site index),
    and the reported objective is recomputed from it.

    Exact reductions (the optimum and the optimal sites are unchanged):

    * demand points with zero weight or no pair are left out (see above);
    * with fixed sites, pairs farther than the point's nearest fixed site are dropped
      (that site is always open and closer, so they are never used);
    * points with identical distance rows (same sites, same distances) are merged
      into one row with the summed weight (their cost is linear in the weight, and
      they share their best assignment).

    Parameters
    ----------
    instance
        Demand weights and the sparse walking distances (site costs are not used).
    p
        Sites to open besides ``fixed``.
    fixed
        Indices of sites that are already open.
    """

    name = "p_median"

    def __init__(self, instance: Instance, p: int, fixed=()):
        self.instance = instance
        self.fixed = _fixed_sites(fixed, instance.n_sites)
        self.p = _check_p(p, instance.n_sites, len(self.fixed))
        self.reduction: list[dict] = []
        self._reduce()

    def _reduce(self) -> None:
        inst = self.instance
        keep = inst.weight > 0
        d, s, t = _pairs(inst, keep)
        self.reduction.append({"step": "positive weight, reachable", "rows": len(np.unique(d)),
                                   "cols": inst.n_sites, "nnz": len(d)})
        if len(self.fixed):
            is_fixed = np.zeros(inst.n_sites, bool)
            is_fixed[self.fixed] = True
            near = np.full(inst.n_demand, np.inf)
            np.minimum.at(near, d[is_fixed[s]], t[is_fixed[s]])
            m = t <= near[d]
            d, s, t = d[m], s[m], t[m]
            self.reduction.append({"step": "pairs beyond a fixed site dropped",
                                   "rows": len(np.unique(d)), "cols": inst.n_sites,
                                   "nnz": len(d)})
        group, rep = _merge_rows(d, s, t, inst.n_demand)
        self.group = group  # model row of each demand point, -1 when not in the model
        self.row_weight = np.bincount(group[group >= 0], weights=inst.weight[group >= 0],
                                      minlength=len(rep))
        m = np.isin(d, rep)  # pairs of the representative rows only
        self.pair_row = group[d[m]]
        self.pair_site, self.pair_dist = s[m], t[m]
        self.reduction.append({"step": "identical distance rows merged", "rows": len(rep),
                                   "cols": inst.n_sites, "nnz": int(m.sum())})

    def _matrices(self) -> MatrixModel:
        """Columns: ``y`` (every site), then ``x`` (one per kept pair). Rows: assignment
        (one per model row), linking ``x - y <= 0`` (one per pair), the count of non-fixed
        sites, and (with fixed sites) their count."""
        ns, nr, npair = self.instance.n_sites, len(self.row_weight), len(self.pair_row)
        k = np.arange(npair)
        assign = sp.csr_array((np.ones(npair), (self.pair_row, ns + k)), shape=(nr, ns + npair))
        link = sp.csr_array((np.r_[np.ones(npair), -np.ones(npair)],
                             (np.r_[k, k], np.r_[ns + k, self.pair_site])),
                            shape=(npair, ns + npair))
        is_fixed = np.zeros(ns + npair)
        is_fixed[self.fixed] = 1.0
        free = np.r_[np.ones(ns), np.zeros(npair)] - is_fixed
        rows = [assign, link, sp.csr_array(free[None, :])]
        lo = [np.ones(nr), np.full(npair, -np.inf), np.array([self.p])]
        hi = [np.ones(nr), np.zeros(npair), np.array([self.p])]
        if len(self.fixed):
            rows.append(sp.csr_array(is_fixed[None, :]))
            lo.append(np.array([len(self.fixed)]))
            hi.append(np.array([len(self.fixed)]))
        c = np.r_[np.zeros(ns), self.row_weight[self.pair_row] * self.pair_dist]
        return _matrix_model(c, sp.vstack(rows, format="csr"), np.concatenate(lo),
                             np.concatenate(hi), np.ones(ns + npair), np.arange(ns),
                             maximize=False)

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              mip_gap: float = 0.0, msg: bool = False) -> AssignmentSolution:
        """Solve and return the open sites, each demand point's site and the total
        weighted distance, with the proven bound, gap and status.

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
        AssignmentSolution
        """
        solver = check_solver(solver, time_limit)
        t0 = time.perf_counter()
        try:
            r = solve(self._matrices(), solver, time_limit, msg, mip_gap)
        except InfeasibleError:
            raise InfeasibleError(
                f"p-median: {self.p} sites (plus {len(self.fixed)} fixed) cannot reach every "
                "demand point with people that has a site within reach; raise p") from None
        ns = self.instance.n_sites
        chosen = np.flatnonzero(r.x[:ns] > 0.5)
        assignment, dist = _nearest_open(self.instance, chosen)
        objective = float(np.nansum(self.instance.weight * dist))
        bound = float(r.bound)
        gap = abs(objective - bound) / max(abs(objective), 1e-9)
        return AssignmentSolution(
            chosen=chosen, assignment=assignment, objective=objective, bound=bound,
            mip_gap=float(r.mip_gap if r.status == "optimal" else gap), status=r.status,
            solver=r.solver, runtime_s=time.perf_counter() - t0, model=self.name,
            distance=dist, served=(assignment >= 0).astype(float), trace=list(r.trace),
            reduction=list(self.reduction))

