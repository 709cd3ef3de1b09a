"""Building attributes shared by the demand and sites stages: use class and floor area."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.config.site_policy import load_site_policy
from siting.errors import SitingError

# Residential buildings house demand. The other use classes (stock space a city may
# convert into service facilities) are data: ``[sites.classes]`` in the policy file
# (see :func:`siting.config.site_policy.load_site_policy`).
RESIDENTIAL = {
    "residential", "apartments", "house", "detached", "semidetached_house", "terrace",
    "dormitory", "bungalow", "farm", "cabin", "houseboat", "static_caravan", "block",
}
_NON_RESIDENTIAL_LANDUSE = {"commercial", "retail", "industrial", "military", "railway"}
_LEVELS_RE = re.compile(r"(\d+(?:\.\d+)?)")


def classify(buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame | None = None,
             classes: dict | None = None) -> pd.Series:
    """Use class per building: ``"residential"``, a candidate class, or ``"other"``.

    ``building=yes`` (most of a Chinese extract) is read from its other tags
    (``amenity``, ``shop``, ``office``, ``disused:*``) and, failing those, from the
    land use it stands in: residential unless the land use is commercial, retail,
    industrial, military or railway.

    Parameters
    ----------
    buildings
    landuse
        Building and land-use polygons with OSM tags.
    classes
        The ``[sites.classes]`` table (``tag_values``, ``tag_present``, ``landuse``,
        ``never``); default the packaged policy's.
    """
    if classes is None:
        classes = load_site_policy()["classes"]
    values = classes.get("tag_values", {})
    never = set(classes.get("never", {}).get("values", ()))
    b = buildings["building"].fillna("yes").str.lower()
    cls = pd.Series("other", index=buildings.index, dtype=object)
    cls[b.isin(RESIDENTIAL)] = "residential"
    mapped = b.map(values)
    cls[mapped.notna()] = mapped[mapped.notna()]
    generic = b.eq("yes")
    if "amenity" in buildings:
        has = generic & buildings["amenity"].notna() & cls.eq("other")
        value = buildings["amenity"].map(values)
        cls[has & value.notna()] = value[has & value.notna()]
        cls[has & buildings["amenity"].isin(never)] = "excluded"
    for tag, tag_class in classes.get("tag_present", {}).items():
        if tag not in buildings:
            continue
        has = generic & buildings[tag].notna() & cls.eq("other")
        cls[has] = tag_class
    cls[b.isin(never)] = "excluded"
    rest = generic & cls.eq("other")
    if rest.any():
        landuse_class = _landuse_at(buildings[rest], landuse)
        nonres = landuse_class.isin(_NON_RESIDENTIAL_LANDUSE)
        cls[rest] = np.where(nonres, landuse_class.map(classes.get("landuse", {})).fillna("other"),
                             "residential")
    return cls.where(cls != "excluded", "other")


def floor_area(
    buildings: gpd.GeoDataFrame, default_levels: float | pd.Series, storey_height_m: float = 3.0
) -> pd.DataFrame:
    """Footprint, storeys and gross floor area of projected building polygons.

    Storeys come from ``building:levels``, else ``height`` / ``storey_height_m``, else
    ``default_levels`` (a number, or a Series per building such as a per-class default;
    flagged in ``levels_estimated``).

    Parameters
    ----------
    buildings
        Building polygons in a projected (metric) CRS with OSM tags.
    default_levels
        Storeys where the tags give none: a number, or a Series per building.
    storey_height_m
        Storey height used to read ``height``.

    Returns
    -------
    pandas.DataFrame
        ``footprint_m2``, ``levels``, ``levels_estimated``, ``floor_area_m2``.

    Raises
    ------
    SitingError
        Buildings not in a projected (metric) CRS.
    """
    if not buildings.crs or not buildings.crs.is_projected:
        raise SitingError(
            f"buildings are in {buildings.crs.to_string() if buildings.crs else 'no CRS'}, "
            "but floor areas are measured in metres: project them first (e.g. "
            "buildings.to_crs(siting.io.coords.metric_crs(buildings)))")
    levels = _number(buildings.get("building:levels"))
    height = _number(buildings.get("height"))
    from_height = np.maximum(np.round(height / storey_height_m), 1)
    levels = levels.where(levels > 0, from_height.where(height > 0))
    estimated = levels.isna()
    levels = levels.fillna(default_levels)
    footprint = buildings.geometry.area
    return pd.DataFrame(
        {
            "footprint_m2": footprint,
            "levels": levels,
            "levels_estimated": estimated,
            "floor_area_m2": footprint * levels,
        },
        index=buildings.index,
    )


def _number(values: pd.Series | None) -> pd.Series:
    """First number in each string (``"6"``, ``"5;6"``, ``"18 m"``), NaN where none."""
    if values is None:
        return pd.Series(dtype=float)
    text = values.astype("string")
    return pd.to_numeric(text.str.extract(_LEVELS_RE, expand=False), errors="coerce").astype(float)


def _landuse_at(buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame | None) -> pd.Series:
    """Land-use value of the polygon each building's centre falls in (NaN where none)."""
    out = pd.Series(np.nan, index=buildings.index, dtype=object)
    if landuse is None or landuse.empty:
        return out
    pts = gpd.GeoDataFrame(geometry=buildings.representative_point(), crs=buildings.crs)
    lu = landuse[["landuse", "geometry"]].to_crs(buildings.crs)
    hit = gpd.sjoin(pts, lu, how="inner", predicate="within")
    hit = hit[~hit.index.duplicated()]
    out.loc[hit.index] = hit["landuse"].to_numpy()
    return out
