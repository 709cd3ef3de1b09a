"""Contraction of pass-through nodes before the bounded searches of :mod:`siting._dijkstra`.

An unsimplified street network is mostly inner points of streets (about 3/4 of the nodes
of a raw OSM walk network): nodes whose only links are a two-way pair to two other
nodes. :func:`contract_chains` replaces each chain of them by one edge per direction, so
the searches settle junctions, demand and site nodes only, with the same distances.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from siting._dijkstra import as_int_array

__all__ = ["contract_chains"]


@njit(cache=True, parallel=True)
def _pass_through(indptr, indices, indeg, keep):
    """Nodes not in ``keep`` whose only links are a two-way pair to two other nodes."""
    n = indptr.shape[0] - 1
    out = np.zeros(n, dtype=np.bool_)
    for x in prange(n):
        if keep[x] or indptr[x + 1] - indptr[x] != 2 or indeg[x] != 2:
            continue
        a = indices[indptr[x]]
        b = indices[indptr[x] + 1]
        if a == b or a == x or b == x:
            continue
        back = 0
        for y in (a, b):
            for e in range(indptr[y], indptr[y + 1]):
                if indices[e] == x:
                    back += 1
                    break
        out[x] = back == 2
    return out


@njit(cache=True, parallel=True)
def _bypass(indptr, indices, weights, through, new_id, target, length):
    """Follow every out-edge of a kept node through its chain of pass-through nodes.

    Writes, per original edge ``e`` out of a kept node, the contracted edge's
    head (new id; -1 for a loop back to the start, never on a shortest path)
    and the chain's length.
    """
    n = indptr.shape[0] - 1
    for u in prange(n):
        if through[u]:
            continue
        for e in range(indptr[u], indptr[u + 1]):
            prev = u
            cur = indices[e]
            total = weights[e]
            while through[cur]:
                f = indptr[cur]
                if indices[f] == prev:
                    f += 1
                total += weights[f]
                prev = cur
                cur = indices[f]
            target[e] = new_id[cur] if cur != u else -1
            length[e] = total


@njit(cache=True)
def _compact(indptr, kept, target, length):
    """CSR of the kept nodes' contracted edges (those with ``target >= 0``)."""
    c_indptr = np.zeros(kept.shape[0] + 1, dtype=np.int64)
    for r in range(kept.shape[0]):
        u = kept[r]
        cnt = 0
        for e in range(indptr[u], indptr[u + 1]):
            if target[e] >= 0:
                cnt += 1
        c_indptr[r + 1] = c_indptr[r] + cnt
    c_indices = np.empty(c_indptr[-1], dtype=np.int64)
    c_weights = np.empty(c_indptr[-1], dtype=np.float64)
    for r in range(kept.shape[0]):
        u = kept[r]
        k = c_indptr[r]
        for e in range(indptr[u], indptr[u + 1]):
            if target[e] >= 0:
                c_indices[k] = target[e]
                c_weights[k] = length[e]
                k += 1
    return c_indptr, c_indices, c_weights


def contract_chains(
    indptr: ArrayLike, indices: ArrayLike, weights: ArrayLike, keep: ArrayLike,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Remove pass-through nodes, keeping every shortest distance between the rest.

    A node is passed through when it is not in ``keep`` and its only links are
    two-way ones to exactly two other nodes (the inner points of an unsimplified
    street).  Each chain of them becomes one edge per direction whose weight is
    the chain's length, so distances between remaining nodes are unchanged (up
    to the order of floating-point additions, ~1e-13 relative).

    Parameters
    ----------
    indptr : array_like
    indices : array_like
    weights : array_like
        CSR adjacency of a directed graph with ``n`` nodes, weights ``>= 0``.
    keep : array_like of bool
        Length-``n`` mask of nodes that must stay (sources, targets).

    Returns
    -------
    indptr, indices, weights
        CSR of the contracted graph over the remaining nodes.
    new_id : ndarray of int64
        Per original node, its id in the contracted graph (-1 when contracted
        away); remaining nodes keep their order.
    """
    indptr = as_int_array("indptr", indptr)
    indices = as_int_array("indices", indices)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    keep = np.ascontiguousarray(keep, dtype=np.bool_)
    indeg = np.bincount(indices, minlength=indptr.size - 1)
    through = _pass_through(indptr, indices, indeg, keep)
    kept = np.flatnonzero(~through)
    new_id = np.full(through.size, -1, dtype=np.int64)
    new_id[kept] = np.arange(kept.size)
    target = np.full(indices.size, -1, dtype=np.int64)
    length = np.empty(indices.size, dtype=np.float64)
    _bypass(indptr, indices, weights, through, new_id, target, length)
    c_indptr, c_indices, c_weights = _compact(indptr, kept, target, length)
    return c_indptr, c_indices, c_weights, new_id
