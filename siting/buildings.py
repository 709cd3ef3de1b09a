"""Building attributes shared by the demand and sites stages: use class and floor area."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd

# OSM building/amenity/shop values → use class. Residential buildings house demand;
# the other classes are stock space a city may convert into service facilities.
RESIDENTIAL = {
    "residential", "apartments", "house", "detached", "semidetached_house", "terrace",
    "dormitory", "bungalow", "farm", "cabin", "houseboat", "static_caravan", "block",
}
CANDIDATE_CLASS = {
    "industrial": "industrial", "factory": "industrial", "manufacture": "industrial",
    "warehouse": "warehouse", "storage": "warehouse", "hangar": "warehouse",
    "commercial": "commercial", "retail": "commercial", "supermarket": "commercial",
    "mall": "commercial", "shop": "commercial", "market": "commercial", "hotel": "commercial",
    "office": "office",
    "public": "public", "civic": "public", "government": "public", "townhall": "public",
    "community_centre": "community", "social_facility": "community", "social_centre": "community",
    "disused": "disused", "abandoned": "disused", "ruins": "disused", "vacant": "disused",
}
# buildings that are never candidates (in use for something a city will not convert)
EXCLUDED = {
    "school", "university", "college", "kindergarten", "hospital", "church", "temple",
    "mosque", "cathedral", "chapel", "shrine", "train_station", "transportation",
    "parking", "garage", "garages", "roof", "shed", "hut", "toilets", "service",
    "construction", "bridge", "greenhouse", "stadium", "military", "fire_station",
}
_NON_RESIDENTIAL_LANDUSE = {"commercial", "retail", "industrial", "military", "railway"}
_LEVELS_RE = re.compile(r"(\d+(?:\.\d+)?)")


def classify(buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame | None = None) -> pd.Series:
    """Use class per building: ``"residential"``, a candidate class, or ``"other"``.

    ``building=yes`` (most of a Chinese extract) is read from its other tags
    (``amenity``, ``shop``, ``office``, ``disused:*``) and, failing those, from the
    land use it stands in: residential unless the land use is commercial, retail,
    industrial, military or railway.
    """
    b = buildings["building"].fillna("yes").str.lower()
    cls = pd.Series("other", index=buildings.index, dtype=object)
    cls[b.isin(RESIDENTIAL)] = "residential"
    mapped = b.map(CANDIDATE_CLASS)
    cls[mapped.notna()] = mapped[mapped.notna()]
    generic = b.eq("yes")
    for tag in ("amenity", "shop", "office", "craft", "disused", "abandoned", "disused:amenity",
                "disused:shop"):
        if tag not in buildings:
            continue
        has = generic & buildings[tag].notna() & cls.eq("other")
        if tag == "amenity":
            value = buildings[tag].map(CANDIDATE_CLASS)
            cls[has & value.notna()] = value[has & value.notna()]
            cls[has & buildings[tag].isin(EXCLUDED)] = "excluded"
        elif tag in ("shop", "craft"):
            cls[has] = "commercial"
        elif tag == "office":
            cls[has] = "office"
        else:
            cls[has] = "disused"
    cls[b.isin(EXCLUDED)] = "excluded"
    rest = generic & cls.eq("other")
    if rest.any():
        landuse_class = _landuse_at(buildings[rest], landuse)
        nonres = landuse_class.isin(_NON_RESIDENTIAL_LANDUSE)
        cls[rest] = np.where(nonres, landuse_class.map(CANDIDATE_CLASS).fillna("other"), "residential")
    return cls.where(cls != "excluded", "other")


def floor_area(
    buildings: gpd.GeoDataFrame, default_levels: float, storey_height_m: float = 3.0
) -> pd.DataFrame:
    """Footprint, storeys and gross floor area of projected building polygons.

    Storeys come from ``building:levels``, else ``height`` / ``storey_height_m``, else
    ``default_levels`` (flagged in ``levels_estimated``).

    Returns
    -------
    pandas.DataFrame
        ``footprint_m2``, ``levels``, ``levels_estimated``, ``floor_area_m2``.
    """
    if not buildings.crs or not buildings.crs.is_projected:
        raise ValueError("floor_area needs buildings in a projected (metric) CRS")
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
