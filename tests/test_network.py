"""Reading real OSM extracts, the walk filter, the network, and walking distances."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from siting import network
from siting.access import build_access, build_instance
from siting.demand import demand_from_buildings
from siting.errors import SitingError
from siting.io.coords import metric_crs
from siting.io.osm import is_walkable, read_osm
from siting.sites import candidates_from_buildings

import walk_check


def test_walk_filter_follows_osmnx():
    assert is_walkable({"highway": "footway"})
    assert is_walkable({"highway": "residential"})
    assert is_walkable({"highway": "trunk"})  # osmnx keeps trunk roads for walking
    assert not is_walkable({"highway": "motorway_link"})
    assert not is_walkable({"highway": "cycleway"})
    assert not is_walkable({"highway": "service", "service": "private"})
    assert not is_walkable({"highway": "path", "foot": "no"})
    assert not is_walkable({"highway": "residential", "access": "private"})
    assert not is_walkable({"highway": "pedestrian", "area": "yes"})
    assert not is_walkable({"building": "yes"})


def test_nanjing_extract_counts(nanjing_osm):
    ext = read_osm(nanjing_osm)
    assert len(ext.buildings) == 1277  # as counted in the data README
    assert ext.bounds is None  # no <bounds>: study area = building extent
    w, s, e, n = ext.study_area().bounds
    assert (w, s, e, n) == pytest.approx((118.7624, 32.0347, 118.7968, 32.0522), abs=1e-4)


def test_nanjing_network_is_fragmented_and_kept(nanjing_osm):
    ext = read_osm(nanjing_osm)
    G = network.project(network.graph_from_extract(ext))
    assert G.graph["crs"] == "EPSG:4549"  # CGCS2000 3-degree Gauss-Krüger, CM 120E
    adj, ids, xy = network.to_csr(G)
    comp = network.components(adj)
    sizes = np.bincount(comp)
    assert sizes[0] == sizes.max()
    assert 0.4 < sizes[0] / len(comp) < 0.95  # fragmented, but every component retained
    assert len(sizes) > 10


def test_metric_crs_choice():
    assert metric_crs((118.78, 32.04)) == "EPSG:4549"  # CM 120E
    assert metric_crs((116.4, 39.9)) == "EPSG:4548"  # Beijing, CM 117E
    assert metric_crs((24.94, 60.17)) == "EPSG:32635"  # Helsinki, UTM 35N
    # bounds, a WGS-84 geometry or a layer with its CRS: the zone of the centre
    assert metric_crs((118.7, 32.0, 118.86, 32.08)) == "EPSG:4549"
    assert metric_crs(box(118.7, 32.0, 118.86, 32.08)) == "EPSG:4549"
    layer = gpd.GeoSeries([box(118.7, 32.0, 118.86, 32.08)], crs="EPSG:4326").to_crs(3857)
    assert metric_crs(layer) == "EPSG:4549"
    with pytest.raises(SitingError, match="not longitude/latitude"):
        metric_crs(box(660000, 3540000, 670000, 3550000))  # metres taken for degrees
    with pytest.raises(SitingError, match="without a CRS"):
        metric_crs(gpd.GeoSeries([box(118.7, 32.0, 118.86, 32.08)]))


def test_study_area_in_metres_is_refused(nanjing_osm):
    """A bare shapely study area is WGS-84 lon/lat; one in metres is told so where it enters."""
    ext = read_osm(nanjing_osm)
    with pytest.raises(SitingError, match="not longitude/latitude degrees"):
        network.graph_from_extract(ext, box(660000, 3540000, 670000, 3550000))


@pytest.mark.parametrize("which", ["helsinki", "nanjing"])
def test_pairs_match_networkx(which, helsinki_osm, request):
    path = helsinki_osm if which == "helsinki" else request.getfixturevalue("nanjing_osm")
    ext = read_osm(path)
    G = network.project(network.graph_from_extract(ext))
    b = ext.buildings[ext.buildings.representative_point().within(ext.study_area())]
    b = b.to_crs(G.graph["crs"])
    demand = demand_from_buildings(b, ext.landuse.to_crs(G.graph["crs"]))
    sites = candidates_from_buildings(b, ext.landuse.to_crs(G.graph["crs"])).head(25)
    acc = build_access(G, demand, sites)
    reach = 500.0
    inst = build_instance(acc, demand["population"].to_numpy(), sites["cost"].to_numpy(), reach)
    # independent: points projected onto their nearest edge by osmnx, networkx Dijkstra
    pts = walk_check.attach(G, demand.geometry.x, demand.geometry.y)
    expected = {}
    for j, site in enumerate(walk_check.attach(G, sites.geometry.x, sites.geometry.y)):
        d = walk_check.walks_from(G, site, pts, reach)
        for i in np.flatnonzero(d <= reach):
            expected[(int(i), j)] = d[i]
    got = {(int(i), int(j)): d for i, j, d in zip(inst.pair_demand, inst.pair_site,
                                                   inst.pair_dist)}
    # pairs within a millimetre of the threshold may fall either side (float sums)
    edge = {k for k, d in {**expected, **got}.items() if abs(d - reach) < 1e-3}
    assert got.keys() - edge == expected.keys() - edge
    err = max(abs(got[k] - expected[k]) for k in got.keys() & expected.keys())
    assert err < 2e-3, err  # points on one street are merged at millimetre positions
