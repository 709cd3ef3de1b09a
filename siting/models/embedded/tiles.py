"""A city of copies: ``k`` copies of one study area, disjoint or joined by streets.

Used by the city-scale benchmark (``scripts/embedded_nanjing.py``) and the
decomposition's tests. Disjoint copies are a city whose districts share only the
budget (:func:`tiled`); :func:`joined` lays the copies side by side, west to east, and
links each copy's eastern edge with the next one's western edge, so people near the
seam walk to sites across it and the districts no longer separate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from siting.errors import SitingError
from siting.models.instance import Instance

# site cost columns scaled per copy by ``cost_factors``
_COST_COLUMNS = ("cost", "annual_cost", "one_off_per_m2_used", "annual_per_m2_used")


def tiled(instance: Instance, demand: pd.DataFrame, sites: pd.DataFrame, k: int,
          cost_factors: Sequence[float] | None = None,
          ) -> tuple[Instance, pd.DataFrame, pd.DataFrame]:
    """``k`` disjoint copies of an instance and its tables (a city of districts).

    Copy ``t``'s demand points and sites follow copy ``t - 1``'s; its communities get
    ``#t`` appended to their ids (kept apart) and its sites new ids.

    Parameters
    ----------
    instance
        Sparse walking distances.
    demand
        Demand table aligned with the instance's demand points.
    sites
        Site table aligned with its sites.
    k
        Number of copies (≥ 1).
    cost_factors
        Per copy, a factor on its sites' costs (districts with other prices); None:
        all equal.

    Returns
    -------
    tuple
        ``(instance, demand, sites)`` of the copies.
    """
    if k < 1:
        raise SitingError(f"tiles must be >= 1, got {k}")
    if cost_factors is not None and len(cost_factors) != k:
        raise SitingError(f"{len(cost_factors)} cost factors for {k} copies")
    nd, ns = instance.n_demand, instance.n_sites
    big = Instance(np.tile(instance.weight, k), np.tile(instance.cost, k),
                   np.concatenate([instance.pair_demand + t * nd for t in range(k)]),
                   np.concatenate([instance.pair_site + t * ns for t in range(k)]),
                   np.tile(instance.pair_dist, k), instance.threshold_m)
    d = pd.concat([demand.assign(community_id=demand["community_id"].astype(str) + f"#{t}")
                   for t in range(k)], ignore_index=True)
    copies = []
    for t in range(k):
        st = sites.copy()
        f = 1.0 if cost_factors is None else float(cost_factors[t])
        for col in _COST_COLUMNS:
            if col in st:
                st[col] = pd.to_numeric(st[col], errors="coerce") * f
        copies.append(st)
    st = pd.concat(copies, ignore_index=True)
    st["site_id"] = np.arange(len(st))
    return big, d, st


def joined(instance: Instance, demand: pd.DataFrame, sites: pd.DataFrame, k: int,
           detour: float = 1.3, cost_factors: Sequence[float] | None = None,
           ) -> tuple[Instance, pd.DataFrame, pd.DataFrame]:
    """``k`` copies side by side, west to east, joined by streets across each seam.

    Copy ``t`` is shifted east by ``t`` × the area's width (of its demand points and
    sites); a demand point and a site of neighbouring copies are a pair when the
    straight line between them × ``detour`` is within the instance's threshold (the
    streets across the seam; walks inside a copy are the network's own).

    Parameters
    ----------
    instance
        Sparse walking distances.
    demand
        Demand table with point or polygon geometry in a metric CRS.
    sites
        Site table with geometry in the same CRS.
    k
        Number of copies (≥ 1).
    detour
        Walking distance per metre of straight line across the seam.
    cost_factors
        Per copy, a factor on its sites' costs; None: all equal.

    Returns
    -------
    tuple
        ``(instance, demand, sites)``; the instance has the cross-seam pairs added.
    """
    big, d, st = tiled(instance, demand, sites, k, cost_factors)
    if k == 1:
        return big, d, st
    if not hasattr(demand, "geometry") or not hasattr(sites, "geometry"):
        raise SitingError("joining copies needs demand and site geometry (a metric CRS)")
    dx = demand.geometry.centroid.x.to_numpy()
    dy = demand.geometry.centroid.y.to_numpy()
    sx = sites.geometry.centroid.x.to_numpy()
    sy = sites.geometry.centroid.y.to_numpy()
    west = min(dx.min(), sx.min())
    width = max(dx.max(), sx.max()) - west
    nd, ns, reach = instance.n_demand, instance.n_sites, instance.threshold_m
    # demand of copy 0 against sites of copy 1 (shifted by the width), and back
    dist_ab = np.hypot(dx[:, None] - (sx[None, :] + width), dy[:, None] - sy[None, :]) * detour
    dist_ba = np.hypot((dx[:, None] + width) - sx[None, :], dy[:, None] - sy[None, :]) * detour
    ia, ja = np.nonzero(dist_ab <= reach)
    ib, jb = np.nonzero(dist_ba <= reach)
    pi, pj, pd_ = [big.pair_demand], [big.pair_site], [big.pair_dist]
    for t in range(k - 1):
        pi += [ia + t * nd, ib + (t + 1) * nd]
        pj += [ja + (t + 1) * ns, jb + t * ns]
        pd_ += [dist_ab[ia, ja], dist_ba[ib, jb]]
    out = Instance(big.weight, big.cost, np.concatenate(pi), np.concatenate(pj),
                   np.concatenate(pd_), big.threshold_m)
    return out, d, st
