"""Heuristics for the covering models: greedy, 1-swap and iterated local search.

They give the solvers a warm start; their solutions are never reported as optimal.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp


def _greedy_max_cover(cov: sp.csr_array, w: np.ndarray, p, cost=None, budget=None):
    """Columns picked greedily by added covered weight (per cost when a budget is set)."""
    nr, nc = cov.shape
    csc = sp.csc_array(cov)
    gain = np.asarray(csc.T @ w, dtype=float)
    covered = np.zeros(nr, bool)
    chosen: list[int] = []
    spent = 0.0
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
    current = list(chosen)
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        y = np.zeros(cov.shape[1])
        y[current] = 1
        times = cov @ y
        unc_gain = covT @ (w * (times == 0))  # weight newly covered by adding j
        best, move = 1e-9, None
        for s in current:
            if time.perf_counter() > deadline:  # keep the best move found so far
                break
            only = times == 1
            rows_s = csc.indices[csc.indptr[s]:csc.indptr[s + 1]]
            u = np.zeros(cov.shape[0])
            u[rows_s[only[rows_s]]] = w[rows_s[only[rows_s]]]
            loss = u.sum()
            # swap s -> j: gain(j) - loss(s) + weight only s covered that j covers too
            delta = unc_gain + covT @ u - loss
            delta[current] = -np.inf
            j = int(np.argmax(delta))
            if delta[j] > best:
                best, move = delta[j], (s, j)
        if move is None:
            break
        current[current.index(move[0])] = move[1]
    return np.asarray(sorted(current), dtype=np.int64)


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


def _lagrangian_max_cover(cov: sp.csr_array, w: np.ndarray, p: int | None = None,
                          cost: np.ndarray | None = None, budget: float | None = None,
                          lower: float = 0.0, time_s: float = 10.0,
                          max_iter: int = 2000) -> tuple[float, np.ndarray]:
    r"""A proven upper bound on maximal covering by Lagrangian relaxation, and the best
    plan met on the way.

    Relaxing the cover rows :math:`z_i \le \sum_{j \in N_i} y_j` with multipliers
    :math:`0 \le \lambda_i \le w_i` leaves

    .. math::

        L(\lambda) = \sum_i (w_i - \lambda_i) + \max_{y \in Y} \sum_j y_j
        \sum_{i \in M_j} \lambda_i,

    an upper bound for every :math:`\lambda`, with :math:`Y` the ``p`` sites (largest
    terms) and/or the budget (its fractional knapsack, an upper bound again; with both,
    the smaller). Subgradient steps (Polyak, toward ``lower``) bring it to the LP bound
    in O(pairs) per step, where a simplex on a city-sized model may not finish its root.

    Parameters
    ----------
    cov
        Demand rows × site columns, 1 where the site covers the row.
    w
        Row weights.
    p
        Most sites.
    cost, budget
        Site costs and the budget (both or neither).
    lower
        The value of a known plan (steers the step length).
    time_s
        Seconds to spend at most.
    max_iter
        Subgradient steps at most.

    Returns
    -------
    bound : float
        The smallest :math:`L(\lambda)` found (never below the optimum).
    best : numpy.ndarray
        Columns of the best plan among the relaxation's site sets (its value is
        ``_covered_weight``), for a warm start.
    """
    w = np.asarray(w, dtype=float)
    if p is not None and budget is not None:  # the smaller of the two relaxations' bounds
        b1, plan1 = _lagrangian_max_cover(cov, w, p, None, None, lower, time_s / 2, max_iter)
        b2, plan2 = _lagrangian_max_cover(cov, w, None, cost, budget, lower, time_s / 2,
                                          max_iter)
        fits = [q for q in (plan1, plan2)
                if len(q) <= p and cost is not None and cost[q].sum() <= budget + 1e-9]
        plan = max(fits, key=lambda q: _covered_weight(cov, w, q), default=np.zeros(0, np.int64))
        return min(b1, b2), plan
    deadline = time.perf_counter() + time_s
    csc = sp.csc_array(cov)
    covT = sp.csr_array(csc.T)
    lam = w.copy()  # L(w) is the sum of the p largest single-site coverages
    best_bound, best_plan, best_val = np.inf, np.zeros(0, np.int64), -np.inf
    theta, stale = 1.0, 0
    for _ in range(max_iter):
        g = covT @ lam
        y = _relaxed_sites(g, p, cost, budget)  # one of the two limits
        bound = float((w - lam).sum() + g @ y)
        if bound < best_bound - 1e-9 * max(1.0, abs(bound)):
            best_bound, stale = bound, 0
        else:
            stale += 1
            if stale >= 20:
                theta, stale = theta / 2, 0
        whole = np.flatnonzero(y >= 1.0)  # a plan: the relaxation's whole sites
        if (p is None or len(whole) <= p) and (
                budget is None or cost is None or cost[whole].sum() <= budget + 1e-9):
            val = float(w[_times(csc, whole, np.ones(len(whole))) > 0].sum())
            if val > best_val:
                best_val, best_plan = val, whole
        lower = max(lower, best_val)
        if best_bound - lower <= 1e-6 * max(1.0, abs(best_bound)) or theta < 1e-4 \
                or time.perf_counter() > deadline:
            break
        used = np.flatnonzero(y)
        grad = _times(csc, used, y[used]) - (lam < w)  # dL/dλ_i: times y covers i, minus z_i
        norm = float(grad @ grad)
        if norm <= 0:
            break
        lam = np.clip(lam - theta * (bound - lower) / norm * grad, 0.0, w)
    return best_bound, best_plan


def _times(csc: sp.csc_array, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """``csc @ y`` for ``y`` zero but at ``cols`` (where it is ``vals``): the few chosen
    columns only."""
    return np.asarray(csc[:, cols] @ vals, dtype=float)


def _relaxed_sites(g: np.ndarray, p: int | None, cost: np.ndarray | None,
                   budget: float | None) -> np.ndarray:
    """The sites' values (0..1) maximising ``g · y`` under ``p`` or the budget (its
    fractional knapsack)."""
    n = len(g)
    y = np.zeros(n)
    if p is not None:
        k = min(p, int((g > 0).sum()))
        if k:
            y[np.argpartition(-g, k - 1)[:k]] = 1.0
    elif budget is not None and cost is not None:
        free = (cost <= 0) & (g > 0)
        y[free] = 1.0
        pos = np.flatnonzero(~free & (g > 0))
        order = pos[np.argsort(-g[pos] / cost[pos], kind="stable")]
        spent = np.cumsum(cost[order])
        full = int(np.searchsorted(spent, budget, side="right"))
        y[order[:full]] = 1.0
        if full < len(order):
            y[order[full]] = (budget - (spent[full - 1] if full else 0.0)) / cost[order[full]]
    return y
