"""Access: snap demand and sites to the walking network, walking distances within reach.

Distances are computed with a bounded multi-source Dijkstra from every candidate
site, so the work and memory grow with the (site, node) pairs within the threshold,
never with demand × sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from siting._dijkstra import bounded_dijkstra
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

    Distance of a pair = demand snap + network path + site snap.
    """
    if not threshold_m > 0:
        raise SitingError(f"walking threshold must be > 0 m, got {threshold_m}")
    a = access.adjacency
    src, node, dist = bounded_dijkstra(
        a.indptr, a.indices, a.data, access.site_node, threshold_m,
        source_offset=access.site_snap_m,
    )
    pair_demand, pair_site, pair_dist = join_demand(
        src, node, dist, access.demand_node, access.demand_snap_m, len(access.node_ids),
        threshold_m)
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
    srt = np.lexsort((pair_site, pair_demand))
    return pair_demand[srt], pair_site[srt], pair_dist[srt]
