"""Where people meet the street: edge snapping, entrances, snap limits, fragments, steps.

A small OSM file is written for each case (metres east/north of a point in Nanjing), so
every distance can be worked out by hand.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import box
from test_embedded_bruteforce import small_policy

from siting import network
from siting.access import build_access, build_instance
from siting.io.osm import read_osm
from siting.models.embedded import EmbeddedFacilities

LON0, LAT0 = 118.78, 32.04
M_LAT = 1 / 111_000.0
M_LON = 1 / (111_000.0 * np.cos(np.radians(LAT0)))


def _osm(tmp_path, nodes: dict[int, tuple[float, float, dict]], ways: list[tuple[list[int], dict]]):
    """An .osm file from node positions in metres ``{id: (east, north, tags)}``."""
    out = ['<?xml version="1.0"?>', '<osm version="0.6">']
    for nid, (x, y, tags) in nodes.items():
        tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        out.append(f'<node id="{nid}" version="1" lat="{LAT0 + y * M_LAT:.9f}" '
                   f'lon="{LON0 + x * M_LON:.9f}">{tag}</node>')
    for wid, (refs, tags) in enumerate(ways, start=1):
        nd = "".join(f'<nd ref="{r}"/>' for r in refs)
        tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        out.append(f'<way id="{wid}" version="1">{nd}{tag}</way>')
    out.append("</osm>")
    path = tmp_path / "t.osm"
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def _box(x0, y0, x1, y1, first_id):
    ids = list(range(first_id, first_id + 4))
    return ({ids[0]: (x0, y0, {}), ids[1]: (x1, y0, {}), ids[2]: (x1, y1, {}),
             ids[3]: (x0, y1, {})}, ids + [ids[0]])


def _graph(path):
    ext = read_osm(path)
    G = network.project(network.graph_from_extract(ext, box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01), simplify=False))
    return ext, G


def _points(G, xy_m):
    """Points at metres east/north of the origin, in the graph's CRS."""
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(
        [LON0 + x * M_LON for x, _ in xy_m], [LAT0 + y * M_LAT for _, y in xy_m]),
        crs="EPSG:4326")
    return pts.to_crs(G.graph["crs"])


STREET = {"highway": "footway"}


def test_points_on_one_street_walk_along_it(tmp_path):
    """Two points beside the middle of one 400 m street: perpendiculars plus the stretch
    between them, not a walk to the street's ends and back."""
    path = _osm(tmp_path, {1: (0, 0, {}), 2: (400, 0, {})}, [([1, 2], STREET)])
    _, G = _graph(path)
    demand, sites = _points(G, [(150, 20)]), _points(G, [(250, -30)])
    acc = build_access(G, demand, sites)
    inst = build_instance(acc, np.ones(1), np.zeros(1), 1000.0)
    assert inst.pair_dist[0] == pytest.approx(20 + 100 + 30, abs=0.5)
    node = build_instance(build_access(G, demand, sites, snap_to="node"), np.ones(1),
                          np.zeros(1), 1000.0)
    assert node.pair_dist[0] > 250  # nearest-node snapping walks to the ends


def test_entrance_and_wall_of_large_footprints(tmp_path):
    """A building walks from its entrance=* node; a big one without entrances from its wall
    nearest the street, a small one from its point."""
    nodes = {1: (0, 0, {}), 2: (600, 0, {})}
    big, big_ring = _box(0, 40, 200, 240, 10)     # 200 m square, wall 40 m from the street
    door_b, door_ring = _box(300, 40, 340, 80, 20)  # small, with an entrance on the far side
    small, small_ring = _box(450, 40, 470, 60, 30)
    nodes |= big | door_b | small
    nodes[25] = (320, 80, {"entrance": "main"})
    door_ring = door_ring[:2] + [door_ring[2], 25, door_ring[3], door_ring[4]]
    ways = [([1, 2], STREET), (big_ring, {"building": "office"}),
            (door_ring, {"building": "yes"}), (small_ring, {"building": "yes"})]
    ext, G = _graph(_osm(tmp_path, nodes, ways))
    b = ext.buildings.to_crs(G.graph["crs"])
    pts = gpd.GeoDataFrame({"osm_id": b.index.to_numpy()}, geometry=b.representative_point().to_numpy(),
                           crs=b.crs)
    acc = build_access(G, pts, pts.iloc[:0], footprints=b.geometry,
                       entrances=ext.entrances.to_crs(G.graph["crs"]).geometry,
                       large_footprint_m=60.0)
    got = dict(zip(b.index, zip(acc.demand_door, acc.demand_snap_m)))
    assert got["w2"][0] == "wall" and got["w2"][1] == pytest.approx(40, abs=0.5)
    assert got["w3"][0] == "entrance" and got["w3"][1] == pytest.approx(80, abs=0.5)
    assert got["w4"][0] == "" and got["w4"][1] == pytest.approx(50, abs=0.5)


def test_snap_limit_and_fragments_are_flagged(tmp_path):
    """A point beyond the largest snap distance reaches nothing and is flagged; a point
    nearest a two-node fragment is linked to the main street with the gap walked."""
    nodes = {1: (0, 0, {}), 2: (200, 0, {}), 3: (400, 0, {}), 4: (600, 0, {}),
             8: (100, 60, {}), 9: (140, 60, {})}
    ways = [([1, 2, 3, 4], STREET), ([8, 9], STREET)]
    _, G = _graph(_osm(tmp_path, nodes, ways))
    demand = _points(G, [(120, 70), (300, 500), (300, 10)])
    sites = _points(G, [(320, -10)])
    acc = build_access(G, demand, sites, max_snap_m=250.0, min_component_nodes=3)
    assert acc.demand_flag.tolist() == ["relinked_from_fragment", "beyond_max_snap", ""]
    assert acc.demand_snap_m[0] == pytest.approx(70, abs=0.5)  # to the main street, not 10 m
    inst = build_instance(acc, np.ones(3), np.zeros(1), 1000.0)
    assert set(inst.pair_demand.tolist()) == {0, 2}  # the far point is in nobody's reach
    d0 = inst.pair_dist[inst.pair_demand == 0][0]
    assert d0 == pytest.approx(70 + 200 + 10, abs=0.5)


def test_stairs_lengthen_the_step_free_walk_and_elderly_coverage_drops(tmp_path):
    """A 150 m flight of steps is the short way; the step-free detour is 950 m. Elderly care
    (step-free) no longer reaches the site; after-school care (not step-free) still does."""
    nodes = {1: (0, 0, {}), 2: (150, 0, {}), 3: (0, 400, {}), 4: (150, 400, {})}
    ways = [([1, 2], {"highway": "steps"}), ([1, 3, 4, 2], STREET)]
    _, G = _graph(_osm(tmp_path, nodes, ways))
    # two sites side by side: a site with two functions would have to be a complex
    demand, sites = _points(G, [(0, -10), (150, -40)]), _points(G, [(150, -10), (150, -14)])
    pol = small_policy(["elderly_care", "after_school"])
    assert pol.services["elderly_care"].step_free and not pol.services["after_school"].step_free
    H = network.step_free_graph(G, pol.walking.step_free_avoid)
    pop = np.array([3000.0, 1000.0])
    inst = build_instance(build_access(G, demand, sites), pop, np.zeros(2), 1200.0)
    free = build_instance(build_access(H, demand, sites), pop, np.zeros(2), 1200.0)
    assert inst.pair_dist[0] == pytest.approx(170, abs=0.5)
    assert free.pair_dist[0] == pytest.approx(970, rel=5e-3)  # metres by degrees: ±0.5 %
    assert free.pair_dist[2] == pytest.approx(inst.pair_dist[2], abs=0.01)
    assert inst.pair_dist[2] == pytest.approx(40 + 10, abs=0.5)  # both meet the street at node 2
    d = pd.DataFrame({"population": pop, "community_id": ["c", "c"]})
    s = pd.DataFrame({"usable_area_m2": [1400.0, 1400.0], "cost": [1e5, 1e5]})
    with_steps = EmbeddedFacilities(inst, pol, d, s).solve()
    step_free = EmbeddedFacilities(inst, pol, d, s, step_free=free).solve()
    old, new = with_steps.served_by_service, step_free.served_by_service
    elderly = pol.population.age_shares["age_60_plus"]
    assert old["elderly_care"] == pytest.approx(4000 * elderly, rel=1e-5)  # both, via the steps
    assert new["elderly_care"] == pytest.approx(1000 * elderly, rel=1e-5)  # only the near one
    assert old["after_school"] > 0 and new["after_school"] == pytest.approx(old["after_school"], rel=1e-5)


def test_only_fragments_still_snap(tmp_path):
    """When every street piece is smaller than min_component_nodes there is no larger piece
    to link to: points snap to the pieces there are (no crash, no relinking flag)."""
    nodes = {1: (0, 0, {}), 2: (100, 0, {}), **_box(20, 20, 60, 60, 10)[0],
             15: (40, 20, {"entrance": "yes"})}
    ring = [10, 15, 11, 12, 13, 10]
    ext, G = _graph(_osm(tmp_path, nodes, [([1, 2], STREET), (ring, {"building": "yes"})]))
    b = ext.buildings.to_crs(G.graph["crs"])
    pts = gpd.GeoDataFrame({"osm_id": b.index.to_numpy()}, geometry=b.representative_point().to_numpy(),
                           crs=b.crs)
    acc = build_access(G, pts, pts.iloc[:0], min_component_nodes=5, footprints=b.geometry,
                       entrances=ext.entrances.to_crs(G.graph["crs"]).geometry)
    assert acc.demand_door.tolist() == ["entrance"] and acc.demand_flag.tolist() == [""]
    assert acc.demand_snap_m[0] == pytest.approx(20, abs=0.5)


def test_sites_sharing_a_node_share_one_search():
    """Sites on one node (an inventory listing two units of a building, node snapping)
    get one search between them and the same pairs and distances as one search each."""
    from siting._dijkstra import bounded_dijkstra
    from siting.access import _node_searches

    rng = np.random.default_rng(3)
    n = 400
    u, v = rng.integers(0, n, 3000), rng.integers(0, n, 3000)
    w = rng.uniform(5, 60, 3000)
    a = sp.csr_array((w, (u, v)), shape=(n, n))
    site_node = rng.integers(0, 40, 120)  # many sites per node
    site_snap = np.round(rng.uniform(0, 50, 120), 1)
    site_snap[:10] = 0.0
    demand_node, demand_snap = rng.integers(0, n, 300), rng.uniform(0, 30, 300)
    got = _node_searches(a.indptr, a.indices, a.data, np.unique(site_node, return_inverse=True),
                         site_snap, demand_node, demand_snap, 250.0)
    ref = bounded_dijkstra(a.indptr, a.indices, a.data, site_node, 250.0,
                           source_offset=site_snap, point_node=demand_node,
                           point_offset=demand_snap)
    key = lambda r: np.lexsort((r[1], r[0]))  # noqa: E731
    g, f = [x[key(got)] for x in got], [x[key(ref)] for x in ref]
    assert len(g[0]) == len(f[0]) > 500
    assert (g[0] == f[0]).all() and (g[1] == f[1]).all()
    assert np.allclose(g[2], f[2], rtol=0, atol=1e-9)


def _one_way_access(seed: int, n_demand: int, n_sites: int):
    """A random street graph with two-way chains (contracted away), one-way arcs and
    parallel arcs; demand points and sites crowd a few nodes, with snap offsets (some
    zero, some beyond the largest snap)."""
    from siting.access import Access

    rng = np.random.default_rng(seed)
    n = 240
    ring = np.arange(80)  # a two-way loop of pass-through nodes
    u = [ring, np.roll(ring, 1)]
    v = [np.roll(ring, 1), ring]
    w = [rng.uniform(20, 60, 80)] * 2
    tu, tv = rng.integers(0, n, 260), rng.integers(0, n, 260)  # two-way streets
    ou, ov = rng.integers(0, n, 260), rng.integers(0, n, 260)  # one-way streets
    tw = rng.uniform(10, 120, 260)
    u += [tu, tv, ou]
    v += [tv, tu, ov]
    w += [tw, tw, rng.uniform(10, 120, 260)]
    u, v, w = np.concatenate(u), np.concatenate(v), np.concatenate(w)
    ok = u != v
    a = sp.csr_array((w[ok], (u[ok], v[ok])), shape=(n, n))  # parallel arcs summed: fine
    a.sort_indices()
    hubs = rng.choice(np.arange(80, n), 60, replace=False)  # shared nodes off the loop
    d_node, s_node = rng.choice(hubs, n_demand), rng.choice(hubs, n_sites)
    d_snap = np.round(rng.uniform(0, 40, n_demand), 1)
    s_snap = np.round(rng.uniform(0, 40, n_sites), 1)
    d_snap[:5], s_snap[:5] = 0.0, 0.0
    d_snap[5], s_snap[5] = np.inf, np.inf
    comp = np.zeros(n, dtype=np.int64)
    return a, Access(a, np.arange(n), rng.uniform(0, 1, (n, 2)), comp, d_node, d_snap,
                     s_node, s_snap)


def _reference_pairs(a, acc, threshold_m: float, transpose: bool = False):
    """(demand, site, distance) from scipy's Dijkstra on the whole matrix."""
    from scipy.sparse.csgraph import dijkstra

    D = dijkstra(a, directed=True)
    D = D.T if transpose else D
    dist = (acc.site_snap_m[None, :] + D[np.ix_(acc.site_node, acc.demand_node)].T
            + acc.demand_snap_m[:, None])
    d, s = np.nonzero(dist <= threshold_m)  # row-major: by demand, then site
    return d, s, dist[d, s]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_demand,n_sites", [(40, 150), (150, 40)])
def test_searches_from_either_side_match_scipy_on_one_way_graphs(seed, n_demand, n_sites):
    """Searching forward from the site nodes and backward (reversed arcs) from the demand
    nodes give the same pairs and distances as scipy on the full matrix, with one-way
    arcs, points sharing nodes and snap offsets; build_instance picks the side with fewer
    distinct nodes."""
    from siting.access import _pairs

    reach = 300.0
    a, acc = _one_way_access(seed, n_demand, n_sites)
    assert len(acc.search_graph()[0]) - 1 < a.shape[0]  # the loop was contracted
    ref = _reference_pairs(a, acc, reach)
    wrong_way = _reference_pairs(a, acc, reach, transpose=True)
    assert len(ref[0]) > 200
    assert len(wrong_way[0]) != len(ref[0]) or not np.array_equal(wrong_way[1], ref[1])
    for from_demand in (False, True):
        got = _pairs(acc, reach, from_demand=from_demand)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
        np.testing.assert_allclose(got[2], ref[2], rtol=0, atol=1e-9)
    fresh = _one_way_access(seed, n_demand, n_sites)[1]
    inst = build_instance(fresh, np.ones(n_demand), np.zeros(n_sites), reach)
    assert np.array_equal(inst.pair_demand, ref[0]) and np.array_equal(inst.pair_site, ref[1])
    np.testing.assert_allclose(inst.pair_dist, ref[2], rtol=0, atol=1e-9)
    fewer_demand = len(np.unique(acc.demand_node)) < len(np.unique(acc.site_node))
    assert fewer_demand == (n_demand < n_sites)
    assert ("reverse" in fresh._cache) == fewer_demand  # the reversed graph was built
