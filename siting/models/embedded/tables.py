"""The embedded model's result: :class:`EmbeddedSolution` and the tables read from a solve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.needs import weighted_served
from siting.models.embedded.operations import operation_table
from siting.models.embedded.rooms import room_notes, room_tables, shared_by_site
from siting.solvers import SolverResult

# a plan site's cost breakdown: cost_total = one-off + fit-out + rent over the horizon
COST_COLUMNS = ("cost_one_off", "cost_fit_out", "cost_rent_horizon", "cost_total", "annual_cost")
_EPS = 1e-6


@dataclass
class EmbeddedSolution:
    """A plan: sites with their service mix, people served, community standards.

    Attributes
    ----------
    sites
        One row per opened site (new or existing): ``site``, ``site_id``, ``kind``,
        ``acquisition_mode``, ``existing``, ``complex``, ``services``,
        ``area_m2_<service>``, ``units_<service>``, ``area_m2``, the cost breakdown
        ``cost_one_off`` (fixed one-off + one-off per m² used), ``cost_fit_out``,
        ``cost_rent_horizon`` (horizon × ``annual_cost``), ``cost_total`` (their sum;
        0 for existing sites) and ``annual_cost`` (CNY per year), ``people_served``,
        ``marginal_value``, ``marginal_people``.
    services
        One row per service: demand, people in reach, people served (total and within
        each tier), unmet, units needed and provided, floor area.
    communities
        One row per community: ``households``, ``required_m2``, ``provided_m2``,
        ``reachable_m2`` (all usable area in reach), ``shortfall_m2``, ``met``.
    assignments
        Who is served where: ``demand``, ``site``, ``service``, ``units``, ``people``,
        ``dist_m`` (capacity mode: the flows; coverage mode: nearest hosting site).
    community_area
        Floor area of each site counted towards each community (``site``,
        ``community_id``, ``m2``); a site's area is never counted twice.
    summary
        Totals, status, objective, LP bound and MIP gap, notes.
    sheets
        More report tables by sheet key: ``shared_rooms`` and ``levels``
        (:func:`~.rooms.room_tables`) when the policy lists shared pairs or levels, a
        programme's ``annual_plan``, ``funding`` … The sites then also get ``shared_m2``,
        ``shared_rooms``, ``level`` and ``level_name``, and always the operating columns
        (:data:`~.operations.OPERATION_COLUMNS`).
    """

    sites: pd.DataFrame
    services: pd.DataFrame
    communities: pd.DataFrame
    assignments: pd.DataFrame
    community_area: pd.DataFrame
    summary: dict = field(default_factory=dict)
    sheets: dict = field(default_factory=dict)

    @property
    def chosen(self) -> np.ndarray:
        """Row numbers of the opened sites, sorted."""
        return np.sort(self.sites["site"].to_numpy(np.int64))

    @property
    def served_by_service(self) -> dict:
        """Service key → people served."""
        return dict(zip(self.services["service"], self.services["served_people"].astype(float)))

    @property
    def unmet_by_service(self) -> dict:
        """Service key → people not served."""
        return dict(zip(self.services["service"], self.services["unmet_people"].astype(float)))

    def _repr_html_(self) -> str:
        head = pd.Series(self.summary, dtype=object).drop(["notes"], errors="ignore")
        parts = ["<h4>Plan</h4>", head.to_frame("value")._repr_html_(),
                 "<h4>Sites</h4>", self.sites._repr_html_(),
                 "<h4>Services</h4>", self.services._repr_html_(),
                 "<h4>Communities</h4>", self.communities._repr_html_()]
        if self.summary.get("notes"):
            parts += ["<h4>Notes</h4><ul>"] + [f"<li>{n}</li>" for n in self.summary["notes"]] + ["</ul>"]
        return "".join(parts)


def plan_areas(data: EmbeddedData, values: dict) -> np.ndarray:
    """Site × service floor areas of a plan (existing services at their fixed areas).

    Parameters
    ----------
    data
        The model's data.
    values
        :meth:`Formulation.values` of the plan.

    Returns
    -------
    numpy.ndarray
    """
    area = np.zeros((data.instance.n_sites, len(data.services)))
    for (j, si), on in values["host"].items():
        if on:
            area[j, si] = values["area"][j, si]
    for (j, si), val in data.fixed_area.items():
        area[j, si] = val
    area[area < 1e-7] = 0.0
    return area


def build_solution(data: EmbeddedData, values: dict, r1: SolverResult,
                   r2: SolverResult | None, notes: list[str]) -> EmbeddedSolution:
    """The plan's tables and summary from the variable values of a solve.

    Parameters
    ----------
    data
        The model's data.
    values
        :meth:`Formulation.values` of the plan.
    r1
        The solver result of the model's objective.
    r2
        The solver result of the least-cost stage (None when there was none).
    notes
        The notes of this solve (the data's notes first).

    Returns
    -------
    EmbeddedSolution
        Without marginal values (:func:`siting.models.embedded.diagnosis.marginal_values`).
    """
    S = data.services
    area = plan_areas(data, values)
    opened = sorted({j for j, on in values["open"].items() if on}
                    | set(np.flatnonzero(data.existing).tolist()))
    assign = _assignments(data, values, area)
    shared = shared_by_site(data, values)  # m² of a shared room counted once
    served_site = assign.groupby("site")["people"].sum() if len(assign) else pd.Series(dtype=float)
    rows = []
    for j in opened:
        new = not data.existing[j]
        row = {"site": j, "site_id": data.sites["site_id"][j], "kind": data.sites["kind"][j],
               "acquisition_mode": data.sites["acquisition_mode"][j],
               "existing": bool(data.existing[j]),
               "complex": bool(values["complex"].get(j, False)) if new else False,
               "services": ", ".join(S[si] for si in range(len(S)) if area[j, si] > 0
                                     or (j, si) in data.fixed_area),
               "usable_area_m2": float(data.area[j])}
        for si, s in enumerate(S):
            row[f"area_m2_{s}"] = area[j, si]
            row[f"units_{s}"] = area[j, si] / data.m2_per_unit[si]
        row["area_m2"] = float(area[j].sum()) - shared.get(j, 0.0)
        row.update(_site_costs(data, j, area[j], shared.get(j, 0.0)) if new
                   else dict.fromkeys(COST_COLUMNS, 0.0))
        row["people_served"] = float(served_site.get(j, 0.0))
        rows.append(row)
    sites = pd.DataFrame(rows)
    if sites.empty:
        sites = pd.DataFrame(columns=["site", "site_id", "kind", "acquisition_mode", "existing",
                                      "complex", "services", "usable_area_m2",
                                      *[f"{p}_{s}" for s in S for p in ("area_m2", "units")],
                                      "area_m2", *COST_COLUMNS, "people_served"])
    sheets = room_tables(data, values, sites)  # shared rooms and levels (rooms.py)
    operations = operation_table(data, area, assign, sites)
    services = _service_table(data, assign, area)
    comm_area = pd.DataFrame(
        [{"site": j, "community_id": data.community_ids[c], "m2": val}
         for (j, c), val in values["counted"].items() if val > 1e-7],
        columns=["site", "community_id", "m2"])
    communities = _community_table(data, comm_area)
    cost_total = float(sites["cost_total"].sum()) if len(sites) else 0.0
    weighted = float(services["served_people"].to_numpy() @ data.weight)
    with_needs = weighted_served(data, assign)  # None without residents' needs
    weighted = weighted if with_needs is None else with_needs
    short = float(communities["shortfall_m2"].sum()) if len(communities) else 0.0
    summary = {
        "model": "embedded", "objective_kind": data.objective,
        "status": r1.status, "objective": r1.objective, "best_bound": r1.bound,
        "mip_gap": r1.mip_gap, "solver": r1.solver, "solve_time_s": r1.runtime_s,
        "stage2_status": None if r2 is None else r2.status,
        "stage2_mip_gap": None if r2 is None else r2.mip_gap,
        "budget": data.budget, "cost_total": cost_total,
        "weighted_served": weighted, "primary_value": weighted - data.penalty_per_m2 * short,
        "standard_m2_per_100_households": data.standard, "standard_mode": data.standard_mode,
        "capacity": data.capacity,
        "n_sites_new": int((~sites["existing"].astype(bool)).sum()) if len(sites) else 0,
        "n_sites_existing": int(data.existing.sum()),
        "n_complexes": int(sites["complex"].astype(bool).sum()) if len(sites) else 0,
        "served_by_service": dict(zip(services["service"], services["served_people"])),
        "unmet_by_service": dict(zip(services["service"], services["unmet_people"])),
        "communities_meeting_standard": int(communities["met"].sum()),
        "communities_total": int(len(communities)),
        "notes": list(notes) + room_notes(data),
        **operations,
    }
    return EmbeddedSolution(sites, services, communities, assign, comm_area, summary, sheets)


def _site_costs(data: EmbeddedData, j: int, area: np.ndarray, shared: float = 0.0) -> dict:
    """Cost breakdown of new site ``j`` using ``area`` m² per service, ``shared`` m² of
    it counted once (sums to ``cost_total``, the site's term of the budget constraint)."""
    st, h, used = data.sites, data.policy.costs.horizon_years, float(area.sum()) - shared
    annual = float(st["annual_cost"][j]) + float(st["annual_per_m2_used"][j]) * used
    out = {"cost_one_off": float(st["cost"][j]) + float(st["one_off_per_m2_used"][j]) * used,
           "cost_fit_out": float(area @ data.fit_out), "cost_rent_horizon": h * annual,
           "annual_cost": annual}
    out["cost_total"] = out["cost_one_off"] + out["cost_fit_out"] + out["cost_rent_horizon"]
    return out


def _assignments(data: EmbeddedData, values: dict, area: np.ndarray) -> pd.DataFrame:
    """Who is served where, per original demand point (merged rows split by units)."""
    rows = []
    for si, s in enumerate(data.services):
        pi, pj, pdist = data.pairs[si]
        grp = data.rows[si]
        if data.capacity:
            pair_flow = values["flow"].get(si, np.zeros(0))
            ks = np.flatnonzero(pair_flow > 1e-9).tolist()
            if not ks:
                continue
            flow = pair_flow[ks]
            # each merged row's flow is shared by its points in proportion to their units
            n_sites = data.instance.n_sites
            key = pi.astype(np.int64) * n_sites + pj
            order = np.argsort(key)
            for k, val in zip(ks, flow.tolist()):
                g, j = int(grp.pi[k]), int(grp.pj[k])
                if area[j, si] <= _EPS:  # solver-tolerance flow to a closed service
                    continue
                members = grp.members[g]
                share = data.units[members, si] / grp.D[g]
                at = order[np.searchsorted(key[order], members.astype(np.int64) * n_sites + j)]
                for i, sh, dd in zip(members.tolist(), share.tolist(), pdist[at].tolist()):
                    if val * sh > 1e-12:
                        rows.append((i, j, s, val * sh, val * sh / data.rate[si], dd))
        else:
            hosts = area[:, si] > 0
            best: dict[int, tuple] = {}
            for k in range(len(pi)):
                i, j = int(pi[k]), int(pj[k])
                if hosts[j] and (i not in best or pdist[k] < best[i][1]):
                    best[i] = (j, pdist[k])
            for i, (j, dd) in best.items():
                v = values["cover"].get((si, int(grp.group[i])))
                share = 1.0 if v is None else v
                if share > 1e-9:
                    rows.append((i, j, s, data.units[i, si] * share, data.people[i, si] * share,
                                 dd))
    return pd.DataFrame(rows, columns=["demand", "site", "service", "units", "people", "dist_m"])


def _service_table(data: EmbeddedData, assign: pd.DataFrame, area: np.ndarray) -> pd.DataFrame:
    """One row per service: demand, in reach, served (per tier), unmet, units, area."""
    pol = data.policy
    tiers = pol.tiers.minutes
    rows = []
    for si, s in enumerate(data.services):
        sv = pol.services[s]
        a = assign[assign["service"] == s]
        served = float(a["people"].sum())
        demand = float(data.people[:, si].sum())
        row = {"service": s, "name_zh": sv.name_zh, "name_en": sv.name_en, "unit": sv.unit,
               "threshold_m": data.threshold[si], "demand_people": demand,
               "in_reach_people": float(data.people[data.in_reach[:, si], si].sum()),
               "served_people": served}
        for mins, m in zip(sorted(tiers), pol.tier_m):
            row[f"served_{mins:g}min"] = float(a.loc[a["dist_m"] <= m + 1e-9, "people"].sum())
        row["unmet_people"] = max(demand - served, 0.0)
        row["units_needed"] = float(data.units[:, si].sum())
        row["units_provided"] = float(area[:, si].sum() / data.m2_per_unit[si])
        row["area_m2"] = float(area[:, si].sum())
        row["sites"] = int((area[:, si] > 0).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _community_table(data: EmbeddedData, comm_area: pd.DataFrame) -> pd.DataFrame:
    """One row per community: households, required, provided and reachable m², met."""
    provided = comm_area.groupby("community_id")["m2"].sum()
    possible = data.reachable_m2()
    rows = []
    for c, cid in enumerate(data.community_ids):
        p = float(provided.get(cid, 0.0))
        need = float(data.required_m2[c])
        met = p >= need - 1e-6 * max(1.0, need)
        rows.append({"community_id": cid, "name": data.community_names[c],
                     "households": float(data.households[c]), "required_m2": need,
                     "provided_m2": p, "reachable_m2": float(possible[c]),
                     "shortfall_m2": max(need - p, 0.0) if not met else 0.0,
                     "met": bool(met)})
    return pd.DataFrame(rows)


def group_table(sol: EmbeddedSolution, groups: list[dict],
                services: Sequence[str]) -> pd.DataFrame:
    """One row per group of a decomposed solve: a district's share of the city plan.

    Parameters
    ----------
    sol
        The city plan.
    groups
        ``summary["groups"]`` of a decomposed solve (budget, cost, value, new sites'
        ids and ``site_rows`` per group).
    services
        The model's services (one ``served_<service>`` column each).

    Returns
    -------
    pandas.DataFrame
        ``group`` (from 1; 0 for existing sites outside every group, which cost
        nothing), ``budget`` allocated, ``cost_total``, ``objective`` (the
        group's value), ``n_sites`` (new sites), ``site_ids``, ``served_<service>``;
        the served columns sum to the plan's ``served_by_service``.
    """
    of_site = {j: g["group"] for g in groups for j in g["site_rows"]}
    a = sol.assignments
    served = (a.assign(group=a["site"].map(of_site).fillna(-1).astype(int))
              .groupby(["group", "service"])["people"].sum())
    rows = []
    free = [{"group": -1, "budget": 0.0, "cost": 0.0, "value": float("nan"), "sites_new": []}]
    for g in groups + (free if -1 in served.index.get_level_values(0) else []):
        row = {"group": g["group"] + 1, "budget": g["budget"], "cost_total": g["cost"],
               "objective": g["value"], "n_sites": len(g["sites_new"]),
               "site_ids": ", ".join(str(i) for i in g["sites_new"])}
        row.update({f"served_{s}": float(served.get((g["group"], s), 0.0)) for s in services})
        rows.append(row)
    return pd.DataFrame(rows)
