"""Bounded multi-source shortest paths (temporary scipy version; a numba kernel replaces it)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra


def bounded_dijkstra(indptr, indices, weights, sources, limit, *, source_offset=None):
    """Distances from each source to every node within ``limit`` (see module docstring)."""
    sources = np.asarray(sources, dtype=np.int64)
    n = len(indptr) - 1
    k = len(sources)
    limit = np.broadcast_to(np.asarray(limit, dtype=float), (k,))
    offset = np.zeros(k) if source_offset is None else np.asarray(source_offset, dtype=float)
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    adj = sp.csr_array((weights, indices, indptr), shape=(n, n))
    out_s, out_v, out_d = [], [], []
    for start in range(0, k, 256):
        stop = min(start + 256, k)
        lim = float((limit[start:stop] - offset[start:stop]).max())
        if lim < 0:
            continue
        d = dijkstra(adj, indices=sources[start:stop], limit=lim)
        d += offset[start:stop, None]
        s, v = np.nonzero(d <= limit[start:stop, None])
        out_s.append(s + start)
        out_v.append(v)
        out_d.append(d[s, v])
    if not out_s:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    s, v, d = (np.concatenate(a) for a in (out_s, out_v, out_d))
    order = np.lexsort((d, s))
    return s[order].astype(np.int64), v[order].astype(np.int64), d[order]
