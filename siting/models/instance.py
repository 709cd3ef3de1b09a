"""The optimiser's input: demand weights, site costs and sparse walking distances.

No geometry: an :class:`Instance` can be built by hand for tests and brute force.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from siting.errors import SitingError


@dataclass
class Instance:
    """Demand points, candidate sites and the walking distances between them.

    Parameters
    ----------
    weight
        ``(n_demand,)`` people at each demand point.
    cost
        ``(n_sites,)`` cost of opening each site (zeros when unknown).
    pair_demand, pair_site, pair_dist
        One entry per (demand, site) pair within ``threshold_m``: indices and the
        walking distance in metres (snap distances included). Only pairs within reach
        are stored, so memory grows with pairs, never with demand × sites.
    threshold_m
        Largest walking distance the pairs were computed for.
    """

    weight: np.ndarray
    cost: np.ndarray
    pair_demand: np.ndarray
    pair_site: np.ndarray
    pair_dist: np.ndarray
    threshold_m: float
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.weight = np.asarray(self.weight, dtype=float)
        self.cost = np.asarray(self.cost, dtype=float)
        self.pair_demand = np.asarray(self.pair_demand, dtype=np.int64)
        self.pair_site = np.asarray(self.pair_site, dtype=np.int64)
        self.pair_dist = np.asarray(self.pair_dist, dtype=float)
        if not (len(self.pair_demand) == len(self.pair_site) == len(self.pair_dist)):
            raise SitingError("pair_demand, pair_site and pair_dist must have the same length")
        if np.any(self.weight < 0) or not np.all(np.isfinite(self.weight)):
            raise SitingError("demand weights must be finite and >= 0")
        if np.any(self.cost < 0):
            raise SitingError("site costs must be >= 0")
        if len(self.pair_demand) and (
            self.pair_demand.max() >= self.n_demand or self.pair_site.max() >= self.n_sites
            or self.pair_demand.min() < 0 or self.pair_site.min() < 0
        ):
            raise SitingError("pair indices out of range of the demand and site arrays")

    @property
    def n_demand(self) -> int:
        """Number of demand points."""
        return len(self.weight)

    @property
    def n_sites(self) -> int:
        """Number of candidate sites."""
        return len(self.cost)

    def coverage(self, threshold_m: float | None = None) -> sp.csr_array:
        """Boolean ``(n_demand, n_sites)`` sparse matrix: site j within ``threshold_m`` of i.

        Cached per threshold.

        Parameters
        ----------
        threshold_m
            Walking threshold in metres, > 0 and at most the instance's ``threshold_m``
            (the default).

        Returns
        -------
        scipy.sparse.csr_array

        Raises
        ------
        SitingError
            If the threshold is not positive or exceeds the instance's.
        """
        t = self.threshold_m if threshold_m is None else threshold_m
        if t <= 0:
            raise SitingError(f"walking threshold must be > 0 m, got {t}")
        if t > self.threshold_m + 1e-9:
            raise SitingError(
                f"threshold {t} m exceeds the {self.threshold_m} m the distances were computed for"
            )
        key = ("cov", float(t))
        if key not in self._cache:
            m = self.pair_dist <= t
            self._cache[key] = sp.csr_array(
                (np.ones(int(m.sum()), bool), (self.pair_demand[m], self.pair_site[m])),
                shape=(self.n_demand, self.n_sites),
            )
        return self._cache[key]

    def coverable(self, threshold_m: float | None = None) -> np.ndarray:
        """Boolean per demand point: at least one candidate site within reach.

        Parameters
        ----------
        threshold_m
            Walking threshold in metres; default the instance's ``threshold_m``.

        Returns
        -------
        numpy.ndarray
            ``(n_demand,)`` booleans.
        """
        return np.diff(self.coverage(threshold_m).indptr) > 0

    def covered_by(self, sites, threshold_m: float | None = None) -> np.ndarray:
        """Boolean per demand point: covered by at least one of ``sites`` (indices).

        Parameters
        ----------
        sites
            Indices of the open sites (array-like of int).
        threshold_m
            Walking threshold in metres; default the instance's ``threshold_m``.

        Returns
        -------
        numpy.ndarray
            ``(n_demand,)`` booleans.
        """
        open_ = np.zeros(self.n_sites, bool)
        open_[np.asarray(sites, dtype=np.int64)] = True
        return self.coverage(threshold_m) @ open_.astype(np.int64) > 0
