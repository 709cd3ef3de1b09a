"""Independent walking distances with edge snapping, from osmnx and networkx only.

Each point is projected onto its nearest edge (``osmnx.distance.nearest_edges``); its
walk is the perpendicular offset plus the distance along the edge to either end (the
edge's ``length`` shared out in proportion to the position along its geometry), then
networkx Dijkstra between the ends; two points on one street also reach each other
directly along it. Written without the project's code, to check it.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import osmnx as ox
from shapely.geometry import LineString, Point


def _without_fragments(G: nx.MultiDiGraph, min_nodes: int) -> nx.MultiDiGraph:
    small = [n for c in nx.weakly_connected_components(G) if len(c) < min_nodes for n in c]
    H = G.copy()
    H.remove_nodes_from(small)
    return H


def doors(G: nx.MultiDiGraph, footprints, entrances, osm_ids, x, y, large_m: float = 60.0,
          min_nodes: int = 5):
    """Where each point's walk starts: its building's entrance nearest a street (within
    1 m of the outline), else for a footprint wider than ``large_m`` (smallest enclosing
    circle) the outline point nearest the nearest street, else the point."""
    from shapely import minimum_bounding_radius
    from shapely.ops import nearest_points

    H = _without_fragments(G, min_nodes)
    streets = ox.graph_to_gdfs(H, nodes=False).geometry
    x, y = np.array(x, float), np.array(y, float)
    for k, oid in enumerate(osm_ids):
        if oid not in footprints.index:
            continue
        poly = footprints.loc[oid]
        ent = [] if entrances is None else entrances[entrances.distance(poly) <= 1.0]
        if len(ent):
            d = [streets.distance(p).min() for p in ent]
            p = ent.iloc[int(np.argmin(d))]
            x[k], y[k] = p.x, p.y
        elif 2 * minimum_bounding_radius(poly) > large_m:
            street = streets.iloc[int(streets.distance(poly).to_numpy().argmin())]
            p = nearest_points(poly, street)[0]
            x[k], y[k] = p.x, p.y
    return x, y


def attach(G: nx.MultiDiGraph, x, y, min_nodes: int = 1) -> list[tuple]:
    """Per point: ``(u, v, offset, to_u, to_v, street, pos)``; streets of components with
    fewer than ``min_nodes`` nodes are not attached to."""
    H = _without_fragments(G, min_nodes) if min_nodes > 1 else G
    edges, dist = ox.distance.nearest_edges(H, np.asarray(x), np.asarray(y), return_dist=True)
    out = []
    for (u, v, k), d, px, py in zip(edges, dist, x, y):
        data = G.edges[u, v, k]
        geom = data.get("geometry") or LineString(
            [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        if Point(geom.coords[0]).distance(Point(G.nodes[u]["x"], G.nodes[u]["y"])) > \
                Point(geom.coords[-1]).distance(Point(G.nodes[u]["x"], G.nodes[u]["y"])):
            geom = LineString(geom.coords[::-1])
        f = geom.project(Point(px, py)) / geom.length if geom.length else 0.0
        length = data["length"]
        street = (min(u, v), max(u, v))
        pos = f * length if u == street[0] else (1 - f) * length
        out.append((u, v, float(d), f * length, (1 - f) * length, street, pos))
    return out


def walks_from(G: nx.MultiDiGraph, site: tuple, points: list[tuple], cutoff: float) -> np.ndarray:
    """Walk from one attached site to every attached point (inf beyond ``cutoff``)."""
    su, sv, soff, s_to_u, s_to_v, s_street, s_pos = site
    du = nx.single_source_dijkstra_path_length(G, su, cutoff=cutoff, weight="length")
    dv = nx.single_source_dijkstra_path_length(G, sv, cutoff=cutoff, weight="length")

    def node_dist(n):
        return min(s_to_u + du.get(n, np.inf), s_to_v + dv.get(n, np.inf))

    out = np.full(len(points), np.inf)
    for i, (u, v, off, to_u, to_v, street, pos) in enumerate(points):
        d = min(to_u + node_dist(u), to_v + node_dist(v))
        if street == s_street:
            d = min(d, abs(pos - s_pos))
        out[i] = soff + d + off
    return out
