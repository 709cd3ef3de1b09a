r"""A connected city by districts: Lagrangian relaxation of the rows across their seams.

When a city's districts share demand (people near a border walk to sites on both sides)
or communities, the model is one group and :mod:`.decompose` alone cannot split it.
Here the sites are cut into **districts** (:func:`districts`: recursive spectral
bisection of the graph of sites that share demand, so the cuts run where few people
walk across) and every column follows its site. A row whose columns lie in several
districts is a **seam row**; it is relaxed with a price :math:`\pi \ge 0` per finite side
(Lagrangian relaxation, maximising):

.. math::

    L(\pi) = \max_x\; c^\top x - \pi^{hi\top}(A_s x - u_s) + \pi^{lo\top}(A_s x - \ell_s)
    \quad \text{s.t. every other row}

which bounds the city's optimum for every :math:`\pi \ge 0`. Without the seam rows the
districts share only the budget, so :math:`L(\pi)` is solved exactly as
:mod:`.decompose` solves independent groups (value curves, the budget's price, a
multiple-choice knapsack), and its proven bound bounds the city. A seam row
:math:`\sum_k a_k x_k \le u` with :math:`a \ge 0` on columns :math:`\ge 0` (a demand
row's "serve at most the units needed") keeps, in each district, its restriction to
that district's columns (implied, so the districts' plans stay meaningful). The
prices are the seam rows' duals in the LP relaxation of the two districts each row
joins (:func:`pair_prices`: one small LP per pair of neighbours instead of the city's
LP, which grows faster than the city). At the city LP's own duals the relaxation's
LP equals the city's; the pairs' duals came within 1e-9 of it on 4 joined copies of
the Nanjing extract (prices of 0 would give 37 % more), and as the districts are
solved as MILPs the bound is usually far below the LP's.

The districts' plans may serve a seam's demand twice. The **plan** keeps their
sites, services, rooms and complexes (every integer column) and solves the rest of
the whole model — flows and areas under the real rows and the budget — as one LP, so
it is feasible; the city gap is then between its value and :math:`L(\pi)`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from siting.errors import SitingError
from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.decompose import (
    Decomposed,
    Split,
    gather,
    seconds_left,
    solve_decomposed,
    split,
)
from siting.models.embedded.formulation import Formulation
from siting.solvers import MatrixModel, Progress, SolverResult
from siting.solvers import solve as solve_matrix
from siting.solvers.highs import lp_duals

# districts of at most this many sites (a district of the Nanjing extract has 225)
SITES_PER_DISTRICT = 300
# ``decompose=None`` (auto) takes the seams from this many districts: on copies of the
# Nanjing extract joined by streets, 8 districts solved at their seams proved the whole
# model's plan in a third of its time; at 4 the whole model did better (README)
AUTO_DISTRICTS = 8


def districts(data: EmbeddedData, size: int = SITES_PER_DISTRICT) -> np.ndarray:
    """The district of each site: recursive spectral bisection of the sites' graph.

    Two sites are linked by the demand rows they both reach (any service) and the
    communities whose area standard both count for, weighted by their number. Each
    connected component of more than ``size`` sites is split in two along its Fiedler
    vector, where the cut has the least conductance (the fewest
    shared rows for the size of the smaller side, each side at least a fifth), and so
    on until every part has at most ``size`` sites; the parts are then packed into
    districts of at most ``size`` sites.

    Parameters
    ----------
    data
        The model's data.
    size
        Most sites per district (≥ 2).

    Returns
    -------
    numpy.ndarray
        ``(n_sites,)`` district numbers ``0 … k-1``.
    """
    if size < 2:
        raise SitingError(f"districts need at least 2 sites each, got {size}")
    n = len(data.sites)
    rows, cols, off = [], [], 0
    for r in data.rows:
        rows.append(r.pi + off)
        cols.append(r.pj)
        off += len(r.D)
    cs, js = data.standard_reach  # sites counted for one community's standard
    rows.append(np.asarray(cs, np.int64) + off)
    cols.append(np.asarray(js, np.int64))
    off += int(np.max(cs, initial=-1)) + 1
    ri, cj = np.concatenate(rows), np.concatenate(cols)
    B = sp.csr_array((np.ones(len(ri)), (ri, cj)), shape=(off, n))
    S = (B.T @ B).tocsr()
    S.setdiag(0)
    S.eliminate_zeros()
    pieces, todo = [], [np.arange(n)]
    while todo:
        idx = todo.pop()
        W = S[idx][:, idx]
        n_c, lab = connected_components(W, directed=False)
        if n_c > 1:
            todo.extend(idx[lab == c] for c in range(n_c))
        elif len(idx) <= size:
            pieces.append(idx)
        else:
            order = np.argsort(_fiedler(W), kind="stable")
            k = _sweep_cut(W, order)
            todo.extend([idx[order[:k]], idx[order[k:]]])
    # pieces packed into districts of at most ``size`` sites (first fit, largest first;
    # pieces that share no row stay apart in the solve whatever their district)
    part = np.zeros(n, np.int64)
    load: list[int] = []
    for idx in sorted(pieces, key=lambda a: (-len(a), int(a.min()))):
        d = next((d for d, used in enumerate(load) if used + len(idx) <= size), len(load))
        if d == len(load):
            load.append(0)
        load[d] += len(idx)
        part[idx] = d
    return part


def _sweep_cut(W: sp.csr_array, order: np.ndarray) -> int:
    """Where to cut the nodes in ``order``: the prefix of least conductance (shared
    weight across / the smaller side's weight), keeping each side at least a fifth."""
    n = len(order)
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)
    coo = sp.triu(W, k=1).tocoo()
    a, b = np.minimum(pos[coo.row], pos[coo.col]), np.maximum(pos[coo.row], pos[coo.col])
    diff = np.zeros(n + 1)
    np.add.at(diff, a + 1, coo.data)  # an edge crosses the cut after k nodes for a < k <= b
    np.add.at(diff, b + 1, -coo.data)
    cut = np.cumsum(diff)[1:n]  # k = 1 … n-1
    vol = np.cumsum(np.asarray(W.sum(axis=1)).ravel()[order])
    small = np.minimum(vol[:-1], vol[-1] - vol[:-1])
    k = np.arange(1, n)
    ok = (k >= n / 5) & (k <= 4 * n / 5)
    score = np.where(ok, cut / np.maximum(small, 1e-12), np.inf)
    return int(k[np.argmin(score)])


def _fiedler(W: sp.csr_array) -> np.ndarray:
    """The Fiedler vector of the graph ``W`` (connected, ≥ 3 nodes)."""
    from scipy.sparse.csgraph import laplacian

    L = laplacian(sp.csr_array(W, dtype=float), normed=True)
    if L.shape[0] <= 600:
        _, vec = np.linalg.eigh(L.toarray())
        return vec[:, 1]
    from scipy.sparse.linalg import eigsh

    rng = np.random.default_rng(0)
    _, vec = eigsh(L, k=2, sigma=-1e-3, which="LM", v0=rng.random(L.shape[0]))
    return vec[:, 1]


def column_districts(form: Formulation, data: EmbeddedData, part: np.ndarray,
                     A: sp.csr_array) -> np.ndarray:
    """The district of each column: its site's, else (shortfalls, shared rooms, …) that
    of a column it shares a row with, spread row by row; the rest district 0.

    Parameters
    ----------
    form
        The built formulation.
    data
        Its data.
    part
        District of each site (:func:`districts`).
    A
        The model's rows without the linking ones (budget, site count).

    Returns
    -------
    numpy.ndarray
        ``(n_cols,)`` district per column.
    """
    n = A.shape[1]
    site = np.full(n, -1, np.int64)
    for j, v in list(form.open_site.items()) + list(form.complex.items()):
        site[v] = j
    for (j, _), v in list(form.host.items()) + list(form.area.items()) \
            + list(form.counted.items()):
        site[v] = j
    for si, cols in form.flows.items():
        ok = cols >= 0
        site[cols[ok]] = data.rows[si].pj[ok]
    col = np.where(site >= 0, part[np.maximum(site, 0)], -1)
    coo = A.tocoo()
    big = np.iinfo(np.int64).max
    while True:  # one row further each round
        known = col[coo.col] >= 0
        row_min = np.full(A.shape[0], big)
        np.minimum.at(row_min, coo.row[known], col[coo.col[known]])
        take = (col[coo.col] < 0) & (row_min[coo.row] < big)
        if not take.any():
            break
        new = np.full(n, big)
        np.minimum.at(new, coo.col[take], row_min[coo.row[take]])
        col = np.where((col < 0) & (new < big), new, col)
    return np.where(col < 0, 0, col)


def seam_rows(whole: MatrixModel, label: np.ndarray, keep: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows that cross a seam, and the districts every row touches.

    Parameters
    ----------
    whole
        The whole model.
    label
        District of each column.
    keep
        Rows that are not linking rows (budget, site count).

    Returns
    -------
    tuple
        ``(seam, lo, hi)``: the seam rows' indices in ``whole``; per row of ``keep``,
        the lowest and highest district of its columns (``-1``: an empty row).
    """
    coo = whole.A[keep].tocoo()
    d = label[coo.col]
    lo = np.full(len(keep), np.iinfo(np.int64).max)
    hi = np.full(len(keep), -1)
    np.minimum.at(lo, coo.row, d)
    np.maximum.at(hi, coo.row, d)
    lo[hi < 0] = -1
    return keep[(hi >= 0) & (lo != hi)], lo, hi


def _row_districts(M: sp.csr_array, label: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, sp.coo_array]:
    """The distinct (row, district) pairs of the entries of ``M``, by row then district:
    their rows and districts, the pair of each entry, and the entries."""
    coo = sp.coo_array(M)
    n_l = int(label.max()) + 1
    key, pair = np.unique(coo.row.astype(np.int64) * n_l + label[coo.col],
                          return_inverse=True)
    return key // n_l, key % n_l, pair, coo


def pair_prices(whole: MatrixModel, label: np.ndarray, keep: np.ndarray, b_row: int,
                mapper: Callable | None = None, limit: float | None = None,
                rows: tuple | None = None) -> np.ndarray:
    """Prices of the seam rows from the LP relaxations of the districts they join.

    For each set of districts that a seam row joins (mostly a pair of neighbours), the
    LP of those districts alone (their columns, the rows within them, a share of the
    budget in proportion to their columns) prices the seam rows joining exactly that
    set at their duals. Any prices ≥ 0 give a valid bound; these approximate the city
    LP's duals at a fraction of its cost (the city LP grows faster than the city:
    11 s at 4 copies of the Nanjing extract, 30 s at 8, over 5 min at 32).

    Parameters
    ----------
    whole
        The whole model (maximising).
    label
        District of each column.
    keep
        Rows that are not linking rows.
    b_row
        The budget row.
    mapper
        ``map``-like callable running the LPs.
    limit
        Seconds for each LP.
    rows
        :func:`seam_rows` of these arguments, when already known.

    Returns
    -------
    numpy.ndarray
        A price per row of ``whole`` (HiGHS's dual sign; 0 off the seams).
    """
    seam, lo, hi = seam_rows(whole, label, keep) if rows is None else rows
    prices = np.zeros(whole.shape[0])
    # the districts of each seam row
    row, dist, _, _ = _row_districts(whole.A[seam], label)
    sets: dict[tuple, list] = {}
    of_row = np.split(dist, np.flatnonzero(np.diff(row)) + 1)
    for r, ds in zip(np.unique(row), of_row):
        sets.setdefault(tuple(int(d) for d in ds), []).append(int(seam[r]))
    set_of = np.empty(len(seam), np.int64)  # the set of each seam row
    for k, mine in enumerate(sets.values()):
        set_of[np.searchsorted(seam, mine)] = k
    cost = whole.A[[b_row]].toarray()[0]
    budget = float(whole.row_hi[b_row])
    seam_at = np.searchsorted(keep, seam)
    tasks, where = [], []
    for k, (among, mine) in enumerate(sets.items()):
        cols = np.flatnonzero(np.isin(label, among))
        inside = (lo == hi) & np.isin(lo, among)  # rows within one of the districts
        inside[seam_at] = np.isin(set_of, list(_subsets(k, sets)))  # seams among them
        rows = keep[inside]
        sub = sp.vstack([whole.A[rows][:, cols], sp.csr_array(cost[cols][None, :])]).tocsr()
        share = budget * len(cols) / whole.shape[1]
        model = MatrixModel(whole.c[cols], sub, np.append(whole.row_lo[rows], -np.inf),
                            np.append(whole.row_hi[rows], share), whole.col_hi[cols],
                            np.zeros(0, np.int64), maximize=True, col_lo=whole.lower[cols])
        tasks.append((model, limit))
        where.append((np.searchsorted(rows, mine), np.asarray(mine)))
    for (local, rows_w), out in zip(where, gather(mapper, _lp_task, tasks)):
        if out is not None:
            prices[rows_w] = out[1][local]
    return prices


def _subsets(k: int, sets: dict) -> set:
    """Indices of the district sets within the ``k``-th (itself included)."""
    keys = list(sets)
    mine = set(keys[k])
    return {i for i, ds in enumerate(keys) if set(ds) <= mine}


def _lp_task(task: tuple) -> tuple[float, np.ndarray] | None:
    """:func:`~siting.solvers.highs.lp_duals` of ``(model, limit)`` (a mapper task)."""
    return lp_duals(*task)


def relax_seams(whole: MatrixModel, label: np.ndarray, keep: np.ndarray,
                duals: np.ndarray, seam: np.ndarray | None = None
                ) -> tuple[MatrixModel, np.ndarray]:
    """The model with its seam rows relaxed at prices from ``duals`` (see the module
    docstring): the objective and constant carry the prices, each seam row keeps its
    implied restriction per district where it has one.

    Parameters
    ----------
    whole
        The whole model (maximising).
    label
        District of each column.
    keep
        Rows that are not linking rows (budget, site count), which stay as they are
        unless they cross a seam.
    duals
        A price per row (HiGHS's dual sign: > 0 where a maximum rises with the row's
        upper bound): the city LP's duals, :func:`pair_prices`, or any others.
    seam
        The seam rows (:func:`seam_rows`), when already known.

    Returns
    -------
    tuple
        ``(model, seam)``: the relaxed model (the linking rows kept, the seam rows
        replaced) and the seam rows' indices in ``whole``.
    """
    A = whole.A
    seam = seam_rows(whole, label, keep)[0] if seam is None else seam
    if not len(seam):
        return whole, seam
    up, low = whole.row_hi[seam], whole.row_lo[seam]
    y = duals[seam]
    pi_hi = np.where(np.isfinite(up), np.maximum(y, 0.0), 0.0)
    pi_lo = np.where(np.isfinite(low), np.maximum(-y, 0.0), 0.0)
    As = A[seam]
    c = whole.c - As.T @ pi_hi + As.T @ pi_lo
    offset = whole.offset + float(pi_hi @ np.where(pi_hi > 0, up, 0.0)
                                  - pi_lo @ np.where(pi_lo > 0, low, 0.0))
    # each seam row "≤ u" with a ≥ 0 on columns ≥ 0 keeps its part in each district
    nonneg_cols = whole.lower >= 0
    sc = As.tocoo()
    bad = np.zeros(len(seam), bool)
    np.logical_or.at(bad, sc.row, (sc.data < 0) | ~nonneg_cols[sc.col])
    restrict = np.flatnonzero(np.isfinite(up) & ~bad)
    row, _, pair, rc = _row_districts(As[restrict], label)  # one row per district
    R = sp.csr_array((rc.data, (pair, rc.col)), shape=(len(row), A.shape[1]))
    r_hi = up[restrict][row]
    others = np.setdiff1d(np.arange(A.shape[0]), seam)
    model = MatrixModel(c, sp.vstack([A[others], R]).tocsr(),
                        np.concatenate([whole.row_lo[others], np.full(len(row), -np.inf)]),
                        np.concatenate([whole.row_hi[others], r_hi]), whole.col_hi,
                        whole.integer, maximize=True, col_lo=whole.lower, offset=offset)
    return model, seam


def solve_seams(data: EmbeddedData, form: Formulation, solver: str = "highs",
                time_limit: float | None = None, mip_gap: float = 0.0,
                mapper: Callable | None = None, workers: int = 1,
                progress: Progress | None = None, size: int | None = None,
                min_districts: int = 2) -> tuple[Decomposed, Split] | None:
    """Solve a connected city by districts (see the module docstring).

    Parameters
    ----------
    data
        The model's data.
    form
        Its built formulation (``max_served`` with a budget).
    solver
        ``"highs"`` or ``"cbc"`` for the districts' solves.
    time_limit
        Seconds for the whole call; None for no limit.
    mip_gap
        Relative gap at which the districts' decomposed solve stops.
    mapper
        ``map``-like callable running the districts' solves.
    workers
        How many solves the mapper runs at once.
    progress
        Called with ``(seconds, plan value, bound)`` after each round (the plan value
        of the relaxed problem; the bound the city's).
    size
        Most sites per district; None: :data:`SITES_PER_DISTRICT`.
    min_districts
        Fewer districts than this: None (solve the whole model).

    Returns
    -------
    tuple or None
        ``(decomposed, split)``: the plan (values of the whole model, feasible) with the
        Lagrangian bound, and the districts' split; None when the sites form fewer than
        ``min_districts`` districts or no plan was found in time (the caller solves the
        whole model).
    """
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    part = districts(data, size or SITES_PER_DISTRICT)
    if part.max(initial=0) + 1 < max(min_districts, 2):
        return None
    whole = form.problem.model()
    b_row, m_row = form.problem.row("budget"), form.problem.row("max_new_sites")
    if b_row is None:
        return None
    keep = np.setdiff1d(np.arange(whole.shape[0]), [r for r in (b_row, m_row) if r is not None])
    label = column_districts(form, data, part, whole.A[keep])
    n_pairs = max(int(part.max()), 1)
    rows = seam_rows(whole, label, keep)
    prices = pair_prices(whole, label, keep, b_row, mapper,
                         _share(deadline, 0.25 * min(1.0, workers / n_pairs)), rows)
    relaxed, seam = relax_seams(whole, label, keep, prices, rows[0])
    others = np.setdiff1d(np.arange(whole.shape[0]), seam)
    at = [None if r is None else int(np.searchsorted(others, r)) for r in (b_row, m_row)]
    parts = split(form, relaxed, (at[0], at[1]))
    dec = solve_decomposed(parts, float(data.budget or 0.0), solver,
                           _share(deadline, 0.85),
                           mip_gap, mapper, workers, progress)
    if dec is None:
        return None
    # the plan: the districts' integer columns; flows and areas solved over the city
    ints = whole.integer
    lo, hi = whole.lower.copy(), whole.col_hi.copy()
    lo[ints] = hi[ints] = np.round(dec.x[ints])
    fixed = replace(whole, col_lo=lo, col_hi=hi, integer=np.zeros(0, np.int64))  # an LP
    try:
        r1 = solve_matrix(fixed, solver, seconds_left(deadline, 1.0), False, 0.0)
    except SitingError:
        return None
    v = r1.objective
    stage = form.problem.variant(objective=form.cost, maximize=False, base=fixed, rows=[
        (form.primary, ">=", v - 1e-6 * max(1.0, abs(v)), "stage1_value")])
    try:  # the least cost at that value (else the first plan, as it costs)
        r2 = solve_matrix(stage, solver, seconds_left(deadline, 1.0), False, 0.0)
    except SitingError:
        r2 = replace(r1, objective=float(stage.c @ r1.x), status="feasible")
    ub = dec.result.bound
    gap = (ub - v) / max(abs(v), 1e-9) if math.isfinite(ub) else float("nan")
    wall = time.perf_counter() - t0
    trace = [(t, float("nan"), b) for t, _, b in dec.trace] + [(wall, v, ub)]
    result = SolverResult(np.zeros(0), v, ub, gap, "optimal" if gap <= mip_gap + 1e-12
                          else "feasible", solver.lower(), wall, trace)
    # the least cost for the districts' sites and services, not over every plan
    stage2 = replace(r2, x=np.zeros(0), status="feasible", bound=float("nan"),
                     mip_gap=float("nan"))
    cost = whole.A[[b_row]].toarray()[0] * r2.x
    costs = np.array([cost[cols].sum() for cols in parts.groups])
    k = int(part.max()) + 1
    notes = [f"the districts share demand or communities: the sites were cut into {k} "
             f"districts ({parts.n_groups} groups) at {len(seam)} rows across their seams; "
             "each seam row was priced at its dual in the LP relaxation of the two "
             "districts it joins (Lagrangian relaxation), the districts solved under the "
             "one budget as independent groups, their sites and services kept and the "
             f"flows and areas solved over the whole city; the bound {ub:,.1f} is the "
             "Lagrangian bound; the cost is the least for those sites and services (an LP "
             "with them fixed), not proven least over every plan"]
    return replace(dec, x=r2.x, result=result, stage2=stage2, costs=costs,
                   notes=notes), parts


def _share(deadline: float | None, share: float) -> float | None:
    """A share of the seconds left before the deadline (None without one)."""
    left = seconds_left(deadline, 1.0)
    return None if left is None else left * share
