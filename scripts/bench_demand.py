"""Benchmark the population readers: time and conservation error, printed as a table.

Run from the repository root::

    PYTHONPATH=. python scripts/bench_demand.py [--buildings 20000 100000]

Cases: a WorldPop-style raster (3″ ≈ 90 m cells, EPSG:4326) over a square study area of
``--km`` km split onto synthetic residential buildings; the 331 Beijing subdistrict totals
(../shared/data, skipped when absent) over central Beijing onto the same kind of buildings;
and the real Wangjing OSM extract with the Beijing subdistricts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from shapely.geometry import box

from siting.demand import demand_from_polygons, demand_from_raster, load_population

GK = "EPSG:4548"
SHARED = Path(os.environ.get("SITING_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
BEIJING_POP = SHARED / "beijing_subdistrict_population" / "beijing_subdistrict_population.gpkg"
WANGJING = SHARED / "beijing_chaoyang_wangjing_osm" / "beijing_chaoyang_wangjing.osm"


def _buildings(n, area_wgs, seed=0):
    rng = np.random.default_rng(seed)
    w, s, e, nn = gpd.GeoSeries([area_wgs], crs=4326).to_crs(GK).total_bounds
    x, y = rng.uniform(w, e, n), rng.uniform(s, nn, n)
    side = rng.uniform(10, 40, n)
    return gpd.GeoDataFrame(
        {"building": "residential", "building:levels": rng.integers(1, 30, n).astype(str),
         "height": None, "name": None},
        geometry=[box(a - d, b - d, a + d, b + d) for a, b, d in zip(x, y, side / 2)],
        crs=GK)


def _raster_case(km, n_buildings, tmp):
    res = 1 / 1200  # 3 arc-seconds, the WorldPop 100 m grid
    lon0, lat0 = 116.2, 40.1
    dlon, dlat = km / 85.2, km / 111.0  # degrees per km at 40° N
    shape = (int(dlat / res) + 40, int(dlon / res) + 40)
    path = Path(tmp) / "pop.tif"
    data = np.random.default_rng(1).gamma(2.0, 15.0, shape).astype("float32")
    data[::17, ::13] = -99999
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
                       dtype="float32", crs="EPSG:4326", nodata=-99999,
                       transform=rasterio.Affine(res, 0, lon0, 0, -res, lat0)) as ds:
        ds.write(data, 1)
    area = box(lon0 + 10.3 * res, lat0 - 10 * res - dlat, lon0 + 10 * res + dlon,
               lat0 - 10.6 * res)  # edges cut through cells
    b = _buildings(n_buildings, area)
    t = time.perf_counter()
    d = demand_from_raster(path, area, b)
    dt = time.perf_counter() - t
    # independent expectation: every cell as a polygon, share inside measured in GK
    area_gk = gpd.GeoSeries([area.segmentize(0.0005)], crs=4326).to_crs(GK).iloc[0]
    rows, cols = np.nonzero(data > 0)
    x0, y0 = lon0 + cols * res, lat0 - rows * res
    cells = gpd.GeoSeries([box(a, c - res, a + res, c) for a, c in zip(x0, y0)], crs=4326).to_crs(GK)
    near = cells.intersects(area_gk).to_numpy()
    share = cells[near].intersection(area_gk).area / cells[near].area
    expected = float((data[rows, cols][near] * share.to_numpy()).sum())
    return ("raster 3″ EPSG:4326", f"{km:g} × {km:g} km", int(near.sum()), len(b), len(d),
            int((d["kind"] == "building").sum()), dt, abs(d["population"].sum() - expected) / expected)


def _polygon_case(n_buildings):
    if not BEIJING_POP.exists():
        return None
    area = box(116.25, 39.82, 116.55, 40.05)  # roughly inside the 5th ring
    zones = gpd.read_file(BEIJING_POP)
    b = _buildings(n_buildings, area)
    t = time.perf_counter()
    d = demand_from_polygons(zones, "population", b, area=area)
    dt = time.perf_counter() - t
    z = zones.to_crs(GK)
    a = gpd.GeoSeries([area.segmentize(0.0005)], crs=4326).to_crs(GK).iloc[0]
    expected = float((z["population"] * z.intersection(a).area / z.area).sum())
    n_zones = int(z.intersects(a).sum())
    return ("Beijing subdistricts", "central 26 × 26 km", n_zones, len(b), len(d),
            int((d["kind"] == "building").sum()), dt, abs(d["population"].sum() - expected) / expected)


def _wangjing_case():
    if not (BEIJING_POP.exists() and WANGJING.exists()):
        return None
    from siting import network
    from siting.io.osm import read_osm

    ext = read_osm(WANGJING)
    area = ext.study_area()
    G = network.project(network.graph_from_extract(ext, area))
    b = ext.buildings[ext.buildings.representative_point().within(area)].to_crs(G.graph["crs"])
    t = time.perf_counter()
    d = load_population(BEIJING_POP, area, b, landuse=ext.landuse)
    dt = time.perf_counter() - t
    z = gpd.read_file(BEIJING_POP).to_crs(G.graph["crs"])
    a = gpd.GeoSeries([area.segmentize(0.0005)], crs=4326).to_crs(G.graph["crs"]).iloc[0]
    expected = float((z["population"] * z.intersection(a).area / z.area).sum())
    return ("Beijing subdistricts", "Wangjing OSM (real)", int(z.intersects(a).sum()), len(b),
            len(d), int((d["kind"] == "building").sum()), dt,
            abs(d["population"].sum() - expected) / expected)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--km", type=float, default=20.0)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.buildings:
            rows.append(_raster_case(args.km, n, tmp))
    for n in args.buildings:
        rows.append(_polygon_case(n))
    rows.append(_wangjing_case())
    head = ("input", "area", "cells/zones", "buildings", "points", "on buildings", "time s",
            "rel. error")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in filter(None, rows):
        print(" | ".join([r[0], r[1], f"{r[2]:,}", f"{r[3]:,}", f"{r[4]:,}", f"{r[5]:,}",
                          f"{r[6]:.2f}", f"{r[7]:.1e}"]))


if __name__ == "__main__":
    main()
