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
