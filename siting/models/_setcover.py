"""Row-weighting local search for unicost set covering (numba kernel).

After Gao, Weise & Li (2015), "An efficient local search heuristic with row weighting
for the unicost set covering problem", EJOR 246(3). From a cover of ``k`` sites one
site is dropped and the search swaps sites (drop the one whose uniquely covered rows
weigh least, add the best site for a random uncovered row) while the weights of rows
left uncovered grow, until a cover of ``k - 1`` sites appears; repeat until the time
budget is spent. It only ever reports covers it has checked, so the result is a
valid cover no larger than the start.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from numba import njit


@njit(cache=True, nogil=True)
def _rwls_kernel(col_ptr, col_rows, row_ptr, row_cols, start, w, max_steps, seed):
    nc = col_ptr.size - 1
    nr = row_ptr.size - 1
    np.random.seed(seed)
    x = np.zeros(nc, np.bool_)
    times = np.zeros(nr, np.int64)
    score = np.zeros(nc, np.int64)  # chosen: -(weight of rows only it covers); else gain
    stamp = np.zeros(nc, np.int64)
    unc = np.empty(nr, np.int64)  # uncovered rows, with positions for O(1) removal
    pos = np.full(nr, -1, np.int64)
    n_unc = 0
    for j in start:
        x[j] = True
        for q in range(col_ptr[j], col_ptr[j + 1]):
            times[col_rows[q]] += 1
    for r in range(nr):
        if times[r] == 0:
            pos[r] = n_unc
            unc[n_unc] = r
            n_unc += 1
    for j in range(nc):
        s = 0
        for q in range(col_ptr[j], col_ptr[j + 1]):
            r = col_rows[q]
            if x[j] and times[r] == 1:
                s -= w[r]
            elif not x[j] and times[r] == 0:
                s += w[r]
        score[j] = s
    best = start.copy()
    if n_unc > 0:  # the start is not a cover: nothing to improve on
        return best
    chosen = np.empty(nc, np.int64)
    n_ch = 0
    for j in range(nc):
        if x[j]:
            chosen[n_ch] = j
            n_ch += 1
    tabu_add = -1
    tabu_rm = -1
    for step in range(1, max_steps + 1):
        recorded = n_unc == 0
        if recorded:
            best = chosen[:n_ch].copy()
            if n_ch <= 1:
                break
        # drop: highest score (lightest unique rows), oldest on ties, not the one just added
        k = -1
        for t in range(n_ch):
            j = chosen[t]
            if j == tabu_add and n_unc > 0:
                continue
            if k < 0 or score[j] > score[chosen[k]] or (
                    score[j] == score[chosen[k]] and stamp[j] < stamp[chosen[k]]):
                k = t
        if k < 0:
            k = 0
        j = chosen[k]
        chosen[k] = chosen[n_ch - 1]
        n_ch -= 1
        x[j] = False
        stamp[j] = step
        tabu_rm = j
        for q in range(col_ptr[j], col_ptr[j + 1]):
            r = col_rows[q]
            times[r] -= 1
            if times[r] == 0:
                pos[r] = n_unc
                unc[n_unc] = r
                n_unc += 1
                for p in range(row_ptr[r], row_ptr[r + 1]):
                    if row_cols[p] != j:
                        score[row_cols[p]] += w[r]
            elif times[r] == 1:
                for p in range(row_ptr[r], row_ptr[r + 1]):
                    if x[row_cols[p]]:
                        score[row_cols[p]] -= w[r]
                        break
        score[j] = -score[j]
        if n_unc == 0 or recorded:
            continue  # a cover was just recorded: search one site smaller from here
        # add: best site for a random uncovered row, oldest on ties, not the one just dropped
        r = unc[np.random.randint(n_unc)]
        a = -1
        for p in range(row_ptr[r], row_ptr[r + 1]):
            j = row_cols[p]
            if j == tabu_rm and row_ptr[r + 1] - row_ptr[r] > 1:
                continue
            if a < 0 or score[j] > score[a] or (score[j] == score[a] and stamp[j] < stamp[a]):
                a = j
        x[a] = True
        stamp[a] = step
        tabu_add = a
        chosen[n_ch] = a
        n_ch += 1
        for q in range(col_ptr[a], col_ptr[a + 1]):
            r = col_rows[q]
            if times[r] == 0:
                u = unc[n_unc - 1]  # swap-remove r from the uncovered list
                unc[pos[r]] = u
                pos[u] = pos[r]
                pos[r] = -1
                n_unc -= 1
                for p in range(row_ptr[r], row_ptr[r + 1]):
                    if row_cols[p] != a:
                        score[row_cols[p]] -= w[r]
            elif times[r] == 1:
                for p in range(row_ptr[r], row_ptr[r + 1]):
                    if x[row_cols[p]] and row_cols[p] != a:
                        score[row_cols[p]] += w[r]
                        break
            times[r] += 1
        score[a] = -score[a]
        for t in range(n_unc):  # rows still uncovered weigh more
            r = unc[t]
            w[r] += 1
            for p in range(row_ptr[r], row_ptr[r + 1]):
                score[row_cols[p]] += 1
    return best


def rwls_set_cover(cov: sp.csr_array, start: np.ndarray, time_s: float = 5.0,
                   seed: int = 0, chunk: int = 20_000,
                   patience: int | None = None) -> np.ndarray:
    """Shrink a unicost cover by row-weighting local search.

    Parameters
    ----------
    cov
        Rows × columns 0/1 coverage (CSR).
    start
        Column indices of a cover of every row.
    time_s
        Wall-clock budget in seconds (checked every ``chunk`` steps).
    seed
        Random seed.
    chunk
        Local-search steps per kernel call, between time and patience checks.
    patience
        Stop after this many steps without a smaller cover (default
        ``max(20_000, 100 × columns)``).

    Returns
    -------
    numpy.ndarray
        Sorted column indices of the smallest cover found (``start`` if none smaller).
    """
    cov = sp.csr_array(cov)
    cov.sort_indices()
    csc = sp.csc_array(cov)
    csc.sort_indices()
    args = (csc.indptr.astype(np.int64), csc.indices.astype(np.int64),
            cov.indptr.astype(np.int64), cov.indices.astype(np.int64))
    patience = max(20_000, 100 * cov.shape[1]) if patience is None else patience
    best = np.asarray(start, dtype=np.int64)
    w = np.ones(cov.shape[0], np.int64)  # row weights, carried from run to run
    t0 = time.perf_counter()
    k = stale = 0
    while time.perf_counter() - t0 < time_s and stale < patience and best.size > 1:
        found = _rwls_kernel(*args, best, w, chunk, seed + k)
        k += 1
        if found.size < best.size:
            best, stale = found, 0
        else:
            stale += chunk
    return np.sort(best)
