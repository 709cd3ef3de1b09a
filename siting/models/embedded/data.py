"""The embedded model's data: derived from the instance, tables and policy, and validated.

:func:`derive_data` completes the input tables (:mod:`.prepare`) and turns them into
:class:`EmbeddedData`, the arrays the formulation reads (areas, costs, units, the pairs
within each service's walking threshold, communities and their area standard), and
raises a :class:`~siting.errors.SitingError` in planning terms when no plan can exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting.config.policy import Policy
from siting.errors import SitingError
from siting.models.embedded._rows import DemandRows, merge_demand
from siting.models.embedded.needs import need_factors
from siting.models.embedded.prepare import prepare_demand, prepare_sites
from siting.models.instance import Instance

OBJECTIVES = ("max_served", "min_cost", "min_distance")


# ---------------------------------------------------------------------------
# the model's data
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class EmbeddedData:
    r"""Everything the formulation reads, per site ``j``, service ``si`` and community ``c``.

    The symbols are those of :class:`~siting.models.embedded.EmbeddedFacilities`.

    Attributes
    ----------
    instance, policy
        The sparse walking distances and the validated policy.
    distances
        Per service, the instance its walks use (the step-free one for ``step_free``
        services).
    demand, sites
        The prepared tables (:func:`~siting.models.embedded.prepare.prepare_demand`,
        :func:`~siting.models.embedded.prepare.prepare_sites`).
    services
        Keys of the active services, in model order.
    budget, objective, capacity, standard, standard_mode, max_new_sites, min_coverage, required
        The options of the model (``standard`` in m² per 100 households).
    rate, m2_per_unit, min_area, weight, fit_out, threshold
        Per service: units per person :math:`r_s`, m² per unit :math:`q_s`, minimum
        area :math:`m_s`, priority :math:`w_s`, fit-out per m² :math:`k_s`, walking
        threshold :math:`t_s` in metres.
    people, units
        Demand point × service: people of the service's group :math:`N_{is}` and units
        needed :math:`D_{is}`.
    area, fixed_cost, per_m2, existing, declared_complex
        Per site: usable area :math:`A_j`, cost per site opened :math:`F_j`, cost per m²
        used :math:`v_j` (rent over the horizon), existing or new, declared a complex.
    fixed_area
        ``(j, si) → m²`` of the services existing sites already offer.
    pairs
        Per service, ``(demand, site, dist)`` arrays of the pairs :math:`P_s` that may
        be served (positive demand, a site that may host the service).
    candidates
        Per service, the new sites that may host it.
    max_area
        ``(j, si) → U_{js}``, the largest useful area of a new service.
    site_cap
        Per site, the most floor area a plan can use there.
    community, community_ids, community_names
        Community code of each demand point; the communities' ids and names.
    households, required_m2
        Per community: :math:`H_c` and :math:`R_c = \rho H_c`.
    standard_reach
        ``(c, j)`` arrays: site ``j`` is within reach of community ``c`` (the set
        :math:`R(c)`).
    in_reach
        Demand point × service: within reach of some possible host.
    rows
        Per service, the model's demand rows (:class:`DemandRows`).
    notes
        What was derived or left out, said once per model.
    needs
        Demand point × service priority factors of residents' needs (None: all 1;
        :mod:`~siting.models.embedded.needs`).
    programme
        Years, funding and projects (:class:`~siting.models.embedded.programme.ProgrammeData`);
        None without a programme.
    """

    instance: Instance
    policy: Policy
    distances: list
    demand: pd.DataFrame
    sites: pd.DataFrame
    services: list
    budget: float | None
    objective: str
    capacity: bool
    standard: float
    standard_mode: str
    max_new_sites: int | None
    min_coverage: float | None
    required: list
    rate: np.ndarray
    m2_per_unit: np.ndarray
    min_area: np.ndarray
    weight: np.ndarray
    fit_out: np.ndarray
    threshold: np.ndarray
    people: np.ndarray
    units: np.ndarray
    area: np.ndarray
    fixed_cost: np.ndarray
    per_m2: np.ndarray
    existing: np.ndarray
    declared_complex: np.ndarray
    fixed_area: dict
    pairs: list
    candidates: list
    max_area: dict
    site_cap: np.ndarray
    community: np.ndarray
    community_ids: list
    community_names: list
    households: np.ndarray
    required_m2: np.ndarray
    standard_reach: tuple
    in_reach: np.ndarray
    rows: list[DemandRows]
    notes: tuple
    needs: np.ndarray | None = None
    programme: Any = None

    @cached_property
    def new_sites(self) -> list[int]:
        """New sites that may host some service (those with a :math:`y_j`)."""
        return sorted(set(np.concatenate(self.candidates).tolist()) if self.services else set())

    @property
    def penalty_per_m2(self) -> float:
        """Objective points charged per m² short of the standard (0 unless ``penalty``)."""
        return (self.policy.area_standard.penalty_per_m2
                if self.standard_mode == "penalty" else 0.0)

    def reachable_m2(self) -> np.ndarray:
        """Per community, the most floor area the sites within its reach can offer."""
        cs, js = self.standard_reach
        possible = np.zeros(len(self.community_ids))
        hosts = set(self.new_sites)
        for c, j in zip(cs, js):
            if self.existing[j] or j in hosts:
                possible[c] += self.site_cap[j]
        return possible


def _check_options(instance: Instance, policy: Policy, budget, standard, standard_mode,
                   capacity, objective, max_new_sites, min_coverage) -> str:
    """Raise on options that cannot make a model; return the standard mode."""
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
    return "hard" if objective == "min_cost" and mode == "penalty" else mode


def derive_data(instance: Instance, policy: Policy, demand: pd.DataFrame | None = None,
                sites: pd.DataFrame | None = None, *, budget: float | None = None,
                standard: float | None = None, standard_mode: str | None = None,
                capacity: bool = True, objective: str = "max_served",
                max_new_sites: int | None = None, min_coverage: float | None = None,
                reduce: bool = True, step_free: Instance | None = None,
                required: Iterable[int] = ()) -> EmbeddedData:
    """Derive and validate the model's data (the options are those of the model).

    Parameters
    ----------
    instance
        Sparse walking distances.
    policy
        The validated policy.
    demand
        Demand table (:func:`~siting.models.embedded.prepare.prepare_demand`); None:
        the instance's weights as population.
    sites
        Site table (:func:`~siting.models.embedded.prepare.prepare_sites`); None: the
        instance's sites without areas (refused).
    budget
        CNY for new sites; None: no budget.
    standard
        m² per 100 households; None: the policy's baseline.
    standard_mode
        ``"hard"``, ``"penalty"`` or ``"off"``; None: the policy's.
    capacity
        Capacities from floor area (True) or pure coverage (False).
    objective
        One of :data:`OBJECTIVES`.
    max_new_sites
        Most new sites to open.
    min_coverage
        Share of each community's people in reach of each service to serve.
    reduce
        Merge demand points with the same sites in reach (where exact).
    step_free
        Distances on the step-free network, for services with ``step_free``.
    required
        Site rows forced open.

    The options are those of :class:`~siting.models.embedded.EmbeddedFacilities`.

    Returns
    -------
    EmbeddedData

    Raises
    ------
    SitingError
        On invalid options, or when no candidate can host a service, the budget buys
        no site, or a required site cannot host anything — each said in planning terms.
    """
    mode = _check_options(instance, policy, budget, standard, standard_mode, capacity,
                          objective, max_new_sites, min_coverage)
    if step_free is not None and (step_free.n_demand, step_free.n_sites) != (
            instance.n_demand, instance.n_sites):
        raise SitingError("the step-free instance must have the same demand and sites")
    services = policy.active_services
    # distances each service walks: the step-free network for services marked so
    distances = [step_free if step_free is not None and policy.services[s].step_free
                 else instance for s in services]
    if demand is None:
        demand = pd.DataFrame({"population": instance.weight})
    if sites is None:
        sites = pd.DataFrame({"usable_area_m2": np.full(instance.n_sites, np.nan)})
    if len(demand) != instance.n_demand or len(sites) != instance.n_sites:
        raise SitingError(
            f"demand ({len(demand)} rows) and sites ({len(sites)} rows) must match the "
            f"instance ({instance.n_demand} demand points, {instance.n_sites} sites)")
    needs, stated = need_factors(demand, services)  # residents' needs (needs.py)
    demand, dnotes = prepare_demand(demand, policy)
    sites, snotes = prepare_sites(sites, policy)
    notes = dnotes + snotes
    svc = [policy.services[s] for s in services]
    h = policy.costs.horizon_years
    kw: dict[str, Any] = dict(
        instance=instance, policy=policy, distances=distances, demand=demand, sites=sites,
        services=services, budget=budget, objective=objective, capacity=capacity,
        standard=policy.area_rate(standard) * 100.0, standard_mode=mode,
        max_new_sites=max_new_sites, min_coverage=min_coverage,
        required=[int(j) for j in required],
        rate=np.array([s.rate for s in svc]),
        m2_per_unit=np.array([s.floor_m2_per_unit for s in svc]),
        min_area=np.array([s.min_floor_m2 for s in svc]),
        weight=np.array([s.priority_weight for s in svc]),
        fit_out=np.array([s.fit_out_per_m2 if s.fit_out_per_m2 is not None
                          else policy.costs.fit_out_per_m2 for s in svc]),
        threshold=np.array([policy.threshold_m(s) for s in services]),
        people=np.column_stack([demand[policy.services[s].demand_group].to_numpy(float)
                                for s in services]),
        area=sites["usable_area_m2"].to_numpy(float),
        # fixed per site opened (F_j) and per m² used there (v_j), rent over the horizon
        fixed_cost=sites["cost"].to_numpy(float) + h * np.asarray(sites["annual_cost"], float),
        per_m2=np.asarray(sites["one_off_per_m2_used"], float) + h * np.asarray(
            sites["annual_per_m2_used"], float),
        existing=np.asarray(sites["existing"], bool),
        declared_complex=np.asarray(sites["complex"], bool),
    )
    kw["units"] = kw["people"] * kw["rate"] * (1.0 if stated is None else stated)
    kw["needs"] = needs
    kw["fixed_area"] = _fixed_areas(sites, services, kw["area"], kw["existing"])
    kw.update(_pairs(kw, svc, notes))
    kw.update(_communities(kw))
    kw["in_reach"] = np.zeros_like(kw["people"], dtype=bool)
    for si in range(len(services)):
        kw["in_reach"][np.unique(kw["pairs"][si][0]), si] = True
    # the model's demand rows: per service, points merged when exact (see reduce); a
    # level's walking reach needs each point's distance, so points are kept apart then
    merge = reduce and objective != "min_distance" and not policy.hierarchy.has_reach
    kw["rows"] = [merge_demand(pi, pj, pdist, kw["units"][:, si], kw["people"][:, si],
                               kw["community"], instance.n_sites, merge)
                  for si, (pi, pj, pdist) in enumerate(kw["pairs"])]
    _check_inputs(kw, notes)
    kw["notes"] = tuple(notes)
    data = EmbeddedData(**kw)
    hosts = set(data.new_sites)
    for j in data.required:  # --require: must be able to host something
        if j not in hosts:
            raise SitingError(
                f"required site {sites['site_id'].iloc[j] if 'site_id' in sites else j}"
                " cannot host any service (too small for every service's minimum area, on "
                "a storey no service may use, or in nobody's walking reach)")
    return data


def _fixed_areas(sites: pd.DataFrame, services: list, area: np.ndarray,
                 existing: np.ndarray) -> dict:
    """``(j, si) → m²`` of existing services (their column, or the usable area split evenly)."""
    out = {}
    for j in np.flatnonzero(existing):
        mine = [s for s in sites["existing_services"][j] if s in services]
        for s in mine:
            col = f"area_m2_{s}"
            given = col in sites and sites[col][j] > 0
            val = float(sites[col][j]) if given else area[j] / len(mine)
            out[(int(j), services.index(s))] = val
    return out


def _pairs(kw: dict, svc: list, notes: list) -> dict:
    """Pairs per service, candidate hosts, their largest useful areas and site capacities."""
    S, existing, area = kw["services"], kw["existing"], kw["area"]
    st, budget = kw["sites"], kw["budget"]
    # storeys each service may use (inventory 楼层; unknown storeys are allowed)
    storey = np.asarray(st["ground_floor"], float)
    lift = np.asarray(st["lift"], float) if "lift" in st else np.full(len(storey), np.nan)
    storey_ok = [svc_i.storey_ok(storey, lift) for svc_i in svc]
    for s_key, svc_i, ok in zip(S, svc, storey_ok):
        plain = svc_i.storey_ok(storey)
        n_out = int((~plain & ~existing).sum())
        if n_out:
            lo, hi = svc_i.lowest_storey, svc_i.highest_storey
            where = f"storey {lo}" if lo == hi else \
                f"storeys {'' if lo is None else lo}–{'' if hi is None else hi}"
            notes.append(f"{n_out} sites not on {where} cannot host {svc_i.name_en} ({s_key})")
        n_lift = int((plain & ~ok & ~existing).sum())
        if n_lift:
            notes.append(f"{n_lift} sites on storey {svc_i.lift_from_storey} or above "
                         f"without a lift (电梯 无) cannot host {svc_i.name_en} ({s_key})")
    units, m, fixed = kw["units"], kw["min_area"], kw["fixed_area"]
    pairs = []
    for si in range(len(S)):
        inst = kw["distances"][si]
        mk = inst.pair_dist <= kw["threshold"][si] + 1e-9
        pi, pj, pdist = inst.pair_demand[mk], inst.pair_site[mk], inst.pair_dist[mk]
        host = ~existing[pj] | np.array(
            [(int(j), si) in fixed for j in pj], bool) if len(pj) else np.zeros(0, bool)
        # a new service only on the storeys it may use (existing ones operate already)
        host &= existing[pj] | storey_ok[si][pj]
        big = existing[pj] | (area[pj] >= m[si] - 1e-9)
        if budget is not None and kw["objective"] != "min_cost":
            # sites that cannot be afforded even at the minimum area are left out
            least = kw["fixed_cost"][pj] + (kw["per_m2"][pj] + kw["fit_out"][si]) * m[si]
            big &= existing[pj] | (least <= budget + 1e-6)
        keep = (units[pi, si] > 0) & host & big
        pairs.append((pi[keep], pj[keep], pdist[keep]))
    # candidate (new site, service) combinations: reachable by some demand and area ≥ min
    cand = []
    for si in range(len(S)):
        js = np.unique(pairs[si][1])
        cand.append(js[~existing[js]])
    # largest useful area of service s at site j: what its demand in reach needs
    # (at least the minimum area), never more than the site holds
    n_sites = kw["instance"].n_sites
    max_area = {}
    for si in range(len(S)):
        pi, pj, _ = pairs[si]
        need = np.bincount(pj, weights=units[pi, si], minlength=n_sites) * kw["m2_per_unit"][si]
        for j in cand[si].tolist():
            max_area[j, si] = float(min(area[j], max(m[si], need[j])))
    site_cap = area.copy()
    for j in range(n_sites):
        if not existing[j]:
            site_cap[j] = min(area[j], sum(max_area.get((j, si), 0.0) for si in range(len(S))))
    return {"pairs": pairs, "candidates": cand, "max_area": max_area, "site_cap": site_cap}


def _communities(kw: dict) -> dict:
    """Community codes, households, required areas and the sites within reach of each."""
    d, pol, inst = kw["demand"], kw["policy"], kw["instance"]
    codes, uniq = pd.factorize(d["community_id"])
    names = d.groupby("community_id", sort=False)["community_name"].first()
    hh = d["households"].to_numpy(float)
    households = np.bincount(codes, weights=hh, minlength=len(uniq))
    mk = inst.pair_dist <= pol.standard_reach_m + 1e-9
    pc, pj = codes[inst.pair_demand[mk]], inst.pair_site[mk]
    w = hh[inst.pair_demand[mk]]
    if len(pc):
        cj = sp.coo_array((w, (pc, pj)), shape=(len(uniq), inst.n_sites)).tocsr()
        cj.sum_duplicates()
        c_idx, j_idx = cj.nonzero()
        share = np.asarray(cj[c_idx, j_idx]).ravel() / np.maximum(households[c_idx], 1e-12)
        ok = share >= pol.area_standard.reach_share - 1e-12
        reach = (c_idx[ok].astype(np.int64), j_idx[ok].astype(np.int64))
    else:
        reach = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    return {"community": codes, "community_ids": list(uniq),
            "community_names": [str(names[c]) for c in uniq], "households": households,
            "required_m2": kw["standard"] / 100.0 * households, "standard_reach": reach}


def _check_inputs(kw: dict, notes: list) -> None:
    """Raise when no plan can exist: a service reaches no one, or the budget buys no site."""
    S, units, people, t = kw["services"], kw["units"], kw["people"], kw["threshold"]
    budget, existing, pairs = kw["budget"], kw["existing"], kw["pairs"]
    for si, s in enumerate(S):
        inst = kw["distances"][si]
        reach = (units[inst.pair_demand, si] > 0) & (inst.pair_dist <= t[si] + 1e-9)
        hosts = [j for (j, s2) in kw["fixed_area"] if s2 == si]
        if not reach.any() and not hosts:
            grp = kw["policy"].services[s].demand_group
            m = people[inst.pair_demand, si] > 0 if len(inst.pair_demand) else np.zeros(0, bool)
            near = f"; the nearest candidate to anyone of group {grp} is " \
                   f"{inst.pair_dist[m].min():.0f} m away" if m.any() else \
                   f"; no candidate is within {inst.threshold_m:.0f} m of group {grp}"
            raise SitingError(
                f"service {s}: its threshold {t[si]:.0f} m reaches no candidate site "
                f"from any demand point{near}; raise services.{s}.walk_min (or walk_m) "
                "or add candidates")
    if budget is not None and not existing.any():
        cheapest = np.inf
        where = None
        for si in range(len(S)):
            inst = kw["distances"][si]
            pi, pj = inst.pair_demand, inst.pair_site
            ok = (units[pi, si] > 0) & (inst.pair_dist <= t[si] + 1e-9) \
                & (kw["area"][pj] >= kw["min_area"][si] - 1e-9)
            js = np.unique(pj[ok])
            if len(js):
                c = kw["fixed_cost"][js] + (kw["per_m2"][js] + kw["fit_out"][si]) \
                    * kw["min_area"][si]
                k = int(np.argmin(c))
                if c[k] < cheapest:
                    cheapest, where = float(c[k]), (int(js[k]), S[si])
        if where is None:
            raise SitingError(_no_host_message(S, kw["min_area"], kw["area"]))
        if budget < cheapest - 1e-6:
            sid = kw["sites"]["site_id"][where[0]]
            raise SitingError(
                f"budget {budget:,.0f} CNY is below the cheapest possible site: site "
                f"{sid} with {where[1]} at its minimum area costs {cheapest:,.0f} CNY "
                f"(site, rent over the horizon and fit-out); nothing can be built. Raise "
                f"--budget to at least {cheapest:,.0f} CNY")
    if not existing.any() and all(len(pairs[si][0]) == 0 for si in range(len(S))):
        raise SitingError(_no_host_message(S, kw["min_area"], kw["area"]))
    for si, s in enumerate(S):
        if len(pairs[si][0]) == 0:
            notes.append(f"service {s}: no candidate in reach is large enough "
                         f"(≥ {kw['min_area'][si]:g} m²) or affordable within the budget")


def _no_host_message(services: list, min_area: np.ndarray, area: np.ndarray) -> str:
    """Why no candidate can host any service (each needs its minimum area in reach)."""
    need = ", ".join(f"{s} {min_area[si]:,.0f} m²" for si, s in enumerate(services))
    largest = float(np.max(area)) if len(area) else 0.0
    return (f"no candidate site can host any service: each needs at least its minimum "
            f"area within walking reach, on an allowed storey and within the budget "
            f"({need}; services.*.min_floor_m2 in the policy), "
            f"and the largest usable candidate area is {largest:,.0f} m²; lower the "
            f"minimum areas or add larger candidates (--inventory)")
