"""Value curves of the groups of a decomposed embedded model, and the city's knapsacks.

A :class:`Curve` holds one group's solves at several budgets (:func:`solve_point`) and
Lagrangian solves (:func:`solve_lagrange`); :func:`mckp` chooses one plan per group
within the budget (the city plan) and :func:`curve_bound` bounds the city's optimum
from the curves' proven bounds (see :mod:`~siting.models.embedded.decompose`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from siting.errors import InfeasibleError, SitingError
from siting.solvers import MatrixModel
from siting.solvers import solve as solve_matrix
from siting.solvers.highs import lp_values

_INF = float("inf")

# ---------------------------------------------------------------------------
# the multiple-choice knapsack
# ---------------------------------------------------------------------------

def mckp(values: Sequence[Sequence[float] | np.ndarray], costs: Sequence[Sequence[float] | np.ndarray],
         budget: float) -> tuple[np.ndarray, float, float]:
    """Choose one option per group, costs summing to at most ``budget``, most value.

    Solved exactly as a MILP (HiGHS, gap 0); among equally valuable choices the
    cheapest is taken.

    Parameters
    ----------
    values
        Per group, the options' values.
    costs
        Per group, the options' costs.
    budget
        The total cost allowed.

    Returns
    -------
    choice : numpy.ndarray
        Index of the option chosen per group.
    value : float
        The value of the choice.
    bound : float
        The solver's proven upper bound on the optimum (equal to ``value`` up to its
        tolerances).

    Raises
    ------
    InfeasibleError
        When even the cheapest options exceed the budget.
    """
    sizes = [len(v) for v in values]
    if any(s == 0 for s in sizes):
        raise InfeasibleError("a group has no option")
    val = np.concatenate([np.asarray(v, float) for v in values])
    cst = np.concatenate([np.asarray(c, float) for c in costs])
    if sum(float(np.min(c)) for c in costs) > budget + 1e-9 * max(1.0, abs(budget)):
        raise InfeasibleError("the cheapest options exceed the budget")
    n, k = len(val), len(sizes)
    grp = np.repeat(np.arange(k), sizes)
    A = sp.vstack([sp.csr_array((np.ones(n), (grp, np.arange(n))), shape=(k, n)),
                   sp.csr_array(cst[None, :])]).tocsr()
    lo = np.append(np.ones(k), -_INF)
    hi = np.append(np.ones(k), budget)
    shift = np.array([float(np.max(v)) for v in values])[grp]  # values relative to the best
    r = solve_matrix(MatrixModel(val - shift, A, lo, hi, np.ones(n), np.arange(n),
                                 maximize=True), "highs", mip_gap=0.0)
    x = r.x > 0.5
    best = float(val[x].sum())
    offset = float(np.sum([np.max(v) for v in values]))
    bound = r.bound + offset if math.isfinite(r.bound) else best
    # ties by least cost: the same value, cheapest options
    keep = sp.csr_array(val[None, :])
    A2 = sp.vstack([A, keep]).tocsr()
    tol = 1e-9 * max(1.0, abs(best))
    r2 = solve_matrix(MatrixModel(cst, A2, np.append(lo, best - tol), np.append(hi, _INF),
                                  np.ones(n), np.arange(n), maximize=False),
                      "highs", mip_gap=0.0, start=r.x)
    x = r2.x > 0.5
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    choice = np.array([int(np.flatnonzero(x[s:s + z])[0]) for s, z in zip(starts, sizes)])
    return choice, float(val[x].sum()), max(bound, float(val[x].sum()))


# ---------------------------------------------------------------------------
# value curves
# ---------------------------------------------------------------------------

@dataclass
class Point:
    """One solve of a group at a budget: the plan found and the proven bound.

    Attributes
    ----------
    budget
        The budget of the solve.
    value, cost, x
        The best plan's value, cost and columns (``-inf``, ``nan``, None when none).
    bound
        Proven upper bound on :math:`V(b)`: ``inf`` when unknown, ``-inf`` when no plan
        exists at this budget.
    time_s
        Seconds the solve took.
    """

    budget: float
    value: float
    cost: float
    x: np.ndarray | None
    bound: float
    time_s: float = 0.0


@dataclass
class Curve:
    """What is known of one group's value curve :math:`V(b)`.

    Attributes
    ----------
    points
        Solves at budgets (:class:`Point`), by budget.
    lines
        ``(lo, hi, λ, M)`` of Lagrangian solves over a cost range: every plan costing
        ``c`` in ``[lo, hi]`` is worth at most :math:`M + λ c`.
    """

    points: list = field(default_factory=list)
    lines: list = field(default_factory=list)

    def add(self, p: Point) -> None:
        """Add a solve (merged with one at the same budget).

        Parameters
        ----------
        p
            The solve.
        """
        old = [q for q in self.points if abs(q.budget - p.budget) <= 1e-9 * max(1.0, p.budget)]
        for q in old:  # a re-solve at the same budget: keep the better of each part
            self.points.remove(q)
            if q.value > p.value:
                p = replace(p, value=q.value, cost=q.cost, x=q.x)
            p = replace(p, bound=min(p.bound, q.bound))
        self.points.append(p)
        self.points.sort(key=lambda q: q.budget)

    def plans(self) -> list[Point]:
        """Points with a plan, dominated ones (costlier and no better) left out.

        Returns
        -------
        list of Point
        """
        found = sorted((p for p in self.points if p.x is not None), key=lambda p: (p.cost, -p.value))
        out: list[Point] = []
        for p in found:
            if not out or p.value > out[-1].value + 1e-12 * max(1.0, abs(p.value)):
                out.append(p)
        return out

    def steps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The step bound: intervals ``(b_{k-1}, b_k]`` with ``V ≤ ū_k`` on each.

        Returns
        -------
        tuple of numpy.ndarray
            Lower ends, upper ends, :math:`\\bar u_k` and the points' indices ``k``
            (intervals where no plan exists left out).
        """
        b = np.array([p.budget for p in self.points])
        u = np.array([p.bound for p in self.points])
        ubar = np.minimum.accumulate(u[::-1])[::-1]
        lower = np.concatenate([[0.0], b[:-1]])
        ok = ubar > -_INF
        return lower[ok], b[ok], ubar[ok], np.flatnonzero(ok)

    def has_point(self, budget: float) -> bool:
        """Whether the curve was solved (a MILP with a plan) at a budget.

        Parameters
        ----------
        budget
            The budget asked about, CNY.

        Returns
        -------
        bool
        """
        return any(p.x is not None and abs(p.budget - budget) <= 1e-9 * max(1.0, budget)
                   for p in self.points)

    def bound_at(self, budget: float) -> float:
        """The step bound on the value at a budget: the least bound solved at or above it.

        Parameters
        ----------
        budget
            The budget bounded, CNY.

        Returns
        -------
        float
            ``inf`` when nothing was solved at or above it.
        """
        return min((p.bound for p in self.points if p.budget >= budget * (1 - 1e-12)),
                   default=_INF)

    def best_within(self, budget: float) -> float:
        """The best plan's value at cost at most ``budget`` (``-inf`` when none).

        Parameters
        ----------
        budget
            CNY.

        Returns
        -------
        float
        """
        best = self._best_within(budget)
        return -_INF if best is None else best.value

    def start_for(self, budget: float) -> np.ndarray | None:
        """A plan feasible at ``budget``: the best found at cost at most it.

        Parameters
        ----------
        budget
            CNY.

        Returns
        -------
        numpy.ndarray or None
        """
        best = self._best_within(budget)
        return None if best is None else best.x

    def _best_within(self, budget: float) -> Point | None:
        """The most valuable point with a plan at cost at most ``budget``."""
        cands = [p for p in self.points
                 if p.x is not None and p.cost <= budget * (1 + 1e-12) + 1e-9]
        return max(cands, key=lambda p: p.value) if cands else None


def solve_point(task: tuple) -> Point:
    """Solve one group at one budget (a sub-problem, run through the mapper).

    Parameters
    ----------
    task
        ``(model, budget, start, time_limit, mip_gap, solver)``.

    Returns
    -------
    Point
    """
    model, budget, start, limit, gap, solver = task
    t0 = time.perf_counter()
    row_hi = model.row_hi.copy()
    row_hi[-1] = budget
    m = replace(model, row_hi=row_hi)
    try:
        r = solve_matrix(m, solver, limit, False, gap, start=start)
    except InfeasibleError:
        return Point(budget, -_INF, float("nan"), None, -_INF, time.perf_counter() - t0)
    except SitingError:  # nothing found in time: the LP relaxation still bounds V(b)
        return Point(budget, -_INF, float("nan"), None, _relaxed_bound(m, limit),
                     time.perf_counter() - t0)
    x = r.x
    bound = r.bound if math.isfinite(r.bound) else _relaxed_bound(m, limit)
    cost = float(model.A[[model.A.shape[0] - 1]].toarray()[0] @ x)
    return Point(budget, float(model.c @ x), cost, x, max(bound, float(model.c @ x)),
                 time.perf_counter() - t0)


def _relaxed_bound(model: MatrixModel, limit: float | None) -> float:
    """The LP relaxation's optimum, a bound on the model's (``inf`` when not solved)."""
    (v,) = lp_values(model, [(None, model.row_lo[-1], model.row_hi[-1])],
                     None if limit is None else max(limit, 1.0))
    return _INF if math.isnan(v) else v


def relaxed_curve(task: tuple) -> tuple[list[Point], list[tuple]]:
    """Bounds on a whole value curve from the group's LP relaxation.

    :math:`V(b) \\le V_{LP}(b)`, so the LP at a budget is a step bound there (a point
    without a plan). :math:`V_{LP}` is concave in the budget; for a slope :math:`λ`,
    :math:`M = \\max` value :math:`- λ` cost over the LP relaxation without the budget
    row bounds every plan by :math:`M + λ\\,\\text{cost}`, whatever it costs — the line
    that keeps an allocation from giving a group little or much more than its share for
    free. The slopes are the secants of :math:`V_{LP}` between the given budgets (each
    line touches :math:`V_{LP}` between them).

    Parameters
    ----------
    task
        ``(model, budgets, time_limit)``: the group's model and the budgets, increasing.

    Returns
    -------
    points : list of Point
        The LP bounds at the budgets (``-inf``: no plan fits that budget).
    lines : list of tuple
        ``(0, inf, λ, M)`` per slope.
    """
    model, budgets, limit = task
    t0 = time.perf_counter()
    values = lp_values(model, [(None, -_INF, b) for b in budgets], limit)
    points = [Point(float(b), -_INF, float("nan"), None, _INF if math.isnan(v) else v,
                    time.perf_counter() - t0) for b, v in zip(budgets, values)]
    ok = [(p.budget, p.bound) for p in points if math.isfinite(p.bound)]
    slopes = sorted({max((v2 - v1) / (b2 - b1), 0.0)
                     for (b1, v1), (b2, v2) in zip(ok, ok[1:]) if b2 > b1})
    crow = model.A[[model.A.shape[0] - 1]].toarray()[0]
    Ms = lp_values(model, [(model.c - lam * crow, -_INF, _INF) for lam in slopes], limit)
    return points, [(0.0, _INF, lam, M + 1e-9 * max(1.0, abs(M)))
                    for lam, M in zip(slopes, Ms) if math.isfinite(M)]


def least_cost(task: tuple) -> tuple[np.ndarray, float, str, float]:
    """The least cost of a group at (at least) a value: the lexicographic second stage.

    Parameters
    ----------
    task
        ``(model, value, plan, time_limit, mip_gap, solver)``; ``plan`` reaches
        ``value`` and starts the solve.

    Returns
    -------
    tuple
        Columns, cost, status and gap of the least-cost plan (the given plan when the
        solve finds nothing better).
    """
    model, value, plan, limit, gap, solver = task
    crow = model.A[[model.A.shape[0] - 1]].toarray()[0]
    base = float(crow @ plan)
    tol = 1e-6 * max(1.0, abs(value))
    A = sp.vstack([model.A, sp.csr_array(model.c[None, :])]).tocsr()
    row_hi = model.row_hi.copy()
    row_hi[-1] = base * (1 + 1e-9) + 1e-6
    m = MatrixModel(crow, A, np.append(model.row_lo, value - tol), np.append(row_hi, _INF),
                    model.col_hi, model.integer, maximize=False, col_lo=model.lower)
    try:
        r = solve_matrix(m, solver, limit, False, gap, start=plan)
    except SitingError:
        return plan, base, "feasible", float("nan")
    if r.objective > base:
        return plan, base, "feasible", float("nan")
    return r.x, float(r.objective), r.status, float(r.mip_gap)




def solve_lagrange(task: tuple) -> tuple[tuple, Point | None]:
    """A Lagrangian solve of a group over a cost range.

    :math:`M = \\max\\, \\text{value} - λ\\,\\text{cost}` over the plans costing between
    ``lo`` and ``hi``; then every such plan is worth at most :math:`M + λ\\,\\text{cost}`
    (``M = -inf``: no plan costs that much). The plan found is a point of the curve.

    Parameters
    ----------
    task
        ``(model, λ, lo, hi, time_limit, mip_gap, solver)``.

    Returns
    -------
    tuple
        The line ``(lo, hi, λ, M)`` (``M`` the proven bound, ``inf`` when none) and the
        plan's point (None when none was found).
    """
    model, lam, lo, hi, limit, gap, solver = task
    t0 = time.perf_counter()
    crow = model.A[[model.A.shape[0] - 1]].toarray()[0]
    row_lo, row_hi = model.row_lo.copy(), model.row_hi.copy()
    row_lo[-1], row_hi[-1] = lo, hi
    m = replace(model, c=model.c - lam * crow, row_lo=row_lo, row_hi=row_hi)
    try:
        r = solve_matrix(m, solver, limit, False, gap)
    except InfeasibleError:
        return (lo, hi, lam, -_INF), None
    except SitingError:
        return (lo, hi, lam, _INF), None
    value, cost = float(model.c @ r.x), float(crow @ r.x)
    M = max(r.bound, r.objective) if math.isfinite(r.bound) else _INF
    return (lo, hi, lam, M), Point(cost, value, cost, r.x, _INF, time.perf_counter() - t0)


def curve_bound(curves: Sequence[Curve], budget: float) -> tuple[float, np.ndarray, np.ndarray]:
    r"""A proven upper bound on :math:`\max \sum_g V_g(b_g)` s.t. :math:`\sum_g b_g \le B`.

    A group's plan costing :math:`c \in (b_{k-1}, b_k]` is worth at most the step
    :math:`\bar u_k` and :math:`M + λ c` for every line valid over that interval;
    the allocation
    maximising these bounds is a small MILP (one interval per group, the budget used
    within it continuous), solved to optimality; its dual bound is returned.

    Parameters
    ----------
    curves
        One curve per group (groups may share a curve object).
    budget
        The city budget :math:`B`.

    Returns
    -------
    bound : float
        The proven bound (``inf`` when a curve has no finite step yet).
    interval : numpy.ndarray
        Per group, the index (into :meth:`Curve.steps`) of the interval chosen.
    spend : numpy.ndarray
        Per group, the budget the bound's allocation gives it.
    """
    steps = [c.steps() for c in curves]
    if any(not np.isfinite(s[2]).all() or len(s[2]) == 0 for s in steps):
        return _INF, np.zeros(0, np.int64), np.zeros(0)
    scale = max(budget, 1.0)
    cols_c: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    integer: list[int] = []
    rows: list[tuple[list, list, float, float]] = []  # (cols, coefs, lo, hi)
    sizes: list[int] = []
    for c, (blo, bhi, ubar, _) in zip(curves, steps):
        n_k = len(ubar)
        sizes.append(n_k)
        base = len(cols_c)
        z, beta, w = base, base + n_k, base + 2 * n_k
        cols_c += [0.0] * (2 * n_k) + [1.0] * n_k
        lo += [0.0] * (2 * n_k) + [-_INF] * n_k
        hi += [1.0] * n_k + [_INF] * n_k + [_INF] * n_k
        integer += list(range(z, z + n_k))
        rows.append((list(range(z, z + n_k)), [1.0] * n_k, 1.0, 1.0))
        for k in range(n_k):
            rows.append(([beta + k, z + k], [1.0, -blo[k] / scale], 0.0, _INF))
            rows.append(([beta + k, z + k], [1.0, -bhi[k] / scale], -_INF, 0.0))
            rows.append(([w + k, z + k], [1.0, -ubar[k]], -_INF, 0.0))
            tol = 1e-9 * scale
            for lo_l, hi_l, lam, M in c.lines:  # lines valid over this interval
                if lo_l <= blo[k] + tol and hi_l >= bhi[k] - tol:
                    if M == -_INF:  # no plan costs this much: the option is out
                        hi[z + k] = 0.0
                    elif math.isfinite(M):
                        rows.append(([w + k, beta + k, z + k], [1.0, -lam * scale, -M],
                                     -_INF, 0.0))
    betas = [b for g, n_k in enumerate(sizes) for b in range(3 * sum(sizes[:g]) + n_k,
                                                                  3 * sum(sizes[:g]) + 2 * n_k)]
    rows.append((betas, [1.0] * len(betas), -_INF, budget / scale))
    r_i = np.concatenate([[i] * len(r[0]) for i, r in enumerate(rows)]).astype(np.int64)
    c_i = np.concatenate([r[0] for r in rows]).astype(np.int64)
    v = np.concatenate([r[1] for r in rows])
    A = sp.csr_array((v, (r_i, c_i)), shape=(len(rows), len(cols_c)))
    model = MatrixModel(np.array(cols_c), A, np.array([r[2] for r in rows]),
                        np.array([r[3] for r in rows]), np.array(hi), np.array(integer),
                        maximize=True, col_lo=np.array(lo))
    r = solve_matrix(model, "highs", mip_gap=0.0)
    bound = max(r.bound, r.objective) if math.isfinite(r.bound) else r.objective
    interval, spend, at = [], [], 0
    for n_k in sizes:
        zs = r.x[at:at + n_k]
        k = int(np.argmax(zs))
        interval.append(k)
        spend.append(float(r.x[at + n_k + k]) * scale)
        at += 3 * n_k
    return float(bound), np.array(interval, np.int64), np.array(spend)


def refine_tasks(curves: list[Curve], classes: list[int], interval: np.ndarray,
                 spend: np.ndarray, budget: float, tol: float) -> list[tuple]:
    """The solves to make next: where the bound's allocation gains over the plans.

    In the interval :math:`(b_{k-1}, b_k]` the bound chose for a group: a Lagrangian
    solve over that cost range at the secant slope of the plans at its ends (tight
    where the curve is linear there; proves the range empty across a site's fixed
    cost); once done, a solve at the budget the bound spends there (or at the cost of
    the plan at the top, or the midpoint); or the top again when its own gap is the
    slack.

    Parameters
    ----------
    curves
        The curves, one per class.
    classes
        The class of each group.
    interval, spend
        Per group, the interval the bound chose (into :meth:`Curve.steps`) and the
        budget it gives the group (:func:`curve_bound`).
    budget
        The city budget.
    tol
        Gains over the plans below this are left alone.

    Returns
    -------
    list of tuple
        ``("point", class, budget, again)`` and ``("line", class, λ, lo, hi)`` tasks.
    """
    tasks: list[tuple] = []
    seen: set = set()
    for g, k in enumerate(classes):
        blo, bhi, ubar, idx = curves[k].steps()
        i = int(interval[g])
        lo, hi = float(blo[i]), float(bhi[i])
        base = curves[k].best_within(lo)
        if ubar[i] - base <= tol:
            continue
        top = curves[k].points[int(idx[i])]
        width = hi - lo
        mine = top.bound - top.value
        eps = 1e-9 * max(budget, 1.0)
        has_line = any(abs(a - lo) <= eps and abs(b - hi) <= eps
                       for a, b, _, _ in curves[k].lines)
        if top.x is None and -_INF < top.bound < _INF:  # an LP bound only: solve there
            task: tuple = ("point", k, top.budget, False)
        elif top.x is not None and mine > max(0.5 * (ubar[i] - base), tol) and top.bound < _INF:
            task = ("point", k, top.budget, True)  # its own gap: solve again
        elif not has_line and width > 0 and top.x is not None and math.isfinite(base):
            task = ("line", k, max((top.value - base) / width, 0.0), lo, hi)
        elif width > 1e-7 * max(budget, 1.0):
            b = float(spend[g])
            if not lo + 0.02 * width < b < hi - 0.02 * width:
                b = lo + width / 2
            if top.x is not None and lo + 0.02 * width < top.cost < hi - 0.02 * width:
                b = top.cost  # V(cost of the top plan) ≥ its value: snap there
            task = ("point", k, b, False)
        else:
            continue
        key = (task[0], k, task[2])
        if key not in seen:
            seen.add(key)
            tasks.append(task)
    return tasks
