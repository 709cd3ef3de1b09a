"""The embedded model's input tables, completed with documented defaults.

:func:`prepare_demand` and :func:`prepare_sites` take the demand and site tables as a
user or the pipeline gives them and return the columns the model reads, saying in
notes what they derived.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from siting.config.policy import AGE_GROUPS, Policy
from siting.costs import embedded_site_costs
from siting.errors import SitingError


def prepare_demand(demand: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, list[str]]:
    """Demand table with every group column, ``households`` and ``community_id``.

    Missing age-group columns are derived as ``population × policy age share``;
    missing ``households`` as ``population / household_size``. Without ``community_id``,
    points with projected geometry are grouped into square planning cells of
    ``area_standard.fallback_cell_m`` (about one 完整居住社区 of 0.5–1.2万 people at
    city-centre densities); others form one community ``"all"``.

    Parameters
    ----------
    demand
        One row per demand point with at least ``population``.
    policy
        The validated policy.

    Returns
    -------
    tuple of (pandas.DataFrame, list of str)
        The completed table and notes saying what was derived.
    """
    if "population" not in demand:
        raise SitingError(f"demand table has no 'population' column; columns are {list(demand.columns)}")
    out = pd.DataFrame(index=pd.RangeIndex(len(demand)))
    pop = pd.to_numeric(demand["population"], errors="coerce").to_numpy(float)
    if np.any(~np.isfinite(pop)) or np.any(pop < 0):
        raise SitingError("demand 'population' must be finite and >= 0 in every row")
    out["population"] = pop
    notes = []
    derived = []
    for g in AGE_GROUPS:
        if g in demand:
            out[g] = pd.to_numeric(demand[g], errors="coerce").fillna(0).to_numpy(float)
        else:
            out[g] = pop * policy.population.age_shares[g]
            derived.append(g)
    if derived:
        notes.append(f"age groups {', '.join(derived)} derived from population × policy age shares")
    if "households" in demand:
        out["households"] = pd.to_numeric(demand["households"], errors="coerce").fillna(0).to_numpy(float)
    else:
        out["households"] = pop / policy.population.household_size
        notes.append(f"households = population / {policy.population.household_size}")
    if "community_id" in demand and demand["community_id"].notna().all():
        out["community_id"] = demand["community_id"].astype(str).to_numpy()
        out["community_name"] = (demand["community_name"].astype(str).to_numpy()
                                 if "community_name" in demand else out["community_id"])
    elif hasattr(demand, "geometry") and getattr(demand, "crs", None) is not None \
            and demand.crs.is_projected and len(demand):
        # no community boundaries: square planning cells of about one 完整居住社区
        cell = policy.area_standard.fallback_cell_m
        ix = np.floor(demand.geometry.x.to_numpy() / cell).astype(np.int64)
        iy = np.floor(demand.geometry.y.to_numpy() / cell).astype(np.int64)
        out["community_id"] = [f"cell_{a}_{b}" for a, b in zip(ix, iy)]
        out["community_name"] = [f"{cell:g} m planning cell (E{a * cell:.0f}, N{b * cell:.0f})"
                                 for a, b in zip(ix, iy)]
        notes.append(f"no community_id: communities are {cell:g} m × {cell:g} m planning cells "
                     "(area_standard.fallback_cell_m); give community boundaries for real ones")
    else:
        out["community_id"] = "all"
        out["community_name"] = "whole study area"
        notes.append("no community_id and no projected geometry: the whole study area is "
                     "treated as one community")
    return out, notes


def _site_label(sites: pd.DataFrame, i: int) -> str:
    """A site as a planner knows it: its name and file id, not its row position."""
    row = sites.iloc[int(i)]
    parts = [str(row[c]) for c in ("name", "source_id") if c in sites and isinstance(row[c], str)
             and row[c]]
    src = row["source"] if "source" in sites and isinstance(row["source"], str) else None
    text = " ".join(parts) if parts else f"site {row['site_id'] if 'site_id' in sites else i}"
    return f"{text} ({src})" if src else text


def prepare_sites(sites: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, list[str]]:
    """Site table with areas, costs, existing services and storeys, defaults filled in.

    The table gets ``usable_area_m2``, ``cost``, ``annual_cost``,
    ``one_off_per_m2_used``, ``annual_per_m2_used``, ``acquisition_mode``, ``existing``,
    ``existing_services`` (list), ``complex`` (declared), ``ground_floor``, ``lift``,
    ``kind`` and ``level`` (an existing facility's ``[hierarchy]`` level key, else None).
    ``one_off_per_m2_used`` and ``annual_per_m2_used`` are charged per m² the
    plan uses at a site (a lease or renovation), ``cost`` (CNY once) and ``annual_cost``
    (CNY per year) per site opened — except where that component has a rate per m²
    used: there they are the usable-area price of :func:`siting.costs.price` and are not
    charged (:func:`siting.costs.embedded_site_costs`), so a candidate table can be
    passed as it is. Missing columns are 0. Without any cost or rate, cost = usable
    area × ``costs.acquisition_per_m2`` (a placeholder).

    Parameters
    ----------
    sites
        One row per candidate or existing site with at least ``usable_area_m2``.
    policy
        The validated policy.

    Returns
    -------
    tuple of (pandas.DataFrame, list of str)
        The completed table and notes saying what was assumed.
    """
    if "usable_area_m2" not in sites:
        raise SitingError(f"site table has no 'usable_area_m2' column; columns are {list(sites.columns)}")
    out = pd.DataFrame(index=pd.RangeIndex(len(sites)))
    area = pd.to_numeric(sites["usable_area_m2"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(area) | (area < 0)
    if bad.any():
        raise SitingError("usable_area_m2 is missing or negative for sites: "
                          + ", ".join(_site_label(sites, i) for i in np.flatnonzero(bad)[:5])
                          + (f" and {int(bad.sum()) - 5} more" if bad.sum() > 5 else "")
                          + "; give a floor area (建筑面积) for these sites")
    out["usable_area_m2"] = area
    out["site_id"] = sites["site_id"].to_numpy() if "site_id" in sites else np.arange(len(sites))
    if "source_id" in sites:  # the planner's stable id (OSM id, 编号), for outputs
        out["source_id"] = sites["source_id"].astype(str).to_numpy()
    out["kind"] = sites["kind"].astype(str).to_numpy() if "kind" in sites else "unknown"
    notes = []
    money = {c: pd.to_numeric(sites[c], errors="coerce").fillna(0).to_numpy(float)
             if c in sites else np.zeros(len(sites))
             for c in ("cost", "annual_cost", "one_off_per_m2_used", "annual_per_m2_used")}
    if not any(v.any() for v in money.values()):
        money["cost"] = area * policy.costs.acquisition_per_m2
        notes.append(f"no site costs: cost = usable area × {policy.costs.acquisition_per_m2:g} "
                     "CNY/m² (policy costs.acquisition_per_m2, a placeholder)")
    if any(np.any(v < 0) for v in money.values()):
        raise SitingError("site costs must be >= 0")
    for c, v in embedded_site_costs(pd.DataFrame(money)).items():
        out[c] = v.to_numpy(float)
    out["acquisition_mode"] = (sites["acquisition_mode"].fillna("unknown").astype(str).to_numpy()
                               if "acquisition_mode" in sites else "unknown")
    out["existing"] = sites["existing"].fillna(False).astype(bool).to_numpy() \
        if "existing" in sites else False
    out["complex"] = sites["complex"].fillna(False).astype(bool).to_numpy() \
        if "complex" in sites else False
    out["ground_floor"] = pd.to_numeric(sites["ground_floor"], errors="coerce").to_numpy(float) \
        if "ground_floor" in sites else np.nan
    # 1 = the building has a lift, 0 = none, NaN = unknown (inventory 电梯/lift column)
    out["lift"] = pd.to_numeric(sites["lift"], errors="coerce").to_numpy(float) \
        if "lift" in sites else np.nan
    services: list[list[str]] = []
    raw = sites["existing_services"] if "existing_services" in sites else [None] * len(sites)
    for v in raw:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            services.append([])
        elif isinstance(v, str):
            services.append([p.strip() for p in v.replace(";", ",").split(",") if p.strip()])
        else:
            services.append([str(p) for p in v])
    # services the policy does not plan (e.g. a kindergarten) are kept out of the model
    unknown = sorted({s for svc in services for s in svc if s not in policy.services})
    if unknown:
        warnings.warn(f"existing facilities offer {unknown}, which are not services of the "
                      f"policy ({', '.join(policy.services)}); they are not counted", stacklevel=3)
    out["existing_services"] = [[s for s in svc if s in policy.services] for svc in services]
    out["level"] = _existing_levels(sites, out["existing"].to_numpy(bool), policy)
    for s in policy.active_services:
        col = f"area_m2_{s}"
        if col in sites:
            out[col] = pd.to_numeric(sites[col], errors="coerce").fillna(0).to_numpy(float)
    return out, notes


def _existing_levels(sites: pd.DataFrame, existing: np.ndarray, policy: Policy) -> list:
    """Each site's level key from a ``level`` column (key, Chinese or English name of an
    enabled ``[hierarchy]`` level): existing facilities only; None where blank."""
    raw = sites["level"] if "level" in sites else pd.Series([None] * len(sites))
    given = raw.notna() & raw.astype(str).str.strip().ne("")
    if not given.any():
        return [None] * len(sites)
    h = policy.hierarchy
    names = {n.strip().lower(): k for k, lv in h.active.items()
             for n in (k, lv.name_zh, lv.name_en)}
    choices = ", ".join(f"{k} / {lv.name_zh}" for k, lv in h.active.items())
    out: list = []
    for i, (v, has) in enumerate(zip(raw, given)):
        if not has:
            out.append(None)
            continue
        where = f"site {_site_label(sites, i)}: level {str(v)!r}"
        if not existing[i]:
            raise SitingError(f"{where} is given for a candidate; the model chooses each new "
                              "site's level — give levels (层级) for existing facilities (现有) "
                              "only")
        if not h.enabled:
            raise SitingError(f"{where}: levels of existing facilities count for the policy's "
                              "[hierarchy], which is off; set [policy.hierarchy] enabled = true "
                              "or drop the level column")
        key = names.get(str(v).strip().lower())
        if key is None:
            raise SitingError(f"{where} is not an enabled level of the policy ({choices}); "
                              "give one of them")
        out.append(key)
    return out
