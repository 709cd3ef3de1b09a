"""The embedded-facility model: several services per site sharing floor area.

:class:`EmbeddedFacilities` decides which candidate sites to open, which services each
hosts and how much floor area each service gets, under site area, service minimum
areas, a money budget, the complex rule (导则 2024) and the per-community area standard
(30 or 80 m² per 100 households), with capacities from floor area. It is built with
PuLP on sparse data (only demand–site pairs within each service's walking threshold)
and solved with CBC or HiGHS through :func:`siting.solvers.solve_pulp`.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp
from scipy.optimize import linprog

from siting.errors import InfeasibleError, SitingError
from siting.config.scenario import DEFAULT_SOLVER
from siting.models.instance import Instance
from siting.solvers import solve_pulp
from siting.config.policy import AGE_GROUPS, Policy
from siting.models.reduce import _merge_rows
from siting.sites import embedded_site_costs

OBJECTIVES = ("max_served", "min_cost", "min_distance")
# a plan site's cost breakdown: cost_total = one-off + fit-out + rent over the horizon
COST_COLUMNS = ("cost_one_off", "cost_fit_out", "cost_rent_horizon", "cost_total", "annual_cost")
_EPS = 1e-6
# With a time limit, max_served keeps this share of it for its least-cost stage, and
# each stage gets at least _MIN_STAGE_S seconds (or the whole limit if shorter).
_STAGE2_SHARE = 0.15
_MIN_STAGE_S = 1.0


# ---------------------------------------------------------------------------
# input preparation
# ---------------------------------------------------------------------------

def prepare_demand(demand: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, list[str]]:
    """Demand table with every group column, ``households`` and ``community_id``.

    Missing age-group columns are derived as ``population × policy age share``;
    missing ``households`` as ``population / household_size``. Without ``community_id``,
    points with projected geometry are grouped into square planning cells of
    ``area_standard.fallback_cell_m`` (about one 完整居住社区 of 0.5–1.2万 people at
    city-centre densities); others form one community ``"all"``. Returns the table and
    notes saying what was derived.
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
    parts = [str(row[c]) for c in ("name", "osm_id") if c in sites and isinstance(row[c], str)
             and row[c]]
    src = row["source"] if "source" in sites and isinstance(row["source"], str) else None
    text = " ".join(parts) if parts else f"site {row['site_id'] if 'site_id' in sites else i}"
    return f"{text} ({src})" if src else text


def prepare_sites(sites: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, list[str]]:
    """Site table with ``usable_area_m2``, ``cost``, ``annual_cost``,
    ``one_off_per_m2_used``, ``annual_per_m2_used``, ``acquisition_mode``, ``existing``,
    ``existing_services`` (list), ``complex`` (declared) and ``kind``.

    ``one_off_per_m2_used`` and ``annual_per_m2_used`` are charged per m² the plan uses
    at a site (a lease or renovation), ``cost`` (CNY once) and ``annual_cost`` (CNY per
    year) per site opened — except where that component has a rate per m² used: there
    they are the usable-area price of :func:`siting.sites.price` and are not charged
    (:func:`siting.sites.embedded_site_costs`), so a candidate table can be passed as it
    is. Missing columns are 0. Without any cost or rate, cost = usable area ×
    ``costs.acquisition_per_m2`` (a placeholder).
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
    services = []
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
    for s in policy.active_services:
        col = f"area_m2_{s}"
        if col in sites:
            out[col] = pd.to_numeric(sites[col], errors="coerce").fillna(0).to_numpy(float)
    return out, notes


# ---------------------------------------------------------------------------
# solution
# ---------------------------------------------------------------------------

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
    """

    sites: pd.DataFrame
    services: pd.DataFrame
    communities: pd.DataFrame
    assignments: pd.DataFrame
    community_area: pd.DataFrame
    summary: dict = field(default_factory=dict)

    @property
    def chosen(self) -> np.ndarray:
        return np.sort(self.sites["site"].to_numpy(np.int64))

    @property
    def served_by_service(self) -> dict:
        return dict(zip(self.services["service"], self.services["served_people"].astype(float)))

    @property
    def unmet_by_service(self) -> dict:
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


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------

class EmbeddedFacilities:
    r"""Multi-service embedded facilities in stock buildings (exact MILP).

    Sets: sites :math:`J` (new candidates :math:`J^n`, existing :math:`J^e`), services
    :math:`S`, demand points :math:`I`, communities :math:`C`. :math:`P_s = \{(i,j):
    d_{ij} \le t_s\}` are the pairs within service :math:`s`'s walking threshold
    :math:`t_s` (minutes × the group's speed); pairs beyond it do not exist.

    Data: usable area :math:`A_j`; cost of a site, charged on what it acquires
    (``[sites.costs.<mode>] charged_on``, :func:`siting.sites.price`): fixed
    :math:`F_j = c_j + h\,c^a_j` (whole-site purchase/transfer/new build and costs an
    inventory gives: one-off :math:`c_j`, annual :math:`c^a_j`, horizon :math:`h` =
    ``costs.horizon_years``) plus :math:`v_j = u_j + h\,u^a_j` per m² used (rent and
    renovation: one-off :math:`u_j` and annual :math:`u^a_j` per m²); fit-out
    :math:`k_s` per m² of service :math:`s`, so a site costs :math:`F_j + \sum_s (v_j +
    k_s)\,a_{js}`; minimum area :math:`m_s`; m² per unit :math:`q_s`;
    demand :math:`D_{is} = N_{is}\,r_s` units (people of the group × units per person);
    priority :math:`w_s`; households :math:`H_c`; area standard :math:`\rho` m² per
    household (30 or 80 per 100); :math:`R_c = \rho H_c`.

    A service gets at most the area its demand in reach needs, :math:`a_{js} \le U_{js}
    = \min(A_j, \max(m_s, q_s \sum_{i:(i,j)\in P_s} D_{is}))` (no oversized rooms to
    pad the area standard), and is only placed where some of its group lives within its
    threshold and the site holds its minimum area.

    Variables: :math:`y_j, x_{js}, z_j \in \{0,1\}` (open, host, complex);
    :math:`a_{js} \ge 0` floor area; :math:`f_{ijs} \ge 0` units of :math:`s` for
    :math:`i` at :math:`j`, :math:`(i,j) \in P_s`; :math:`g_{jc} \ge 0` area of
    :math:`j` counted for community :math:`c`; shortfall :math:`\sigma_c \ge 0`.

    .. math::

        &m_s x_{js} \le a_{js} \le U_{js} x_{js}, \quad \textstyle\sum_s a_{js} \le A_j y_j,
          \quad x_{js} \le y_j \le \textstyle\sum_s x_{js} && \text{(area, min area)}\\
        &\textstyle\sum_{j \in J^n} (F_j y_j + \sum_s (v_j + k_s) a_{js}) \le B,
          \quad \sum_{j\in J^n} y_j \le p && \text{(budget, max new sites)}\\
        &\textstyle\sum_s x_{js} \le 1 + (|S|-1) z_j,\; \sum_s a_{js} \ge 600 z_j,\;
          \sum_s x_{js} \ge 3 z_j,\; \sum_{s \in S^*} x_{js} \ge 2 z_j,\; z_j \le y_j
          && \text{(complex rule)}\\
        &\textstyle\sum_{j:(i,j)\in P_s} f_{ijs} \le D_{is}, \quad
          \sum_{i:(i,j)\in P_s} f_{ijs} \le a_{js}/q_s && \text{(demand, capacity)}\\
        &\textstyle\sum_{c} g_{jc} \le \sum_s a_{js}, \quad
          \sum_{j \in R(c)} g_{jc} + \sigma_c \ge R_c && \text{(area standard)}\\
        &\textstyle\sum_{i \in c} f_{ijs}/r_s \ge \alpha \sum_{i\in c,\,\text{in reach}} N_{is}
          && \text{(optional equity)}

    The complex rule follows the 导则: a facility is either a complex (≥ 600 m², ≥ 3
    functions, ≥ 2 of :math:`S^*` = elderly care, infant care, after-school, meal
    assistance) or a single-function facility (插花式); sites declared complexes
    (``complex`` column) have :math:`z_j = y_j`. Existing sites have :math:`y_j = 1`,
    their services fixed (areas from ``area_m2_<service>`` or the usable area split
    evenly), cost nothing and are not bound by the complex rule.

    **Within reach** (area standard): site :math:`j \in R(c)` when at least
    ``area_standard.reach_share`` of community :math:`c`'s households live within
    ``area_standard.reach_min`` minutes' walk of :math:`j`. Each m² counts for one
    community only (:math:`g`), so a shared site is never double counted.
    ``standard_mode="hard"`` fixes :math:`\sigma_c = 0`; ``"penalty"`` charges
    ``penalty_per_m2`` per m² short in the objective; ``"off"`` drops the standard.

    Objectives (``objective``):

    * ``max_served`` (default), lexicographic: first
      :math:`\max \sum_s w_s \sum f_{ijs}/r_s - \pi \sum_c \sigma_c` (priority-weighted
      people served), then, holding that value, :math:`\min` total cost.
    * ``min_cost``: the cheapest plan that meets every standard: the area standard hard
      and all demand within reach of a candidate served (:math:`\sum_j f_{ijs} = D_{is}`).
    * ``min_distance``: all demand within reach served within the budget, minimising
      people × metres walked :math:`\sum d_{ij} f_{ijs}/r_s`.

    ``capacity=False`` is the pure coverage mode: no flows; :math:`v_{is} \in [0,1]`,
    :math:`v_{is} \le \sum_{j:(i,j)\in P_s} x_{js}` and people served
    :math:`\sum N_{is} v_{is}` (min area and the standard still apply).

    Size: one flow variable per pair within the service's threshold and positive demand,
    aggregated per demand point (never per person, never demand × sites).

    Parameters
    ----------
    instance
        Sparse walking distances; its ``threshold_m`` must reach the policy's largest
        threshold (:attr:`Policy.max_threshold_m`).
    policy
        Validated policy (:func:`siting.config.policy.load_policy`).
    demand, sites
        Tables aligned with the instance rows (see :func:`prepare_demand`,
        :func:`prepare_sites`; missing columns get documented defaults).
    budget
        CNY for new sites (:math:`\sum (F_j y_j + \sum_s (v_j + k_s) a_{js})`: fixed
        site charges, charges per m² used, fit-out, rent over the horizon); None: no budget.
    standard
        m² per 100 households (30 or 80); default the policy's baseline.
    standard_mode
        ``"hard"``, ``"penalty"`` or ``"off"``; default the policy's ``area_standard.mode``.
    capacity
        Capacities from floor area (True) or pure coverage (False).
    objective
        One of :data:`OBJECTIVES`.
    max_new_sites
        Most new sites to open.
    min_coverage
        Optional share α of each community's people in reach of each service to serve.
    reduce
        Merge, per service, the demand points of one community that reach the same set
        of sites into one row of the model (their people and units summed; see
        :func:`_merge_demand`). Exact for ``max_served`` and ``min_cost``; off for
        ``min_distance``, whose walking distances differ between the points. Results
        are still reported per original demand point.
    required
        Site rows forced open (``y_j = 1``), their costs counted (``--require``).
    step_free
        Distances on the step-free network (same demand and sites): the pairs
        :math:`P_s` of services with ``step_free = true`` in the policy come from it,
        so stairs lengthen (or cut) their walks; other services use ``instance``.
    """

    name = "embedded"

    def __init__(self, instance: Instance, policy: Policy, demand: pd.DataFrame | None = None,
                 sites: pd.DataFrame | None = None, *, budget: float | None = None,
                 standard: float | None = None, standard_mode: str | None = None,
                 capacity: bool = True, objective: str = "max_served",
                 max_new_sites: int | None = None, min_coverage: float | None = None,
                 reduce: bool = True, step_free: Instance | None = None, required=()):
        if objective not in OBJECTIVES:
            raise SitingError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if objective == "min_distance" and not capacity:
            raise SitingError("objective min_distance assigns people to sites: use capacity=True")
        if budget is not None and budget < 0:
            raise SitingError(f"budget must be >= 0 CNY, got {budget}")
        if max_new_sites is not None and max_new_sites < 0:
            raise SitingError(f"max_new_sites must be >= 0, got {max_new_sites}")
        if min_coverage is not None and not 0 <= min_coverage <= 1:
            raise SitingError(f"min_coverage must be a share between 0 and 1, got {min_coverage}")
        mode = standard_mode or policy.area_standard.mode
        if mode not in ("hard", "penalty", "off"):
            raise SitingError(f"standard_mode must be hard, penalty or off, got {mode!r}")
        if standard is not None and not standard > 0:
            raise SitingError(f"standard must be > 0 m² per 100 households, got {standard}")
        if instance.threshold_m + 1e-9 < policy.max_threshold_m:
            raise SitingError(
                f"the walking distances reach {instance.threshold_m:.0f} m but the policy needs "
                f"{policy.max_threshold_m:.0f} m (largest service threshold, area-standard reach "
                "and tiers); rebuild the instance with that threshold")
        self.instance, self.policy = instance, policy
        self.required = [int(j) for j in required]
        if step_free is not None and (step_free.n_demand, step_free.n_sites) != (
                instance.n_demand, instance.n_sites):
            raise SitingError("the step-free instance must have the same demand and sites")
        # distances each service walks: the step-free network for services marked so
        self._inst = [step_free if step_free is not None and policy.services[s].step_free
                      else instance for s in policy.active_services]
        self.budget, self.capacity, self.objective = budget, capacity, objective
        self.standard = policy.area_rate(standard) * 100.0
        self.standard_mode = "hard" if objective == "min_cost" and mode == "penalty" else mode
        self.max_new_sites, self.min_coverage = max_new_sites, min_coverage
        self.reduce = reduce
        self._built_budget = budget
        if demand is None:
            demand = pd.DataFrame({"population": instance.weight})
        if sites is None:
            sites = pd.DataFrame({"usable_area_m2": np.full(instance.n_sites, np.nan)})
        if len(demand) != instance.n_demand or len(sites) != instance.n_sites:
            raise SitingError(
                f"demand ({len(demand)} rows) and sites ({len(sites)} rows) must match the "
                f"instance ({instance.n_demand} demand points, {instance.n_sites} sites)")
        self.demand, dnotes = prepare_demand(demand, policy)
        self.sites, snotes = prepare_sites(sites, policy)
        self.notes = dnotes + snotes
        self.services = policy.active_services
        self._prepare()
        self._check_inputs()
        self.problem = self._build()

    # -- data --------------------------------------------------------------
    def _prepare(self) -> None:
        pol, inst = self.policy, self.instance
        S = self.services
        svc = [pol.services[s] for s in S]
        self.rate = np.array([s.rate for s in svc])
        self.q = np.array([s.floor_m2_per_unit for s in svc])
        self.m = np.array([s.min_floor_m2 for s in svc])
        self.w = np.array([s.priority_weight for s in svc])
        self.k = np.array([s.fit_out_per_m2 if s.fit_out_per_m2 is not None
                           else pol.costs.fit_out_per_m2 for s in svc])
        self.t = np.array([pol.threshold_m(s) for s in S])
        d = self.demand
        self.N = np.column_stack([d[pol.services[s].demand_group].to_numpy(float) for s in S])
        self.D = self.N * self.rate
        st = self.sites
        self.A = st["usable_area_m2"].to_numpy(float)
        h = pol.costs.horizon_years
        # fixed per site opened (F_j) and per m² used there (v_j), rent over the horizon
        self.F = st["cost"].to_numpy(float) + h * np.asarray(st["annual_cost"], float)
        self.per_m2 = np.asarray(st["one_off_per_m2_used"], float) + h * np.asarray(
            st["annual_per_m2_used"], float)
        self.existing = np.asarray(st["existing"], bool)
        # fixed areas of existing services
        self.fixed_area = {}
        for j in np.flatnonzero(self.existing):
            mine = [s for s in st["existing_services"][j] if s in S]
            for s in mine:
                col = f"area_m2_{s}"
                val = float(st[col][j]) if col in st and st[col][j] > 0 else self.A[j] / len(mine)
                self.fixed_area[(int(j), S.index(s))] = val
        # storeys each service may use (inventory 楼层; unknown storeys are allowed)
        storey = np.asarray(st["ground_floor"], float)
        lift = np.asarray(st["lift"], float) if "lift" in st else np.full(len(storey), np.nan)
        storey_ok = [svc_i.storey_ok(storey, lift) for svc_i in svc]
        for s_key, svc_i, ok in zip(S, svc, storey_ok):
            plain = svc_i.storey_ok(storey)
            n_out = int((~plain & ~self.existing).sum())
            if n_out:
                lo, hi = svc_i.lowest_storey, svc_i.highest_storey
                where = f"storey {lo}" if lo == hi else \
                    f"storeys {'' if lo is None else lo}–{'' if hi is None else hi}"
                self.notes.append(f"{n_out} sites not on {where} cannot host {svc_i.name_en} "
                                  f"({s_key})")
            n_lift = int((plain & ~ok & ~self.existing).sum())
            if n_lift:
                self.notes.append(f"{n_lift} sites on storey {svc_i.lift_from_storey} or above "
                                  f"without a lift (电梯 无) cannot host {svc_i.name_en} "
                                  f"({s_key})")
        # pairs per service (positive demand only)
        self.pairs = []
        for si in range(len(S)):
            inst = self._inst[si]
            mk = inst.pair_dist <= self.t[si] + 1e-9
            pi, pj, pdist = inst.pair_demand[mk], inst.pair_site[mk], inst.pair_dist[mk]
            host = ~self.existing[pj] | np.array(
                [(int(j), si) in self.fixed_area for j in pj], bool) if len(pj) else np.zeros(0, bool)
            # a new service only on the storeys it may use (existing ones operate already)
            host &= self.existing[pj] | storey_ok[si][pj]
            big = self.existing[pj] | (self.A[pj] >= self.m[si] - 1e-9)
            if self.budget is not None and self.objective != "min_cost":
                # sites that cannot be afforded even at the minimum area are left out
                least = self.F[pj] + (self.per_m2[pj] + self.k[si]) * self.m[si]
                big &= self.existing[pj] | (least <= self.budget + 1e-6)
            keep = (self.D[pi, si] > 0) & host & big
            self.pairs.append((pi[keep], pj[keep], pdist[keep]))
        # candidate (new site, service) combinations: reachable by some demand and area ≥ min
        self.cand = []
        for si in range(len(S)):
            js = np.unique(self.pairs[si][1])
            self.cand.append(js[~self.existing[js]])
        # largest useful area of service s at site j: what its demand in reach needs
        # (at least the minimum area), never more than the site holds
        self.U = {}
        for si in range(len(S)):
            pi, pj, _ = self.pairs[si]
            need = np.bincount(pj, weights=self.D[pi, si], minlength=inst.n_sites) * self.q[si]
            for j in self.cand[si].tolist():
                self.U[j, si] = float(min(self.A[j], max(self.m[si], need[j])))
        self.site_cap = self.A.copy()
        for j in range(inst.n_sites):
            if not self.existing[j]:
                self.site_cap[j] = min(self.A[j], sum(self.U.get((j, si), 0.0)
                                                      for si in range(len(S))))
        # communities
        codes, uniq = pd.factorize(d["community_id"])
        self.comm = codes
        self.comm_ids = list(uniq)
        names = d.groupby("community_id", sort=False)["community_name"].first()
        self.comm_names = [str(names[c]) for c in uniq]
        hh = d["households"].to_numpy(float)
        self.H = np.bincount(codes, weights=hh, minlength=len(uniq))
        self.R = self.standard / 100.0 * self.H
        inst = self.instance
        mk = inst.pair_dist <= pol.standard_reach_m + 1e-9
        pc, pj = codes[inst.pair_demand[mk]], inst.pair_site[mk]
        w = hh[inst.pair_demand[mk]]
        if len(pc):
            cj = sp.coo_array((w, (pc, pj)), shape=(len(uniq), inst.n_sites)).tocsr()
            cj.sum_duplicates()
            c_idx, j_idx = cj.nonzero()
            share = np.asarray(cj[c_idx, j_idx]).ravel() / np.maximum(self.H[c_idx], 1e-12)
            ok = share >= pol.area_standard.reach_share - 1e-12
            self.reach_cj = (c_idx[ok].astype(np.int64), j_idx[ok].astype(np.int64))
        else:
            self.reach_cj = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        # the people of each group within reach of some possible host
        self.in_reach = np.zeros_like(self.N, dtype=bool)
        for si in range(len(S)):
            self.in_reach[np.unique(self.pairs[si][0]), si] = True
        # the model's demand rows: per service, points merged when exact (see reduce)
        merge = self.reduce and self.objective != "min_distance"
        self.rows = [_merge_demand(*self.pairs[si], self.D[:, si], self.N[:, si], self.comm,
                                   inst.n_sites, merge) for si in range(len(S))]

    def _check_inputs(self) -> None:
        S = self.services
        for si, s in enumerate(S):
            inst = self._inst[si]
            reach = (self.D[inst.pair_demand, si] > 0) & (inst.pair_dist <= self.t[si] + 1e-9)
            hosts = [j for (j, s2) in self.fixed_area if s2 == si]
            if not reach.any() and not hosts:
                grp = self.policy.services[s].demand_group
                m = self.N[inst.pair_demand, si] > 0 if len(inst.pair_demand) else np.zeros(0, bool)
                near = f"; the nearest candidate to anyone of group {grp} is " \
                       f"{inst.pair_dist[m].min():.0f} m away" if m.any() else \
                       f"; no candidate is within {inst.threshold_m:.0f} m of group {grp}"
                raise SitingError(
                    f"service {s}: its threshold {self.t[si]:.0f} m reaches no candidate site "
                    f"from any demand point{near}; raise services.{s}.walk_min (or walk_m) "
                    "or add candidates")
        if self.budget is not None and not self.existing.any():
            cheapest = np.inf
            where = None
            for si in range(len(S)):
                inst = self._inst[si]
                pi, pj = inst.pair_demand, inst.pair_site
                ok = (self.D[pi, si] > 0) & (inst.pair_dist <= self.t[si] + 1e-9) \
                    & (self.A[pj] >= self.m[si] - 1e-9)
                js = np.unique(pj[ok])
                if len(js):
                    c = self.F[js] + (self.per_m2[js] + self.k[si]) * self.m[si]
                    k = int(np.argmin(c))
                    if c[k] < cheapest:
                        cheapest, where = float(c[k]), (int(js[k]), S[si])
            if where is None:
                raise SitingError(self._no_host_message())
            if self.budget < cheapest - 1e-6:
                sid = self.sites["site_id"][where[0]] if where else None
                raise SitingError(
                    f"budget {self.budget:,.0f} CNY is below the cheapest possible site: site "
                    f"{sid} with {where[1]} at its minimum area costs {cheapest:,.0f} CNY "
                    f"(site, rent over the horizon and fit-out); nothing can be built. Raise --budget to at least "
                    f"{cheapest:,.0f} CNY")
        if not self.existing.any() and all(len(self.pairs[si][0]) == 0 for si in range(len(S))):
            raise SitingError(self._no_host_message())
        for si, s in enumerate(S):
            if len(self.pairs[si][0]) == 0:
                self.notes.append(f"service {s}: no candidate in reach is large enough "
                                  f"(≥ {self.m[si]:g} m²) or affordable within the budget")

    def _no_host_message(self) -> str:
        """Why no candidate can host any service (each needs its minimum area in reach)."""
        need = ", ".join(f"{s} {self.m[si]:,.0f} m²" for si, s in enumerate(self.services))
        largest = float(np.max(self.A)) if len(self.A) else 0.0
        return (f"no candidate site can host any service: each needs at least its minimum "
                f"area within walking reach, on an allowed storey and within the budget "
                f"({need}; services.*.min_floor_m2 in the policy), "
                f"and the largest usable candidate area is {largest:,.0f} m²; lower the "
                f"minimum areas or add larger candidates (--inventory)")

    # -- formulation ---------------------------------------------------------
    def _build(self) -> pulp.LpProblem:
        S = self.services
        nS = len(S)
        sense = pulp.LpMaximize if self.objective == "max_served" else pulp.LpMinimize
        prob = pulp.LpProblem(f"embedded_{self.objective}", sense)
        self.y, self.x, self.a, self.z = {}, {}, {}, {}
        new_sites = sorted(set(np.concatenate(self.cand).tolist()) if nS else set())
        for j in new_sites:
            self.y[j] = prob.add_variable(f"y_{j}", cat="Binary")
        for si in range(nS):
            for j in self.cand[si].tolist():
                self.x[j, si] = prob.add_variable(f"x_{j}_{si}", cat="Binary")
                u = self.U[j, si]
                self.a[j, si] = prob.add_variable(f"a_{j}_{si}", 0, u)
                prob.addConstraint(pulp.LpAffineExpression(
                    [(self.a[j, si], 1.0), (self.x[j, si], -float(self.m[si]))]) >= 0)
                prob.addConstraint(pulp.LpAffineExpression(
                    [(self.a[j, si], 1.0), (self.x[j, si], -u)]) <= 0)
        by_site: dict[int, list[int]] = {}
        for (j, si) in self.x:
            by_site.setdefault(j, []).append(si)
        cx = self.policy.complex
        prio = {S.index(s) for s in cx.priority_services if s in S}
        declared = np.asarray(self.sites["complex"], bool)
        for j, sis in by_site.items():
            y = self.y[j]
            prob.addConstraint(pulp.LpAffineExpression(
                [(self.a[j, si], 1.0) for si in sis] + [(y, -float(self.A[j]))]) <= 0)
            prob.addConstraint(pulp.LpAffineExpression(
                [(self.x[j, si], 1.0) for si in sis] + [(y, -1.0)]) >= 0)
            for si in sis:  # implied for integers; tightens the LP bound a lot
                prob.addConstraint(pulp.LpAffineExpression([(self.x[j, si], 1.0), (y, -1.0)]) <= 0)
            if cx.multi_function_requires_complex or declared[j]:
                z = prob.add_variable(f"z_{j}", cat="Binary")
                self.z[j] = z
                xs = [(self.x[j, si], 1.0) for si in sis]
                prob.addConstraint(pulp.LpAffineExpression([(z, 1.0), (y, -1.0)]) <= 0)
                if declared[j]:
                    prob.addConstraint(pulp.LpAffineExpression([(z, 1.0), (y, -1.0)]) == 0)
                if cx.multi_function_requires_complex:
                    prob.addConstraint(pulp.LpAffineExpression(
                        xs + [(z, -float(max(len(sis) - 1, 0)))]) <= 1)
                prob.addConstraint(pulp.LpAffineExpression(
                    [(self.a[j, si], 1.0) for si in sis] + [(z, -float(cx.min_floor_m2))]) >= 0)
                prob.addConstraint(pulp.LpAffineExpression(
                    xs + [(z, -float(cx.min_functions))]) >= 0)
                prob.addConstraint(pulp.LpAffineExpression(
                    [(self.x[j, si], 1.0) for si in sis if si in prio]
                    + [(z, -float(cx.min_priority_functions))]) >= 0)
        # cost
        self.cost_expr = pulp.LpAffineExpression(
            [(self.y[j], float(self.F[j])) for j in self.y]
            + [(self.a[j, si], float(self.per_m2[j] + self.k[si])) for (j, si) in self.a])
        if self.budget is not None and self.objective != "min_cost":
            prob.addConstraint(self.cost_expr <= float(self.budget), "budget")
        if self.max_new_sites is not None:
            prob.addConstraint(pulp.lpSum(self.y.values()) <= self.max_new_sites, "max_new_sites")
        for j in self.required:  # --require: open, its cost counted like any other
            if j not in self.y:
                raise SitingError(
                    f"required site {self.sites['site_id'].iloc[j] if 'site_id' in self.sites else j}"
                    " cannot host any service (too small for every service's minimum area, on "
                    "a storey no service may use, or in nobody's walking reach)")
            prob.addConstraint(self.y[j] >= 1, f"required_{j}")
        served_terms, dist_terms = self._demand_part(prob)
        shortfall = self._standard_part(prob)
        self.primary_expr = pulp.LpAffineExpression(served_terms + shortfall)
        if self.objective == "max_served":
            prob.setObjective(self.primary_expr)
        elif self.objective == "min_cost":
            prob.setObjective(self.cost_expr)
        else:
            prob.setObjective(pulp.LpAffineExpression(dist_terms))
        return prob

    def _area_terms(self, j: int, si: int, coef: float = 1.0):
        """(terms, constant) of the floor area of service si at site j."""
        if (j, si) in self.fixed_area:
            return [], coef * self.fixed_area[j, si]
        if (j, si) in self.a:
            return [(self.a[j, si], coef)], 0.0
        return [], 0.0

    def _demand_part(self, prob):
        served, dist_terms = [], []
        serve_all = self.objective in ("min_cost", "min_distance")
        self.f, self.v = {}, {}
        people_by_comm = {}  # (si, c) -> list of (var, people per unit of var)
        for si in range(len(self.services)):
            grp = self.rows[si]
            gi, gj, gdist = grp.pi, grp.pj, grp.dist
            merged = bool(np.isnan(gdist).any())
            if self.capacity:
                rows: dict[int, list] = {}
                cols: dict[int, list] = {}
                for k in range(len(gi)):
                    i, j = int(gi[k]), int(gj[k])
                    if (j, si) not in self.a and (j, si) not in self.fixed_area:
                        continue
                    var = prob.add_variable(f"f_{si}_{k}", 0)
                    self.f[si, k] = var

                    rows.setdefault(i, []).append(var)
                    cols.setdefault(j, []).append(var)
                    served.append((var, float(self.w[si] / self.rate[si])))
                    if not merged:  # distances only for point rows (min_distance)
                        dist_terms.append((var, float(gdist[k] / self.rate[si])))
                    people_by_comm.setdefault((si, int(grp.comm[i])), []).append(
                        (var, 1.0 / self.rate[si]))
                for i, vs in rows.items():
                    e = pulp.LpAffineExpression([(v, 1.0) for v in vs])
                    if serve_all:
                        prob.addConstraint(e == float(grp.D[i]))
                    else:
                        prob.addConstraint(e <= float(grp.D[i]))
                for j, vs in cols.items():
                    terms, const = self._area_terms(j, si, -1.0 / self.q[si])
                    prob.addConstraint(pulp.LpAffineExpression(
                        [(v, 1.0) for v in vs] + terms) <= -const)
            else:
                rows = {}
                for k in range(len(gi)):
                    rows.setdefault(int(gi[k]), []).append(int(gj[k]))
                for i, js in rows.items():
                    if any((j, si) in self.fixed_area for j in js):
                        v = None  # an existing facility covers it
                    else:
                        v = prob.add_variable(f"v_{si}_{i}", 0, 1)
                        xs = [(self.x[j, si], -1.0) for j in js if (j, si) in self.x]
                        prob.addConstraint(pulp.LpAffineExpression([(v, 1.0)] + xs) <= 0)
                        if serve_all:
                            prob.addConstraint(pulp.LpAffineExpression([(v, 1.0)]) >= 1)
                        served.append((v, float(self.w[si] * grp.N[i])))
                        people_by_comm.setdefault((si, int(grp.comm[i])), []).append(
                            (v, float(grp.N[i])))
                    self.v[si, i] = v
        if self.min_coverage:
            need = np.zeros((len(self.services), len(self.comm_ids)))
            for si in range(len(self.services)):
                need[si] = np.bincount(self.comm, weights=self.N[:, si] * self.in_reach[:, si],
                                       minlength=len(self.comm_ids))
            for si in range(len(self.services)):
                for c in range(len(self.comm_ids)):
                    rhs = self.min_coverage * need[si, c]
                    if rhs <= 0:
                        continue
                    terms = people_by_comm.get((si, c), [])
                    if not self.capacity:
                        # people covered by existing facilities count as served
                        grp = self.rows[si]
                        fixed = sum(grp.N[i] for (s2, i), v in self.v.items()
                                    if s2 == si and v is None and grp.comm[i] == c)
                        rhs -= fixed
                    prob.addConstraint(pulp.LpAffineExpression(terms) >= rhs,
                                       f"min_coverage_{si}_{c}")
        return served, dist_terms

    def _standard_part(self, prob):
        self.g, self.short = {}, {}
        if self.standard_mode == "off":
            return []
        cs, js = self.reach_cj
        by_site: dict[int, list] = {}
        by_comm: dict[int, list] = {}
        for c, j in zip(cs.tolist(), js.tolist()):
            if not (self.existing[j] or j in self.y):
                continue
            var = prob.add_variable(f"g_{j}_{c}", 0)
            self.g[j, c] = var
            by_site.setdefault(j, []).append(var)
            by_comm.setdefault(c, []).append(var)
        for j, vs in by_site.items():
            if self.existing[j]:
                prob.addConstraint(pulp.LpAffineExpression([(v, 1.0) for v in vs])
                                   <= float(self.A[j]))
            else:
                terms = [(self.a[j, si], -1.0) for si in range(len(self.services))
                         if (j, si) in self.a]
                prob.addConstraint(pulp.LpAffineExpression([(v, 1.0) for v in vs] + terms) <= 0)
        pen = []
        for c in range(len(self.comm_ids)):
            if self.R[c] <= 0:
                continue
            terms = [(v, 1.0) for v in by_comm.get(c, [])]
            if self.standard_mode == "penalty":
                s = prob.add_variable(f"short_{c}", 0)
                self.short[c] = s
                terms.append((s, 1.0))
                pen.append((s, -float(self.policy.area_standard.penalty_per_m2)))
            prob.addConstraint(pulp.LpAffineExpression(terms) >= float(self.R[c]),
                               f"standard_{c}")
        return pen

    # -- solving -------------------------------------------------------------
    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              msg: bool = False, mip_gap: float = 0.0, marginal: bool = True,
              fallback: bool = True) -> EmbeddedSolution:
        """Solve; return the plan (raises :class:`InfeasibleError` with a planning reason).

        ``max_served`` is solved in two stages (people served, then cost at that
        value). A time limit bounds the whole call: the greedy start counts, stage 1
        gets 85 % of what is left and stage 2 the rest (each at least 1 s); when
        stage 2 finds nothing in that time the stage-1 plan is kept.
        A stopped run returns the best plan found with its gap; when the solver found
        none at all, ``fallback`` returns a greedy plan (no bound; said in the notes).
        """
        t0 = time.perf_counter()
        greedy = False
        start = rg = None
        overhead = 0.0  # seconds a solver call spends outside the solver's own clock
        if solver.lower() == "highs" and self.objective == "max_served" and self.y:
            # HiGHS starts from the greedy plan (complete: binaries, areas, flows), which
            # lets it fix many sites by reduced cost early; CBC is given no start
            try:
                tg = time.perf_counter()
                rg = self._solve_greedy(solver, None, note=False)
                overhead = time.perf_counter() - tg  # model hand-over + one LP: an upper bound
                rg["values"] = self._values()
                start = {v.name: v.varValue for v in self.problem.variables()
                         if v.varValue is not None}
            except SitingError:
                rg = None
        limit1 = time_limit
        if time_limit is not None:
            # the whole solve keeps to the limit: the least-cost stage gets the last share
            share = 1.0 - _STAGE2_SHARE if self.objective == "max_served" and self.y else 1.0
            left = time_limit - (time.perf_counter() - t0) - overhead
            limit1 = max(left * share, min(_MIN_STAGE_S, time_limit))
        t1 = time.perf_counter()
        try:
            r1 = _solve_safe(self.problem, solver, limit1, msg, mip_gap, start=start)
        except SitingError as exc:
            # CBC reports a run stopped before its first plan as infeasible: with a time
            # limit, try the greedy plan before calling the model infeasible
            if fallback and time_limit is not None and self.objective == "max_served":
                try:
                    r1 = self._solve_greedy(solver, time_limit)
                    greedy = True
                except SitingError:
                    pass
            if not greedy:
                if isinstance(exc, InfeasibleError):
                    raise InfeasibleError(self.explain_infeasible(solver, time_limit)) from None
                raise
        if r1["status"] != "optimal" and r1["mip_gap"] == 0 and not greedy:
            # stopped before the solver proved any bound (the helper then echoes the objective)
            r1.update(bound=float("nan"), mip_gap=float("nan"))
            self.notes.append("the solver stopped before proving a bound: the gap is unknown")
        values = self._values()
        if (fallback and not greedy and r1["status"] != "optimal"
                and self.objective == "max_served" and time_limit is not None):
            # stopped early: keep the greedy plan when it beats what the solver found
            if rg is None:
                try:
                    rg = self._solve_greedy(solver, time_limit, note=False)
                    rg["values"] = self._values()
                except SitingError:
                    rg = None
            if rg is not None and rg["objective"] > r1["objective"] + 1e-6 * abs(r1["objective"]):
                self.notes.append(
                    f"the solver's best plan within {time_limit} s ({r1['objective']:,.0f}) was "
                    f"worse than the greedy plan ({rg['objective']:,.0f}): the greedy plan is "
                    "returned, with the solver's bound")
                gap = abs(rg["objective"] - r1["bound"]) / max(abs(rg["objective"]), 1e-9)
                r1.update(objective=rg["objective"], mip_gap=gap)
                values = rg["values"]
                greedy = True
        stage2 = None
        left = None
        two_stage = self.objective == "max_served" and bool(self.y) and not greedy
        if time_limit is not None and two_stage:
            if r1["status"] != "optimal":  # stage 1 used its limit: the rest is hand-over
                overhead = max(time.perf_counter() - t1 - limit1, 0.0)
            left = time_limit - (time.perf_counter() - t0) - overhead
            if left < _MIN_STAGE_S <= time_limit:
                self.notes.append(
                    f"no time left within {time_limit:g} s for the least-cost stage: the "
                    "plan serves the most people found but may cost more than needed")
                two_stage = False
            left = max(left, min(_MIN_STAGE_S, time_limit))
        if two_stage:
            tol = 1e-6 * max(1.0, abs(r1["objective"]))
            keep = self.primary_expr >= r1["objective"] - tol
            self.problem += keep, "stage1_value"
            self.problem.sense = pulp.LpMinimize
            self.problem.setObjective(self.cost_expr)
            # the stage-1 plan is feasible here: HiGHS starts from it
            start = {v.name: v.varValue for v in self.problem.variables()
                     if v.varValue is not None} if solver.lower() == "highs" else None
            try:
                stage2 = _solve_safe(self.problem, solver, left, msg, mip_gap, start=start)
                values = self._values()
            except SitingError:
                stage2 = None  # keep the stage-1 plan
            finally:
                del self.problem._constraints["stage1_value"]
                self.problem.sense = pulp.LpMaximize
                self.problem.setObjective(self.primary_expr)
        sol = self._solution(values, r1, stage2, marginal)
        sol.summary["runtime_s"] = time.perf_counter() - t0
        return sol

    def _greedy_areas(self) -> dict:
        """A quick feasible plan: sites added one at a time by value per CNY.

        For each unopened site two moves are priced: its best single service, and a
        complex (the best priority services plus others, each at the area its unserved
        demand in reach needs). Value = priority-weighted people served (estimated from
        the demand still unserved in reach) plus, with a penalised standard, the penalty
        per m² of floor area; the best value per CNY is opened until nothing fits.
        """
        left = np.inf if self.budget is None else float(self.budget)
        rem = self.D.copy()
        opened: set[int] = set()
        areas: dict = {}
        reach = {}
        for si in range(len(self.services)):
            pi, pj, _ = self.pairs[si]
            order = np.argsort(pj, kind="stable")
            pj_s, pi_s = pj[order], pi[order]
            cuts = np.searchsorted(pj_s, self.cand[si])
            ends = np.searchsorted(pj_s, self.cand[si], side="right")
            for j, a, b in zip(self.cand[si].tolist(), cuts, ends):
                reach[j, si] = np.unique(pi_s[a:b])
        by_site: dict[int, list[int]] = {}
        for (j, si) in reach:
            by_site.setdefault(j, []).append(si)
        cx = self.policy.complex
        prio = {self.services.index(x) for x in cx.priority_services if x in self.services}
        declared = np.asarray(self.sites["complex"], bool)
        pen = self.policy.area_standard.penalty_per_m2 if self.standard_mode == "penalty" else 0.0

        def option(j, si):
            pts = reach[j, si]
            want = float(rem[pts, si].sum())
            if self.capacity:
                area = min(self.U[j, si], max(self.m[si], want * self.q[si]))
                gain = self.w[si] / self.rate[si] * min(area / self.q[si], want)
            else:
                area = self.m[si]
                gain = self.w[si] * float((rem[pts, si] > 0) @ self.N[pts, si])
            return area, gain + pen * area

        while self.max_new_sites is None or len(opened) < self.max_new_sites:
            best, best_ratio = None, 0.0
            for j, sis in by_site.items():
                if j in opened:
                    continue
                opts = {si: option(j, si) for si in sis}
                moves = []
                if not declared[j]:
                    for si, (area, gain) in opts.items():
                        per_m2 = self.per_m2[j] + self.k[si]
                        cost = self.F[j] + per_m2 * area
                        if cost > left:  # shrink to the money left
                            area = (left - self.F[j]) / per_m2 if per_m2 > 0 else -1
                            if area < self.m[si]:
                                continue
                            gain = gain * area / opts[si][0]
                            cost = left
                        moves.append(({si: area}, gain, cost))
                ranked = sorted(opts, key=lambda si: -opts[si][1])
                pick = [si for si in ranked if si in prio][:cx.min_priority_functions]
                pick += [si for si in ranked if si not in pick][:max(cx.min_functions - len(pick), 0)]
                if len(pick) >= cx.min_functions and sum(si in prio for si in pick) \
                        >= cx.min_priority_functions:
                    pkg = {si: opts[si][0] for si in pick}
                    for si in ranked:  # add more services while they pay for themselves
                        if si not in pkg and opts[si][1] > 0 and \
                                sum(pkg.values()) + opts[si][0] <= self.A[j]:
                            pkg[si] = opts[si][0]
                    total = sum(pkg.values())
                    if total < cx.min_floor_m2:  # enlarge within each service's cap
                        for si in pkg:
                            extra = min(self.U[j, si] - pkg[si], cx.min_floor_m2 - total)
                            pkg[si] += max(extra, 0.0)
                            total = sum(pkg.values())
                    cost = self.F[j] + sum((self.per_m2[j] + self.k[si]) * a
                                           for si, a in pkg.items())
                    if total >= cx.min_floor_m2 - 1e-9 and total <= self.A[j] + 1e-9 \
                            and cost <= left:
                        moves.append((pkg, sum(opts[si][1] for si in pkg), cost))
                for pkg, gain, cost in moves:
                    ratio = gain / max(cost, 1e-9)
                    if gain > 0 and ratio > best_ratio:
                        best, best_ratio = (j, pkg, cost), ratio
            if best is None:
                break
            j, pkg, cost = best
            opened.add(j)
            left -= cost
            for si, area in pkg.items():
                areas[j, si] = area
                pts = reach[j, si]
                want = rem[pts, si].sum()
                if want > 0:
                    served = min(area / self.q[si], want) if self.capacity else want
                    rem[pts, si] *= 1 - served / want
        return areas

    def _solve_greedy(self, solver: str, time_limit: float | None, note: bool = True) -> dict:
        """Fix the binaries and areas to the greedy plan; solve the continuous rest."""
        areas = self._greedy_areas()
        saved = {}
        sites = {j for j, _ in areas}

        def fix(v, val):
            saved[v.name] = (v, v.lowBound, v.upBound)
            v.lowBound = v.upBound = val
        for j, v in self.y.items():
            fix(v, 1.0 if j in sites else 0.0)
        for (j, si), v in self.x.items():
            fix(v, 1.0 if (j, si) in areas else 0.0)
            fix(self.a[j, si], float(areas.get((j, si), 0.0)))
        n_at = {}
        for (j, si) in areas:
            n_at[j] = n_at.get(j, 0) + 1
        for j, v in self.z.items():
            fix(v, 1.0 if n_at.get(j, 0) > 1 or (j in sites and self.sites["complex"][j]) else 0.0)
        try:
            r = _solve_safe(self.problem, solver, time_limit, False, 0.0)
        except InfeasibleError:
            raise InfeasibleError(
                f"the solver found no plan within {time_limit} s and the greedy fallback plan "
                f"breaks a requirement ({self._requirements()}); raise the time limit") from None
        finally:
            for v, lo, up in saved.values():
                v.lowBound, v.upBound = lo, up
        if note:
            self.notes.append(
                f"the solver found no plan within the {time_limit} s time limit: this is a "
                "greedy plan (sites and complexes by value per CNY) with its "
                "assignment solved exactly; no bound is known. Raise the time limit")
        r.update(status="feasible", bound=float("nan"), mip_gap=float("nan"))
        return r

    def budget_sweep(self, budgets, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
                     mip_gap: float = 0.0, marginal: bool = False) -> list[EmbeddedSolution]:
        """Plans for increasing budgets, re-using one model.

        The previous plan stays feasible with more money, so each solve is asked to do
        at least as well (a constraint on the objective); if a time limit stops it
        before it finds such a plan, the previous plan is kept and marked so. People
        served therefore never fall as the budget rises, even with time limits.
        """
        if self.objective != "max_served":
            raise SitingError("a budget sweep needs objective max_served")
        if self.budget is None or max(budgets) > self._built_budget + 1e-6:
            raise SitingError("build the model with the largest budget of the sweep (sites "
                              "beyond the model's budget were left out when it was built)")
        out: list[EmbeddedSolution] = []
        try:
            for b in sorted(float(b) for b in budgets):
                self.budget = b
                self.problem._constraints["budget"].constant = -b
                if out:
                    prev = out[-1].summary["objective"]
                    self.problem._constraints["sweep_floor"] = (
                        self.primary_expr >= prev - 1e-6 * max(1.0, abs(prev)))
                try:
                    sol = self.solve(solver, time_limit, mip_gap=mip_gap, marginal=marginal,
                                     fallback=True)
                except SitingError:
                    if not out:
                        raise
                    sol = copy.deepcopy(out[-1])
                    sol.summary.update(budget=b, status="feasible", lp_bound=float("nan"),
                                       mip_gap=float("nan"))
                    sol.summary["notes"] = sol.summary["notes"] + [
                        f"no plan at least as good as the {out[-1].summary['budget']:,.0f} CNY "
                        "plan was found within the time limit: that plan is kept"]
                out.append(sol)
        finally:
            self.problem._constraints.pop("sweep_floor", None)
        return out

    def _values(self) -> dict:
        val = lambda v: float(v.varValue or 0.0)  # noqa: E731
        return {
            "y": {j: val(v) > 0.5 for j, v in self.y.items()},
            "x": {k: val(v) > 0.5 for k, v in self.x.items()},
            "z": {k: val(v) > 0.5 for k, v in self.z.items()},
            "a": {k: max(val(v), 0.0) for k, v in self.a.items()},
            "f": {k: max(val(v), 0.0) for k, v in self.f.items()},
            "v": {k: (None if v is None else min(max(val(v), 0.0), 1.0)) for k, v in self.v.items()},
            "g": {k: max(val(v), 0.0) for k, v in self.g.items()},
        }

    # -- results -------------------------------------------------------------
    def _site_costs(self, j: int, area: np.ndarray) -> dict:
        """Cost breakdown of new site ``j`` using ``area`` m² per service (sums to
        ``cost_total``, the site's term of the budget constraint)."""
        st, h, used = self.sites, self.policy.costs.horizon_years, float(area.sum())
        annual = float(st["annual_cost"][j]) + float(st["annual_per_m2_used"][j]) * used
        out = {"cost_one_off": float(st["cost"][j]) + float(st["one_off_per_m2_used"][j]) * used,
               "cost_fit_out": float(area @ self.k), "cost_rent_horizon": h * annual,
               "annual_cost": annual}
        out["cost_total"] = out["cost_one_off"] + out["cost_fit_out"] + out["cost_rent_horizon"]
        return out

    def _solution(self, V: dict, r1: dict, r2: dict | None, marginal: bool) -> EmbeddedSolution:
        S = self.services
        nS = len(S)
        area = np.zeros((self.instance.n_sites, nS))
        for (j, si), on in V["x"].items():
            if on:
                area[j, si] = V["a"][j, si]
        for (j, si), val in self.fixed_area.items():
            area[j, si] = val
        area[area < 1e-7] = 0.0
        opened = sorted({j for j, on in V["y"].items() if on} | set(np.flatnonzero(self.existing).tolist()))
        assign = self._assignments(V, area)
        served_site = assign.groupby("site")["people"].sum() if len(assign) else pd.Series(dtype=float)
        rows = []
        for j in opened:
            new = not self.existing[j]
            row = {"site": j, "site_id": self.sites["site_id"][j], "kind": self.sites["kind"][j],
                   "acquisition_mode": self.sites["acquisition_mode"][j],
                   "existing": bool(self.existing[j]),
                   "complex": bool(V["z"].get(j, False)) if new else False,
                   "services": ", ".join(S[si] for si in range(nS) if area[j, si] > 0
                                         or (j, si) in self.fixed_area),
                   "usable_area_m2": float(self.A[j])}
            for si, s in enumerate(S):
                row[f"area_m2_{s}"] = area[j, si]
                row[f"units_{s}"] = area[j, si] / self.q[si]
            row["area_m2"] = float(area[j].sum())
            row.update(self._site_costs(j, area[j]) if new else dict.fromkeys(COST_COLUMNS, 0.0))
            row["people_served"] = float(served_site.get(j, 0.0))
            rows.append(row)
        sites = pd.DataFrame(rows)
        if sites.empty:
            sites = pd.DataFrame(columns=["site", "site_id", "kind", "acquisition_mode", "existing",
                                          "complex", "services", "usable_area_m2",
                                          *[f"{p}_{s}" for s in S for p in ("area_m2", "units")],
                                          "area_m2", *COST_COLUMNS, "people_served"])
        services = self._service_table(assign, area)
        comm_area = pd.DataFrame(
            [{"site": j, "community_id": self.comm_ids[c], "m2": val}
             for (j, c), val in V["g"].items() if val > 1e-7],
            columns=["site", "community_id", "m2"])
        communities = self._community_table(comm_area, opened)
        cost_total = float(sites["cost_total"].sum()) if len(sites) else 0.0
        weighted = float(services["served_people"].to_numpy() @ self.w)
        short = float(communities["shortfall_m2"].sum()) if len(communities) else 0.0
        pen = self.policy.area_standard.penalty_per_m2 if self.standard_mode == "penalty" else 0.0
        summary = {
            "model": self.name, "objective_kind": self.objective,
            "status": r1["status"], "objective": r1["objective"], "lp_bound": r1["bound"],
            "mip_gap": r1["mip_gap"], "solver": r1["solver"], "solve_time_s": r1["runtime_s"],
            "stage2_status": None if r2 is None else r2["status"],
            "stage2_mip_gap": None if r2 is None else r2["mip_gap"],
            "budget": self.budget, "cost_total": cost_total,
            "weighted_served": weighted, "primary_value": weighted - pen * short,
            "standard_m2_per_100_households": self.standard, "standard_mode": self.standard_mode,
            "capacity": self.capacity,
            "n_sites_new": int((~sites["existing"].astype(bool)).sum()) if len(sites) else 0,
            "n_sites_existing": int(self.existing.sum()),
            "n_complexes": int(sites["complex"].astype(bool).sum()) if len(sites) else 0,
            "served_by_service": dict(zip(services["service"], services["served_people"])),
            "unmet_by_service": dict(zip(services["service"], services["unmet_people"])),
            "communities_meeting_standard": int(communities["met"].sum()),
            "communities_total": int(len(communities)),
            "notes": list(self.notes),
        }
        sol = EmbeddedSolution(sites, services, communities, assign, comm_area, summary)
        if marginal and len(sites):
            self._marginal(sol, area)
        return sol

    def _assignments(self, V: dict, area: np.ndarray) -> pd.DataFrame:
        rows = []
        for si, s in enumerate(self.services):
            pi, pj, pdist = self.pairs[si]
            grp = self.rows[si]
            if self.capacity:
                ks = [k for (s2, k), val in V["f"].items() if s2 == si and val > 1e-9]
                if not ks:
                    continue
                ks = np.asarray(ks, np.int64)
                flow = np.array([V["f"][si, k] for k in ks.tolist()])
                # each merged row's flow is shared by its points in proportion to their units
                n_sites = self.instance.n_sites
                key = pi.astype(np.int64) * n_sites + pj
                order = np.argsort(key)
                for k, val in zip(ks.tolist(), flow.tolist()):
                    g, j = int(grp.pi[k]), int(grp.pj[k])
                    if area[j, si] <= _EPS:  # solver-tolerance flow to a closed service
                        continue
                    members = grp.members[g]
                    share = self.D[members, si] / grp.D[g]
                    at = order[np.searchsorted(key[order], members.astype(np.int64) * n_sites + j)]
                    for i, sh, dd in zip(members.tolist(), share.tolist(), pdist[at].tolist()):
                        if val * sh > 1e-12:
                            rows.append((i, j, s, val * sh, val * sh / self.rate[si], dd))
            else:
                hosts = area[:, si] > 0
                best: dict[int, tuple] = {}
                for k in range(len(pi)):
                    i, j = int(pi[k]), int(pj[k])
                    if hosts[j] and (i not in best or pdist[k] < best[i][1]):
                        best[i] = (j, pdist[k])
                for i, (j, dd) in best.items():
                    v = V["v"].get((si, int(grp.group[i])))
                    share = 1.0 if v is None else v
                    if share > 1e-9:
                        rows.append((i, j, s, self.D[i, si] * share, self.N[i, si] * share, dd))
        return pd.DataFrame(rows, columns=["demand", "site", "service", "units", "people", "dist_m"])

    def _service_table(self, assign: pd.DataFrame, area: np.ndarray) -> pd.DataFrame:
        pol = self.policy
        tiers = pol.tiers.minutes
        rows = []
        for si, s in enumerate(self.services):
            sv = pol.services[s]
            a = assign[assign["service"] == s]
            served = float(a["people"].sum())
            demand = float(self.N[:, si].sum())
            row = {"service": s, "name_zh": sv.name_zh, "name_en": sv.name_en, "unit": sv.unit,
                   "threshold_m": self.t[si], "demand_people": demand,
                   "in_reach_people": float(self.N[self.in_reach[:, si], si].sum()),
                   "served_people": served}
            for mins, m in zip(sorted(tiers), pol.tier_m):
                row[f"served_{mins:g}min"] = float(a.loc[a["dist_m"] <= m + 1e-9, "people"].sum())
            row["unmet_people"] = max(demand - served, 0.0)
            row["units_needed"] = float(self.D[:, si].sum())
            row["units_provided"] = float(area[:, si].sum() / self.q[si])
            row["area_m2"] = float(area[:, si].sum())
            row["sites"] = int((area[:, si] > 0).sum())
            rows.append(row)
        return pd.DataFrame(rows)

    def _community_table(self, comm_area: pd.DataFrame, opened) -> pd.DataFrame:
        provided = comm_area.groupby("community_id")["m2"].sum()
        cs, js = self.reach_cj
        possible = np.zeros(len(self.comm_ids))
        open_mask = np.zeros(self.instance.n_sites, bool)
        open_mask[list(opened)] = True
        for c, j in zip(cs, js):
            if self.existing[j] or j in self.y:
                possible[c] += self.site_cap[j]
        rows = []
        for c, cid in enumerate(self.comm_ids):
            p = float(provided.get(cid, 0.0))
            met = p >= self.R[c] - 1e-6 * max(1.0, self.R[c])
            rows.append({"community_id": cid, "name": self.comm_names[c],
                         "households": float(self.H[c]), "required_m2": float(self.R[c]),
                         "provided_m2": p, "reachable_m2": float(possible[c]),
                         "shortfall_m2": max(float(self.R[c]) - p, 0.0) if not met else 0.0,
                         "met": bool(met)})
        return pd.DataFrame(rows)

    # -- marginal values -----------------------------------------------------
    def _marginal(self, sol: EmbeddedSolution, area: np.ndarray) -> None:
        """What is lost when a chosen site is removed, others keeping their floor areas.

        Re-solves the continuous rest (assignment and area standard) as an LP with
        scipy/HiGHS: ``marginal_value`` in objective points (priority-weighted people
        served minus shortfall penalty), ``marginal_people`` in people served.
        """
        base_w, base_p, base_short = self._evaluate(area)
        vals, people = [], []
        for j in sol.sites["site"].tolist():
            a2 = area.copy()
            a2[j] = 0.0
            w, p, short = self._evaluate(a2, closed=j)
            pen = self.policy.area_standard.penalty_per_m2 if self.standard_mode == "penalty" else 0
            vals.append((base_w - pen * base_short) - (w - pen * short))
            people.append(base_p - p)
        sol.sites["marginal_value"] = vals
        sol.sites["marginal_people"] = people

    def _evaluate(self, area: np.ndarray, closed: int | None = None):
        """(weighted served, people served, shortfall m²) for fixed floor areas (LPs)."""
        weighted = people = 0.0
        for si in range(len(self.services)):
            pi, pj, _ = self.pairs[si]
            cap = area[pj, si] > 0
            if self.capacity:
                served = _max_flow_lp(pi[cap], pj[cap], self.D[:, si], area[:, si] / self.q[si])
                p = served / self.rate[si]
            else:
                covered = np.zeros(self.instance.n_demand, bool)
                covered[pi[cap]] = True
                p = float(self.N[covered, si].sum())
            weighted += self.w[si] * p
            people += p
        short = 0.0
        if self.standard_mode != "off":
            cs, js = self.reach_cj
            tot = area.sum(axis=1)
            for j in np.flatnonzero(self.existing):
                tot[j] = 0.0 if j == closed else self.A[j]
            short = _shortfall_lp(cs, js, tot, self.R)
        return weighted, people, short

    # -- infeasibility ---------------------------------------------------------
    def explain_infeasible(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None) -> str:
        """Why no plan exists, in planning terms (communities, budget, limits)."""
        reasons = []
        if self.standard_mode == "hard":
            cs, js = self.reach_cj
            possible = np.zeros(len(self.comm_ids))
            for c, j in zip(cs, js):
                if self.existing[j] or j in self.y:
                    possible[c] += self.site_cap[j]
            bad = [c for c in range(len(self.comm_ids)) if possible[c] < self.R[c] - 1e-6]
            for c in bad[:10]:
                reasons.append(
                    f"community {self.comm_ids[c]} ({self.comm_names[c]}, {self.H[c]:,.0f} "
                    f"households) needs {self.R[c]:,.0f} m² ({self.standard:g} m² per 100 "
                    f"households) but all candidates within {self.policy.standard_reach_m:.0f} m "
                    f"of {self.policy.area_standard.reach_share:.0%} of its households offer only "
                    f"{possible[c]:,.0f} m²")
            if len(bad) > 10:
                reasons.append(f"… and {len(bad) - 10} more communities")
        if not reasons and self.budget is not None:
            least = self._least_budget(solver, time_limit)
            if least is not None:
                reasons.append(
                    f"the budget of {self.budget:,.0f} CNY is too small: the least budget meeting "
                    f"every requirement ({self._requirements(budget=False)}) is {least:,.0f} CNY")
            else:
                reasons.append(
                    f"even with an unlimited budget no plan meets {self._requirements(budget=False)} "
                    "(each site hosts one service unless it is a complex, and each m² counts for "
                    "one community only); relax one of them")
        if not reasons:
            reasons.append(f"no plan meets all of: {self._requirements()}; relax one of them")
        return "no feasible plan: " + "; ".join(reasons)

    def _requirements(self, budget: bool = True) -> str:
        req = []
        if self.standard_mode == "hard":
            req.append(f"{self.standard:g} m² per 100 households in every community (hard)")
        if self.objective in ("min_cost", "min_distance"):
            req.append("all demand within reach served")
        if self.min_coverage:
            req.append(f"at least {self.min_coverage:.0%} of each community's people in reach served")
        if self.max_new_sites is not None:
            req.append(f"at most {self.max_new_sites} new sites")
        if budget and self.budget is not None:
            req.append(f"budget {self.budget:,.0f} CNY")
        return ", ".join(req) or "none"

    def _least_budget(self, solver, time_limit) -> float | None:
        """Cost of the cheapest plan meeting the same requirements without the budget."""
        prob = self.problem.copy()
        prob._constraints.pop("budget", None)
        prob.sense = pulp.LpMinimize
        prob.setObjective(self.cost_expr)
        try:
            r = _solve_safe(prob, solver, time_limit, False, 0.0)
        except SitingError:
            return None
        return r["objective"] if r["status"] == "optimal" else r["bound"]


def _solve_safe(prob, solver, time_limit, msg, mip_gap, start: dict | None = None) -> dict:
    """:func:`siting.solvers.solve_pulp`, with a crashed solver reported as a SitingError.

    ``start`` (HiGHS only): variable name → value of a complete feasible plan, handed
    to HiGHS as its first incumbent.
    """
    try:
        return solve_pulp(prob, solver, time_limit, msg, mip_gap,
                          start=start if solver.lower() == "highs" else None).as_dict()
    except pulp.PulpSolverError as exc:
        raise SitingError(f"{solver} failed on {prob.name} ({exc}); try --solver "
                          f"{'highs' if solver == 'cbc' else 'cbc'} or another time limit") from None


@dataclass
class _Rows:
    """The model's demand rows of one service (merged points or the points themselves).

    ``pi``/``pj``/``dist``: row × site pairs (``dist`` is the original distance when
    rows are points, NaN when merged); ``D``, ``N``, ``comm``: units, people and
    community per row; ``group``: row of each original demand point (-1 if none);
    ``members``: the original points of each row.
    """

    pi: np.ndarray
    pj: np.ndarray
    dist: np.ndarray
    D: np.ndarray
    N: np.ndarray
    comm: np.ndarray
    group: np.ndarray
    members: list


def _merge_demand(pi, pj, pdist, D, N, comm, n_sites: int, merge: bool) -> _Rows:
    """Rows of one service's demand, merging points with the same sites in reach.

    Points of one community whose sets of reachable sites are identical are served
    by the same sites under the same capacities: one row with their units and people
    summed has the same optimum (any flow of the merged row splits in proportion to
    the points' units, and the points' flows sum to a merged flow). Communities stay
    apart so per-community constraints (equity) keep their sums. Not exact for a
    distance objective (the points' distances differ), so ``merge=False`` there.
    """
    n = len(D)
    if not merge or len(pi) == 0:
        group = np.full(n, -1, np.int64)
        pts = np.unique(pi)
        group[pts] = pts
        return _Rows(pi, pj, pdist, D, N, comm, group, [np.array([i]) for i in range(n)])
    pts, local = np.unique(pi, return_inverse=True)
    n_comm = int(comm.max()) + 1 if len(comm) else 1
    # the community is one more "site" of the row, so only points of one community merge
    rr = np.concatenate([local, np.arange(len(pts))])
    cc = np.concatenate([pj, n_sites + comm[pts]])
    cov = sp.csr_array((np.ones(len(rr), bool), (rr, cc)), shape=(len(pts), n_sites + n_comm))
    cov.sum_duplicates()
    cov.sort_indices()
    row0 = np.arange(len(pts), dtype=np.int64)
    merged, _, row = _merge_rows(cov, np.zeros(len(pts)), row0)
    n_rows = merged.shape[0]
    group = np.full(n, -1, np.int64)
    group[pts] = row
    gD = np.bincount(row, weights=D[pts], minlength=n_rows)
    gN = np.bincount(row, weights=N[pts], minlength=n_rows)
    gcomm = np.zeros(n_rows, np.int64)
    gcomm[row] = comm[pts]
    order = np.argsort(row, kind="stable")
    members = np.split(pts[order], np.cumsum(np.bincount(row, minlength=n_rows))[:-1])
    coo = sp.coo_array(merged[:, :n_sites])
    k = np.lexsort((coo.col, coo.row))
    gi, gj = coo.row[k].astype(np.int64), coo.col[k].astype(np.int64)
    return _Rows(gi, gj, np.full(len(gi), np.nan), gD, gN, gcomm, group, members)


def _max_flow_lp(pi, pj, demand, cap) -> float:
    """Most units assignable: sum f over pairs, f ≤ demand per row, ≤ cap per site (LP)."""
    if len(pi) == 0:
        return 0.0
    n = len(pi)
    ui, ri = np.unique(pi, return_inverse=True)
    uj, rj = np.unique(pj, return_inverse=True)
    a = sp.vstack([sp.csr_array((np.ones(n), (ri, np.arange(n))), shape=(len(ui), n)),
                   sp.csr_array((np.ones(n), (rj, np.arange(n))), shape=(len(uj), n))])
    res = linprog(-np.ones(n), A_ub=a, b_ub=np.concatenate([demand[ui], cap[uj]]),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise SitingError(f"assignment LP failed: {res.message}")
    return float(-res.fun)


def _shortfall_lp(cs, js, site_area, required) -> float:
    """Least total shortfall of the area standard given each site's floor area (LP)."""
    nC = len(required)
    ok = site_area[js] > 0
    cs, js = cs[ok], js[ok]
    n = len(cs)
    if n == 0:
        return float(np.clip(required, 0, None).sum())
    uj, rj = np.unique(js, return_inverse=True)
    # variables: g (n), short (nC); min sum short
    c = np.concatenate([np.zeros(n), np.ones(nC)])
    a_site = sp.hstack([sp.csr_array((np.ones(n), (rj, np.arange(n))), shape=(len(uj), n)),
                        sp.csr_array((len(uj), nC))])
    a_comm = sp.hstack([sp.csr_array((-np.ones(n), (cs, np.arange(n))), shape=(nC, n)),
                        -sp.eye_array(nC)])
    res = linprog(c, A_ub=sp.vstack([a_site, a_comm]),
                  b_ub=np.concatenate([site_area[uj], -required]), bounds=(0, None),
                  method="highs")
    if res.status != 0:
        raise SitingError(f"area-standard LP failed: {res.message}")
    return float(res.fun)


def plan_to_coverage(plan: EmbeddedSolution, instance: Instance):
    """A :class:`~siting.models.coverage.CoverageSolution` view of a plan (for maps and old reports):
    chosen = opened sites; covered = demand points served by any service."""
    from siting.models.results import CoverageSolution

    covered = np.zeros(instance.n_demand, bool)
    if len(plan.assignments):
        served = plan.assignments.groupby("demand")["people"].sum()
        covered[served.index[served > 1e-9].to_numpy(np.int64)] = True
    s = plan.summary
    return CoverageSolution(
        chosen=plan.chosen, covered=covered, objective=s["objective"], bound=s["lp_bound"],
        mip_gap=s["mip_gap"], status=s["status"], solver=s["solver"],
        runtime_s=s["solve_time_s"], model="embedded", weight=instance.weight)
