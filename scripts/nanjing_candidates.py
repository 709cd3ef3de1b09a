"""Candidate sites on the Nanjing Xinjiekou extract: table by class, exclusions, GCJ-02 inventory.

Prints tables (no pass/fail). Usage::

    PYTHONPATH=. python scripts/nanjing_candidates.py [path/to/nanjing_xinjiekou.osm]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from siting.io.coords import wgs84_to_gcj02
from siting.io.osm import read_osm
from siting.sites import apply_exclusions, read_exclusions, read_inventory, site_candidates

OSM = Path(__file__).resolve().parents[1].parent / "shared/data/nanjing_xinjiekou_osm/nanjing_xinjiekou.osm"
CRS = "EPSG:4549"


def main(osm: Path) -> None:
    ext = read_osm(osm)
    area = ext.study_area()
    c = site_candidates(ext.buildings.to_crs(CRS), ext.landuse.to_crs(CRS), area, CRS)
    table = c.groupby("kind").agg(
        candidates=("site_id", "size"), floor_area_m2=("floor_area_m2", "sum"),
        median_floor_area_m2=("floor_area_m2", "median"), levels_estimated=("levels_estimated", "sum"),
        excluded=("excluded_reason", "count"), mode=("acquisition_mode", "first"),
        cost_total_cny=("cost_total", "sum"))
    table.loc["all"] = [len(c), c["floor_area_m2"].sum(), c["floor_area_m2"].median(),
                        c["levels_estimated"].sum(), c["excluded_reason"].count(), "",
                        c["cost_total"].sum()]
    pd.set_option("display.width", 160)
    print(f"Candidates from OSM, {osm.name}\n{table.round(0).to_string()}\n")

    wgs = c.to_crs("EPSG:4326")
    x0, y0 = wgs.geometry.x.median(), wgs.geometry.y.median()
    zone = box(x0 - 0.002, y0 - 0.002, x0 + 0.002, y0 + 0.002)
    with tempfile.TemporaryDirectory() as tmp:
        zones = Path(tmp) / "zones.gpkg"
        gpd.GeoDataFrame({"reason": ["test buffer"]}, geometry=[zone], crs="EPSG:4326").to_file(zones)
        ex = apply_exclusions(c, read_exclusions(zones))
        print(f"Test polygon {tuple(round(v, 4) for v in zone.bounds)}: "
              f"{ex['excluded_reason'].notna().sum()} of {len(ex)} candidates excluded")
        print(ex[ex["excluded_reason"].notna()].groupby(["kind", "excluded_reason"]).agg(
            n=("site_id", "size"), floor_area_m2=("floor_area_m2", "sum")).round(0).to_string())

        sample = wgs[c["excluded_reason"].isna()].head(50)
        gx, gy = wgs84_to_gcj02(sample.geometry.x.to_numpy(), sample.geometry.y.to_numpy())
        xlsx = Path(tmp) / "清查.xlsx"
        pd.DataFrame({"名称": sample["name"].to_numpy(), "经度": gx, "纬度": gy,
                      "建筑面积": sample["floor_area_m2"].to_numpy(), "取得方式": "改造"}
                     ).to_excel(xlsx, index=False)
        inv = read_inventory(xlsx, "gcj02", study_area=area)
        d = inv.to_crs(CRS).distance(sample.to_crs(CRS), align=False)
        raw = gpd.GeoSeries(gpd.points_from_xy(gx, gy), crs="EPSG:4326").to_crs(CRS).distance(
            sample.to_crs(CRS), align=False)
        print(f"\nExcel inventory, Chinese headers, GCJ-02, {len(inv)} sites: distance to the same "
              f"sites in WGS84 max {d.max():.2e} m, median {d.median():.2e} m "
              f"(GCJ-02 read as WGS84 would be {raw.min():.0f}–{raw.max():.0f} m off)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OSM)
