"""Communities (社区): the planning unit every demand point belongs to.

:func:`assign_communities` tags each demand point with the community polygon it lies in,
or, without a community layer, with a regular planning cell.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting.config.policy import packaged_policy
from siting.errors import SitingError
from siting.io.tables import pick_column
from siting.io.vectors import bounds_wgs84, read_vector

# the fallback community unit, a 500 m planning cell ≈ 5–10 thousand people at Chinese urban
# densities, the size of a 完整居住社区 (STANDARDS.md §3); from the packaged policy
DEFAULT_COMMUNITY_CELL_M = packaged_policy().area_standard.fallback_cell_m
_COMMUNITY_ID_NAMES = ("community_id", "id", "code", "社区代码", "社区编码", "编码")
_COMMUNITY_NAME_NAMES = ("community_name", "name", "社区", "社区名称", "名称", "乡")


def assign_communities(
    demand: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame | str | Path | None = None,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    source_crs: str | None = None,
    cell_m: float = DEFAULT_COMMUNITY_CELL_M,
) -> gpd.GeoDataFrame:
    """Tag every demand point with its community (社区).

    With a community layer, each point gets the polygon it lies in; a point outside
    every polygon gets the nearest one (``community_match = "nearest"``). Without a
    layer the fallback is a regular grid of ``cell_m`` × ``cell_m`` planning cells
    aligned to multiples of ``cell_m`` in the demand's projected CRS
    (``community_match = "grid"``, ids ``"grid500_E{x}_N{y}"`` with the cell's lower-left
    corner in km) and a warning says so: 500 m cells hold about one 完整居住社区
    (0.5–1.2万 persons) at Chinese urban densities.

    Parameters
    ----------
    demand
        Demand points in a projected CRS.
    communities
        Community polygons (layer or file) with an id and a name column.
    id_column
    name_column
        Default: the first of ``community_id/id/code/社区代码`` and
        ``community_name/name/社区/社区名称/名称`` present (the id falls back to the row).
    source_crs
        CRS of a layer without one, or ``gcj02``/``bd09`` (see :func:`siting.io.vectors.read_vector`).
    cell_m
        Fallback cell size, metres.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``community_id`` (str), ``community_name`` (str), ``community_match``
        (``"within"``, ``"nearest"`` or ``"grid"``).
    """
    out = demand.copy()
    if communities is None:
        if not cell_m > 0:
            raise SitingError(f"cell_m must be > 0, got {cell_m}")
        if out.crs is None or not CRS.from_user_input(out.crs).is_projected:
            raise SitingError("assign_communities needs demand in a projected (metric) CRS")
        warnings.warn(
            f"no community layer given: demand is grouped into {cell_m:g} m planning cells "
            "(community_match = 'grid'); give --communities FILE for real 社区 boundaries",
            UserWarning, stacklevel=2)
        ix = np.floor(out.geometry.x.to_numpy() / cell_m).astype(np.int64)
        iy = np.floor(out.geometry.y.to_numpy() / cell_m).astype(np.int64)
        tag = f"grid{cell_m:g}"
        ids = [f"{tag}_E{x * cell_m / 1000:g}_N{y * cell_m / 1000:g}" for x, y in zip(ix, iy)]
        out["community_id"] = np.array(ids, dtype=object)
        out["community_name"] = np.array(
            [f"{cell_m:g} m planning cell E{x * cell_m / 1000:g} km N{y * cell_m / 1000:g} km"
             for x, y in zip(ix, iy)], dtype=object)
        out["community_match"] = "grid"
        return out
    layer = read_vector(communities, "community", crs=source_crs)
    where = "the community layer" if isinstance(communities, gpd.GeoDataFrame) \
        else str(communities)
    if not layer.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise SitingError(f"{where}: community boundaries must be polygons")
    id_col = pick_column(layer, id_column, _COMMUNITY_ID_NAMES, "community id", where, None)
    name_col = pick_column(layer, name_column, _COMMUNITY_NAME_NAMES, "community name",
                            where, None)
    ids = (layer[id_col] if id_col else pd.Series(layer.index, index=layer.index)).astype(str)
    names = layer[name_col].astype(str) if name_col else ids
    comm = gpd.GeoDataFrame({"_cid": ids.to_numpy(), "_cname": names.to_numpy()},
                            geometry=layer.geometry.to_numpy(), crs=layer.crs).to_crs(out.crs)
    pts = gpd.GeoDataFrame(geometry=out.geometry.to_numpy(), crs=out.crs)
    hit = gpd.sjoin(pts, comm, how="left", predicate="within")
    hit = hit[~hit.index.duplicated()]
    match = np.where(hit["_cid"].notna(), "within", "nearest").astype(object)
    if (match == "within").sum() == 0:
        raise SitingError(
            f"{where}: no demand point lies in any of the {len(comm)} communities (layer "
            f"{bounds_wgs84(layer)}, demand {bounds_wgs84(out)} in WGS-84); check the layer's CRS")
    cid, cname = hit["_cid"].to_numpy(dtype=object), hit["_cname"].to_numpy(dtype=object)
    miss = np.flatnonzero(match == "nearest")
    if len(miss):
        near = gpd.sjoin_nearest(pts.iloc[miss], comm, how="left")
        near = near[~near.index.duplicated()]
        cid[miss], cname[miss] = near["_cid"].to_numpy(), near["_cname"].to_numpy()
        warnings.warn(f"{len(miss)} demand points lie outside every community of {where}; "
                      "they were given the nearest (community_match = 'nearest')",
                      UserWarning, stacklevel=2)
    out["community_id"] = cid.astype(str)
    out["community_name"] = cname.astype(str)
    out["community_match"] = match
    return out
