r"""A city-wide embedded plan by decomposition: independent groups under one budget.

The built model (:mod:`~siting.models.embedded.formulation`) is read as matrices. Its
columns and rows fall into **groups** that share no row once the budget row is set
aside: the connected components of the row–column graph (demand rows ↔ sites through
each service's pairs, sites ↔ communities through the area standard's reach, the
communities' equity rows, each site's complex rule). Components with no cost form one
*free* group; the others are the *paid* groups :math:`g`, linked only by the budget
:math:`\sum_g \text{cost}_g \le B`. Any other row that touches several groups (e.g. a
per-year budget) merges them, so the split is exact by construction.

Each paid group's **value curve** :math:`V_g(b)` = max people served (priority-weighted,
minus the standard's penalty) at cost :math:`\le b` is solved at a few budgets (HiGHS or
CBC on the group's own small matrices). :math:`V_g` is nondecreasing, so a solve at
:math:`b_k` with proven bound :math:`u_k` bounds :math:`V_g(b) \le \bar u_k = \min_{k'
\ge k} u_{k'}` for all :math:`b \le b_k`. The city:

* **plan** (lower bound): a multiple-choice knapsack (MCKP) over the plans found — one
  plan per group, costs summing to at most :math:`B`, most value; ties by least cost;
* **bound** (upper bound): a plan of group :math:`g` costing :math:`c \in (b_{k-1},
  b_k]` (:math:`b_0 = 0`) is worth at most the step :math:`\bar u_k`, and at most
  :math:`M + λ c` for every Lagrangian line solved over a cost range containing that
  interval (:math:`M = \max` value :math:`- λ` cost over the plans costing within the
  range; :math:`M = -\infty` proves no plan costs that much). The allocation
  maximising these bounds under :math:`\sum_g c_g \le B` is a small MILP
  (:func:`~siting.models.embedded.allocate.curve_bound`) whose optimum bounds the
  city's optimum.

Both are solved exactly (tiny MILPs, HiGHS, gap 0; the bound is the solver's dual
bound). The curves start from the groups' **LP relaxations**, swept over budgets around
each group's share in one warm-started HiGHS: :math:`V_g \le V_g^{LP}`, a step bound at
each budget, and :math:`V_g^{LP}` is concave, so for each secant slope :math:`λ` the
LP's :math:`\max` value :math:`- λ` cost without the budget gives a line over all costs.
Then the **budget's price** (Lagrangian relaxation of the budget row): for a price
:math:`λ`, each distinct group is solved once over all costs for :math:`M_g(λ) = \max`
value :math:`- λ` cost (a line over :math:`[0, B]`; its plan a point of the curve), and
:math:`L(λ) = \sum_g M_g(λ) + λB` bounds the city. :math:`L` is convex in :math:`λ`
with slope :math:`B - \sum_g c_g(λ)`; from the LP's price, prices on both sides of its
minimum are found and the two sides' tangents meet at the next one (at most
:data:`~siting.models.embedded.price.MAX_PRICES` prices; with more workers than
distinct groups, two prices a round; :mod:`~siting.models.embedded.price`).
Identical districts then mix two plans (some a little over their share, some under)
and the city's bound is within the mix's rounding of its plan. Where the bound's
allocation still gains over the plan, its intervals are refined (a Lagrangian line over
the interval at the secant slope; then a solve at the budget the bound spends there,
the cost of the plan at the top, or the midpoint; or the top re-solved when its own gap
is the slack) until the city gap is within ``mip_gap`` or the time is up. Groups
identical up to renumbering share one curve. The final plan is re-solved per group
for the least cost at its value (lexicographic objective; once per distinct group and
plan). Sub-problems run through a ``mapper`` (``map``-like: ``map``,
:meth:`concurrent.futures.Executor.map` or a dask ``Client.map``; futures are gathered).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from siting.errors import InfeasibleError, SitingError
from siting.models.embedded.allocate import (
    Curve,
    curve_bound,
    least_cost,
    mckp,
    refine_tasks,
    relaxed_curve,
    solve_lagrange,
    solve_point,
)
from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.formulation import Formulation
from siting.models.embedded.price import PriceSearch, lp_budgets, lp_price, rel_gap
from siting.solvers import MatrixModel, Progress, SolverResult
from siting.solvers import solve as solve_matrix

_INF = float("inf")
_MAX_ROUNDS = 60


# ---------------------------------------------------------------------------
# the model as matrices, split into groups
# ---------------------------------------------------------------------------

@dataclass
class Split:
    """The built model as matrices, split into groups that share no row but the budget.

    Attributes
    ----------
    n_cols
        Number of columns of the whole model.
    groups
        Per paid group, its column indices (sorted).
    free
        Column indices of the components without cost (solved once).
    models
        Per paid group, its :class:`~siting.solvers.MatrixModel` (maximise value), the
        last row its cost :math:`\\le` the budget.
    free_model
        The free columns' model (None when there are none).
    classes
        Per paid group, the index of its class (groups identical up to renumbering).
    constant
        The objective's constant.
    """

    n_cols: int
    groups: list[np.ndarray]
    free: np.ndarray
    models: list[MatrixModel]
    free_model: MatrixModel | None
    classes: list[int]
    constant: float

    @property
    def n_groups(self) -> int:
        """Number of paid groups."""
        return len(self.groups)


def refusal(data: EmbeddedData, form: Formulation) -> str | None:
    """Why the model cannot be decomposed over one budget, or None when it can.

    Parameters
    ----------
    data
        The model's data.
    form
        Its built formulation.

    Returns
    -------
    str or None
    """
    if data.objective != "max_served":
        return f"objective {data.objective} (decomposition needs max_served)"
    if data.budget is None:
        return "no budget"
    if form.problem.row("budget") is None:
        return "the model has no single budget row"
    if form.problem.row("max_new_sites") is not None and data.max_new_sites is not None \
            and data.max_new_sites < len(form.open_site):
        return "a binding max_new_sites (a second linking resource)"
    return None


def split(form: Formulation, whole: MatrixModel | None = None,
          rows: tuple[int | None, int | None] | None = None) -> Split:
    """The model's matrices and its groups (see the module docstring).

    Parameters
    ----------
    form
        The built formulation (``max_served`` with a ``budget`` row).
    whole
        A model with the formulation's columns to split instead of the built one (e.g.
        with its seams relaxed, :mod:`.seams`); None: the built one.
    rows
        With ``whole``: its budget row and its ``max_new_sites`` row (or None).

    Returns
    -------
    Split
    """
    if whole is None or rows is None:
        whole = form.problem.model()
        rows = (form.problem.row("budget"), form.problem.row("max_new_sites"))
    b_row, m_row = rows
    if b_row is None:
        raise SitingError("the model has no budget row to split the city on")
    m_all, n = whole.shape
    lo, hi, c = whole.lower, whole.col_hi, whole.c
    is_int = np.zeros(n, bool)
    is_int[whole.integer] = True
    cost = whole.A[[b_row]].toarray()[0]
    linking = [i for i in (b_row, m_row) if i is not None]
    keep = np.setdiff1d(np.arange(m_all), linking)
    A = whole.A[keep]
    m = len(keep)
    row_lo_a, row_hi_a = whole.row_lo[keep], whole.row_hi[keep]
    # components of the bipartite row–column graph
    coo = A.tocoo()
    g = sp.coo_array((np.ones(len(coo.row)), (coo.row + n, coo.col)), shape=(n + m, n + m))
    _, label = connected_components(g, directed=False)
    col_label, row_label = label[:n], label[n:]
    paid_labels = np.unique(col_label[cost != 0])
    paid = np.isin(col_label, paid_labels)
    order = np.argsort(col_label, kind="stable")
    # columns in the order they were built (identical groups line up)
    groups = [gr for gr in np.split(order, np.cumsum(np.bincount(col_label))[:-1])
              if len(gr) and paid[gr[0]]]
    groups.sort(key=lambda gr: int(gr.min()))
    rows_of = {}
    row_order = np.argsort(row_label, kind="stable")
    for rs in np.split(row_order, np.cumsum(np.bincount(row_label, minlength=n + m))[:-1]):
        if len(rs):
            rows_of[int(row_label[rs[0]])] = rs
    budget = float(whole.row_hi[b_row])
    models, keys = [], []
    for gr in groups:
        rs = rows_of.get(int(col_label[gr[0]]), np.zeros(0, np.int64))
        sub = sp.vstack([A[rs][:, gr], sp.csr_array(cost[gr][None, :])]).tocsr()
        model = MatrixModel(c[gr], sub, np.append(row_lo_a[rs], -_INF),
                            np.append(row_hi_a[rs], budget), hi[gr],
                            np.flatnonzero(is_int[gr]), maximize=True, col_lo=lo[gr])
        models.append(model)
        keys.append(_key(model))
    free = np.flatnonzero(~paid)
    free_model = None
    if len(free):
        rs = np.flatnonzero(~np.isin(row_label, paid_labels) & (np.diff(A.indptr) > 0))
        free_model = MatrixModel(c[free], A[rs][:, free], row_lo_a[rs], row_hi_a[rs],
                                 hi[free], np.flatnonzero(is_int[free]), maximize=True,
                                 col_lo=lo[free])
    first: dict[str, int] = {}
    classes = [first.setdefault(k, len(first)) for k in keys]
    const = whole.offset
    return Split(n, groups, free, models, free_model, classes, const)


def _key(model: MatrixModel) -> str:
    """A digest of a group's model without its budget (equal for identical groups)."""
    h = hashlib.sha1()
    A = model.A
    for arr in (A.indptr, A.indices, A.data, model.c, model.row_lo, model.row_hi[:-1],
                model.col_hi, model.lower, model.integer):
        h.update(np.ascontiguousarray(arr).tobytes())
        h.update(b"|")
    return h.hexdigest()

# ---------------------------------------------------------------------------
# the city
# ---------------------------------------------------------------------------

@dataclass
class Decomposed:
    """The city plan of a decomposed solve.

    Attributes
    ----------
    x
        Column values of the whole model (in the built model's order).
    result
        The city's first stage: objective (plan value), proven bound, gap and status.
    stage2
        The least-cost stage over the groups (status ``optimal`` when every group's was).
    budgets
        Per paid group, the budget allocated: its plan's cost and a share of what the
        city leaves unspent (summing to at most the city budget); ``costs`` the costs.
    group_of_column
        Paid group of each column (``-1``: the free part).
    rounds, solves
        Refinement rounds and group solves made.
    notes
        What the decomposition did, for the plan's notes.
    trace
        ``(seconds, plan value, bound)`` after each round.
    """

    x: np.ndarray
    result: SolverResult
    stage2: SolverResult
    budgets: np.ndarray
    costs: np.ndarray
    group_of_column: np.ndarray
    rounds: int
    solves: int
    notes: list
    trace: list


def gather(mapper: Callable | None, fn: Callable, tasks: list) -> list:
    """Run tasks through the mapper (futures, e.g. dask's, are gathered).

    Parameters
    ----------
    mapper
        ``map``-like callable; None: the built-in ``map``.
    fn
        The function of one task.
    tasks
        The tasks.

    Returns
    -------
    list
        Each task's result, in order.
    """
    if not tasks:
        return []
    out = list((mapper or map)(fn, tasks))
    return [r.result() if hasattr(r, "result") and callable(r.result) else r for r in out]


def solve_decomposed(sp_: Split, budget: float, solver: str = "highs",
                     time_limit: float | None = None, mip_gap: float = 0.0,
                     mapper: Callable | None = None, workers: int = 1,
                     progress: Progress | None = None) -> Decomposed | None:
    """Solve the city over its groups (see the module docstring).

    Parameters
    ----------
    sp_
        The split model (:func:`split`).
    budget
        The city budget :math:`B`.
    solver
        ``"highs"`` or ``"cbc"`` for the groups' solves.
    time_limit
        Seconds for the whole call; None for no limit.
    mip_gap
        Relative city gap at which to stop.
    mapper
        ``map``-like callable running the groups' solves (default: the built-in ``map``).
    workers
        How many solves the mapper runs at once (shares the time per round).
    progress
        Called with ``(seconds, plan value, bound)`` after each round.

    Returns
    -------
    Decomposed or None
        None when some group has no plan within the budget or the time (the caller
        then solves the whole model).
    """
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    n_cls = max(sp_.classes, default=-1) + 1
    rep = [sp_.classes.index(k) for k in range(n_cls)]  # a representative group per class
    curves = [Curve() for _ in range(n_cls)]
    sub_gap = mip_gap / 2.0
    solves = 0
    free_x = np.zeros(0)
    free_r: SolverResult | None = None
    if sp_.free_model is not None and sp_.free_model.shape[1]:
        free_r = solve_matrix(sp_.free_model, solver, seconds_left(deadline, 0.2), False, sub_gap)
        free_x = free_r.x
    free_val = 0.0 if free_r is None else free_r.objective
    free_ub = 0.0 if free_r is None else (free_r.bound if math.isfinite(free_r.bound) else _INF)

    def run(tasks: list[tuple], share: float = 0.9) -> list[tuple]:
        # tasks: ("point", class, budget, again) or ("line", class, λ, lo, hi[, gap]);
        # returns each line task's (task, line, plan point or None)
        nonlocal solves
        if not tasks:
            return []
        waves = math.ceil(len(tasks) / max(workers, 1))
        left = seconds_left(deadline, 1.0)
        limit = None if left is None else max(left * share / waves, 0.5)
        pts = [t for t in tasks if t[0] == "point"]
        lines = [t for t in tasks if t[0] == "line"]
        # a point solved again (its own gap the slack) is asked for a tighter gap
        jobs = [(sp_.models[rep[k]], b, curves[k].start_for(b), limit,
                 sub_gap / 4 if again else sub_gap, solver) for _, k, b, again in pts]
        for (_, k, _, _), p in zip(pts, gather(mapper, solve_point, jobs)):
            curves[k].add(p)
        ljobs = [(sp_.models[rep[t[1]]], t[2], t[3], t[4], limit,
                  sub_gap if len(t) < 6 else t[5], solver) for t in lines]
        out = []
        for t, (line, p) in zip(lines, gather(mapper, solve_lagrange, ljobs)):
            curves[t[1]].lines.append(line)
            if p is not None:
                curves[t[1]].add(p)
            out.append((t, line, p))
        solves += len(tasks)
        return out

    # the LP relaxation of each class: step bounds and lines over its whole curve
    size = np.array([len(sp_.groups[g]) for g in rep], float)
    share = budget * size / float(np.dot(np.bincount(sp_.classes), size))  # per class
    lp_jobs = [(sp_.models[rep[k]], lp_budgets(share[k], budget), seconds_left(deadline, 1.0))
               for k in range(n_cls)]
    for k, (pts, lines) in enumerate(gather(mapper, relaxed_curve, lp_jobs)):
        for p in pts:
            curves[k].add(p)
        curves[k].lines.extend(lines)
    count = np.bincount(sp_.classes, minlength=n_cls)
    # prices stop when they could lower the bound by less than a tenth of the gap asked
    dual = PriceSearch(budget, lp_price(curves, count, budget), tol=mip_gap / 10)

    def price_round(value: float) -> None:
        # the budget's prices: every class's best plans over all costs, each M to within
        # a quarter of the city gap's share of one group (``value`` the city's)
        prices = dual.next(max(1, workers // n_cls))
        tol = max(mip_gap, 1e-9) * abs(value) / max(sp_.n_groups, 1) / 4
        found = run([("line", k, lam, 0.0, budget, rel_gap(curves[k], lam, tol, sub_gap))
                     for lam in prices for k in range(n_cls)], share=0.3)
        for i, lam in enumerate(prices):
            at = found[i * n_cls:(i + 1) * n_cls]
            dual.add(lam, [f[1][3] for f in at],
                     [f[2].cost if f[2] is not None else _INF for f in at], count)

    # the LP's price first (its plans start the curves); classes still without a plan:
    # at the whole budget, briefly; where the plans do not fit together, at the shares
    price_round(sum(n * curves[k].bound_at(share[k]) for k, n in enumerate(count)))
    run([("point", k, budget, False) for k in range(n_cls) if not curves[k].plans()],
        share=0.05)
    cheapest = [min((p.cost for p in curves[k].plans()), default=_INF) for k in range(n_cls)]
    if float(np.dot(count, cheapest)) > budget:  # no plans fit together: each at its share
        run([("point", k, float(share[k]), False) for k in range(n_cls)], share=0.2)
    trace: list = []
    rounds = 0
    lb = ub = -_INF
    choice = np.zeros(0, np.int64)
    per_group = [curves[k] for k in sp_.classes]
    fitted = False
    while True:
        rounds += 1
        plans = [curves[k].plans() for k in range(n_cls)]
        if any(not p for p in plans):
            return None
        try:
            choice, lb_g, _ = mckp([[p.value for p in plans[k]] for k in sp_.classes],
                                   [[p.cost for p in plans[k]] for k in sp_.classes], budget)
        except InfeasibleError:
            return None
        lb = lb_g + free_val + sp_.constant
        ub_g, interval, spend = curve_bound(per_group, budget)
        ub = ub_g + free_ub + sp_.constant
        trace.append((time.perf_counter() - t0, lb, ub))
        if progress is not None:
            progress(*trace[-1])
        gap = (ub - lb) / max(abs(lb), 1e-9)
        if gap <= mip_gap + 1e-12 or rounds >= _MAX_ROUNDS or (
                deadline is not None and time.perf_counter() > deadline - 0.5):
            break
        if dual.next(1) and (deadline is None or time.perf_counter() < (t0 + deadline) / 2):
            price_round(lb)
            continue
        if not fitted:  # the prices are set: each group at the budget the bound gives it
            fitted = True
            tasks = sorted({("point", k, float(b), False) for k, b in zip(sp_.classes, spend)
                            if 0 < b <= budget and not curves[k].has_point(b)})
            if tasks:
                run(tasks)
                continue
        if not math.isfinite(ub):  # a solve proved no bound: solve those again
            tasks = [("point", k, p.budget, True) for k in range(n_cls)
                     for p in curves[k].points if p.bound == _INF]
        else:
            tasks = refine_tasks(curves, sp_.classes, interval, spend, budget,
                            tol=max(mip_gap, 1e-9) * abs(lb) / max(sp_.n_groups, 1) / 4)
        if not tasks:
            break
        run(tasks)
    # the plan chosen, then the least cost per group at its value
    chosen = [curves[k].plans()[i] for k, i in zip(sp_.classes, choice)]
    # identical groups with the same plan are one least-cost solve
    once: dict[tuple[int, int], int] = {}
    for g, (k, i) in enumerate(zip(sp_.classes, choice)):
        once.setdefault((k, int(i)), g)
    left = seconds_left(deadline, 0.0)
    limit = None if left is None else max(left / max(1, math.ceil(len(once) / workers)), 0.5)
    jobs = [(sp_.models[g], chosen[g].value, chosen[g].x, limit, sub_gap, solver)
            for g in once.values()]
    solved = dict(zip(once, gather(mapper, least_cost, jobs)))
    stage2 = [solved[(k, int(i))] for k, i in zip(sp_.classes, choice)]
    x = np.zeros(sp_.n_cols)
    owner = np.full(sp_.n_cols, -1, np.int64)
    for g, (cols, (xs, _, _, _)) in enumerate(zip(sp_.groups, stage2)):
        x[cols] = xs
        owner[cols] = g
    x[sp_.free] = free_x
    costs = np.array([s[1] for s in stage2])
    gap = (ub - lb) / max(abs(lb), 1e-9) if math.isfinite(ub) else float("nan")
    status = "optimal" if gap <= mip_gap + 1e-12 else "feasible"
    wall = time.perf_counter() - t0
    r1 = SolverResult(np.zeros(0), lb, ub if math.isfinite(ub) else float("nan"), gap,
                      status, solver.lower(), wall, trace)
    ok2 = all(s[2] == "optimal" for s in stage2)
    r2 = SolverResult(np.zeros(0), float(costs.sum()), float("nan"),
                      max((s[3] for s in stage2), default=0.0) if ok2 else float("nan"),
                      "optimal" if ok2 else "feasible", solver.lower(), wall)
    notes = [f"decomposed into {sp_.n_groups} independent groups sharing only the budget "
             f"({n_cls} distinct; {solves} group solves in {rounds} rounds): the city "
             f"budget was allocated over the groups' value curves exactly (a multiple-"
             f"choice knapsack), the bound {ub:,.1f} proven from the curves' bounds"]
    return Decomposed(x, r1, r2, _allocated(np.array([p.budget for p in chosen]), costs,
                                            budget), costs, owner, rounds, solves, notes, trace)


def _allocated(asked: np.ndarray, costs: np.ndarray, budget: float) -> np.ndarray:
    """Each group's budget: its plan's cost, plus the city's unspent budget shared in
    proportion to the headroom of the solve that found the plan (summing to at most B)."""
    room = np.maximum(asked - costs, 0.0)
    left = max(budget - float(costs.sum()), 0.0)
    if room.sum() <= left:
        return costs + room
    return costs + room * (left / room.sum())


def seconds_left(deadline: float | None, keep: float) -> float | None:
    """Seconds left before the deadline.

    Parameters
    ----------
    deadline
        A ``time.perf_counter()`` time; None for none.
    keep
        The least returned (and at least 0.1).

    Returns
    -------
    float or None
        None without a deadline.
    """
    return None if deadline is None else max(deadline - time.perf_counter(), keep, 0.1)
