"""A programme's rows in a run: new residential projects (同步配建) as demand and sites, and
the site attributes funding conditions test.

A project (:func:`~siting.models.embedded.programme.read_projects`) becomes one demand
point with its population (age groups by the run's shares, households by its household
size, a community of its own, ``from_year`` = its delivery year) and one candidate site
of the space it must provide, at no cost, available from its delivery year
(``year_available``; ``source = "project"``, ``acquisition_mode = "transfer"``: the
developer hands the space over).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.candidates import candidate_frame
from siting.errors import SitingError
from siting.io.tables import header_key, pick_column, read_table
from siting.models.embedded.programme import Programme
from siting.sites import assemble


def add_projects(demand: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame,
                 projects: pd.DataFrame, shares: dict, household_size: float,
                 site_policy: dict, study_area) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Demand points and candidate sites of the projects, appended to a run's tables.

    Parameters
    ----------
    demand
        The run's demand points (projected CRS).
    candidates
        The run's candidate table (projected CRS).
    projects
        The projects table (``id``, ``name``, ``lon``, ``lat``, ``population``,
        ``delivery_year``, ``space_m2``).
    shares
        Share of each demand group in the population.
    household_size
        Persons per household.
    site_policy
        The ``[sites]`` table (prices; the space itself is free).
    study_area
        WGS84 polygon: projects outside it are refused.

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        ``(demand, candidates)``, the projects appended (candidates re-assembled).
    """
    pts = gpd.GeoSeries(gpd.points_from_xy(projects["lon"], projects["lat"]), crs="EPSG:4326")
    outside = ~pts.within(study_area).to_numpy()
    if outside.any():
        raise SitingError(f"projects {list(projects['id'][outside])} lie outside the study area "
                          f"{tuple(round(v, 4) for v in study_area.bounds)}; check 经度/纬度 "
                          "(lon first, WGS84) or the bbox")
    geo = pts.to_crs(demand.crs)
    pop = projects["population"].to_numpy(float)
    rows = pd.DataFrame({"population": pop})
    for g, share in shares.items():
        if g in demand:
            rows[g] = pop * share
    rows["households"] = pop / household_size
    rows["community_id"] = [f"project {p}" for p in projects["id"]]
    rows["community_name"] = [str(n) if n is not None else f"project {p}"
                              for p, n in zip(projects["id"], projects["name"])]
    rows["from_year"] = projects["delivery_year"].to_numpy(float)
    base = demand.assign(from_year=np.nan) if "from_year" not in demand else demand
    new = gpd.GeoDataFrame(rows, geometry=geo.to_numpy(), crs=demand.crs)
    demand = gpd.GeoDataFrame(pd.concat([base, new], ignore_index=True),
                              geometry="geometry", crs=demand.crs)
    space = projects["space_m2"].to_numpy(float)
    out = pd.DataFrame({
        "source_id": [str(p) for p in projects["id"]], "name": projects["name"],
        "kind": "community", "floor_area_m2": space, "usable_area_m2": space,
        "acquisition_mode": "transfer", "cost": 0.0, "annual_cost": 0.0,
        "year_available": projects["delivery_year"].to_numpy(float), "source": "project"})
    sites = candidate_frame(out, geo.to_numpy(), demand.crs, site_policy)
    return demand, assemble([candidates, sites], demand.crs)


def add_site_attributes(candidates: gpd.GeoDataFrame, programme: Programme,
                        inventory: str | Path | None) -> gpd.GeoDataFrame:
    """The inventory columns the funding conditions test, on the candidates.

    Inventory rows are matched by their id (编号/id = ``source_id``); other candidates
    (OSM buildings, projects) get blanks and so are not eligible for a source with a
    condition on that column.

    Parameters
    ----------
    candidates
        The run's candidate table.
    programme
        The programme.
    inventory
        The inventory file (None: no attributes).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with one column per tested attribute.
    """
    attrs = sorted({s.condition[0] for s in programme.sources if s.condition is not None})
    attrs = [a for a in attrs if a not in candidates]
    if not attrs:
        return candidates
    if inventory is None:
        raise SitingError(f"funding conditions test {attrs}, which sites only get from an "
                          "inventory column: give --inventory with those columns")
    raw = read_table(inventory, "inventory", text=True)
    idc = pick_column(raw, None, ("id", "site_id", "编号", "序号", "编码", "代码"), "id",
                      str(inventory), None)
    ids = raw[idc].astype(str).str.strip() if idc is not None else \
        pd.Series(np.arange(len(raw)).astype(str))
    keys = {header_key(c): c for c in raw.columns}
    out = candidates.copy()
    inv = (out["source"] == "inventory").to_numpy()
    for a in attrs:
        if header_key(a) not in keys:
            raise SitingError(f"{Path(inventory).name}: a funding condition tests {a!r}, which "
                              f"is not a column of the inventory; columns are {list(raw.columns)}")
        lookup = dict(zip(ids, raw[keys[header_key(a)]]))
        out[a] = [lookup.get(str(s)) if ok else None for s, ok in zip(out["source_id"], inv)]
    return out
