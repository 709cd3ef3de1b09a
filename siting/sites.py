"""Candidate sites: stock buildings, city inventories and existing facilities.

The plan puts services into *stock* space (补建、改造、置换、新建): idle factories,
warehouses, commercial and office space, public property, community buildings. This
module turns OSM buildings (:func:`candidates_from_buildings`), a city's inventory file
and files of facilities already operating (:mod:`siting.inventory`) into one candidate
table, with the columns of :mod:`siting.candidates`, and rules out candidates inside
exclusion zones (:func:`read_exclusions`).

Class mapping, per-class defaults and costs are data in the ``[sites]`` table of the
policy file (``siting/config/policies/cn_default.toml``), read by
:mod:`siting.config.site_policy`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from siting.buildings import classify, floor_area
from siting.candidates import candidate_frame, class_default, exclude_small
from siting.config.site_policy import MODES, load_site_policy
from siting.errors import SitingError
from siting.inventory import read_existing, read_inventory
from siting.io.vectors import check_lonlat, read_vector
from siting.vocabulary import given


# --------------------------------------------------------------------------
# OSM
# --------------------------------------------------------------------------
def candidates_from_buildings(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame | None = None,
    *,
    policy: dict | None = None,
    default_levels: float | None = None,
    min_floor_area_m2: float | None = None,
    usable_ratio: float | None = None,
) -> gpd.GeoDataFrame:
    """Stock buildings (and brownfield land) from OSM as candidate sites.

    Parameters
    ----------
    buildings
    landuse
        Projected building and land-use polygons with OSM tags.
    policy
        The ``[sites]`` table (:func:`load_site_policy`); default the packaged one.
    default_levels
        Storeys where unknown for every class; default per class from the policy
        (either way flagged in ``levels_estimated``).
    min_floor_area_m2
        Smaller candidates are kept but excluded (``excluded_reason``); default the policy's.
    usable_ratio
        Usable share of gross floor area for every class; default per class.

    Returns
    -------
    geopandas.GeoDataFrame
        Points (``representative_point``) with the columns in :data:`COLUMNS`, in the
        buildings' CRS, ``site_id`` numbered in input order.
    """
    policy = load_site_policy() if policy is None else policy
    if buildings is None or buildings.empty:
        raise SitingError("no buildings in the study area: no candidate sites")
    kind = classify(buildings, landuse, policy["classes"])
    # every mapped class is a candidate; classes without defaults take the default class's
    b = buildings[~kind.isin(["residential", "other"])]
    kind = kind[b.index]
    levels = class_default(policy, kind, "levels") if default_levels is None else default_levels
    fa = floor_area(b, levels, float(policy.get("storey_height_m", 3.0)))
    out = pd.DataFrame({
        "source_id": b.index.astype(str), "name": b["name"].to_numpy(), "kind": kind.to_numpy(),
        "floor_area_m2": fa["floor_area_m2"].to_numpy(),
        "levels_estimated": fa["levels_estimated"].to_numpy(bool),
    })
    geoms = list(b.representative_point())
    land = _new_build_land(landuse, buildings, policy)
    if len(land):
        out = pd.concat([out, land.drop(columns="geometry")], ignore_index=True)
        geoms += list(land["geometry"])
    ratio = class_default(policy, out["kind"], "usable_ratio") if usable_ratio is None \
        else pd.Series(usable_ratio, index=out.index)
    out["usable_area_m2"] = out["floor_area_m2"] * ratio.astype(float)
    out["acquisition_mode"] = class_default(policy, out["kind"], "acquisition_mode")
    out["ground_floor"] = 1.0
    out["source"] = "osm"
    frame = candidate_frame(out, geoms, buildings.crs, policy)
    minimum = policy["min_floor_area_m2"] if min_floor_area_m2 is None else min_floor_area_m2
    return exclude_small(frame, minimum)


def _new_build_land(landuse, buildings, policy) -> pd.DataFrame:
    """Land-use parcels mapped to a new-build class with no building standing on them."""
    mapping = policy["classes"].get("new_build_landuse", {})
    cols = ["source_id", "name", "kind", "floor_area_m2", "levels_estimated", "geometry"]
    if landuse is None or landuse.empty or not mapping:
        return pd.DataFrame(columns=cols)
    lu = landuse[landuse["landuse"].isin(mapping.keys())].to_crs(buildings.crs)
    if lu.empty:
        return pd.DataFrame(columns=cols)
    built = gpd.sjoin(lu[["geometry"]], buildings[["geometry"]], predicate="intersects")
    lu = lu[~lu.index.isin(built.index)]
    kind = lu["landuse"].map(mapping)
    plot = class_default(policy, kind, "plot_ratio").fillna(1.0).astype(float)
    cap = class_default(policy, kind, "max_floor_area_m2").fillna(np.inf).astype(float)
    return pd.DataFrame({
        "source_id": lu.index.astype(str), "name": lu["name"].to_numpy(), "kind": kind.to_numpy(),
        "floor_area_m2": np.minimum(lu.geometry.area * plot, cap).to_numpy(),
        "levels_estimated": True,
        "geometry": lu.representative_point().to_numpy(),
    })


# --------------------------------------------------------------------------
# exclusions and assembly
# --------------------------------------------------------------------------
def read_exclusions(path: str | Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Exclusion polygons (hazard buffers, protected areas, land ruled out) in WGS84.

    Any vector layer :func:`siting.io.vectors.read_vector` reads (GeoPackage, GeoJSON,
    shapefile, GeoParquet …) with a CRS. The reason reported for a candidate inside a
    polygon is its ``reason``/``原因`` column, else ``name``/``名称``, else
    ``exclusion zone <n>``.

    Parameters
    ----------
    path
        The layer.
    crs
        ``gcj02``/``bd09`` for polygons digitised on Chinese web maps (converted to
        WGS-84), or the CRS of a layer that declares none.

    Returns
    -------
    geopandas.GeoDataFrame
        ``reason`` and polygon geometry, in EPSG:4326.
    """
    path = Path(path)
    zones = read_vector(path, "exclusion", crs=crs).to_crs("EPSG:4326")
    zones = zones[zones.geometry.notna()]
    zones = zones[zones.geom_type.isin(["Polygon", "MultiPolygon"])]
    if zones.empty:
        raise SitingError(f"{path}: no polygons in the exclusion layer")
    label = next((c for c in ("reason", "原因", "name", "名称") if c in zones), None)
    reason = [f"in exclusion zone: {v}" if label and given(v) else f"in exclusion zone {i + 1}"
              for i, v in enumerate(zones[label] if label else [None] * len(zones))]
    return gpd.GeoDataFrame({"reason": reason}, geometry=zones.geometry.to_numpy(),
                            crs="EPSG:4326")


def _flagged(flag: str, read, *args, **kwargs):
    """``read(*args, **kwargs)``; its SitingError starts with the flag of the file read."""
    try:
        return read(*args, **kwargs)
    except SitingError as exc:
        msg = str(exc)
        raise SitingError(msg if msg.startswith(flag) else f"{flag}: {msg}") from None


def apply_exclusions(candidates: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Set ``excluded_reason`` of candidates inside an exclusion polygon (first reason wins).

    Existing facilities are never excluded: they operate already.

    Parameters
    ----------
    candidates
        The candidate table.
    zones
        Exclusion polygons from :func:`read_exclusions`.
    """
    c = candidates.copy()
    z = zones.to_crs(c.crs)
    hit = gpd.sjoin(c[["geometry"]], z[["reason", "geometry"]], how="inner", predicate="within")
    hit = hit[~hit.index.duplicated()]
    free = c.loc[hit.index, "excluded_reason"].isna() & ~c.loc[hit.index, "existing"]
    idx = hit.index[free.to_numpy()]
    c.loc[idx, "excluded_reason"] = hit.loc[idx, "reason"].to_numpy()
    return c


def _described_by(osm: gpd.GeoDataFrame, inventory: gpd.GeoDataFrame,
                  buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Exclude OSM candidates whose building holds an inventory row: the row wins.

    An inventory row (its area, cost and acquisition mode are the city's own) inside
    an OSM building polygon describes that building, so the building is not offered
    twice; its ``excluded_reason`` names the row.
    """
    # every row counts, also one the city marks too small: its figures win
    if not len(osm) or not len(inventory):
        return osm
    polys = gpd.GeoDataFrame({"building": buildings.index.astype(str)},
                             geometry=buildings.geometry.to_numpy(), crs=buildings.crs)
    pts = gpd.GeoDataFrame({"row": inventory["source_id"].to_numpy(),
                            "label": inventory["name"].to_numpy()},
                           geometry=inventory.geometry.to_numpy(), crs=inventory.crs)
    hit = gpd.sjoin(pts.to_crs(polys.crs), polys, how="inner", predicate="within")
    if not len(hit):
        return osm
    label = {b: f"in the inventory as {i}" + (f" ({n})" if isinstance(n, str) and n else "")
             for b, i, n in zip(hit["building"], hit["row"], hit["label"])}
    out = osm.copy()
    take = out["source_id"].isin(label.keys()) & out["excluded_reason"].isna() \
        & out["source"].eq("osm")
    out.loc[take, "excluded_reason"] = out.loc[take, "source_id"].map(label)
    return out


def assemble(parts: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """One candidate table in ``crs``: optimiser sites first, then excluded rows.

    ``source_id`` is the site's id every output shows and ``--require``/``--forbid``
    take: an OSM id, an inventory's 编号 or an existing facility's id, the same in every
    run. An id that two sources share (an inventory row and a facility both numbered
    ``1``) is made unique by prefixing the later source (``existing:1``). ``site_id`` is
    internal: renumbered to the row's position in the optimiser's instance for every
    candidate not excluded, so it changes with ``--exclude``/``--forbid`` and is never
    written out.

    Parameters
    ----------
    parts
        Candidate tables of each source (None or empty ones are skipped).
    crs
        The run's projected CRS.
    """
    parts = [p.to_crs(crs) for p in parts if p is not None and len(p)]
    if not parts:
        raise SitingError("no candidate sites: no stock building, inventory row or existing facility")
    c = pd.concat(parts, ignore_index=True)
    c = gpd.GeoDataFrame(c, geometry="geometry", crs=crs)
    c["source_id"] = _unique_ids(c)  # in source order (OSM, inventory, facilities): stable
    order = np.argsort(c["excluded_reason"].notna().to_numpy(), kind="stable")
    c = c.iloc[order].reset_index(drop=True)
    c["site_id"] = np.arange(len(c))
    return c


def _unique_ids(c: pd.DataFrame) -> np.ndarray:
    """``source_id`` as text, an id repeated across sources prefixed by the later source
    (deterministic, so the same inputs give the same ids)."""
    ids = c["source_id"].astype(str).to_numpy(object)
    src = c["source"].astype(str).to_numpy(object) if "source" in c else np.full(len(c), "")
    first: dict[str, str] = {}
    for i, (v, s) in enumerate(zip(ids, src)):
        if first.setdefault(v, s) != s and not v.startswith(f"{s}:"):
            ids[i] = f"{s}:{v}"
    return ids


def site_candidates(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame | None,
    study_area: BaseGeometry,
    crs,
    *,
    inventory: str | Path | None = None,
    inventory_crs: str = "wgs84",
    existing: str | Path | None = None,
    existing_crs: str = "wgs84",
    exclude: str | Path | None = None,
    exclude_crs: str | None = None,
    min_floor_area_m2: float | None = None,
    default_levels: float | None = None,
    usable_ratio: float | None = None,
    cost_per_m2: float | None = None,
    plan_year: int | None = None,
    policy: dict | None = None,
) -> gpd.GeoDataFrame:
    """Every candidate of a run: OSM stock, inventory rows and existing facilities.

    Parameters
    ----------
    buildings
    landuse
        Building and land-use polygons in ``crs`` (projected).
    study_area
        Polygon in WGS-84 lon/lat (inventory rows far outside it are excluded); one whose
        bounds are not degrees raises.
    crs
        The run's projected CRS; the result is in it.
    inventory
    inventory_crs
    existing
    existing_crs
        Files and their lon/lat datums (see :func:`read_inventory`, :func:`read_existing`).
    exclude
        Exclusion polygons (see :func:`read_exclusions`).
    exclude_crs
        ``gcj02``/``bd09`` for exclusion polygons digitised on Chinese web maps, or the
        CRS of a layer that declares none.
    min_floor_area_m2
    default_levels
    usable_ratio
        Override the policy's minimum and per-class defaults.
    cost_per_m2
        When > 0, a flat one-off CNY per m² for every acquisition mode (no running cost),
        instead of the policy's rates, charged as each mode's ``charged_on`` says; costs
        an inventory gives still win.
    plan_year
        When given, rows whose ``year_available`` is later are excluded (with the
        year as reason); rows without a year are kept.
    policy
        The ``[sites]`` table; default the packaged one.

    Returns
    -------
    geopandas.GeoDataFrame
        The candidate table (:data:`COLUMNS`) ordered by :func:`assemble`.
    """
    policy = load_site_policy() if policy is None else policy
    check_lonlat(study_area)
    if cost_per_m2:
        flat = {m: {**policy["costs"][m], "one_off_per_m2": float(cost_per_m2),
                    "annual_per_m2": 0.0} for m in MODES}
        policy = {**policy, "costs": {**policy["costs"], **flat}}
    minimum = policy["min_floor_area_m2"] if min_floor_area_m2 is None else min_floor_area_m2
    parts = [candidates_from_buildings(buildings, landuse, policy=policy,
                                       default_levels=default_levels, usable_ratio=usable_ratio,
                                       min_floor_area_m2=minimum)]
    if inventory is not None:
        inv = exclude_small(_flagged("--inventory", read_inventory, inventory, inventory_crs,
                                      study_area=study_area, policy=policy), minimum)
        if plan_year is not None:
            late = (inv["year_available"] > plan_year) & inv["excluded_reason"].isna() \
                & ~inv["existing"]
            inv.loc[late, "excluded_reason"] = [
                f"available from {y:.0f}, after the plan year {plan_year}"
                for y in inv.loc[late, "year_available"]]
        parts[0] = _described_by(parts[0], inv, buildings)
        parts.append(inv)
    if existing is not None:
        parts.append(_flagged("--existing", read_existing, existing, existing_crs,
                              study_area=study_area, policy=policy))
    c = assemble(parts, crs)
    if exclude is not None:
        zones = _flagged("--exclude", read_exclusions, exclude, exclude_crs)
        if not zones.intersects(study_area).any():
            b = tuple(round(v, 4) for v in zones.total_bounds)
            warnings.warn(f"--exclude {Path(exclude).name}: none of its {len(zones)} polygons "
                          f"touches the study area {tuple(round(v, 4) for v in study_area.bounds)}"
                          f" (the polygons span {b}); nothing is excluded — check the file and "
                          f"its CRS", UserWarning, stacklevel=2)
        c = assemble([apply_exclusions(c, zones)], crs)
    return c
