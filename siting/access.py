"""Access: snap demand and sites to the walking network, walking distances within reach.

Distances are computed with a bounded multi-source Dijkstra from every candidate
site, so the work and memory grow with the (site, node) pairs within the threshold,
never with demand × sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.spatial import cKDTree

from siting._dijkstra import bounded_dijkstra, contract_chains
from siting.errors import SitingError
from siting.instance import Instance
from siting.network import components, to_csr


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
        Nearest network node of every demand point / site and the straight-line
        distance to it, which is counted as walking.
    """

    adjacency: sp.csr_array
    node_ids: np.ndarray
    node_xy: np.ndarray
    component: np.ndarray
    demand_node: np.ndarray
    demand_snap_m: np.ndarray
    site_node: np.ndarray
    site_snap_m: np.ndarray
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

    def nearest(self, sites, threshold_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Walk from every network node to the nearest of ``sites`` within ``threshold_m``.

        One bounded search from all ``sites`` at once (their snap distances included).
        Returns ``(walk_m, site)`` per node: metres (inf beyond reach) and the site index
        (-1 beyond reach); ties go to the site listed first.
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


def snap(points: gpd.GeoDataFrame, node_xy: np.ndarray, max_snap_m: float | None = None):
    """Nearest network node of each point and the distance to it (metres).

    Raises
    ------
    SitingError
        When a point is farther than ``max_snap_m`` from every node (then it is not in
        the study area's network at all; the message names how many and which).
    """
    if points.crs is None or not points.crs.is_projected:
        raise SitingError("points must be in a projected CRS before snapping")
    xy = np.column_stack([points.geometry.x.to_numpy(), points.geometry.y.to_numpy()])
    dist, node = cKDTree(node_xy).query(xy)
    return node.astype(np.int64), dist


def build_access(
    G: nx.MultiDiGraph, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> Access:
    """Index the network and snap demand and sites to it (all in ``G``'s CRS)."""
    crs = G.graph["crs"]
    for name, gdf in (("demand", demand), ("sites", sites)):
        if gdf.crs is None or not gdf.crs.equals(crs):
            raise SitingError(f"{name} CRS {gdf.crs} differs from the network CRS {crs}")
    adjacency, node_ids, node_xy = to_csr(G)
    d_node, d_snap = snap(demand, node_xy)
    s_node, s_snap = snap(sites, node_xy)
    return Access(adjacency, node_ids, node_xy, components(adjacency), d_node, d_snap,
                  s_node, s_snap)


def build_instance(
    access: Access,
    demand_weight: np.ndarray,
    site_cost: np.ndarray,
    threshold_m: float,
) -> Instance:
    """Sparse demand × site walking distances within ``threshold_m``.

    Distance of a pair = demand snap + network path + site snap.  One bounded
    search per site on `Access.search_graph`, emitting the demand points at the
    nodes it settles.
    """
    if not threshold_m > 0:
        raise SitingError(f"walking threshold must be > 0 m, got {threshold_m}")
    indptr, indices, weights, new_id = access.search_graph()
    src, pair_demand, pair_dist = bounded_dijkstra(
        indptr, indices, weights, new_id[access.site_node], threshold_m,
        source_offset=access.site_snap_m, point_node=new_id[access.demand_node],
        point_offset=access.demand_snap_m,
    )
    srt = _radix_order(pair_demand, src, len(access.demand_node), len(access.site_node))
    pair_demand, pair_site, pair_dist = pair_demand[srt], src[srt], pair_dist[srt]
    return Instance(
        weight=demand_weight,
        cost=site_cost,
        pair_demand=pair_demand,
        pair_site=pair_site,
        pair_dist=pair_dist,
        threshold_m=float(threshold_m),
    )


def join_demand(src, node, dist, demand_node, demand_snap_m, n_nodes: int, threshold_m: float):
    """Expand (site, node, distance) to (demand, site, distance) pairs within the threshold.

    Every demand point snapped to ``node`` gets the site's distance plus its own snap
    distance; the work is proportional to the pairs (no loop over sites or points).
    Returns the pairs sorted by demand, then site.
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
