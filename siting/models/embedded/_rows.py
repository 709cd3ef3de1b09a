"""The model's demand rows: per service, points that reach the same sites merged into one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from siting.models.reduce import _merge_rows


@dataclass
class DemandRows:
    """The model's demand rows of one service (merged points or the points themselves).

    Attributes
    ----------
    pi, pj, dist
        Row × site pairs; ``dist`` is the original distance when rows are points, NaN
        when merged.
    D, N, comm
        Units, people and community per row.
    group
        Row of each original demand point (-1 if none).
    members
        The original points of each row.
    """

    pi: np.ndarray
    pj: np.ndarray
    dist: np.ndarray
    D: np.ndarray
    N: np.ndarray
    comm: np.ndarray
    group: np.ndarray
    members: list


def merge_demand(pi: np.ndarray, pj: np.ndarray, pdist: np.ndarray, D: np.ndarray,
                 N: np.ndarray, comm: np.ndarray, n_sites: int, merge: bool) -> DemandRows:
    """Rows of one service's demand, merging points with the same sites in reach.

    Points of one community whose sets of reachable sites are identical are served
    by the same sites under the same capacities: one row with their units and people
    summed has the same optimum (any flow of the merged row splits in proportion to
    the points' units, and the points' flows sum to a merged flow). Communities stay
    apart so per-community constraints (equity) keep their sums. Not exact for a
    distance objective (the points' distances differ), so ``merge=False`` there.

    Parameters
    ----------
    pi
        Demand point of each of the service's pairs.
    pj
        Site of each pair.
    pdist
        Walking distance of each pair in metres.
    D
        Units needed per demand point.
    N
        People of the service's group per demand point.
    comm
        Community code per demand point.
    n_sites
        Number of sites.
    merge
        Merge (True) or keep one row per point (False).

    Returns
    -------
    DemandRows
    """
    n = len(D)
    if not merge or len(pi) == 0:
        group = np.full(n, -1, np.int64)
        pts = np.unique(pi)
        group[pts] = pts
        return DemandRows(pi, pj, pdist, D, N, comm, group, [np.array([i]) for i in range(n)])
    pts, local = np.unique(pi, return_inverse=True)
    n_comm = int(comm.max()) + 1 if len(comm) else 1
    # the community is one more "site" of the row, so only points of one community merge
    rr = np.concatenate([local, np.arange(len(pts))])
    cc = np.concatenate([pj, n_sites + comm[pts]])
    cov = sp.csr_array((np.ones(len(rr), bool), (rr, cc)), shape=(len(pts), n_sites + n_comm))
    cov.sum_duplicates()
    cov.sort_indices()
    row0 = np.arange(len(pts), dtype=np.int64)
    merged, _, row = _merge_rows(cov, np.zeros(len(pts)), row0)
    n_rows = merged.shape[0]
    group = np.full(n, -1, np.int64)
    group[pts] = row
    gD = np.bincount(row, weights=D[pts], minlength=n_rows)
    gN = np.bincount(row, weights=N[pts], minlength=n_rows)
    gcomm = np.zeros(n_rows, np.int64)
    gcomm[row] = comm[pts]
    order = np.argsort(row, kind="stable")
    members = np.split(pts[order], np.cumsum(np.bincount(row, minlength=n_rows))[:-1])
    coo = sp.coo_array(merged[:, :n_sites])
    k = np.lexsort((coo.col, coo.row))
    gi, gj = coo.row[k].astype(np.int64), coo.col[k].astype(np.int64)
    return DemandRows(gi, gj, np.full(len(gi), np.nan), gD, gN, gcomm, group, members)
