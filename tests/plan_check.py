"""Re-check an embedded plan from its result tables and the raw inputs (not the model).

Used by the brute-force and Nanjing tests: recomputes floor areas, budget, capacities,
walking distances, people served and the area standard from ``EmbeddedSolution`` tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def check_plan(model, sol, tol: float = 1e-5) -> dict:
    """Assert the plan obeys every rule; return recomputed totals."""
    model = model.data  # the model's options and prepared input tables (EmbeddedData)
    pol, inst = model.policy, model.instance
    services = pol.active_services
    sites_in, demand_in = model.sites, model.demand  # the input tables (after defaults)
    st = sol.sites
    svc = {s: pol.services[s] for s in services}
    cost_total = 0.0
    hosted = {}
    for _, r in st.iterrows():
        j = int(r["site"])
        usable = float(sites_in["usable_area_m2"][j])
        areas = {s: float(r[f"area_m2_{s}"]) for s in services}
        assert sum(areas.values()) <= usable * (1 + tol) + tol, f"site {j} over its area"
        on = [s for s, a in areas.items() if a > 1e-6]
        for s in on:
            hosted[j, s] = areas[s]
            assert abs(r[f"units_{s}"] - areas[s] / svc[s].floor_m2_per_unit) <= tol * max(1, areas[s])
        if not r["existing"]:
            storey = float(sites_in["ground_floor"][j]) if "ground_floor" in sites_in else np.nan
            for s in on:
                assert areas[s] >= svc[s].min_floor_m2 * (1 - tol), f"site {j} {s} below min area"
                lo, hi = svc[s].lowest_storey, svc[s].highest_storey
                assert not (lo is not None and storey < lo), f"site {j} {s} below storey {lo}"
                assert not (hi is not None and storey > hi), f"site {j} {s} above storey {hi}"
                lift = float(sites_in["lift"][j]) if "lift" in sites_in else np.nan
                up = svc[s].lift_from_storey
                assert not (up is not None and storey >= up and lift == 0), \
                    f"site {j} {s} on storey {storey:g} without a lift"
            cx = pol.complex
            if len(on) > 1 and cx.multi_function_requires_complex:
                assert r["complex"], f"multi-function site {j} is not a complex"
            if r["complex"] or sites_in["complex"][j]:
                assert len(on) >= cx.min_functions
                assert sum(s in cx.priority_services for s in on) >= cx.min_priority_functions
                assert sum(areas.values()) >= cx.min_floor_m2 * (1 - tol)
            fit = sum(a * (svc[s].fit_out_per_m2 if svc[s].fit_out_per_m2 is not None
                           else pol.costs.fit_out_per_m2) for s, a in areas.items())
            # fixed charges per site + charges per m² used (leases, renovations)
            h, used = pol.costs.horizon_years, sum(areas.values())
            one_off = float(sites_in["cost"][j]) + float(sites_in["one_off_per_m2_used"][j]) * used
            annual = float(sites_in["annual_cost"][j]) + float(
                sites_in["annual_per_m2_used"][j]) * used
            acq = one_off + h * annual
            assert abs(r["cost_total"] - (acq + fit)) <= tol * max(1.0, acq + fit)
            for col, want in (("cost_one_off", one_off), ("cost_fit_out", fit),
                              ("cost_rent_horizon", h * annual)):
                assert abs(r[col] - want) <= tol * max(1.0, want), (j, col, r[col], want)
            cost_total += acq + fit
    if model.budget is not None and model.objective != "min_cost":
        assert cost_total <= model.budget * (1 + 1e-7) + 1e-3, "over budget"
    if model.max_new_sites is not None:
        assert (~st["existing"].astype(bool)).sum() <= model.max_new_sites
    # distances straight from the instance pairs
    pair = {(int(i), int(j)): float(d) for i, j, d in
            zip(inst.pair_demand, inst.pair_site, inst.pair_dist)}
    a = sol.assignments
    served = {}
    for s in services:
        rate = svc[s].rate
        group = demand_in[svc[s].demand_group].to_numpy(float)
        t = pol.threshold_m(s)
        sa = a[a["service"] == s]
        for _, r in sa.iterrows():
            i, j = int(r["demand"]), int(r["site"])
            assert (j, s) in hosted, f"{s} assigned to site {j} that does not host it"
            assert (i, j) in pair and pair[i, j] <= t + 1e-6, f"{s}: {i}->{j} beyond threshold"
            assert abs(pair[i, j] - r["dist_m"]) <= 1e-6
            assert abs(r["people"] * rate - r["units"]) <= tol * max(1.0, r["units"])
        if model.capacity:
            per_site = sa.groupby("site")["units"].sum()
            for j, u in per_site.items():
                assert u <= hosted[j, s] / svc[s].floor_m2_per_unit * (1 + tol) + tol
            per_dem = sa.groupby("demand")["units"].sum()
            for i, u in per_dem.items():
                assert u <= group[i] * rate * (1 + tol) + tol
        else:
            per_dem = sa.groupby("demand")["people"].sum()
            for i, p in per_dem.items():
                assert p <= group[i] * (1 + tol) + tol
        served[s] = float(sa["people"].sum())
        row = sol.services.set_index("service").loc[s]
        assert abs(row["served_people"] - served[s]) <= tol * max(1.0, served[s])
    # area standard: households, reach and allocations recomputed
    if model.standard_mode != "off":
        hh = demand_in["households"].to_numpy(float)
        comm = demand_in["community_id"].to_numpy()
        H = pd.Series(hh).groupby(comm).sum()
        reach_m = pol.standard_reach_m
        within = pd.DataFrame([(comm[i], j, hh[i]) for (i, j), d in pair.items() if d <= reach_m + 1e-9],
                              columns=["c", "j", "hh"]).groupby(["c", "j"])["hh"].sum()
        ca = sol.community_area
        site_area = {int(r["site"]): (float(sites_in["usable_area_m2"][int(r["site"])])
                                      if r["existing"] else float(r["area_m2"]))
                     for _, r in st.iterrows()}
        for j, m2 in ca.groupby("site")["m2"].sum().items():
            assert m2 <= site_area.get(int(j), 0.0) * (1 + tol) + tol, f"site {j} counted twice"
        for _, r in ca.iterrows():
            share = within.get((r["community_id"], int(r["site"])), 0.0) / H[r["community_id"]]
            assert share >= pol.area_standard.reach_share - 1e-9, "area counted out of reach"
        provided = ca.groupby("community_id")["m2"].sum()
        rate = model.standard / 100.0
        for _, r in sol.communities.iterrows():
            req = rate * H[r["community_id"]]
            assert abs(r["required_m2"] - req) <= tol * max(1.0, req)
            p = float(provided.get(r["community_id"], 0.0))
            assert abs(r["provided_m2"] - p) <= tol * max(1.0, p)
            assert bool(r["met"]) == (p >= req * (1 - 1e-6) - 1e-9)
            if model.standard_mode == "hard":
                assert r["met"]
    return {"cost": cost_total, "served": served}
