"""Helpers for the report tests: runs, and a run enriched with the columns later stages add."""

from __future__ import annotations

import dataclasses

import numpy as np

XSS = "<img src=x onerror=alert(1)>"


def run_small(osm, **kw):
    from siting.config.scenario import make_scenario
    from siting.pipeline import run

    return run(make_scenario(osm=osm, **kw))


def with_site_name(result, name: str, k: int = 0):
    """Copy of ``result`` whose ``k``-th chosen site is called ``name``."""
    sites = result.sites.copy()
    j = int(result.solution.chosen[k])
    sites.loc[sites["site_id"] == j, "name"] = name
    return dataclasses.replace(result, sites=sites)


def enriched(result):
    """Copy of ``result`` with the columns and keys of issues 3, 4 and 5: services per site,
    acquisition mode, cost, an existing facility; demand groups and two communities; the
    summary's per-service numbers."""
    sites, demand = result.sites.copy(), result.demand.copy()
    chosen = list(result.solution.chosen)
    sites["area_m2_infant_care"] = 0.0
    sites["units_infant_care"] = 0.0
    sites["area_m2_elderly_care"] = 0.0
    sites["units_elderly_care"] = 0.0
    sites.loc[chosen, "area_m2_infant_care"] = 120.0
    sites.loc[chosen, "units_infant_care"] = 15.0
    sites.loc[chosen[0], "area_m2_elderly_care"] = 300.0   # one complex, the rest single
    sites.loc[chosen[0], "units_elderly_care"] = 20.0
    sites["acquisition_mode"] = "lease"
    sites.loc[chosen[0], "acquisition_mode"] = "transfer"
    sites["cost"] = sites["usable_area_m2"] * 3000.0
    sites["annual_cost"] = 0.0
    sites["cost_one_off"] = sites["cost"]                  # the breakdown outputs read
    sites["cost_fit_out"] = sites["usable_area_m2"] * 500.0
    sites["cost_rent_horizon"] = 0.0
    sites["cost_total"] = sites["cost_one_off"] + sites["cost_fit_out"]
    sites["existing"] = False
    other = int(np.flatnonzero(~sites["chosen"].to_numpy())[0])
    sites.loc[other, ["existing", "existing_services", "source"]] = [True, "health_station",
                                                                      "inventory"]
    sites["existing"] = sites["existing"].astype(bool)
    east = demand.geometry.x > demand.geometry.x.median()
    demand["community_id"] = np.where(east, "C1", "C2")
    demand["community_name"] = np.where(east, "东区社区", XSS)
    demand["age_0_2"] = demand["population"] * 0.03
    demand["households"] = demand["population"] / 2.8
    summary = dict(result.summary)
    cost_total = float(sites.loc[chosen, "cost_total"].sum())
    summary.update(
        served_by_service={"infant_care": 1000.0, "elderly_care": 400.0},
        unmet_by_service={"infant_care": 50.0, "elderly_care": 250.0},
        communities_meeting_standard=1, communities_total=2, cost_total=cost_total,
        budget=cost_total * 1.5,
        population_by_group={"age_0_2": float(demand["age_0_2"].sum())},
    )
    candidates = result.candidates.copy()  # the same costs in candidates.gpkg
    for col in ("cost", "annual_cost", "cost_one_off", "cost_fit_out", "cost_rent_horizon",
                "cost_total"):
        values = candidates[col].to_numpy(float).copy()
        values[:len(sites)] = sites[col].to_numpy(float)
        candidates[col] = values
    return dataclasses.replace(result, sites=sites, demand=demand, summary=summary,
                               candidates=candidates)
