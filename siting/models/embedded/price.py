"""The budget's price for a decomposed embedded model (Lagrangian relaxation of the budget).

:class:`PriceSearch` chooses the prices :math:`λ` at which every distinct group is solved
over all its costs; :func:`lp_price` is the first, read off the groups' LP relaxations
(swept at :func:`lp_budgets`); :func:`rel_gap` sets how closely each :math:`M(λ)` is
proven. See :mod:`~siting.models.embedded.decompose`.
"""

from __future__ import annotations

import math

import numpy as np

from siting.models.embedded.allocate import Curve

_INF = float("inf")
MAX_PRICES = 8  # prices of the budget tried
LP_LADDER = (0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 4.0)  # LP budgets, × the share


class PriceSearch:
    r"""The search for the budget's price :math:`λ` (Lagrangian relaxation of the budget).

    :math:`L(λ) = \sum_g M_g(λ) + λB` bounds the city for every :math:`λ \ge 0`
    (:math:`M_g` the most value :math:`-` λ cost of group :math:`g` over all its
    plans); it is convex in :math:`λ` with slope :math:`B - \sum_g c_g(λ)` (the costs of
    the plans reaching :math:`M_g`). From the LP's price, steps of growing size find
    prices on both sides of the minimum; then the two sides' tangents meet at the next
    price, until the bracket closes, the best :math:`L` is within ``tol`` (relative) of
    the tangents' meeting value (no price can lower it by more), or :data:`MAX_PRICES`
    prices are tried.

    Parameters
    ----------
    budget
        The city budget :math:`B`.
    start
        The first price (the LP's); None: no search.
    tol
        Relative improvement of the bound below which the search stops.
    """

    def __init__(self, budget: float, start: float | None, tol: float = 0.0) -> None:
        self.budget = budget
        self.start = start
        self.tol = tol
        self.tried: list[tuple[float, float, float]] = []  # (λ, L(λ), slope)

    def add(self, lam: float, M: list[float], costs: list[float], count: np.ndarray) -> None:
        """Record the classes' Lagrangian solves at a price.

        Parameters
        ----------
        lam
            The price :math:`λ`.
        M
            Per class, its proven :math:`M(λ)` (``inf`` when not proven).
        costs
            Per class, the cost of the plan found.
        count
            Per class, how many groups it stands for.
        """
        L = float(np.dot(count, M)) + lam * self.budget
        slope = self.budget - float(np.dot(count, costs))
        self.tried.append((lam, L if math.isfinite(L) else _INF, slope))

    def next(self, slots: int = 1) -> list[float]:
        """The next prices to try.

        Parameters
        ----------
        slots
            How many prices may be solved at once.

        Returns
        -------
        list of float
            At most ``slots`` prices; empty when the search is over.
        """
        if self.start is None or len(self.tried) >= MAX_PRICES:
            return []
        if not self.tried:
            return [self.start] + [self.start / (1 + 0.05 * i) for i in range(1, slots)]
        over = [t for t in self.tried if t[2] < 0]  # λ too low: the plans cost too much
        within = [t for t in self.tried if t[2] >= 0]
        if any(t[0] == 0.0 for t in within):  # the budget does not bind
            return []
        step = 0.05 * 2 ** len(self.tried)
        if not over:
            low = min(t[0] for t in within)
            return [low / (1 + step * i) for i in range(1, slots + 1)]
        if not within:
            high = max(t[0] for t in over)
            return [high * (1 + step * i) for i in range(1, slots + 1)]
        lo = max(over, key=lambda t: t[0])
        hi = min(within, key=lambda t: t[0])
        if hi[0] - lo[0] <= 1e-4 * hi[0]:
            return []
        lam = (lo[0] + hi[0]) / 2
        if math.isfinite(lo[1]) and math.isfinite(hi[1]) and hi[2] > lo[2]:
            # L(λ) ≥ max of the two tangents: their meeting point
            meet = (hi[1] - lo[1] + lo[2] * lo[0] - hi[2] * hi[0]) / (lo[2] - hi[2])
            best = min(t[1] for t in self.tried)
            if best - (lo[1] + lo[2] * (meet - lo[0])) <= self.tol * abs(best):
                return []  # L(λ) ≥ both tangents: no price lowers the bound by more
            if lo[0] < meet < hi[0]:
                lam = meet
        out = [lam]
        if slots > 1:  # and the middle of the wider side
            wide = lo[0] if lam - lo[0] > hi[0] - lam else hi[0]
            out.append((lam + wide) / 2)
        return [x for x in out[:slots]
                if all(abs(x - t[0]) > 1e-9 * max(x, 1e-12) for t in self.tried)]


def rel_gap(curve: Curve, lam: float, tol: float, most: float) -> float:
    """The relative gap that proves a class's :math:`M(λ)` to about ``tol`` (absolute).

    Parameters
    ----------
    curve
        The class's curve; :math:`|M|` is estimated from its bounded points.
    lam
        The price.
    tol
        The absolute precision wanted.
    most
        The largest relative gap returned.

    Returns
    -------
    float
    """
    est = max((p.bound - lam * p.budget for p in curve.points if math.isfinite(p.bound)),
              default=_INF)
    if not math.isfinite(est):
        return most
    return float(np.clip(tol / max(abs(est), 1.0), 1e-7, most))


def lp_price(curves: list[Curve], count: np.ndarray, budget: float) -> float | None:
    """The budget's price in the LP relaxation, read off the classes' LP points.

    Parameters
    ----------
    curves
        Per class, its curve with the LP sweep's points.
    count
        Per class, how many groups it stands for.
    budget
        The city budget.

    Returns
    -------
    float or None
        The least secant slope at which the budgets the classes ask fit the city's;
        None without two bounded points per class.
    """
    pts = []
    for c in curves:
        p = [(q.budget, q.bound) for q in c.points if math.isfinite(q.bound)]
        pts.append(sorted(p))
    if any(len(p) < 2 for p in pts):
        return None
    slopes = sorted({max((v2 - v1) / (b2 - b1), 0.0) for p in pts
                     for (b1, v1), (b2, v2) in zip(p, p[1:]) if b2 > b1})
    for lam in slopes:
        asked = sum(n * max(p, key=lambda q: (q[1] - lam * q[0], -q[0]))[0]
                    for n, p in zip(count, pts))
        if asked <= budget * (1 + 1e-9):
            return lam
    return slopes[-1] if slopes else None


def lp_budgets(share: float, budget: float) -> list[float]:
    """Budgets of a group's LP sweep: around its share of the city budget, and all of it.

    Parameters
    ----------
    share
        The group's share of the city budget.
    budget
        The city budget.

    Returns
    -------
    list of float
        Increasing.
    """
    return sorted({min(share * f, budget) for f in LP_LADDER} | {budget})
