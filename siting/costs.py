"""What a candidate site costs: its price by acquisition mode, and the embedded model's view.

Rates are data in ``[sites.costs.<mode>]`` of the policy (:mod:`siting.config.site_policy`);
:func:`price` turns them into the cost columns of the candidate table
(:mod:`siting.candidates`), :func:`embedded_site_costs` into the charges the embedded model
reads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COST_PARTS = ("cost_one_off", "cost_fit_out", "cost_rent_horizon")  # sum = cost_total
RATE_COLUMNS = ("one_off_per_m2_used", "annual_per_m2_used")


def price(usable_m2, mode, policy: dict, cost=None, annual_cost=None) -> pd.DataFrame:
    """What taking a site by ``mode`` costs: its usable-area price and per-m²-used rates.

    Rates are CNY per m² from ``[sites.costs.<mode>]`` (``one_off_per_m2``,
    ``annual_per_m2``); ``charged_on`` says what a mode acquires:

    * ``"whole"`` (purchase, transfer, new build): the usable area is bought, at most
      ``cost_area_cap_m2`` of it — a fixed charge per site in every model;
    * ``"used"`` (rent, renovation): only the m² a facility uses. The embedded model,
      which allocates m², charges ``one_off_per_m2_used`` / ``annual_per_m2_used`` per
      m² it uses; the covering models, which allocate none, charge the usable area (at
      most the cap), the space a facility there takes.

    ``cost`` / ``annual_cost`` given (not NaN, an inventory's whole-row figures) win and
    are fixed per site: their rate per m² used is then 0.

    Parameters
    ----------
    usable_m2
        Usable floor area of each site, m².
    mode
        Acquisition mode of each site (``renovate``, ``lease``, ``transfer``, ``new_build``).
    policy
        The ``[sites]`` table (:func:`siting.config.site_policy.load_site_policy`).
    cost
        One-off CNY per site given by an inventory (NaN: from the rates); optional.
    annual_cost
        CNY per year per site given by an inventory (NaN: from the rates); optional.

    Returns
    -------
    pandas.DataFrame
        ``cost``, ``annual_cost`` (usable-area price), the breakdown ``cost_one_off``
        (= ``cost``), ``cost_fit_out`` (0), ``cost_rent_horizon`` (annual ×
        ``horizon_years``), ``cost_total`` (their sum), and ``one_off_per_m2_used``,
        ``annual_per_m2_used``.
    """
    usable = pd.Series(np.asarray(usable_m2, dtype=float))
    mode = pd.Series(np.asarray(mode, dtype=object))
    area = usable.clip(upper=float(policy.get("cost_area_cap_m2", np.inf)))
    rate = {k: mode.map(lambda m, k=k: policy["costs"][m].get(k, 0.0)).astype(float)
            for k in ("one_off_per_m2", "annual_per_m2")}
    used = mode.map(lambda m: policy["costs"][m].get("charged_on", "whole") == "used")
    out = {}
    for col, key, given in (("cost", "one_off_per_m2", cost),
                            ("annual_cost", "annual_per_m2", annual_cost)):
        value = area * rate[key]
        per_used = rate[key].where(used, 0.0)
        if given is not None:
            given = pd.Series(np.asarray(given, dtype=float))
            value = given.where(given.notna(), value)
            per_used = per_used.where(given.isna(), 0.0)
        out[col], out[f"{col}_rate"] = value, per_used
    horizon = float(policy["costs"].get("horizon_years", 0))
    return pd.DataFrame({
        "cost": out["cost"], "annual_cost": out["annual_cost"],
        "cost_one_off": out["cost"], "cost_fit_out": 0.0,
        "cost_rent_horizon": out["annual_cost"] * horizon,
        "cost_total": out["cost"] + out["annual_cost"] * horizon,
        "one_off_per_m2_used": out["cost_rate"], "annual_per_m2_used": out["annual_cost_rate"]})


def embedded_site_costs(sites: pd.DataFrame) -> pd.DataFrame:
    """The cost columns the embedded model reads, from a candidate table.

    ``cost`` / ``annual_cost`` become the charges fixed per site (whole-site modes,
    given costs); a component charged per m² used (its rate > 0) has no fixed part.

    Parameters
    ----------
    sites
        A candidate table (:data:`siting.candidates.COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        A copy with ``cost``/``annual_cost`` fixed per site and the per-m²-used rates.
    """
    out = sites.copy()
    for col, rate in (("cost", "one_off_per_m2_used"), ("annual_cost", "annual_per_m2_used")):
        r = pd.to_numeric(out[rate], errors="coerce").fillna(0.0)
        out[col] = pd.to_numeric(out[col], errors="coerce").fillna(0.0).where(r <= 0, 0.0)
        out[rate] = r
    return out
