"""Demand: where people live and how many, as points in the network's CRS."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.buildings import classify, floor_area
from siting.errors import SitingError


def demand_from_buildings(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame | None = None,
    *,
    m2_per_person: float = 40.0,
    default_levels: float = 6.0,
    min_footprint_m2: float = 30.0,
    population_total: float | None = None,
) -> gpd.GeoDataFrame:
    """Residential buildings as demand points, population from floor area.

    Population = footprint × storeys / ``m2_per_person`` (gross floor area per
    resident; China's 2020 urban average housing floor area is about 40 m² per
    person), optionally scaled so that the total equals ``population_total``.

    Parameters
    ----------
    buildings
        Building polygons in a projected CRS with OSM tags (see :mod:`siting.osm`).
    landuse
        Land-use polygons used to read ``building=yes`` (see :func:`siting.buildings.classify`).
    m2_per_person
        Gross residential floor area per person.
    default_levels
        Storeys assumed where the building has neither ``building:levels`` nor ``height``.
    min_footprint_m2
        Smaller residential footprints (sheds, kiosks) hold no one.
    population_total
        Known total population of the study area to scale to.

    Returns
    -------
    geopandas.GeoDataFrame
        One point per residential building (``representative_point``) with
        ``demand_id``, ``osm_id``, ``floor_area_m2``, ``levels_estimated``, ``population``.
    """
    if m2_per_person <= 0:
        raise SitingError(f"m2_per_person must be > 0, got {m2_per_person}")
    if population_total is not None and population_total < 0:
        raise SitingError(f"population_total must be >= 0, got {population_total}")
    if buildings is None or buildings.empty:
        raise SitingError("no buildings in the study area: cannot place any population")
    cls = classify(buildings, landuse)
    res = buildings[cls.eq("residential")]
    fa = floor_area(res, default_levels)
    res = res[fa["footprint_m2"] >= min_footprint_m2]
    fa = fa.loc[res.index]
    if res.empty:
        raise SitingError(
            "no residential buildings in the study area (building=residential/apartments/"
            "house or building=yes outside commercial and industrial land); give a population "
            "layer instead"
        )
    population = fa["floor_area_m2"] / m2_per_person
    if population_total is not None:
        population = population * (population_total / population.sum())
    out = gpd.GeoDataFrame(
        {
            "demand_id": np.arange(len(res)),
            "osm_id": res.index.to_numpy(),
            "name": res["name"].to_numpy(),
            "floor_area_m2": fa["floor_area_m2"].to_numpy(),
            "levels_estimated": fa["levels_estimated"].to_numpy(),
            "population": population.to_numpy(),
        },
        geometry=res.representative_point().to_numpy(),
        crs=buildings.crs,
    )
    return out


def demand_from_points(points: gpd.GeoDataFrame, column: str = "population") -> gpd.GeoDataFrame:
    """Demand from a point or polygon layer with a population column (polygons → centres)."""
    if column not in points:
        raise SitingError(
            f"population layer has no column {column!r}; columns are {list(points.columns)}"
        )
    pop = pd.to_numeric(points[column], errors="coerce")
    bad = pop.isna() | (pop < 0)
    if bad.any():
        rows = list(points.index[bad][:5])
        raise SitingError(f"population column {column!r} is missing or negative in rows {rows}")
    geom = points.geometry
    if not (geom.geom_type == "Point").all():
        geom = geom.representative_point()
    return gpd.GeoDataFrame(
        {"demand_id": np.arange(len(points)), "population": pop.to_numpy()},
        geometry=geom.to_numpy(),
        crs=points.crs,
    )
