"""Candidate sites: stock buildings that could host community service facilities."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from siting.buildings import classify, floor_area
from siting.errors import SitingError

CANDIDATE_CLASSES = ("industrial", "warehouse", "commercial", "office", "public", "community",
                     "disused")


def candidates_from_buildings(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame | None = None,
    *,
    classes: tuple[str, ...] = CANDIDATE_CLASSES,
    default_levels: float = 3.0,
    min_floor_area_m2: float = 150.0,
    usable_ratio: float = 0.75,
    cost_per_m2: float = 0.0,
) -> gpd.GeoDataFrame:
    """Non-residential stock buildings as candidate sites.

    Parameters
    ----------
    buildings, landuse
        Projected building and land-use polygons with OSM tags.
    classes
        Use classes (see :mod:`siting.buildings`) that may be converted.
    default_levels
        Storeys assumed where unknown (flagged in ``levels_estimated``).
    min_floor_area_m2
        Buildings with less gross floor area are not candidates.
    usable_ratio
        Usable share of gross floor area (walls, cores, corridors removed).
    cost_per_m2
        One-off cost per m² of usable area; 0 leaves every site free (count-limited models).

    Returns
    -------
    geopandas.GeoDataFrame
        Points (``representative_point``) with ``site_id``, ``osm_id``, ``name``,
        ``kind``, ``floor_area_m2``, ``usable_area_m2``, ``levels_estimated``, ``cost``.
    """
    if buildings is None or buildings.empty:
        raise SitingError("no buildings in the study area: no candidate sites")
    kind = classify(buildings, landuse)
    keep = kind.isin(classes)
    b = buildings[keep]
    fa = floor_area(b, default_levels)
    big = fa["floor_area_m2"] >= min_floor_area_m2
    b, fa, kind = b[big], fa[big], kind[keep][big]
    usable = fa["floor_area_m2"] * usable_ratio
    return gpd.GeoDataFrame(
        {
            "site_id": np.arange(len(b)),
            "osm_id": b.index.to_numpy(),
            "name": b["name"].to_numpy(),
            "kind": kind.to_numpy(),
            "floor_area_m2": fa["floor_area_m2"].to_numpy(),
            "usable_area_m2": usable.to_numpy(),
            "levels_estimated": fa["levels_estimated"].to_numpy(),
            "cost": (usable * cost_per_m2).to_numpy(),
        },
        geometry=b.representative_point().to_numpy(),
        crs=buildings.crs,
    )
