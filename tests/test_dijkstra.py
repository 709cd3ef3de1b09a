"""Tests for siting._dijkstra.bounded_dijkstra against scipy and networkx."""

from __future__ import annotations

import networkx as nx
import numba
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from siting import _contract, _dijkstra
from siting._dijkstra import bounded_dijkstra

TOL = 1e-9


# ---------------------------------------------------------------------------
# Graph builders and references
# ---------------------------------------------------------------------------


def random_csr(n, m_edges, seed, *, symmetric=False, zero_frac=0.0, isolated=0,
               wmax=10.0):
    """Random simple digraph (no duplicate (u, v)) as CSR arrays.

    The last `isolated` nodes get no edges at all.
    """
    rng = np.random.default_rng(seed)
    active = n - isolated
    u = rng.integers(0, active, m_edges)
    v = rng.integers(0, active, m_edges)
    keep = u != v
    u, v = u[keep], v[keep]
    if symmetric:
        u, v = np.concatenate([u, v]), np.concatenate([v, u])
    key = np.unique(u * n + v)
    u, v = key // n, key % n
    w = rng.uniform(0.1, wmax, key.size)
    if zero_frac:
        w[rng.random(key.size) < zero_frac] = 0.0
    if symmetric:  # same weight in both directions: draw per unordered pair
        pair = np.minimum(u, v) * n + np.maximum(u, v)
        rng2 = np.random.default_rng(seed + 1)
        w = rng2.uniform(0.1, wmax, n * n)[pair]
        w[rng2.random(n * n)[pair] < zero_frac] = 0.0
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return indptr, v.astype(np.int64), w


def to_scipy(indptr, indices, weights):
    n = len(indptr) - 1
    # Explicit zeros are kept and treated as zero-weight edges by csgraph.
    return sp.csr_matrix((weights, indices, indptr), shape=(n, n))


def to_nx(indptr, indices, weights, multi=False):
    n = len(indptr) - 1
    g = nx.MultiDiGraph() if multi else nx.DiGraph()
    g.add_nodes_from(range(n))
    for u in range(n):
        for e in range(indptr[u], indptr[u + 1]):
            g.add_edge(u, int(indices[e]), weight=float(weights[e]))
    return g


def rows_from_matrix(D, offsets, limits):
    """Rows (k, v, offset_k + D[k, v]) passing the limit, canonical order."""
    total = D + offsets[:, None]
    k, v = np.nonzero(np.isfinite(D) & (total <= limits[:, None]))
    d = total[k, v]
    o = np.lexsort((v, d, k))
    return k[o], v[o], d[o]


def scipy_rows(indptr, indices, weights, sources, limits, offsets=None):
    """Reference via scipy: per-source `limit=`, then the offset filter."""
    sources = np.asarray(sources)
    m = sources.size
    limits = np.broadcast_to(np.asarray(limits, float), (m,))
    offsets = np.zeros(m) if offsets is None else np.asarray(offsets, float)
    A = to_scipy(indptr, indices, weights)
    D = np.full((m, len(indptr) - 1), np.inf)
    for k in range(m):
        budget = limits[k] - offsets[k]
        if budget >= 0:
            D[k] = dijkstra(A, indices=int(sources[k]), limit=budget)
    return rows_from_matrix(D, offsets, limits)


def nx_rows(g, sources, limits, offsets=None):
    m = len(sources)
    limits = np.broadcast_to(np.asarray(limits, float), (m,))
    offsets = np.zeros(m) if offsets is None else np.asarray(offsets, float)
    ks, vs, ds = [], [], []
    for k, s in enumerate(sources):
        if offsets[k] > limits[k]:
            continue
        lengths = nx.single_source_dijkstra_path_length(
            g, int(s), cutoff=limits[k] - offsets[k], weight="weight")
        for v, d in lengths.items():
            if offsets[k] + d <= limits[k]:
                ks.append(k)
                vs.append(v)
                ds.append(offsets[k] + d)
    k, v, d = np.array(ks, int), np.array(vs, int), np.array(ds, float)
    o = np.lexsort((v, d, k))
    return k[o], v[o], d[o]


def assert_rows_equal(got, want):
    """Identical (k, v) pairs, distances within TOL, and canonical sort order."""
    k, v, d = got
    assert k.dtype == np.int64 and v.dtype == np.int64 and d.dtype == np.float64
    assert k.shape == v.shape == d.shape
    # Output must be sorted by (src_pos, dist, node).
    assert np.array_equal(np.lexsort((v, d, k)), np.arange(k.size))
    wk, wv, wd = want
    assert k.size == wk.size, f"{k.size} rows, expected {wk.size}"
    # Compare as pair sets (robust to tie order differing by rounding).
    o, wo = np.lexsort((v, k)), np.lexsort((wv, wk))
    assert np.array_equal(k[o], wk[wo])
    assert np.array_equal(v[o], wv[wo])
    np.testing.assert_allclose(d[o], wd[wo], rtol=0, atol=TOL)


# ---------------------------------------------------------------------------
# Correctness against references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_graph_matches_scipy_and_networkx(symmetric, seed):
    csr = random_csr(400, 1600, seed, symmetric=symmetric, isolated=5)
    sources = np.random.default_rng(seed).integers(0, 400, 60)
    limit = 8.0
    got = bounded_dijkstra(*csr, sources, limit)
    assert got[0].size > 60  # searches actually expand beyond the sources
    assert_rows_equal(got, scipy_rows(*csr, sources, limit))
    assert_rows_equal(got, nx_rows(to_nx(*csr), sources, limit))


def test_distances_bitwise_equal_to_scipy():
    csr = random_csr(300, 1500, 7)
    sources = np.arange(0, 300, 3)
    k, v, d = bounded_dijkstra(*csr, sources, 12.0)
    D = dijkstra(to_scipy(*csr), indices=sources, limit=12.0)
    assert np.array_equal(d, D[k, v])
    assert np.isfinite(D).sum() == k.size


def test_grid_many_chunks_matches_scipy():
    side = 40
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    u, v = np.concatenate([u, v]), np.concatenate([v, u])
    w = np.random.default_rng(3).uniform(36, 44, u.size)
    A = sp.csr_matrix((w, (u, v)), shape=(side * side,) * 2)
    sources = np.random.default_rng(4).integers(0, side * side, 300)
    got = bounded_dijkstra(A.indptr, A.indices, A.data, sources, 400.0)
    assert_rows_equal(got, scipy_rows(A.indptr, A.indices, A.data, sources, 400.0))


def test_repeated_sources_give_identical_blocks():
    csr = random_csr(200, 800, 11)
    sources = np.array([5, 17, 5, 5, 17])
    k, v, d = bounded_dijkstra(*csr, sources, 10.0)
    assert_rows_equal((k, v, d), scipy_rows(*csr, sources, 10.0))
    blocks = [(v[k == i], d[k == i]) for i in range(5)]
    for a, b in [(0, 2), (0, 3), (1, 4)]:
        assert blocks[a][0].size > 1
        assert np.array_equal(blocks[a][0], blocks[b][0])
        assert np.array_equal(blocks[a][1], blocks[b][1])


def test_per_source_limits():
    csr = random_csr(300, 1200, 12)
    sources = np.array([1, 1, 1, 50, 120, 7])
    limits = np.array([0.0, 3.0, 9.0, 6.0, 100.0, 2.5])
    got = bounded_dijkstra(*csr, sources, limits)
    assert_rows_equal(got, scipy_rows(*csr, sources, limits))
    assert_rows_equal(got, nx_rows(to_nx(*csr), sources, limits))
    counts = np.bincount(got[0], minlength=6)
    # Same source, growing limit: nested and growing.
    assert counts[0] == 1 and counts[0] <= counts[1] <= counts[2]
    assert counts[2] > counts[1]


def test_source_offsets_count_against_limit():
    csr = random_csr(300, 1200, 13)
    sources = np.array([3, 3, 3, 40, 41])
    offsets = np.array([0.0, 2.5, 9.0, 1.25, 12.0])  # last exceeds the limit
    limit = 9.0
    k, v, d = bounded_dijkstra(*csr, sources, limit, source_offset=offsets)
    assert_rows_equal((k, v, d), scipy_rows(*csr, sources, limit, offsets))
    assert_rows_equal((k, v, d), nx_rows(to_nx(*csr), sources, limit, offsets))
    # Offset equal to the limit leaves exactly the source at dist == limit.
    assert np.array_equal(v[k == 2], [3]) and np.array_equal(d[k == 2], [9.0])
    assert not (k == 4).any()
    # Offset shifts distances and shrinks the reached set.
    base = dict(zip(v[k == 0], d[k == 0]))
    shifted = dict(zip(v[k == 1], d[k == 1]))
    assert set(shifted) < set(base)
    for node, dist in shifted.items():
        assert dist == pytest.approx(base[node] + 2.5, abs=TOL)


def test_scalar_offset_broadcasts():
    csr = random_csr(100, 400, 14)
    sources = np.array([0, 9, 42])
    a = bounded_dijkstra(*csr, sources, 7.0, source_offset=1.5)
    b = bounded_dijkstra(*csr, sources, 7.0, source_offset=np.full(3, 1.5))
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("symmetric", [False, True])
def test_zero_weight_edges(symmetric):
    csr = random_csr(250, 1000, 21, symmetric=symmetric, zero_frac=0.3)
    assert (csr[2] == 0).sum() > 50
    sources = np.arange(0, 250, 5)
    for limit in (0.0, 4.0):
        got = bounded_dijkstra(*csr, sources, limit)
        assert_rows_equal(got, scipy_rows(*csr, sources, limit))
        assert_rows_equal(got, nx_rows(to_nx(*csr), sources, limit))
    # Limit 0 still reaches zero-weight neighbours.
    k, v, d = bounded_dijkstra(*csr, sources, 0.0)
    assert k.size > sources.size and (d == 0).all()


def test_zero_weight_ties_sorted_by_node():
    # 0 -> 3, 0 -> 1 (weight 0), 3 -> 2 (weight 0), 1 -> 4 (weight 1)
    indptr = np.array([0, 2, 3, 3, 4, 4])
    indices = np.array([3, 1, 4, 2])
    weights = np.array([0.0, 0.0, 1.0, 0.0])
    k, v, d = bounded_dijkstra(indptr, indices, weights, [0], 5.0)
    assert v.tolist() == [0, 1, 2, 3, 4]
    assert d.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert k.tolist() == [0] * 5


def test_isolated_nodes():
    csr = random_csr(120, 500, 22, isolated=10)
    sources = np.array([115, 0, 119, 3])  # 110..119 have no edges
    k, v, d = bounded_dijkstra(*csr, sources, 50.0)
    assert_rows_equal((k, v, d), scipy_rows(*csr, sources, 50.0))
    assert np.array_equal(v[k == 0], [115]) and np.array_equal(d[k == 0], [0.0])
    assert np.array_equal(v[k == 2], [119])
    assert not np.isin(v[(k == 1) | (k == 3)], np.arange(110, 120)).any()


def test_limit_zero_returns_sources_only_without_zero_edges():
    csr = random_csr(100, 400, 23)
    sources = np.array([4, 4, 60, 99])
    k, v, d = bounded_dijkstra(*csr, sources, 0)
    assert k.tolist() == [0, 1, 2, 3]
    assert v.tolist() == sources.tolist()
    assert d.tolist() == [0.0] * 4


def test_limit_inclusive_on_exact_boundary():
    # Path 0 -> 1 -> 2 -> 3 with unit weights.
    indptr = np.array([0, 1, 2, 3, 3])
    indices = np.array([1, 2, 3])
    weights = np.ones(3)
    k, v, d = bounded_dijkstra(indptr, indices, weights, [0], 2.0)
    assert v.tolist() == [0, 1, 2] and d.tolist() == [0.0, 1.0, 2.0]
    k, v, d = bounded_dijkstra(indptr, indices, weights, [0], 2.0, source_offset=1.0)
    assert v.tolist() == [0, 1] and d.tolist() == [1.0, 2.0]


def test_directed_edges_are_one_way():
    indptr = np.array([0, 1, 1])
    indices = np.array([1])
    weights = np.array([1.0])
    _, v, _ = bounded_dijkstra(indptr, indices, weights, [0, 1], 10.0)
    assert v.tolist() == [0, 1, 1]


def test_parallel_edges_use_minimum():
    indptr = np.array([0, 3, 4, 4])
    indices = np.array([1, 1, 2, 2])
    weights = np.array([5.0, 2.0, 9.0, 1.0])
    k, v, d = bounded_dijkstra(indptr, indices, weights, [0], 10.0)
    assert v.tolist() == [0, 1, 2] and d.tolist() == [0.0, 2.0, 3.0]
    g = to_nx(indptr, indices, weights, multi=True)
    assert_rows_equal((k, v, d), nx_rows(g, [0], 10.0))


def test_infinite_limit_and_infinite_weights():
    csr = random_csr(150, 600, 24)
    indptr, indices, weights = csr
    weights = weights.copy()
    weights[::4] = np.inf  # unusable edges
    sources = np.array([0, 10, 20])
    got = bounded_dijkstra(indptr, indices, weights, sources, np.inf)
    D = dijkstra(to_scipy(indptr, indices, weights), indices=sources)
    assert_rows_equal(got, rows_from_matrix(D, np.zeros(3), np.full(3, np.inf)))


def test_empty_sources():
    csr = random_csr(50, 200, 25)
    for empty in ([], np.array([], dtype=np.int32)):
        k, v, d = bounded_dijkstra(*csr, empty, 5.0)
        assert k.size == v.size == d.size == 0
        assert (k.dtype, v.dtype, d.dtype) == (np.int64, np.int64, np.float64)


def test_int32_inputs_match_int64():
    csr = random_csr(200, 900, 26)
    sources = np.arange(0, 200, 7)
    a = bounded_dijkstra(*csr, sources, 6.0)
    b = bounded_dijkstra(csr[0].astype(np.int32), csr[1].astype(np.int32), csr[2],
                         sources.astype(np.int32), 6.0)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_small_buffers_force_multiple_rounds(monkeypatch):
    """Overflowing chunk buffers are re-run; output must be unchanged."""
    csr = random_csr(300, 1500, 27, symmetric=True)
    sources = np.random.default_rng(5).integers(0, 300, 200)
    limits = np.random.default_rng(6).uniform(0, 10, 200)
    want = bounded_dijkstra(*csr, sources, limits)
    rounds = []
    real = _dijkstra._run_round

    def counting(*args):
        rounds.append(args[9].size)  # pending sources this round
        return real(*args)

    monkeypatch.setattr(_dijkstra, "_INITIAL_ROWS_PER_SOURCE", 1)
    monkeypatch.setattr(_dijkstra, "_GROWTH", 0.3)
    monkeypatch.setattr(_dijkstra, "_run_round", counting)
    got = bounded_dijkstra(*csr, sources, limits)
    assert len(rounds) > 2 and rounds[0] == 200
    for x, y in zip(got, want):
        assert np.array_equal(x, y)
    assert_rows_equal(got, scipy_rows(*csr, sources, limits))


def test_deterministic_across_thread_counts():
    csr = random_csr(500, 2500, 28, symmetric=True, zero_frac=0.1)
    sources = np.random.default_rng(7).integers(0, 500, 333)
    before = numba.get_num_threads()
    try:
        results = []
        for t in sorted({1, before}):
            numba.set_num_threads(t)
            results.append(bounded_dijkstra(*csr, sources, 5.0))
    finally:
        numba.set_num_threads(before)
    for other in results[1:]:
        for x, y in zip(results[0], other):
            assert np.array_equal(x, y)
    assert results[0][0].size > 333


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

_IP = np.array([0, 1, 2, 2])
_IX = np.array([1, 2])
_W = np.array([1.0, 2.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=np.array([1.0, -0.5])), "weights must be >= 0"),
        (dict(weights=np.array([1.0, np.nan])), "weights must not contain NaN"),
        (dict(weights=np.array([1.0])), "lengths differ"),
        (dict(indices=np.array([1, 3])), r"indices must lie in \[0, 3\)"),
        (dict(indices=np.array([1.0, 2.0])), "indices must be an integer array"),
        (dict(indptr=np.array([0, 1, 1, 1])), "indptr must start at 0 and end at"),
        (dict(indptr=np.array([1, 1, 2, 2])), "indptr must start at 0 and end at"),
        (dict(indptr=np.array([0, 2, 1, 2])), "indptr must be non-decreasing"),
        (dict(indptr=np.array([], dtype=int)), "indptr must have length"),
        (dict(sources=np.array([0, 3])), r"sources must lie in \[0, 3\)"),
        (dict(sources=np.array([-1])), r"sources must lie in \[0, 3\)"),
        (dict(sources=np.array([0.0])), "sources must be an integer array"),
        (dict(sources=np.array([[0]])), "sources must be 1-D"),
        (dict(limit=-1.0), "limit must be >= 0"),
        (dict(limit=np.nan), "limit must not contain NaN"),
        (dict(limit=np.array([1.0, 2.0])), "limit must be a scalar or have one entry"),
        (dict(limit=None), "limit is required"),
        (dict(source_offset=np.array([1.0, 2.0])),
         "source_offset must be a scalar or have one entry"),
        (dict(source_offset=-0.1), "source_offset must be >= 0"),
    ],
)
def test_validation_errors(kwargs, match):
    args = dict(indptr=_IP, indices=_IX, weights=_W, sources=np.array([0]), limit=1.0)
    args.update(kwargs)
    offset = args.pop("source_offset", None)
    with pytest.raises(ValueError, match=match):
        bounded_dijkstra(args["indptr"], args["indices"], args["weights"],
                         args["sources"], args["limit"], source_offset=offset)


def test_valid_minimal_call_after_validation_cases():
    k, v, d = bounded_dijkstra(_IP, _IX, _W, [0], 1.0)
    assert v.tolist() == [0, 1] and d.tolist() == [0.0, 1.0]


# ---------------------------------------------------------------------------
# Target masks and chain contraction
# ---------------------------------------------------------------------------


def test_targets_keep_only_masked_rows():
    csr = random_csr(400, 1600, 31, symmetric=True, zero_frac=0.05)
    sources = np.random.default_rng(8).integers(0, 400, 150)
    limits = np.random.default_rng(9).uniform(0, 8, 150)
    targets = np.random.default_rng(10).random(400) < 0.2
    k, v, d = bounded_dijkstra(*csr, sources, limits)
    keep = targets[v]
    got = bounded_dijkstra(*csr, sources, limits, targets=targets)
    for x, y in zip(got, (k[keep], v[keep], d[keep])):
        assert np.array_equal(x, y)
    with pytest.raises(ValueError, match="targets must be a boolean mask of length n=400"):
        bounded_dijkstra(*csr, sources, limits, targets=targets[:10])


def _subdivided(seed, n=120, m=300, one_way=0.2):
    """A random street graph whose edges are split into chains of 1-4 pieces.

    Some streets are one-way (one direction only); weights differ per direction.
    Returns CSR arrays.
    """
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    rows, cols, ws = [], [], []
    nxt = n
    for a, b in zip(u.tolist(), v.tolist()):
        pieces = int(rng.integers(1, 5))
        path = [a] + list(range(nxt, nxt + pieces - 1)) + [b]
        nxt += pieces - 1
        both = rng.random() > one_way
        for x, y in zip(path[:-1], path[1:]):
            rows.append(x), cols.append(y), ws.append(rng.uniform(1, 10))
            if both:
                rows.append(y), cols.append(x), ws.append(rng.uniform(1, 10))
    A = sp.coo_matrix((ws, (rows, cols)), shape=(nxt, nxt)).tocsr()  # parallel streets summed
    return A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contracted_graph_keeps_distances_between_kept_nodes(seed):
    indptr, indices, weights = _subdivided(seed)
    n = len(indptr) - 1
    rng = np.random.default_rng(seed)
    keep = rng.random(n) < 0.1
    c_indptr, c_indices, c_weights, new_id = _contract.contract_chains(
        indptr, indices, weights, keep)
    kept = np.flatnonzero(new_id >= 0)
    assert np.array_equal(new_id[kept], np.arange(len(kept)))
    assert (new_id[keep] >= 0).all()  # every kept node stays
    assert len(kept) < n  # chains were contracted
    full = dijkstra(to_scipy(indptr, indices, weights), indices=kept)[:, kept]
    short = dijkstra(to_scipy(c_indptr, c_indices, c_weights))
    np.testing.assert_allclose(short, full, rtol=1e-12, atol=1e-9)


def test_contraction_keeps_one_way_and_dead_end_nodes():
    # 0 -> 1 -> 2 one way (1 stays); 2 -> 3 only, so 2 stays; 3 - 4 two-way on both
    # sides (3 and 4 go); 5 is a dead end (stays).
    rows = [0, 1, 2, 3, 3, 4, 4, 5]
    cols = [1, 2, 3, 2, 4, 3, 5, 4]
    A = sp.csr_matrix((np.arange(1.0, 9.0), (rows, cols)), shape=(6, 6))
    ip, ix, w, new_id = _contract.contract_chains(A.indptr, A.indices, A.data,
                                                  np.zeros(6, bool))
    kept = np.flatnonzero(new_id >= 0)
    assert kept.tolist() == [0, 1, 2, 5]
    full = dijkstra(A)[np.ix_(kept, kept)]
    np.testing.assert_allclose(dijkstra(to_scipy(ip, ix, w)), full)


def test_points_at_nodes_join_the_searches():
    """point_node/point_offset rows = node rows joined to the points, distances bit-equal."""
    from siting.access import join_demand

    csr = random_csr(300, 1200, 33, symmetric=True, zero_frac=0.05)
    rng = np.random.default_rng(11)
    sources = rng.integers(0, 300, 80)
    offsets = rng.uniform(0, 1, 80)
    point_node = rng.integers(0, 300, 500)  # several points per node, some nodes none
    point_off = rng.uniform(0, 2, 500)
    k, q, d = bounded_dijkstra(*csr, sources, 6.0, source_offset=offsets,
                               point_node=point_node, point_offset=point_off)
    want = join_demand(*bounded_dijkstra(*csr, sources, 6.0, source_offset=offsets),
                       point_node, point_off, 300, 6.0)
    o = np.lexsort((k, q))
    assert np.array_equal(q[o], want[0]) and np.array_equal(k[o], want[1])
    assert np.array_equal(d[o], want[2])
    assert np.array_equal(k, np.sort(k))  # grouped by source
    with pytest.raises(ValueError, match="targets or point_node"):
        bounded_dijkstra(*csr, sources, 6.0, targets=np.ones(300, bool), point_node=point_node)
    with pytest.raises(ValueError, match="one entry per point"):
        bounded_dijkstra(*csr, sources, 6.0, point_node=point_node, point_offset=point_off[:3])
