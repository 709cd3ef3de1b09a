"""Outputs: Folium map, GeoPackages and summary.json, written all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.io.outdir import atomic_folder
from siting.report.common import TIERS_MIN, map_lang, reach_polygons
from siting.report.pdf import write_pdf
from siting.report.tables import bools_as_int8, public_table, write_tables
from siting.report.webmap import make_map

if TYPE_CHECKING:
    from siting.pipeline import RunResult

__all__ = ["make_map", "write_outputs"]  # RunResult.map() and .write() come here


def write_outputs(result: RunResult, out: str | Path, overwrite: bool = False,
                  lang: str | None = None, assets: str = "inline", basemap: str = "osm",
                  tianditu_key: str | None = None) -> Path:
    """Write ``map.html``, ``sites.gpkg``, ``candidates.gpkg``, ``demand.gpkg``, ``summary.json``,
    ``report.xlsx``, ``report.gpkg`` and ``tables/*.csv`` (see :mod:`siting.report.tables`) and
    ``report.pdf`` (printable A4 review pack, see :mod:`siting.report.pdf`).

    Everything is written to a temporary folder beside ``out`` and swapped into place at
    the end, so a failure leaves no half-written folder (see :mod:`siting.io.outdir`). The
    walking reach of the tiers, drawn by both the map and the PDF, is computed once here.

    Parameters
    ----------
    result
        The run.
    out
        The output folder.
    overwrite
        Replace ``out`` when it is an earlier siting run (it holds the marker
        ``.siting-output.json``); only the files siting wrote there are deleted, and a
        folder holding any other file is never replaced.
    lang
        ``"zh"``, ``"en"`` or None (by study area).
    assets, basemap, tianditu_key
        Passed to :func:`~siting.report.webmap.make_map`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    with atomic_folder(out, overwrite, "run") as tmp:
        ids = result.sites["source_id"].to_numpy()  # the stable ids, by internal site_id
        chosen = result.chosen_sites.to_crs("EPSG:4326")
        _gpkg(public_table(chosen, ids), tmp / "sites.gpkg", "sites")
        # every candidate, excluded ones with their reason
        candidates = result.sites if result.candidates is None else result.candidates
        _gpkg(public_table(candidates.to_crs("EPSG:4326"), ids), tmp / "candidates.gpkg",
              "candidates")
        demand = result.demand.to_crs("EPSG:4326")
        demand = demand.assign(walk_m=demand["walk_m"].where(np.isfinite(demand["walk_m"])),
                               nearest_site=public_table(pd.DataFrame(
                                   {"site_id": demand["nearest_site"]}), ids)["source_id"])
        _gpkg(demand, tmp / "demand.gpkg", "demand")
        (tmp / "summary.json").write_text(json.dumps(_jsonable(result.summary), indent=2,
                                                     ensure_ascii=False), encoding="utf-8")

        lang = map_lang(result, lang)
        tables = write_tables(result, tmp, lang=lang)
        reach = reach_polygons(result, tiers_min=TIERS_MIN, merged=True)
        write_pdf(result, tmp / "report.pdf", lang=lang, tables=tables, reach=reach)
        make_map(result, lang=lang, assets=assets, basemap=basemap, tianditu_key=tianditu_key,
                 tiers_min=TIERS_MIN, reach=reach).save(str(tmp / "map.html"))
    return Path(out)


def _gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    bools_as_int8(gdf).to_file(path, layer=layer, driver="GPKG")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj
