"""OR-Library benchmark files (:mod:`siting.io.orlib`) as
:class:`~siting.models.instance.Instance` objects, to check models on published optima."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from siting.io.orlib import read_pmed, read_scp
from siting.models.instance import Instance


def scp_instance(path: str | Path) -> Instance:
    """A set covering file as an :class:`Instance` for
    :class:`~siting.models.coverage.SetCovering`.

    Each row is a demand point of weight 1, each column a site at its cost, with a
    pair (distance 0, ``threshold_m`` 1) where the column covers the row.

    Parameters
    ----------
    path
        The ``scp*.txt`` file.

    Returns
    -------
    Instance
    """
    cost, coverage = read_scp(path)
    c = sp.coo_array(coverage)
    return Instance(weight=np.ones(coverage.shape[0]), cost=np.asarray(cost, float),
                    pair_demand=c.row, pair_site=c.col, pair_dist=np.zeros(c.nnz),
                    threshold_m=1.0)


def pmed_instance(path: str | Path) -> tuple[Instance, int]:
    """A p-median file as an :class:`Instance` for
    :class:`~siting.models.median.PMedian`, and its ``p``.

    Every vertex is a demand point of weight 1 and a candidate site of cost 0; every
    pair of connected vertices is stored with its shortest-path distance
    (``threshold_m`` the largest).

    Parameters
    ----------
    path
        The ``pmed*.txt`` file.

    Returns
    -------
    instance : Instance
    p : int
        The number of medians the file asks for.
    """
    dist, p = read_pmed(path)
    d, s = np.nonzero(np.isfinite(dist))
    far = float(dist[d, s].max()) if len(d) else 1.0
    inst = Instance(weight=np.ones(len(dist)), cost=np.zeros(len(dist)), pair_demand=d,
                    pair_site=s, pair_dist=dist[d, s], threshold_m=max(far, 1.0))
    return inst, p
