"""Benchmark siting._dijkstra.bounded_dijkstra against scipy and networkx.

Builds connected square lattices (40 m spacing, each undirected edge weighted
40 m x U(0.9, 1.1), stored as two directed arcs), draws random sources, and
times bounded searches at a 1000 m limit:

* ours      -- ``bounded_dijkstra`` (warm: JIT already compiled/loaded)
* scipy     -- ``scipy.sparse.csgraph.dijkstra(limit=...)``, in batches
               of 200 sources (dense rows; all sources at once needs
               sources x n x 8 bytes)
* networkx  -- ``single_source_dijkstra_path_length(cutoff=...)`` on a
               subset of sources, time and pairs scaled up to all sources

It checks that ours and scipy return the same (source, node) pairs with
distances within 1e-9.  Timings (best of ``--repeat``) are printed, never
asserted; they are noisy on a shared machine.

Usage::

    PYTHONPATH=. python scripts/bench_dijkstra.py [--sides 200 450]
        [--sources 2000] [--limit 1000] [--nx-subset 50]
        [--methods ours scipy networkx] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import networkx as nx
import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from siting._dijkstra import bounded_dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import lattice as benchmark_lattice  # noqa: E402

SPACING = 40.0


def lattice(side: int, seed: int = 0) -> sp.csr_array:
    """Symmetric side x side grid as CSR (n = side**2 nodes), as scripts/benchmark.py builds it."""
    return benchmark_lattice(side, 0, 0, seed=seed, spacing=SPACING).adjacency


def run_scipy(A: sp.csr_matrix, sources: np.ndarray, limit: float, batch: int = 200):
    """scipy rows in (src_pos, node) order; batched to bound the dense output."""
    ks, vs, ds = [], [], []
    for b in range(0, sources.size, batch):
        D = dijkstra(A, indices=sources[b:b + batch], limit=limit)
        k, v = np.nonzero(np.isfinite(D))
        ks.append(k + b)
        vs.append(v)
        ds.append(D[k, v])
    return np.concatenate(ks), np.concatenate(vs), np.concatenate(ds)


def run_networkx(G: nx.Graph, sources: np.ndarray, limit: float) -> int:
    pairs = 0
    for s in sources:
        pairs += len(nx.single_source_dijkstra_path_length(G, int(s), cutoff=limit))
    return pairs


def same_pairs(ours, ref) -> tuple[bool, float]:
    k, v, d = ours
    rk, rv, rd = ref
    if k.size != rk.size:
        return False, np.inf
    o, ro = np.lexsort((v, k)), np.lexsort((rv, rk))
    ok = np.array_equal(k[o], rk[ro]) and np.array_equal(v[o], rv[ro])
    err = float(np.abs(d[o] - rd[ro]).max()) if k.size else 0.0
    return ok and err <= 1e-9, err


def best_of(repeat: int, fn):
    """(min wall seconds over `repeat` runs, last result)."""
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench(side: int, n_sources: int, limit: float, nx_subset: int,
          methods: list[str], repeat: int) -> None:
    A = lattice(side)
    n = A.shape[0]
    sources = np.random.default_rng(side).integers(0, n, n_sources)
    print(f"\n== lattice {side}x{side}: n={n:,} nodes, {A.nnz:,} arcs, "
          f"{n_sources:,} sources, limit {limit:g} m, numba threads "
          f"{numba.get_num_threads()} ==")
    rows = []  # (method, seconds, pairs, note)

    t_ours, ours = best_of(repeat, lambda: bounded_dijkstra(
        A.indptr, A.indices, A.data, sources, limit))
    rows.append(("ours", t_ours, ours[0].size, ""))
    print(f"   settled per source: mean {ours[0].size / n_sources:,.0f}")

    if "scipy" in methods:
        t_sp, ref = best_of(repeat, lambda: run_scipy(A, sources, limit))
        ok, err = same_pairs(ours, ref)
        rows.append(("scipy limit", t_sp, ref[0].size,
                     f"pairs identical: {ok} (max |dd| {err:.1e})"))

    if "networkx" in methods:
        G = nx.Graph()
        G.add_weighted_edges_from(zip(*sp.triu(A).nonzero(), sp.triu(A).data))
        sub = sources[:nx_subset]
        t = time.perf_counter()
        pairs = run_networkx(G, sub, limit)
        scale = n_sources / sub.size
        t_nx = (time.perf_counter() - t) * scale
        rows.append((f"networkx ({sub.size} src x{scale:g})", t_nx,
                     int(round(pairs * scale)), "scaled estimate"))

    print(f"   {'method':<26} {'wall s':>9} {'pairs':>13} {'x ours':>8}  note")
    for name, sec, pairs, note in rows:
        print(f"   {name:<26} {sec:9.3f} {pairs:13,} {sec / t_ours:8.1f}  {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sides", type=int, nargs="+", default=[200, 450])
    ap.add_argument("--sources", type=int, default=2000)
    ap.add_argument("--limit", type=float, default=1000.0)
    ap.add_argument("--nx-subset", type=int, default=50)
    ap.add_argument("--methods", nargs="+", default=["ours", "scipy", "networkx"])
    ap.add_argument("--repeat", type=int, default=3,
                    help="report the best of this many runs (ours, scipy)")
    args = ap.parse_args()

    # First call compiles (or loads the on-disk cache); time it separately.
    A = lattice(10)
    t = time.perf_counter()
    bounded_dijkstra(A.indptr, A.indices, A.data, np.arange(5), 100.0)
    print(f"first call (JIT compile or cache load): {time.perf_counter() - t:.2f} s")
    for side in args.sides:
        bench(side, args.sources, args.limit, args.nx_subset, args.methods,
              args.repeat)


if __name__ == "__main__":
    main()
