"""Readers for J. E. Beasley's OR-Library benchmark files (set covering ``scp*`` and
uncapacitated p-median ``pmed*``), for testing the optimiser on data no one here made.
:mod:`siting.models.benchmarks` turns them into
:class:`~siting.models.instance.Instance` objects.

Formats (people.brunel.ac.uk/~mastjjb/jeb/info.html):

* ``scp``: ``m n``; the ``n`` column costs; then per row ``k`` and the ``k`` (1-based)
  columns covering it. Numbers are whitespace-separated and may wrap over lines.
* ``pmed``: ``n edges p``; then ``i j cost`` per undirected edge (1-based vertices).
  Distances are all-pairs shortest paths; when an edge is given twice, the last counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from siting.errors import SitingError


def _numbers(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise SitingError(f"OR-Library file {path} not found")
    try:
        return np.array(path.read_text().split(), dtype=np.int64)
    except ValueError as e:
        raise SitingError(f"{path}: not an OR-Library file of whole numbers ({e})") from None


def read_scp(path: str | Path) -> tuple[np.ndarray, sp.csr_array]:
    """Read a weighted set covering file.

    Parameters
    ----------
    path
        The ``scp*.txt`` file.

    Returns
    -------
    cost : numpy.ndarray
        ``(n,)`` column costs.
    coverage : scipy.sparse.csr_array
        Boolean ``(m, n)`` matrix: column ``j`` covers row ``i``.
    """
    v = _numbers(path)
    if len(v) < 2:
        raise SitingError(f"{path}: missing the 'm n' header")
    m, n = int(v[0]), int(v[1])
    if len(v) < 2 + n:
        raise SitingError(f"{path}: expected {n} column costs after the header")
    cost = v[2:2 + n].astype(float)
    pos, rows, cols = 2 + n, [], []
    for i in range(m):
        if pos >= len(v):
            raise SitingError(f"{path}: ends at row {i + 1} of {m}")
        k = int(v[pos])
        c = v[pos + 1:pos + 1 + k]
        if len(c) < k or (k and (c.min() < 1 or c.max() > n)):
            raise SitingError(f"{path}: row {i + 1} lists columns outside 1..{n}")
        rows.append(np.full(k, i))
        cols.append(c - 1)
        pos += 1 + k
    r, c = np.concatenate(rows), np.concatenate(cols)
    cov = sp.csr_array((np.ones(len(r), bool), (r, c)), shape=(m, n))
    cov.sum_duplicates()
    return cost, cov


def read_pmed(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an uncapacitated p-median file.

    Parameters
    ----------
    path
        The ``pmed*.txt`` file.

    Returns
    -------
    distances : numpy.ndarray
        ``(n, n)`` all-pairs shortest-path distances over the edges (``inf`` between
        vertices that are not connected); a repeated edge counts with its last cost.
    p : int
        The number of medians the file asks for.
    """
    v = _numbers(path)
    if len(v) < 3:
        raise SitingError(f"{path}: missing the 'n edges p' header")
    n, e, p = int(v[0]), int(v[1]), int(v[2])
    edges = v[3:3 + 3 * e]
    if len(edges) < 3 * e:
        raise SitingError(f"{path}: expected {e} edges 'i j cost'")
    i, j, c = edges[0::3] - 1, edges[1::3] - 1, edges[2::3].astype(float)
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
        raise SitingError(f"{path}: edge ends outside vertices 1..{n}")
    if np.any(c < 0):
        raise SitingError(f"{path}: negative edge costs")
    last = {}
    for a, b, w in zip(i.tolist(), j.tolist(), c.tolist()):  # the last duplicate counts
        if a != b:
            last[(min(a, b), max(a, b))] = w
    a = np.array([k[0] for k in last], dtype=np.int64)
    b = np.array([k[1] for k in last], dtype=np.int64)
    w = np.array(list(last.values()), dtype=float)
    graph = sp.csr_array((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
    return shortest_path(graph, method="D", directed=False), p
