"""Walking network: build, clip to the study area, project to metres, index as CSR.

Graphs follow osmnx conventions (``networkx.MultiDiGraph`` with node ``x``/``y``,
edge ``length`` in metres and ``graph["crs"]``), so any osmnx function applies.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pyproj
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from siting.errors import SitingError
from siting.io.osm import OSMExtract


def graph_from_extract(ext: OSMExtract, polygon=None, simplify: bool = True) -> nx.MultiDiGraph:
    """Walking graph of an OSM extract, clipped to ``polygon`` (WGS84).

    Every walkable way becomes edges in both directions (walking ignores ``oneway``),
    with great-circle ``length`` in metres. Edges with at least one end inside the
    polygon are kept, and all connected components are retained: fragmented Chinese
    extracts lose half their people if only the largest component is kept.

    Parameters
    ----------
    ext
        The extract from :func:`siting.io.osm.read_osm`.
    polygon
        Study area in WGS84; default :meth:`OSMExtract.study_area`.
    simplify
        Merge interstitial nodes with :func:`osmnx.simplify_graph`.

    Returns
    -------
    networkx.MultiDiGraph
        Unprojected (EPSG:4326) walking graph.
    """
    if not ext.way_nodes:
        raise SitingError(
            f"{ext.path}: no walkable ways (highway=* open to pedestrians) in the extract; "
            "it may hold only buildings or only motorways. Use an extract with streets or footways."
        )
    polygon = ext.study_area() if polygon is None else polygon
    G = nx.MultiDiGraph(crs="epsg:4326")
    for node, (lon, lat) in ext.node_xy.items():
        G.add_node(node, x=lon, y=lat)
    for nodes, tags, way_id in zip(ext.way_nodes, ext.way_tags, ext.way_ids):
        attrs = {k: v for k, v in tags.items() if v is not None}
        for u, v in zip(nodes[:-1].tolist(), nodes[1:].tolist()):
            if u == v:
                continue
            G.add_edge(u, v, osmid=way_id, oneway=False, reversed=False, **attrs)
            G.add_edge(v, u, osmid=way_id, oneway=False, reversed=True, **attrs)
    G.remove_nodes_from([n for n, d in G.degree() if d == 0])
    G = ox.distance.add_edge_lengths(G)
    if simplify:
        G = ox.simplify_graph(G)
    try:
        G = ox.truncate.truncate_graph_polygon(G, polygon, truncate_by_edge=True)
    except ValueError:  # osmnx: "Found no graph nodes within the requested polygon"
        G = nx.MultiDiGraph()
    if G.number_of_edges() == 0:
        raise SitingError(
            f"{ext.path}: no walkable ways inside the study area {polygon.bounds}; "
            "check the --bbox/--area you gave, or the extract's coverage."
        )
    return G


def step_free_graph(G: nx.MultiDiGraph, avoid: list[str]) -> nx.MultiDiGraph:
    """The walking graph without ways matching any ``KEY=VALUE`` in ``avoid`` (e.g.
    ``highway=steps``, ``wheelchair=no``); a simplified edge that merged several ways is
    dropped when any of them matches. Nodes are kept (points still snap to them)."""
    rules = [tuple(r.split("=", 1)) for r in avoid]

    def blocked(d: dict) -> bool:
        for key, value in rules:
            v = d.get(key)
            if v == value or (isinstance(v, list) and value in v):
                return True
        return False

    H = G.copy()
    H.remove_edges_from([(u, v, k) for u, v, k, d in G.edges(keys=True, data=True)
                         if blocked(d)])
    return H


def load_graphml(path: str | Path) -> nx.MultiDiGraph:
    """Read a walking graph saved with :func:`osmnx.save_graphml` (any CRS)."""
    path = Path(path)
    if not path.exists():
        raise SitingError(f"GraphML file not found: {path}")
    try:
        G = ox.load_graphml(path)
    except Exception as exc:  # networkx/lxml raise many types on malformed XML
        raise SitingError(f"{path}: not an osmnx GraphML file ({exc})") from exc
    if G.number_of_edges() == 0:
        raise SitingError(f"{path}: the graph has no edges")
    return G


def metric_crs(lon: float, lat: float) -> str:
    """Metric CRS for a study area centred at (lon, lat).

    Inside China the CGCS2000 3-degree Gauss-Krüger zone (EPSG:4534–4554, central
    meridians 75°E–135°E) is used, as Chinese planning data are; elsewhere UTM.
    """
    if 73.5 <= lon <= 136.5 and 18.0 <= lat <= 54.0:
        cm = int(round(lon / 3.0) * 3)
        return f"EPSG:{4534 + (cm - 75) // 3}"
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def project(G: nx.MultiDiGraph, crs: str | None = None) -> nx.MultiDiGraph:
    """Project a graph to ``crs``, by default :func:`metric_crs` of its centre."""
    if crs is None:
        if pyproj.CRS(G.graph["crs"]).is_projected:
            return G
        xs = np.fromiter((d["x"] for _, d in G.nodes(data=True)), float)
        ys = np.fromiter((d["y"] for _, d in G.nodes(data=True)), float)
        crs = metric_crs(float(np.median(xs)), float(np.median(ys)))
    return ox.project_graph(G, to_crs=crs)


def to_csr(G: nx.MultiDiGraph) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """Sparse adjacency of the graph with the shortest parallel edge as weight.

    Returns
    -------
    adjacency
        ``csr_array`` (n × n) of edge lengths in metres.
    node_ids
        OSM node id of each row.
    node_xy
        ``(n, 2)`` node coordinates in the graph's CRS.
    """
    n = G.number_of_nodes()
    node_ids = np.fromiter(G.nodes, dtype=np.int64, count=n)
    node_xy = np.empty((n, 2))
    node_xy[:, 0] = np.fromiter((d for _, d in G.nodes(data="x")), float, count=n)
    node_xy[:, 1] = np.fromiter((d for _, d in G.nodes(data="y")), float, count=n)
    m = G.number_of_edges()
    u = np.fromiter((u for u, _ in G.edges()), np.int64, count=m)
    v = np.fromiter((v for _, v in G.edges()), np.int64, count=m)
    w = np.fromiter((d for _, _, d in G.edges(data="length")), float, count=m)
    order_ids = np.argsort(node_ids)
    rows = order_ids[np.searchsorted(node_ids, u, sorter=order_ids)]
    cols = order_ids[np.searchsorted(node_ids, v, sorter=order_ids)]
    return shortest_csr(rows, cols, w, n), node_ids, node_xy


def shortest_csr(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int) -> sp.csr_array:
    """``n × n`` CSR adjacency of edges ``rows -> cols`` keeping the shortest of parallel
    edges (sorted so the minimum comes first, then deduplicated)."""
    order = np.lexsort((w, cols, rows))
    rows, cols, w = rows[order], cols[order], w[order]
    first = np.ones(len(rows), bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    adj = sp.csr_array((w[first], (rows[first], cols[first])), shape=(n, n))
    adj.sort_indices()
    return adj


def components(adjacency: sp.csr_array) -> np.ndarray:
    """Weakly connected component label of every node, largest component first (0)."""
    _, labels = connected_components(adjacency, directed=True, connection="weak")
    sizes = np.bincount(labels)
    rank = np.empty_like(sizes)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    return rank[labels]
