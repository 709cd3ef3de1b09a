"""Exact size reductions of the covering models (same optimum, smaller model).

All reductions work on the boolean sparse coverage matrix (demand × sites) and never
change the optimal value of the model they are made for:

* **uncoverable / weightless demand dropped** — a point with no site in reach or no
  people can never add to (maximal covering) or constrain (set covering) the model.
* **demand already covered by fixed (existing) sites dropped** — counted as a constant.
* **identical demand rows merged** — points with the *same set of covering sites*
  (e.g. several buildings snapped to one network node at similar snap distances) are
  covered together or not at all; one row with the summed weight is exact. Points at
  one node whose snap distances put different sites in reach stay apart.
* **dominated candidates removed** — site ``j`` whose covered set is a subset of site
  ``k``'s, with ``k`` no more expensive where cost counts (budget constraint, or the
  set covering objective), can be swapped for ``k`` in any solution. Identical sites
  of equal cost keep the lowest index.
* **(set covering only) dominated rows removed** — a row whose site set contains
  another row's set is met whenever that row is.

Fine demand points are never lost: the model maps back through :attr:`Reduced.row`
and results are reported per original point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

# pairs examined by the dominance test (sum of squared row degrees): above this the
# test is skipped (reported) to keep memory and time bounded on huge instances
DOMINANCE_WORK_CAP = 3e8


@dataclass
class Reduced:
    """A covering model's data after reductions.

    Attributes
    ----------
    cov
        ``(n_rows, n_cols)`` boolean CSR coverage of the kept rows by the kept sites.
    weight
        Summed demand weight of each kept row.
    sites
        Original site index of each column.
    row
        Kept row of each original demand point, ``-1`` when dropped.
    fixed_weight
        Demand weight covered by the fixed sites (a constant of maximal covering).
    steps
        One dict per reduction step: ``step``, ``rows``, ``cols``, ``nnz`` after it.
    """

    cov: sp.csr_array
    weight: np.ndarray
    sites: np.ndarray
    row: np.ndarray
    fixed_weight: float = 0.0
    steps: list[dict] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)`` of the reduced coverage."""
        return self.cov.shape


def reduce_coverage(cov, weight, cost=None, *, fixed=(), model: str = "max_cover",
                    cost_matters: bool = False, merge_rows: bool = True,
                    drop_dominated: bool = True) -> Reduced:
    """Apply the exact reductions for one covering model.

    Parameters
    ----------
    cov
        ``(n_demand, n_sites)`` sparse coverage (nonzero = site in reach).
    weight
        ``(n_demand,)`` demand weights.
    cost
        ``(n_sites,)`` site costs; only compared when ``cost_matters``.
    fixed
        Site indices already open: removed from the model, and the demand they cover
        dropped (maximal covering: added to :attr:`Reduced.fixed_weight`).
    model
        ``"max_cover"`` or ``"set_cover"`` (which enables row dominance).
    cost_matters
        Whether a dominating site must also be no more expensive (budget constraint
        or cost objective). With only a count constraint ``p`` costs are irrelevant.
    merge_rows
        Merge identical demand rows (default True; ``False`` switches it off).
    drop_dominated
        Drop dominated sites, and for ``"set_cover"`` dominated rows (default True).

    Returns
    -------
    Reduced
        The reduced coverage, weights, site and row maps, and the size after each step.
    """
    if model not in ("max_cover", "set_cover"):
        raise ValueError(f"model must be 'max_cover' or 'set_cover', got {model!r}")
    cov = sp.csr_array(cov, dtype=bool)
    cov.sum_duplicates()
    cov.sort_indices()
    n, m = cov.shape
    weight = np.asarray(weight, dtype=float)
    cost = np.zeros(m) if cost is None or not cost_matters else np.asarray(cost, float)
    steps = [_step("input", cov)]

    fixed = np.asarray(sorted(set(int(j) for j in fixed)), dtype=np.int64)
    open_ = np.zeros(m, bool)
    open_[fixed] = True
    by_fixed = (cov @ open_.astype(np.int64)) > 0
    fixed_weight = float(weight[by_fixed].sum())
    keep = (np.diff(cov.indptr) > 0) & (weight > 0) & ~by_fixed
    rows = np.flatnonzero(keep)
    row = np.full(n, -1, dtype=np.int64)
    row[rows] = np.arange(len(rows))
    cov, w = cov[rows], weight[rows]
    cols = np.flatnonzero((np.diff(cov.tocsc().indptr) > 0) & ~open_)
    cov, sites = cov[:, cols], cols
    cov = sp.csr_array(cov)
    steps.append(_step("drop uncoverable, weightless and fixed-covered demand", cov))

    for _ in range(20):  # until a round changes nothing
        before = cov.shape
        if merge_rows:
            cov, w, row = _merge_rows(cov, w, row)
            _log(steps, "merge identical demand rows", cov)
        if drop_dominated:
            dom = _dominated_cols(cov, cost[sites])
            if dom is None:
                _log(steps, "dominated sites skipped (too many pairs to compare)", cov)
                break
            keep_c = ~dom
            cov, sites = sp.csr_array(cov[:, np.flatnonzero(keep_c)]), sites[keep_c]
            _log(steps, "drop dominated sites", cov)
            if model == "set_cover":
                dom_r = _dominated_cols(sp.csr_array(cov.T), np.zeros(cov.shape[0]),
                                        superset=True)
                if dom_r is not None and dom_r.any():
                    kept = np.flatnonzero(~dom_r)
                    remap = np.full(cov.shape[0], -1, dtype=np.int64)
                    remap[kept] = np.arange(len(kept))
                    row = np.where(row >= 0, remap[np.maximum(row, 0)], -1)
                    cov, w = sp.csr_array(cov[kept]), w[kept]
                _log(steps, "drop dominated demand rows", cov)
        if cov.shape == before or not drop_dominated:
            break
    return Reduced(cov=cov, weight=w, sites=sites, row=row, fixed_weight=fixed_weight,
                   steps=steps)


def _log(steps: list, name: str, cov) -> None:
    """Record a step when it changed the model (or is the first of its kind)."""
    prev = next((st for st in reversed(steps) if st["step"] == name), None)
    new = _step(name, cov)
    if prev is None or (new["rows"], new["cols"]) != (steps[-1]["rows"], steps[-1]["cols"]):
        steps.append(new)


def _step(name: str, cov) -> dict:
    return {"step": name, "rows": int(cov.shape[0]), "cols": int(cov.shape[1]),
            "nnz": int(cov.nnz)}


def _row_hash(cov: sp.csr_array, seed: int) -> np.ndarray:
    """Order-free 64-bit hash of each row's column set (random keys summed mod 2**64)."""
    keys = np.random.default_rng(seed).integers(0, 2**63, cov.shape[1], dtype=np.int64)
    vals = keys[cov.indices].view(np.uint64)
    out = np.zeros(cov.shape[0], dtype=np.uint64)
    nz = np.diff(cov.indptr) > 0
    out[nz] = np.add.reduceat(vals, cov.indptr[:-1][nz])
    return out


def _merge_rows(cov: sp.csr_array, w: np.ndarray, row: np.ndarray):
    """Merge rows with identical column sets, summing weights (checked exactly)."""
    n = cov.shape[0]
    if n == 0:
        return cov, w, row
    key = np.column_stack([_row_hash(cov, 1), _row_hash(cov, 2),
                           np.diff(cov.indptr).astype(np.uint64)])
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    rep = first[inv]
    # exact check: every row equals its representative (hash collisions stay apart)
    same = _rows_equal(cov, np.arange(n), rep)
    if not same.all():
        rep = np.where(same, rep, np.arange(n))
    reps, new = np.unique(rep, return_inverse=True)
    w2 = np.bincount(new, weights=w, minlength=len(reps))
    row = np.where(row >= 0, new[np.maximum(row, 0)], -1)
    return sp.csr_array(cov[reps]), w2, row


def _rows_equal(cov: sp.csr_array, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    la, lb = np.diff(cov.indptr)[a], np.diff(cov.indptr)[b]
    eq = la == lb
    A, B = cov[a], cov[b]  # same row lengths where eq; compare index arrays row-wise
    idx_a = np.repeat(np.arange(len(a)), np.diff(A.indptr))
    diff = np.zeros(len(a), bool)
    sel = eq[idx_a]
    ia = A.indices[sel]
    ib = B.indices[np.repeat(eq, np.diff(B.indptr))]
    np.logical_or.at(diff, idx_a[sel], ia != ib)
    return eq & ~diff


def _dominated_cols(cov: sp.csr_array, cost: np.ndarray, superset: bool = False,
                    chunk: int = 2048):
    """Columns to drop: column ``a`` with set ⊆ column ``b``'s (and ``cost[b] <= cost[a]``).

    With ``superset`` the roles swap: the column whose set *contains* another's is
    dropped (dominated constraint rows of set covering, passed transposed). Ties of
    identical sets (and equal costs) keep the lowest index. Returns ``None`` when the
    pair count exceeds :data:`DOMINANCE_WORK_CAP`.
    """
    m = cov.shape[1]
    deg_r = np.diff(cov.indptr).astype(np.float64)
    if float((deg_r ** 2).sum()) > DOMINANCE_WORK_CAP:
        return None
    C = sp.csc_array(cov, dtype=np.int32)
    CT = sp.csr_array(C.T)
    deg = np.diff(C.indptr)
    out = np.zeros(m, bool)
    for s in range(0, m, chunk):
        J = np.arange(s, min(m, s + chunk))
        M = sp.coo_array(CT[J] @ C)  # |N(a) ∩ N(b)| for a in chunk, all b
        a, b, inter = J[M.row], M.col, M.data
        sub = (inter == deg[a]) & (a != b)  # N(a) ⊆ N(b)
        a, b = a[sub], b[sub]
        if not superset:
            ok = (cost[b] <= cost[a]) & (
                (deg[b] > deg[a]) | (cost[b] < cost[a]) | (b < a))
            out[a[ok]] = True
        else:  # drop b (the superset); identical sets keep the lowest index
            ok = (deg[b] > deg[a]) | (a < b)
            out[b[ok]] = True
    return out
