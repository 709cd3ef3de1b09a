"""Access: snap demand and sites to the walking network, walking distances within reach.

Distances are computed with bounded Dijkstra searches from the distinct nodes of the
candidate sites or, when fewer, of the demand points (on the reversed graph), so the
work and memory grow with the pairs within the threshold, never with demand × sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from numba import njit
from scipy.spatial import cKDTree
from shapely.ops import substring

from siting._contract import contract_chains
from siting._dijkstra import bounded_dijkstra
from siting.errors import SitingError
from siting.models.instance import Instance
from siting.network import components, shortest_csr, to_csr


@dataclass
class Access:
    """Network index and snapping of one run, kept to draw reach and report components.

    Attributes
    ----------
    adjacency
        CSR walking graph (metres).
    node_ids, node_xy
        OSM node id and coordinates of each CSR row.
    component
        Weakly connected component of each node (0 = largest).
    demand_node, demand_snap_m, site_node, site_snap_m
        Network node of every demand point / site and the walk to it: with edge
        snapping (default) the node where the point's perpendicular meets its nearest
        street (a split node, or an end within 1 mm) and that perpendicular's length;
        with node snapping the nearest node and the straight line. Infinite for a point
        beyond the largest snap distance.
    n_graph_nodes
        Rows ``0…n_graph_nodes-1`` are the graph's nodes; later rows are split points
        (``node_ids`` -1, -2, …).
    demand_flag, site_flag
        ``""``, ``"beyond_max_snap"`` or ``"relinked_from_fragment"`` per point.
    demand_door, site_door
        Where the walk leaves the building: ``"entrance"``, ``"wall"`` or ``""`` (the
        point itself); see :func:`build_access`.
    """

    adjacency: sp.csr_array
    node_ids: np.ndarray
    node_xy: np.ndarray
    component: np.ndarray
    demand_node: np.ndarray
    demand_snap_m: np.ndarray
    site_node: np.ndarray
    site_snap_m: np.ndarray
    n_graph_nodes: int | None = None
    demand_flag: np.ndarray | None = None
    site_flag: np.ndarray | None = None
    demand_door: np.ndarray | None = None
    site_door: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def search_graph(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The walking graph with pass-through nodes contracted (cached).

        Street-interior nodes that hold no demand point or site are replaced by
        one edge per chain (`contract_chains`), so the searches settle junctions,
        demand and site nodes only.  Returns ``(indptr, indices, weights,
        new_id)`` where ``new_id`` maps every original node to its row in the
        contracted graph (-1 when contracted away).
        """
        if "search" not in self._cache:
            a = self.adjacency
            keep = np.zeros(a.shape[0], bool)
            keep[self.demand_node] = True
            keep[self.site_node] = True
            self._cache["search"] = contract_chains(a.indptr, a.indices, a.data, keep)
        return self._cache["search"]

    def reverse_search_graph(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`search_graph` with every arc turned round (the transposed CSR, cached).

        A search from a node on it follows one-way arcs backwards, so it finds the walks
        *to* that node.  Returns ``(indptr, indices, weights)``; rows as `search_graph`.
        """
        if "reverse" not in self._cache:
            indptr, indices, weights, _ = self.search_graph()
            m = len(indptr) - 1
            t = sp.csr_array((weights, indices, indptr), shape=(m, m)).T.tocsr()
            self._cache["reverse"] = (t.indptr, t.indices, t.data)
        return self._cache["reverse"]

    def edges(self) -> dict[str, np.ndarray]:
        """Directed edges of the searched graph (split at the points) for drawing reach:
        ``u``, ``v`` (rows), ``length`` and ``geometry`` running u -> v (cached)."""
        if "edges" not in self._cache:
            u, v, w, geom, pieces = self._cache["edge_parts"]
            if pieces is not None:
                pu, pv, pw, pg, f0, f1 = pieces
                cut = np.array([substring(g, a, b, normalized=True)
                                for g, a, b in zip(pg, f0, f1)] + [None], dtype=object)[:-1]
                u, v, w = np.concatenate([u, pu]), np.concatenate([v, pv]), np.concatenate([w, pw])
                geom = np.concatenate([geom, cut])
            self._cache["edges"] = {"u": u, "v": v, "length": w, "geometry": geom}
        return self._cache["edges"]

    def nearest(self, sites, threshold_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Walk from every network node to the nearest of ``sites`` within ``threshold_m``.

        One bounded search from all ``sites`` at once (their snap distances included).
        Returns ``(walk_m, site)`` per node: metres (inf beyond reach) and the site index
        (-1 beyond reach); ties go to the site listed first.

        Parameters
        ----------
        sites
            Site indices (rows of the access' sites).
        threshold_m
            Walking reach in metres.
        """
        sites = np.asarray(sites, dtype=np.int64)
        a = self.adjacency
        src, nodes, dist = bounded_dijkstra(
            a.indptr, a.indices, a.data, self.site_node[sites], threshold_m,
            source_offset=self.site_snap_m[sites],
        )
        walk = np.full(len(self.node_ids), np.inf)
        site = np.full(len(self.node_ids), -1, dtype=np.int64)
        order = np.lexsort((src, dist, nodes))  # per node: shortest, then first listed
        first = np.ones(len(order), bool)
        first[1:] = nodes[order][1:] != nodes[order][:-1]
        k = order[first]
        walk[nodes[k]], site[nodes[k]] = dist[k], sites[src[k]]
        return walk, site


def snap(points: gpd.GeoDataFrame, node_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest network node of each point and the straight-line distance to it (metres).

    The node-snapping rule (``build_access(snap="node")``); kept for comparison.

    Parameters
    ----------
    points
        Points in a projected CRS.
    node_xy
        ``(n, 2)`` node coordinates in the same CRS.
    """
    xy = _xy(points)
    dist, node = cKDTree(node_xy).query(xy)
    return node.astype(np.int64), dist


def _xy(points: gpd.GeoDataFrame) -> np.ndarray:
    if points.crs is None or not points.crs.is_projected:
        raise SitingError("points must be in a projected CRS before snapping")
    xy = np.column_stack([points.geometry.x.to_numpy(), points.geometry.y.to_numpy()])
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        raise SitingError(f"{bad.sum()} points have no location (empty geometry), e.g. row "
                          f"{int(np.flatnonzero(bad)[0])}; drop them or give coordinates")
    return xy


def build_access(
    G: nx.MultiDiGraph, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame,
    snap_to: str = "edge", max_snap_m: float = np.inf, min_component_nodes: int = 1,
    footprints: gpd.GeoSeries | None = None, entrances: gpd.GeoSeries | None = None,
    large_footprint_m: float = np.inf,
) -> Access:
    """Index the network and attach demand and sites to it (all in ``G``'s CRS).

    Parameters
    ----------
    G
        Projected walking graph (osmnx conventions).
    demand
    sites
        Points in ``G``'s CRS.
    snap_to
        ``"edge"`` (default): each point is projected onto its nearest walkable edge,
        which is split there; its walk is the perpendicular offset plus the distance
        along the edge, so two points on one edge reach each other along it.
        ``"node"``: the nearest node, with the straight-line distance as walk.
    max_snap_m
        Points farther than this from the network are not attached: their offset is
        infinite (they reach and are reached by nothing) and ``demand_flag`` /
        ``site_flag`` say ``"beyond_max_snap"``.
    min_component_nodes
        Edges of components with fewer nodes (fragments not linked to the network) are
        not snapped to; a point whose nearest edge lies on one is linked to the nearest
        edge of a larger component, the gap counted as walking, and flagged
        ``"relinked_from_fragment"``.
    footprints
    entrances
    large_footprint_m
        Where a building meets the street (edge snapping only): a point whose id
        (``source_id`` for sites, ``osm_id`` for demand) names a footprint
        (``footprints`` indexed by OSM id, in ``G``'s
        CRS) walks from that building's ``entrance=*`` node nearest a street when it
        has one (within 1 m of the outline); else, when the footprint is wider than
        ``large_footprint_m`` (smallest enclosing circle), from the point of the outline
        nearest a street; else from the point itself. ``demand_door`` / ``site_door``
        say which (``"entrance"``, ``"wall"`` or ``""``).
    """
    crs = G.graph["crs"]
    for name, gdf in (("demand", demand), ("sites", sites)):
        if gdf.crs is None or not gdf.crs.equals(crs):
            raise SitingError(f"{name} CRS {gdf.crs} differs from the network CRS {crs}")
    if snap_to not in ("edge", "node"):
        raise SitingError(f"snap_to must be 'edge' or 'node', got {snap_to!r}")
    adjacency, node_ids, node_xy = to_csr(G)
    comp = components(adjacency)
    n = len(node_ids)
    d_xy, s_xy = _xy(demand), _xy(sites)
    if snap_to == "node":
        d_node, d_snap = snap(demand, node_xy)
        s_node, s_snap = snap(sites, node_xy)
        flags = np.full(len(d_xy) + len(s_xy), "", dtype=object)
        door = flags.copy()
        edges = (*_edge_table(G, node_ids, node_xy), None)
    else:
        ids = np.concatenate([_ids(demand), _ids(sites)])
        doors = (ids, footprints, entrances, large_footprint_m)
        split = _split_edges(_edge_table(G, node_ids, node_xy), node_xy,
                             np.vstack([d_xy, s_xy]), comp, min_component_nodes, doors)
        adjacency, node_xy, node, offset, flags, edges, door = split
        node_ids = np.concatenate([node_ids, -1 - np.arange(len(node_xy) - n)])
        if len(node_xy) > n:
            comp = np.concatenate([comp, comp[_split_parent(adjacency, n)]])
        d_node, s_node = node[:len(d_xy)], node[len(d_xy):]
        d_snap, s_snap = offset[:len(d_xy)], offset[len(d_xy):]
    far = np.concatenate([d_snap, s_snap]) > max_snap_m
    flags[far] = "beyond_max_snap"
    d_snap = np.where(far[:len(d_xy)], np.inf, d_snap)
    s_snap = np.where(far[len(d_xy):], np.inf, s_snap)
    acc = Access(adjacency, node_ids, node_xy, comp, d_node, d_snap, s_node, s_snap,
                 n_graph_nodes=n, demand_flag=flags[:len(d_xy)].astype(str),
                 site_flag=flags[len(d_xy):].astype(str),
                 demand_door=door[:len(d_xy)].astype(str), site_door=door[len(d_xy):].astype(str))
    acc._cache["edge_parts"] = edges
    return acc


def _split_parent(adjacency: sp.csr_array, n: int) -> np.ndarray:
    """For each split node (rows ``n…``), a graph node it is linked to through split
    nodes only (its edge's end), to inherit that node's component."""
    m = adjacency.shape[0]
    parent = np.full(m - n, -1, dtype=np.int64)
    # split nodes form chains between two graph nodes: walk each chain to an end
    coo = sp.coo_array(adjacency)
    r, c = coo.row, coo.col
    to_graph = (r >= n) & (c < n)
    parent[r[to_graph] - n] = c[to_graph]
    links = (r >= n) & (c >= n)
    while (parent < 0).any():
        known = parent[c[links] - n] >= 0
        rows = r[links][known] - n
        unset = parent[rows] < 0
        if not unset.any():
            break
        parent[rows[unset]] = parent[c[links][known][unset] - n]
    return np.maximum(parent, 0)


def _edge_table(G: nx.MultiDiGraph, node_ids: np.ndarray, node_xy: np.ndarray):
    """Directed edges as row indices with length and geometry (a straight segment where
    the graph has none); parallel edges are all kept (a point may lie on either)."""
    m = G.number_of_edges()
    order_ids = np.argsort(node_ids)
    uv = np.fromiter((x for u, v in G.edges() for x in (u, v)), np.int64, count=2 * m)
    idx = order_ids[np.searchsorted(node_ids, uv, sorter=order_ids)]
    u, v = idx[0::2], idx[1::2]
    w = np.fromiter((d for _, _, d in G.edges(data="length")), float, count=m)
    geom = np.array([d for _, _, d in G.edges(data="geometry")] + [None], dtype=object)[:-1]
    none = np.array([g is None for g in geom], dtype=bool)
    if none.any():
        geom[none] = shapely.linestrings(
            np.stack([node_xy[u[none]], node_xy[v[none]]], axis=1))
    return u, v, w, geom


def _ids(points: gpd.GeoDataFrame) -> np.ndarray:
    """Ids naming each point's building footprint: a site's ``source_id`` (an OSM id, or
    an inventory's, which names no footprint), a demand point's ``osm_id``."""
    for col in ("source_id", "osm_id"):
        if col in points:
            return points[col].astype(object).to_numpy()
    return np.full(len(points), None, dtype=object)


def _doors(xy: np.ndarray, doors, tree: shapely.STRtree, streets: np.ndarray):
    """Where each point's walk leaves its building (see :func:`build_access`)."""
    ids, footprints, entrances, large_m = doors
    door = np.full(len(xy), "", dtype=object)
    if footprints is None or not len(footprints):
        return xy, door
    pos = pd.Index(footprints.index.astype(object)).get_indexer(ids)
    has = np.flatnonzero(pos >= 0)
    poly = footprints.to_numpy()[pos[has]]
    xy = xy.copy()
    if entrances is not None and len(entrances):
        ent = entrances.to_numpy()
        f_i, e_i = shapely.STRtree(ent).query(poly, predicate="dwithin", distance=1.0)
        if len(f_i):
            _, d_e = tree.query_nearest(ent, return_distance=True, all_matches=False)
            best = pd.DataFrame({"f": f_i, "e": e_i, "d": d_e[e_i]}).sort_values(
                ["f", "d"], kind="stable").drop_duplicates("f")
            rows = has[best["f"].to_numpy()]
            xy[rows] = shapely.get_coordinates(ent[best["e"].to_numpy()])
            door[rows] = "entrance"
    wide = (door[has] == "") & (2 * shapely.minimum_bounding_radius(poly) > large_m)
    if wide.any():
        big_poly = poly[wide]
        (_, k) = tree.query_nearest(big_poly, all_matches=False)
        line = shapely.shortest_line(big_poly, streets[k])
        rows = has[wide]
        xy[rows] = shapely.get_coordinates(shapely.get_point(line, 0))
        door[rows] = "wall"
    return xy, door


def _split_edges(edges: tuple, node_xy: np.ndarray, xy: np.ndarray, comp: np.ndarray,
                 min_component_nodes: int, doors=None):
    """Project points onto their nearest edge and split the edges there.

    ``edges`` are the graph's directed edges ``(u, v, length, geometry)`` (rows of
    ``node_xy``; :func:`_edge_table`).

    Each undirected street (``a < b``) is split once at every distinct point position;
    directed lengths are shared out in proportion to the position along the geometry.
    Returns the new CSR adjacency, node coordinates (graph nodes first, then one node per
    split position), each point's node and perpendicular offset, and flags.
    """
    n = len(node_xy)
    u, v, w, geom = edges
    a, b = np.minimum(u, v), np.maximum(u, v)
    # one undirected street per (a, b, length) — parallel ways differ in length — with
    # its geometry running a -> b
    key = np.stack([a, b, np.round(w * 1000.0).astype(np.int64)], axis=1)
    ukey, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    ga = geom[first].copy()
    flip = u[first] != a[first]
    ga[flip] = shapely.reverse(ga[flip])
    ua, ub = a[first], b[first]
    sizes = np.bincount(comp)
    big = sizes[comp[ua]] >= min_component_nodes
    if not big.any():  # every piece is a fragment: snap to them all (none is larger)
        big[:] = True
    flags = np.full(len(xy), "", dtype=object)
    tree = shapely.STRtree(ga[big])
    door = np.full(len(xy), "", dtype=object)
    if doors is not None:
        xy, door = _doors(xy, doors, tree, ga[big])
    pts = shapely.points(xy)
    (_, e_big), offset = tree.query_nearest(pts, return_distance=True, all_matches=False)
    e = np.flatnonzero(big)[e_big]
    if not big.all():
        (_, e_any), d_any = shapely.STRtree(ga).query_nearest(
            pts, return_distance=True, all_matches=False)
        flags[d_any < offset - 1e-9] = "relinked_from_fragment"
    glen = shapely.length(ga[e])
    frac = np.clip(shapely.line_locate_point(ga[e], pts) / np.maximum(glen, 1e-12), 0.0, 1.0)
    along = frac * glen
    node = np.where(along <= 1e-3, ua[e], -1)
    node = np.where((node < 0) & (glen - along <= 1e-3), ub[e], node)
    mid = np.flatnonzero(node < 0)
    # distinct split positions (mm) per street
    pos_key = np.round(along[mid] * 1000.0).astype(np.int64)
    stops, stop_of = np.unique(np.stack([e[mid], pos_key], axis=1), axis=0, return_inverse=True)
    new_id = n + np.arange(len(stops))
    node[mid] = new_id[stop_of.ravel()]
    s_edge = stops[:, 0]
    s_frac = stops[:, 1] / 1000.0 / np.maximum(shapely.length(ga[s_edge]), 1e-12)
    new_xy = shapely.get_coordinates(shapely.line_interpolate_point(
        ga[s_edge], s_frac, normalized=True))
    # chains a -> stops -> b of every split street, in both directions where they exist
    split = np.unique(s_edge)
    ce = np.concatenate([split, s_edge, split])
    cf = np.concatenate([np.zeros(len(split)), s_frac, np.ones(len(split))])
    cn = np.concatenate([ua[split], new_id, ub[split]])
    o = np.lexsort((cf, ce))
    ce, cf, cn = ce[o], cf[o], cn[o]
    seg = np.flatnonzero(ce[1:] == ce[:-1])
    s_from, s_to, s_street = cn[seg], cn[seg + 1], ce[seg]
    s_part = cf[seg + 1] - cf[seg]
    # directed lengths of each street: forward a -> b and backward b -> a (NaN if absent)
    fwd = np.full(len(ukey), np.nan)
    bwd = np.full(len(ukey), np.nan)
    is_fwd = u == a
    fwd[inv[is_fwd]] = w[is_fwd]
    bwd[inv[~is_fwd]] = w[~is_fwd]
    loop = ua == ub  # a closed way: walkable both ways round (its two copies look alike)
    bwd[loop] = fwd[loop]
    split_street = np.zeros(len(ukey), bool)
    split_street[split] = True
    keep = ~split_street[inv]
    f_ok, b_ok = ~np.isnan(fwd[s_street]), ~np.isnan(bwd[s_street])
    rows = [u[keep], s_from[f_ok], s_to[b_ok]]
    cols = [v[keep], s_to[f_ok], s_from[b_ok]]
    wts = [w[keep], fwd[s_street][f_ok] * s_part[f_ok], bwd[s_street][b_ok] * s_part[b_ok]]
    adj = shortest_csr(np.concatenate(rows), np.concatenate(cols), np.concatenate(wts),
                    n + len(stops))
    # the split graph's edges for drawing: unsplit edges, then the pieces (lazy geometry)
    pieces = (np.concatenate([s_from[f_ok], s_to[b_ok]]), np.concatenate([s_to[f_ok], s_from[b_ok]]),
              np.concatenate(wts[1:]), ga[np.concatenate([s_street[f_ok], s_street[b_ok]])],
              np.concatenate([cf[seg][f_ok], cf[seg + 1][b_ok]]),
              np.concatenate([cf[seg + 1][f_ok], cf[seg][b_ok]]))
    edges = (u[keep], v[keep], w[keep], geom[keep], pieces)
    return adj, np.vstack([node_xy, new_xy]), node.astype(np.int64), offset, flags, edges, door


def build_instance(
    access: Access,
    demand_weight: np.ndarray,
    site_cost: np.ndarray,
    threshold_m: float,
) -> Instance:
    """Sparse demand × site walking distances within ``threshold_m``.

    Distance of a pair = demand snap + network path (site to demand point, following
    one-way arcs) + site snap.  The bounded searches on `Access.search_graph` run from
    the smaller side, chosen automatically: one search per distinct site node, walking
    forward and emitting the demand points at the nodes it settles, or, when fewer
    distinct nodes hold demand points than sites, one search per distinct demand node
    on the reversed graph (arcs transposed), emitting the sites.  Points sharing a node
    share its search.  Both give the same pairs; distances agree to rounding (the path
    is summed from its other end), and the pairs are sorted by demand, then site.

    Parameters
    ----------
    access
        The run's network index (:func:`build_access`).
    demand_weight
        Weight (people) of each demand point.
    site_cost
        Cost of opening each site.
    threshold_m
        Walking reach in metres (> 0).
    """
    if not threshold_m > 0:
        raise SitingError(f"walking threshold must be > 0 m, got {threshold_m}")
    pair_demand, pair_site, pair_dist = _pairs(access, threshold_m)
    return Instance(
        weight=demand_weight,
        cost=site_cost,
        pair_demand=pair_demand,
        pair_site=pair_site,
        pair_dist=pair_dist,
        threshold_m=float(threshold_m),
    )


def _pairs(access: Access, threshold_m: float, from_demand: bool | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(demand, site, distance) within ``threshold_m``, sorted by demand then site.

    ``from_demand`` forces the direction (tests); ``None`` searches from the side with
    fewer distinct nodes (ties: from the sites)."""
    indptr, indices, weights, new_id = access.search_graph()
    d_node, s_node = new_id[access.demand_node], new_id[access.site_node]
    if from_demand is None:
        from_demand = _n_distinct(d_node, len(indptr) - 1) < _n_distinct(s_node,
                                                                          len(indptr) - 1)
    if from_demand:
        indptr, indices, weights = access.reverse_search_graph()
        pair_demand, pair_site, pair_dist = _node_searches(
            indptr, indices, weights, np.unique(d_node, return_inverse=True),
            access.demand_snap_m, s_node, access.site_snap_m, threshold_m)
    else:
        pair_site, pair_demand, pair_dist = _node_searches(
            indptr, indices, weights, np.unique(s_node, return_inverse=True),
            access.site_snap_m, d_node, access.demand_snap_m, threshold_m)
    srt = _radix_order(pair_demand, pair_site, len(access.demand_node), len(access.site_node))
    return pair_demand[srt], pair_site[srt], pair_dist[srt]


def _n_distinct(node: np.ndarray, n: int) -> int:
    """Number of distinct values among ``node`` (all below ``n``), in O(n + len(node))."""
    seen = np.zeros(n, dtype=bool)
    seen[node] = True
    return int(np.count_nonzero(seen))


def _node_searches(indptr, indices, weights, source, source_snap, point_node, point_snap,
                   threshold_m: float):
    """(source point, point, distance) rows within ``threshold_m``: one search per
    distinct node of the source points (``source`` = ``np.unique(node,
    return_inverse=True)``), started at the smallest snap of its points; a point with a
    longer snap gets the rows of its node with the difference added (and those beyond
    reach dropped)."""
    nodes, inv = source
    inv = inv.ravel()
    if len(nodes) == len(inv):  # no two points on one node: a search per point
        return bounded_dijkstra(indptr, indices, weights, nodes[inv], threshold_m,
                                source_offset=source_snap, point_node=point_node,
                                point_offset=point_snap)
    base = np.full(len(nodes), np.inf)
    np.minimum.at(base, inv, source_snap)
    usrc, point, dist = bounded_dijkstra(indptr, indices, weights, nodes, threshold_m,
                                         source_offset=base, point_node=point_node,
                                         point_offset=point_snap)
    src, row = _per_site(usrc, inv, len(nodes))
    point, dist, start = point[row], dist[row], base[usrc[row]]
    extra = source_snap[src] - start  # >= 0; exactly 0 for the node's nearest point
    dist = np.where(extra > 0, dist + extra, dist)
    keep = dist <= threshold_m
    return src[keep], point[keep], dist[keep]


def _per_site(row_node: np.ndarray, site_node: np.ndarray,
              n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows found per node, once for each site on that node.

    ``row_node`` is the node (an index below ``n_nodes``) of each row, ``site_node`` the
    node of each site. Returns ``(site, row)``: each row repeated for every site on its
    node, sites in increasing order.
    """
    order = np.argsort(site_node, kind="stable")  # the sites of each node, in site order
    counts = np.bincount(site_node, minlength=n_nodes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rep = counts[row_node]
    row = np.repeat(np.arange(len(row_node)), rep)
    within = np.arange(len(row)) - np.repeat(np.cumsum(rep) - rep, rep)
    return order[starts[row_node][row] + within], row


def join_demand(src, node, dist, demand_node, demand_snap_m, n_nodes: int, threshold_m: float):
    """Expand (site, node, distance) to (demand, site, distance) pairs within the threshold.

    Every demand point snapped to ``node`` gets the site's distance plus its own snap
    distance; the work is proportional to the pairs (no loop over sites or points).
    Returns the pairs sorted by demand, then site.

    Parameters
    ----------
    src
        Site of each (site, node, distance) row.
    node
        Network node of each row.
    dist
        Walk from the site to the node, metres.
    demand_node
        Network node of each demand point.
    demand_snap_m
        Walk from each demand point to its node, metres.
    n_nodes
        Number of network nodes.
    threshold_m
        Walking reach in metres.
    """
    order = np.argsort(demand_node, kind="stable")
    counts = np.bincount(demand_node, minlength=n_nodes)
    starts = np.concatenate([[0], np.cumsum(counts)])
    reps = counts[node]
    pair_site = np.repeat(src, reps)
    pair_node_dist = np.repeat(dist, reps)
    offsets = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    pair_demand = order[np.repeat(starts[node], reps) + offsets]
    pair_dist = pair_node_dist + demand_snap_m[pair_demand]
    keep = pair_dist <= threshold_m
    pair_demand, pair_site, pair_dist = pair_demand[keep], pair_site[keep], pair_dist[keep]
    srt = _radix_order(pair_demand, pair_site, len(demand_node),
                       int(pair_site.max()) + 1 if len(pair_site) else 0)
    return pair_demand[srt], pair_site[srt], pair_dist[srt]


@njit(cache=True)
def _radix_order(primary, secondary, n_primary, n_secondary):
    """``np.lexsort((secondary, primary))`` for small non-negative ints, in O(n)."""
    n = primary.shape[0]
    order = np.empty(n, dtype=np.int64)
    tmp = np.empty(n, dtype=np.int64)
    for keys, size, src, dst in ((secondary, n_secondary, np.arange(n), tmp),
                                 (primary, n_primary, tmp, order)):
        start = np.zeros(size + 1, dtype=np.int64)
        for i in range(n):
            start[keys[i] + 1] += 1
        for k in range(size):
            start[k + 1] += start[k]
        for i in range(n):  # stable: keeps the order of the previous pass
            j = src[i]
            dst[start[keys[j]]] = j
            start[keys[j]] += 1
    return order
