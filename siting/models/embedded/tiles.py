"""A city of copies: ``k`` disjoint (or street-joined) copies of one study area.

Used by the city-scale benchmark (``scripts/embedded_nanjing.py``) and the
decomposition's tests: a real district copied ``k`` times is a city whose optimum is
known on separable copies (``k`` × one copy's value at each copy's budget share is a
lower bound, and exact when the copies' curves are concave).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from siting.errors import SitingError
from siting.models.instance import Instance


def tiled(instance: Instance, demand: pd.DataFrame, sites: pd.DataFrame,
          k: int) -> tuple[Instance, pd.DataFrame, pd.DataFrame]:
    """``k`` disjoint copies of an instance and its tables (a city of identical districts).

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

    Returns
    -------
    tuple
        ``(instance, demand, sites)`` of the copies.
    """
    if k < 1:
        raise SitingError(f"tiles must be >= 1, got {k}")
    if k == 1:
        return instance, demand, sites
    nd, ns = instance.n_demand, instance.n_sites
    big = Instance(np.tile(instance.weight, k), np.tile(instance.cost, k),
                   np.concatenate([instance.pair_demand + t * nd for t in range(k)]),
                   np.concatenate([instance.pair_site + t * ns for t in range(k)]),
                   np.tile(instance.pair_dist, k), instance.threshold_m)
    d = pd.concat([demand.assign(community_id=demand["community_id"].astype(str) + f"#{t}")
                   for t in range(k)], ignore_index=True)
    st = pd.concat([sites] * k, ignore_index=True)
    st["site_id"] = np.arange(len(st))
    return big, d, st
