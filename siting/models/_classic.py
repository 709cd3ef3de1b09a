"""Shared plumbing of the classic location models (p-median, p-center, backup and
capacitated covering): input checks, exact row merging, the result type and the
building of their matrix models (solved by :func:`siting.solvers.solve`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from siting.errors import SitingError
from siting.solvers import MatrixModel


@dataclass
class AssignmentSolution:
    """Result of a model that assigns demand to open sites (p-median, p-center,
    capacitated covering).

    Attributes
    ----------
    chosen
        Indices of opened sites (sorted).
    assignment
        ``(n_demand,)`` site serving each demand point (its nearest open site within the
        stored pairs; for capacitated covering the site serving its largest share), ``-1``
        when none does.
    objective
        Objective value of the solution found (a distance, or weight served).
    bound
        Best proven bound on the objective (equals ``objective`` when optimal).
    mip_gap
        ``|objective - bound| / max(|objective|, 1e-9)``.
    status
        ``"optimal"`` (proven) or ``"feasible"`` (stopped by the time limit, with its gap).
    solver, runtime_s, model
        Solver name, wall time of ``solve()``, model name.
    distance
        ``(n_demand,)`` distance to the assigned site (NaN when unassigned).
    served
        ``(n_demand,)`` fraction of each demand point's weight that is served.
    trace
        ``(seconds, objective, bound)`` progress of the solve.
    reduction
        Model size after each exact reduction step.
    """

    chosen: np.ndarray
    assignment: np.ndarray
    objective: float
    bound: float
    mip_gap: float
    status: str
    solver: str
    runtime_s: float
    model: str
    distance: np.ndarray | None = field(repr=False, default=None)
    served: np.ndarray | None = field(repr=False, default=None)
    trace: list = field(repr=False, default_factory=list)
    reduction: list = field(repr=False, default_factory=list)

    @property
    def unassigned(self) -> np.ndarray:
        """Indices of demand points assigned to no site."""
        return np.flatnonzero(self.assignment < 0)

    def summary(self) -> dict:
        """Headline numbers as a plain dict (JSON-ready)."""
        return {
            "model": self.model, "status": self.status, "objective": self.objective,
            "bound": self.bound, "mip_gap": self.mip_gap, "solver": self.solver,
            "solve_time_s": self.runtime_s, "n_sites_chosen": len(self.chosen),
            "n_unassigned": len(self.unassigned),
        }

    def _repr_html_(self) -> str:
        return pd.Series(self.summary()).to_frame("value")._repr_html_()


def _check_p(p, n_sites: int, n_fixed: int = 0) -> int:
    """``p`` as an int, or a :class:`SitingError` saying what is wrong with it."""
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise SitingError(f"p must be a whole number of sites, got {p!r}")
    p = int(p)
    if p < 0:
        raise SitingError(f"p must be >= 0, got {p}")
    if p > n_sites - n_fixed:
        extra = f" besides the {n_fixed} fixed ones" if n_fixed else ""
        raise SitingError(
            f"p = {p} is larger than the {n_sites - n_fixed} candidate sites{extra}; "
            f"use p <= {n_sites - n_fixed} or add candidates")
    return p


def _fixed_sites(fixed, n_sites: int) -> np.ndarray:
    fixed = np.asarray(sorted({int(j) for j in fixed}), dtype=np.int64)
    if len(fixed) and (fixed.min() < 0 or fixed.max() >= n_sites):
        raise SitingError(f"fixed site indices must lie in 0..{n_sites - 1}")
    return fixed


def _pairs(instance, keep_demand: np.ndarray | None = None):
    """The stored pairs sorted by (demand, distance, site), a repeated (demand, site) pair
    kept once at its shortest distance; only demand points with ``keep_demand``."""
    d, s, t = instance.pair_demand, instance.pair_site, instance.pair_dist
    if keep_demand is not None:
        m = keep_demand[d]
        d, s, t = d[m], s[m], t[m]
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise SitingError("pair distances must be finite and >= 0")
    o = np.lexsort((t, s, d))
    d, s, t = d[o], s[o], t[o]
    first = np.ones(len(d), bool)
    first[1:] = (d[1:] != d[:-1]) | (s[1:] != s[:-1])
    d, s, t = d[first], s[first], t[first]
    o = np.lexsort((s, t, d))
    return d[o], s[o], t[o]


def _merge_rows(row: np.ndarray, col: np.ndarray, val: np.ndarray | None, n_rows: int):
    """Group rows with identical (column, value) entries.

    ``row``/``col``/``val`` are sorted by row. Returns ``group`` (group of each row, ``-1``
    for rows without entries) and ``rep`` (one representative row per group).
    """
    group = np.full(n_rows, -1, dtype=np.int64)
    if len(row) == 0:
        return group, np.zeros(0, dtype=np.int64)
    o = np.lexsort((col, row))
    row, col = row[o], col[o]
    val = np.zeros(len(row)) if val is None else np.asarray(val, float)[o]
    keys: dict[bytes, int] = {}
    rep: list[int] = []
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    ends = np.r_[starts[1:], len(row)]
    for a, b in zip(starts.tolist(), ends.tolist()):
        k = col[a:b].tobytes() + val[a:b].tobytes()
        g = keys.setdefault(k, len(keys))
        if g == len(rep):
            rep.append(int(row[a]))
        group[row[a]] = g
    return group, np.asarray(rep, dtype=np.int64)


def _nearest_open(instance, chosen) -> tuple[np.ndarray, np.ndarray]:
    """Each demand point's nearest open site among its pairs (ties: lower index) and the
    distance to it; ``-1`` and NaN when no open site is in reach."""
    is_open = np.zeros(instance.n_sites, bool)
    is_open[np.asarray(chosen, dtype=np.int64)] = True
    d, s, t = _pairs(instance)  # sorted by demand, distance, site
    m = is_open[s]
    d, s, t = d[m], s[m], t[m]
    first = np.r_[True, d[1:] != d[:-1]] if len(d) else np.zeros(0, bool)
    assignment = np.full(instance.n_demand, -1, dtype=np.int64)
    dist = np.full(instance.n_demand, np.nan)
    assignment[d[first]] = s[first]
    dist[d[first]] = t[first]
    return assignment, dist


def _matrix_model(c, A, row_lo, row_hi, col_hi, integer, maximize: bool) -> MatrixModel:
    """A :class:`~siting.solvers.MatrixModel` (columns bounded below by 0)."""
    return MatrixModel(c=c, A=A, row_lo=row_lo, row_hi=row_hi, col_hi=col_hi,
                       integer=integer, maximize=bool(maximize))
