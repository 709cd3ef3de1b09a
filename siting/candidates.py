"""The candidate table every source of sites ends in (a GeoDataFrame) and its columns:

``site_id``
    Position in the optimiser's :class:`~siting.models.instance.Instance` for candidates that
    are not excluded; excluded rows are numbered after them.
``source_id``
    OSM id (``w123``) or the inventory's id (as text).
``name``, ``kind``
    Name and class (``industrial``, ``warehouse``, ``commercial``, ``office``,
    ``public``, ``community``, ``disused``, ``brownfield``, ``other``, ``existing``).
``floor_area_m2``, ``usable_area_m2``, ``levels_estimated``
    Gross and usable floor area; whether the storeys were a per-class default.
``acquisition_mode``
    ``renovate`` | ``lease`` | ``transfer`` | ``new_build`` (改造/租赁/置换/新建).
``cost``, ``annual_cost``
    One-off CNY and running CNY per year of the site's usable area (see :func:`price`).
``cost_one_off``, ``cost_fit_out``, ``cost_rent_horizon``, ``cost_total``
    The cost breakdown every output reads: one-off, service fit-out (0 here: only the
    embedded model fits out), annual × horizon years, and their sum. For the covering
    models it is the price of the usable area; for a site an embedded plan chooses, the
    run replaces it with the plan's own (charged on the m² the plan uses).
``one_off_per_m2_used``, ``annual_per_m2_used``
    Rates the embedded model charges per m² it uses (modes with ``charged_on = "used"``
    and no cost given); 0 where the charge is fixed per site.
``ground_floor``
    Lowest floor of the space: 1 is the ground floor (whole OSM buildings), -1 the first
    basement, NaN unknown (an inventory's 楼层 column, read by :func:`parse_storey`).
``lift``
    1.0 when the building has a lift (电梯), 0.0 when it has none, NaN unknown.
``year_available``
    Year the space becomes available (NaN: now).
``ownership``
    Owner as given in an inventory (None for OSM).
``existing``, ``existing_services``
    Facility already operating (kept open by the model) and its service keys,
    comma-separated (keys of the policy's ``[services]`` table).
``level``
    An existing facility's level in the policy's ``[hierarchy]`` (层级: key, Chinese or
    English name), counted for ``required_in_reach``; None elsewhere.
``excluded_reason``
    Why the candidate is not offered to the optimiser (None when it is).
``source``
    ``"osm"``, ``"inventory"`` or ``"existing"``.

:func:`candidate_frame` completes a frame of one source (defaults, prices, column order).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.config.site_policy import class_tables
from siting.costs import COST_PARTS, RATE_COLUMNS, price

COLUMNS = (
    "site_id", "source_id", "name", "kind", "floor_area_m2", "usable_area_m2", "levels_estimated",
    "acquisition_mode", "cost", "annual_cost", *COST_PARTS, "cost_total", *RATE_COLUMNS,
    "ground_floor", "lift", "year_available",
    "ownership", "existing", "existing_services", "level", "excluded_reason", "source",
)


def class_default(policy: dict, kind: pd.Series, key: str) -> pd.Series:
    """Per row, the ``[sites.class_defaults.<kind>]`` value of ``key`` (a class without the
    key, or without defaults, takes the default class's).

    Parameters
    ----------
    policy
        The ``[sites]`` table.
    kind
        The class of each row.
    key
        The per-class setting (``levels``, ``usable_ratio``, ``acquisition_mode`` …).
    """
    tables = class_tables(policy)
    fallback = tables[policy.get("default_class", "other")]
    return kind.map(lambda k: tables.get(k, fallback).get(key, fallback.get(key)))


def candidate_frame(out: pd.DataFrame, geoms, crs, policy: dict) -> gpd.GeoDataFrame:
    """The rows of one source as a candidate table: defaults filled, priced, columns ordered.

    Parameters
    ----------
    out
        At least ``source_id``, ``kind``, ``floor_area_m2``, ``usable_area_m2``,
        ``acquisition_mode`` and ``source``; optional ``cost``/``annual_cost`` win over
        the policy's rates (:func:`siting.costs.price`).
    geoms
    crs
        One point per row, and their CRS.
    policy
        The ``[sites]`` table.

    Returns
    -------
    geopandas.GeoDataFrame
        The columns of :data:`COLUMNS`, ``site_id`` numbered in row order; existing
        facilities cost nothing.
    """
    out = out.reset_index(drop=True)
    defaults = {"name": None, "ground_floor": np.nan, "lift": np.nan, "year_available": np.nan,
                "ownership": None, "existing": False, "existing_services": None,
                "level": None, "excluded_reason": None, "levels_estimated": False}
    for col, value in defaults.items():
        if col not in out:
            out[col] = value
    out["existing"] = out["existing"].astype(bool)
    out["levels_estimated"] = out["levels_estimated"].astype(bool)
    costs = price(out["usable_area_m2"], out["acquisition_mode"], policy,
                  out.get("cost"), out.get("annual_cost"))
    for col in costs:
        out[col] = costs[col].to_numpy()
    # an operating facility costs nothing to "open"
    out.loc[out["existing"], ["cost", "annual_cost", *COST_PARTS, "cost_total",
                              *RATE_COLUMNS]] = 0.0
    out["site_id"] = np.arange(len(out))
    for col in ("ground_floor", "lift", "year_available", "floor_area_m2", "usable_area_m2"):
        out[col] = out[col].astype(float)
    return gpd.GeoDataFrame(out[list(COLUMNS)], geometry=list(geoms), crs=crs)


def exclude_small(c: gpd.GeoDataFrame, minimum: float) -> gpd.GeoDataFrame:
    """Exclude candidates below ``minimum`` m² of floor area (existing facilities stay).

    Parameters
    ----------
    c
        A candidate table (changed in place and returned).
    minimum
        Smallest floor area offered to the optimiser, m².
    """
    small = (c["floor_area_m2"] < minimum) & ~c["existing"] & c["excluded_reason"].isna()
    c.loc[small, "excluded_reason"] = [f"floor area {a:.0f} m² below the minimum {minimum:g} m²"
                                       for a in c.loc[small, "floor_area_m2"]]
    return c
