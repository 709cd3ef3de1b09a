r"""Phasing and funding rows of the embedded model, and the programme's result tables.

:func:`add_programme` adds a programme (:mod:`~siting.models.embedded.programme`) to a
built :class:`~siting.models.embedded.formulation.Formulation`. Years
:math:`t \in T = (t_1, \dots, t_K)`; site :math:`j` may open from year :math:`e_j`
(its 可用年份, ``year_available``; a project's space from its delivery year); demand
point :math:`i` counts from year :math:`\phi_i` (``from_year``; a project's people from
its delivery year).

Variables: :math:`o_{jt} \in \{0,1\}` site :math:`j` opens in year :math:`t \ge e_j`;
:math:`b_{jst} \ge 0` the floor area of service :math:`s` at :math:`j` when it opens in
:math:`t`; :math:`g_{ijs\tau} \ge 0` units served in year :math:`\tau < t_K` (year
:math:`t_K` is served by the model's flows :math:`f_{ijs}`); :math:`p_{\kappa\sigma}
\ge 0` money of source :math:`\sigma` paying cost item :math:`\kappa`.

.. math::

    &\textstyle\sum_t o_{jt} = y_j, \quad \sum_t b_{jst} = a_{js},
      \quad b_{jst} \le U_{js}\,o_{jt} && \text{(open\_year, area\_year, area\_open)}\\
    &\textstyle\sum_s b_{jst} \le A_j\,o_{jt} && \text{(site\_area per year: implied,
      tightens the LP)}\\
    &\textstyle\sum_j g_{ijs\tau} \le D_{is}[\phi_i \le \tau], \quad
      \sum_i g_{ijs\tau} \le \sum_{t \le \tau} b_{jst}/q_s && \text{(serve, capacity per year)}\\
    &\textstyle\sum_i g_{ijs\tau} \le \bar u_{js\tau} \sum_{t \le \tau} o_{jt},\;
      \sum_i g_{ijs\tau} \le \bar u_{js\tau}\, x_{js} && \text{(serve\_cap,
      serve\_host: implied, tighten the LP)}\\
    &\max \textstyle\sum_{\tau < t_K} \sum w_s\,g_{ijs\tau}/r_s
      + (\text{the model's primary objective, year } t_K)
      && \text{(people-years served)}

with :math:`\bar u_{js\tau} = \min(\sum_{i:(i,j)\in P_s} D_{is}[\phi_i \le \tau],
U_{js}/q_s)`, so a site opened a year earlier serves a year longer. The model's other rows (area
standard, equity, the horizon budget) hold for the plan as it stands in the last year. Cost
items
:math:`\kappa` = (site, type, year paid, service): construction (one-off
:math:`c_j o_{jt} + u_j \sum_s b_{jst}`) and fit-out (:math:`k_s b_{jst}`) in the opening
year; rent (:math:`c^a_j o_{jt} + u^a_j \sum_s b_{jst}`) in every programme year from the
opening year (rent after the last year is outside the programme's money). Items are kept
per service when some source pays only some services; a per-site charge is then paid
only by sources without a service list.

.. math::

    &\textstyle\sum_{\kappa\,\text{paid in}\,\tau} \mathrm{cost}_\kappa \le B_\tau
      && \text{(year\_budget: phases)}\\
    &\textstyle\sum_{\sigma\ \text{eligible}} p_{\kappa\sigma} + u_\kappa
      = \mathrm{cost}_\kappa && \text{(fund: every item paid)}\\
    &\textstyle\sum_{\kappa\,\text{paid in}\,\tau} p_{\kappa\sigma} \le M_{\sigma\tau}
      + e_{\sigma\tau} && \text{(source: the year's amount)}\\
    &\textstyle\sum_{\kappa \in j} p_{\kappa\sigma} \le \gamma_\sigma
      \sum_{\kappa \in j,\ \text{type} \in K_\sigma} \mathrm{cost}_\kappa
      && \text{(share\_cap: e.g. central money} \le 40\,\%)

Source :math:`\sigma` is eligible for item :math:`\kappa` when it pays the item's cost
type (:math:`K_\sigma`), its service (or has no service list), the site passes its
condition and it has an amount in the year paid. The slacks :math:`u_\kappa` (unfunded)
and :math:`e_{\sigma\tau}` (short) are fixed at 0; :func:`explain_shortfall` frees them
and minimises their sum to name the sources that run short when no plan exists.
:func:`fit_greedy` scales the money a greedy plan plans with until the programme can
schedule and pay it (the fallback when the solver finds no better plan; HiGHS is not
started from it: on the Nanjing example it found better plans without).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from siting.errors import SitingError
from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.diagnosis import flow_people
from siting.models.embedded.formulation import Formulation, solve_safe
from siting.models.embedded.operations import running_items
from siting.models.embedded.programme import COST_TYPES, ProgrammeData
from siting.solvers.builder import ModelBuilder

_TOL = 1e-6


@dataclass
class ProgrammeVars:
    """The variables :func:`add_programme` added (keys as in the module docstring).

    Attributes
    ----------
    opens
        ``(j, t) → o_{jt}`` (``t`` an index into the years).
    area
        ``(j, si, t) → b_{jst}``.
    served
        Year index → priority-weighted people served terms (the last year: the model's).
    people
        Year index → (variable, people per unit) terms.
    items
        Cost items: ``(j, type, t paid, si or None) → terms``.
    pay
        ``(item, source index) → p``.
    unfunded
        ``item → u`` (fixed at 0).
    short
        ``(source index, t) → e`` and ``("budget", t) → slack`` (fixed at 0).
    caps
        ``(source index, j) →`` the cap row's name.
    units
        ``(j, si, τ) →`` the flow columns of service ``si`` at ``j`` in year ``τ < t_K``.
    deficit
        ``(j, τ) →`` the operating deficit's column (running costs charged).
    """

    opens: dict = field(default_factory=dict)
    area: dict = field(default_factory=dict)
    served: dict = field(default_factory=dict)
    people: dict = field(default_factory=dict)
    items: dict = field(default_factory=dict)
    pay: dict = field(default_factory=dict)
    unfunded: dict = field(default_factory=dict)
    short: dict = field(default_factory=dict)
    caps: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    deficit: dict = field(default_factory=dict)

    def site_columns(self) -> tuple[dict, list]:
        """Per site its year, yearly area and yearly flow columns; the yearly areas
        (for :func:`~siting.models.embedded.diagnosis.plan_columns`)."""
        cols: dict[int, list] = {}
        for (j, _si, _t), vs in self.units.items():
            cols.setdefault(j, []).extend(vs)
        for key, v in [*self.opens.items(), *self.area.items()]:
            cols.setdefault(key[0], []).append(v)
        return cols, list(self.area.values())


def check_model(data: EmbeddedData) -> None:
    """Refuse model options a programme cannot use.

    Parameters
    ----------
    data
        The model's data with a programme.
    """
    if data.objective != "max_served":
        raise SitingError(f"a programme (phases, funding, projects) needs objective "
                          f"max_served (people served per year); got {data.objective}")
    if not data.capacity:
        raise SitingError("a programme (phases, funding, projects) counts people served per "
                          "year from floor area: use capacity = true")


def add_programme(data: EmbeddedData, form: Formulation) -> ProgrammeVars:
    """Add the programme's rows to a built model and make its objective people-years.

    Parameters
    ----------
    data
        The model's data (``data.programme`` set).
    form
        The model built from it; changed in place (``primary`` and the objective).

    Returns
    -------
    ProgrammeVars
    """
    check_model(data)
    P: ProgrammeData = data.programme
    K = len(P.years)
    prob = form.problem
    pv = ProgrammeVars()
    sites_of: dict[int, list[int]] = {}
    for (j, si) in form.area:
        sites_of.setdefault(j, []).append(si)
    for j, yj in form.open_site.items():
        ts = range(int(P.first_year[j]), K)
        for t in ts:
            pv.opens[j, t] = prob.add_var(f"o_{j}_{t}", 0, 1, integer=True)
        prob.add_row([(pv.opens[j, t], 1.0) for t in ts] + [(yj, -1.0)], "==", 0,
                     f"open_year_{j}")
        for si in sites_of.get(j, []):
            u = float(data.max_area[j, si])
            for t in ts:
                b = pv.area[j, si, t] = prob.add_var(f"b_{j}_{si}_{t}", 0, u)
                prob.add_row([(b, 1.0), (pv.opens[j, t], -u)], "<=", 0,
                             f"area_open_{j}_{si}_{t}")
            prob.add_row([(pv.area[j, si, t], 1.0) for t in ts] + [(form.area[j, si], -1.0)],
                         "==", 0, f"area_year_{j}_{si}")
        for t in ts:  # implied by site_area and area_open; tightens the LP bound
            prob.add_row([(pv.area[j, si, t], 1.0) for si in sites_of.get(j, [])]
                         + [(pv.opens[j, t], -float(data.area[j]))], "<=", 0,
                         f"site_area_{j}_y{t}")
    for tau in range(K - 1):
        _year_flows(data, form, pv, tau)
    # the last year is served by the model's own flows
    pv.people[K - 1] = flow_people(form, data)
    _cost_items(data, form, pv)
    running_items(data, form, pv)  # when a source pays 运营/operations
    _money_rows(data, prob, pv)
    terms = [t for tau in range(K - 1) for t in pv.served[tau]]
    form.primary = form.primary + terms
    prob.set_objective(form.primary)
    return pv


def _year_flows(data: EmbeddedData, form: Formulation, pv: ProgrammeVars, tau: int) -> None:
    """Flows of year ``tau``: demand present by then, area of sites open by then."""
    P: ProgrammeData = data.programme
    prob = form.problem
    served, people = pv.served.setdefault(tau, []), pv.people.setdefault(tau, [])
    for si, s in enumerate(data.services):
        grp = data.rows[si]
        # a merged row's demand in year tau: its points present by then
        present = np.array([float(data.units[m, si][P.from_year[m] <= tau].sum())
                            for m in grp.members]) if len(grp.members) else np.zeros(0)
        rows: dict[int, list] = {}
        cols: dict[int, list] = {}
        for k in range(len(grp.pi)):
            i, j = int(grp.pi[k]), int(grp.pj[k])
            if present[i] <= 0:
                continue
            if (j, si) not in data.fixed_area and not any(
                    (j, si, t) in pv.area for t in range(tau + 1)):
                continue  # not open by tau
            v = prob.add_var(f"g_{si}_{k}_{tau}", 0)
            rows.setdefault(i, []).append(v)
            cols.setdefault(j, []).append(v)
            served.append((v, float(data.weight[si] / data.rate[si])))
            people.append((v, float(1.0 / data.rate[si])))
        for i, vs in rows.items():
            prob.add_row([(v, 1.0) for v in vs], "<=", float(present[i]), f"serve_{i}_{s}_y{tau}")
        q = float(data.m2_per_unit[si])
        # units present by tau in reach of each site
        reach = np.bincount(grp.pj, weights=present[grp.pi], minlength=len(data.area)) \
            if len(grp.pi) else np.zeros(len(data.area))
        for j, vs in cols.items():
            pv.units[j, si, tau] = vs
            const = data.fixed_area.get((j, si), 0.0) / q
            opened = [(pv.area[j, si, t], -1.0 / q) for t in range(tau + 1)
                      if (j, si, t) in pv.area]
            prob.add_row([(v, 1.0) for v in vs] + opened, "<=", const,
                         f"capacity_{j}_{s}_y{tau}")
            if (j, si) in data.fixed_area:  # an existing facility: open from the start
                continue
            # implied: no more than the units in reach, and only once the site is open
            cap = min(float(reach[j]), float(data.max_area[j, si]) / q)
            prob.add_row([(v, 1.0) for v in vs] + [
                (pv.opens[j, t], -cap) for t in range(tau + 1) if (j, t) in pv.opens],
                "<=", 0, f"serve_cap_{j}_{s}_y{tau}")
            prob.add_row([(v, 1.0) for v in vs] + [(form.host[j, si], -cap)], "<=", 0,
                         f"serve_host_{j}_{s}_y{tau}")


def _cost_items(data: EmbeddedData, form: Formulation, pv: ProgrammeVars) -> None:
    """Cost items (site, type, year paid, service) with their linear expressions."""
    P: ProgrammeData = data.programme
    K = len(P.years)
    st = data.sites
    split = P.split_services
    c = st["cost"].to_numpy(float)
    ca = st["annual_cost"].to_numpy(float)
    u = st["one_off_per_m2_used"].to_numpy(float)
    ua = st["annual_per_m2_used"].to_numpy(float)

    def add(key, var, coef):
        if coef > 0:
            pv.items.setdefault(key, []).append((var, float(coef)))

    for (j, t), o in pv.opens.items():
        add((j, "construction", t, None), o, c[j])
        for tau in range(t, K):
            add((j, "rent", tau, None), o, ca[j])
    for (j, si, t), b in pv.area.items():
        s = si if split else None
        add((j, "construction", t, s), b, u[j])
        add((j, "fit_out", t, s), b, data.fit_out[si])
        for tau in range(t, K):
            add((j, "rent", tau, s), b, ua[j])


def _money_rows(data: EmbeddedData, prob: ModelBuilder, pv: ProgrammeVars) -> None:
    """Year budgets, every item paid by eligible sources, source amounts, share caps."""
    P: ProgrammeData = data.programme
    prog = P.programme
    years = P.years
    for t, y in enumerate(years):
        if y in prog.year_budget:
            e = pv.short["budget", t] = prob.add_var(f"short_budget_{t}", 0, 0)
            terms = [tv for key, ts in pv.items.items() if key[2] == t for tv in ts]
            prob.add_row(terms + [(e, -1.0)], "<=", float(prog.year_budget[y]),
                         f"year_budget_{y}")
    if not prog.sources:
        return
    S = data.services
    by_source_year: dict[tuple, list] = {}
    by_source_site: dict[tuple, list] = {}
    for n, (key, terms) in enumerate(pv.items.items()):
        j, kind, t, si = key
        ok = []
        for k, src in enumerate(prog.sources):
            if kind not in src.cost_types or not P.eligible[k, j]:
                continue
            if (k, years[t]) not in prog.amounts:
                continue
            if src.services is not None and (si is None or S[si] not in src.services):
                continue
            p = pv.pay[key, k] = prob.add_var(f"p_{n}_{k}", 0)
            ok.append(p)
            by_source_year.setdefault((k, t), []).append(p)
            by_source_site.setdefault((k, j), []).append(p)
        gap = pv.unfunded[key] = prob.add_var(f"unfunded_{n}", 0, 0)
        prob.add_row([(p, 1.0) for p in ok] + [(gap, 1.0)] + [(v, -cf) for v, cf in terms],
                     "==", 0, f"fund_{j}_{kind}_{years[t]}_{'all' if si is None else S[si]}")
    for (k, y), amount in prog.amounts.items():
        t = years.index(y)
        e = pv.short[k, t] = prob.add_var(f"short_{k}_{t}", 0, 0)
        ps = by_source_year.get((k, t), [])
        prob.add_row([(p, 1.0) for p in ps] + [(e, -1.0)], "<=", float(amount),
                     f"source_{k}_{y}")
    for (k, j), ps in by_source_site.items():
        src = prog.sources[k]
        if src.cap_share is None:
            continue
        base = [(v, -src.cap_share * cf) for key, ts in pv.items.items()
                if key[0] == j and key[1] in src.cost_types for v, cf in ts]
        name = pv.caps[k, j] = f"share_cap_{k}_{j}"
        prob.add_row([(p, 1.0) for p in ps] + base, "<=", 0, name)


_GREEDY_SHARES = (0.25, 0.35, 0.5, 0.7, 1.0)
_GREEDY_S = 2.0  # seconds per attempt


def fit_greedy(data: EmbeddedData, form: Formulation, solver: str,
               seconds: float = 10.0) -> EmbeddedData:
    """The data with the largest share of the programme's money whose greedy plan can be
    scheduled and paid, so the solve's greedy fallback is a plan (caps, eligibility and
    yearly amounts make the money a greedy plan may count on smaller than the sum).

    Shares are tried from the smallest up; each attempt fixes the greedy plan's sites and
    areas and solves the opening years and payments, and must prove its schedule optimal
    within a few seconds (the solve repeats it without a time limit). The largest share
    that does is kept; the data is returned unchanged when none does.

    Parameters
    ----------
    data
        The model's data with a programme.
    form
        Its formulation (values are left from the last attempt).
    solver
        ``"highs"`` or ``"cbc"``.
    seconds
        Time for the attempts (the smallest share is always tried).

    Returns
    -------
    EmbeddedData
    """
    from siting.models.embedded.heuristics import fixed_to, greedy_areas

    t0 = time.perf_counter()
    best = data
    for share in sorted(_GREEDY_SHARES):  # small plans first: they fit and solve fast
        left = seconds - (time.perf_counter() - t0)
        if left <= 0.1 and best is not data:
            break
        d = replace(data, programme=replace(data.programme, greedy_share=share))
        areas = greedy_areas(d)
        try:
            r = solve_safe(form, fixed_to(form, d, areas), solver,
                           min(_GREEDY_S, max(left, 0.5)), False, 0.0)
        except SitingError:
            break
        if r.status != "optimal":
            break
        best = d
    return best


def settle(data: EmbeddedData, form: Formulation, pv: ProgrammeVars, sites: pd.DataFrame,
           solver: str, time_limit: float | None) -> str | None:
    """Make the programme's variables hold the returned plan's years and payments.

    A solve may return a plan other than the solver's last one (the stage-1 plan when the
    least-cost stage found none, the greedy fallback): then its sites and areas are fixed
    and the opening years, yearly flows and payments solved again.

    Parameters
    ----------
    data
        The model's data.
    form
        Its formulation.
    pv
        The programme's variables.
    sites
        The plan's sites table (``site``, ``existing``, ``area_m2_<service>``).
    solver
        ``"highs"`` or ``"cbc"``.
    time_limit
        Seconds; None for no limit.

    Returns
    -------
    str or None
        A note when the years could not be settled.
    """
    new = sites[~sites["existing"].astype(bool)] if len(sites) else sites
    areas = {(int(j), si): float(new[f"area_m2_{s}"].iloc[r])
             for r, j in enumerate(new["site"]) for si, s in enumerate(data.services)
             if float(new[f"area_m2_{s}"].iloc[r]) > 0 and (int(j), si) in form.area}
    held = {j for (j, _t), o in pv.opens.items() if form.val(o) > 0.5}
    same = held == {j for j, _ in areas} and all(
        abs(form.val(form.area[k]) - v) <= 1e-6 * max(1.0, v) for k, v in areas.items())
    if same:
        return None
    from siting.models.embedded.heuristics import fixed_to

    try:
        solve_safe(form, fixed_to(form, data, areas), solver, time_limit, False, 0.0)
    except SitingError:
        return ("the opening years of the returned plan could not be solved again: the "
                "annual plan and funding sheets may not match it")
    return None


def programme_tables(data: EmbeddedData, form: Formulation, pv: ProgrammeVars,
                     sites: pd.DataFrame) -> tuple[pd.Series, dict]:
    """The opening year of each plan site and the programme's sheets, from a solve.

    Parameters
    ----------
    data
        The model's data.
    form
        Its formulation, holding the solve's values.
    pv
        The programme's variables.
    sites
        The plan's sites table (``site``, ``site_id``, ``services``, ``area_m2``).

    Returns
    -------
    tuple
        ``(year_open per plan site row (NaN for existing sites), sheets)`` with sheets
        ``annual_plan`` (年度建设计划: sites by opening year with their costs),
        ``annual_summary`` (per year: sites, spending by type, budget, people served)
        and ``funding`` (per source and year: amount, spending by type, what binds).
    """
    P: ProgrammeData = data.programme
    years = P.years
    opened = {j: t for (j, t), o in pv.opens.items() if form.val(o) > 0.5}
    year_open = pd.Series([years[opened[j]] if j in opened else np.nan
                           for j in sites["site"]] if len(sites) else [], dtype=float)
    spent: dict[tuple, float] = {}
    for key, terms in pv.items.items():
        j, kind, t, _ = key
        spent[j, kind, t] = spent.get((j, kind, t), 0.0) + form.value_of(terms)
    rows = []
    by_site = sites.set_index("site") if len(sites) else None
    for j, t in sorted(opened.items(), key=lambda x: (x[1], x[0])):
        r = by_site.loc[j] if by_site is not None and j in by_site.index else None
        rows.append({"year": years[t], "site_id": data.sites["site_id"][j],
                     "name": "" if P.names is None else P.names[j],
                     "services": "" if r is None else r["services"],
                     "area_m2": 0.0 if r is None else float(r["area_m2"]),
                     "cost_construction": spent.get((j, "construction", t), 0.0),
                     "cost_fit_out": spent.get((j, "fit_out", t), 0.0),
                     "rent_per_year": spent.get((j, "rent", t), 0.0),
                     "people_served": 0.0 if r is None else float(r["people_served"])})
    plan = pd.DataFrame(rows, columns=["year", "site_id", "name", "services", "area_m2",
                                       "cost_construction", "cost_fit_out", "rent_per_year",
                                       "people_served"])
    summary = []
    for t, y in enumerate(years):
        row = {"year": y, "sites_opened": sum(1 for v in opened.values() if v == t),
               "sites_open": sum(1 for v in opened.values() if v <= t)}
        for kind in COST_TYPES:
            row[f"spent_{kind}"] = sum(v for (j, k, tt), v in spent.items()
                                       if k == kind and tt == t)
        row["spent_total"] = sum(row[f"spent_{kind}"] for kind in COST_TYPES)
        row["budget"] = P.programme.year_budget.get(y, np.nan)
        row["binds"] = "预算/budget" if row["spent_total"] >= row["budget"] - _TOL * max(
            1.0, row["budget"]) else ""  # NaN budget: never
        row["people_served"] = form.value_of(pv.people.get(t, []))
        summary.append(row)
    if P.names is None:
        plan = plan.drop(columns="name")
    sheets = {"annual_plan": plan, "annual_summary": pd.DataFrame(summary),
              "funding": _funding_table(data, form, pv)}
    for df in sheets.values():  # solver dust (±1e-10 CNY) shown as 0
        for c in df.columns:
            if df[c].dtype.kind == "f":
                df[c] = df[c].where(df[c].abs() > 1e-6, 0.0)
    return year_open, sheets


def _funding_table(data: EmbeddedData, form: Formulation, pv: ProgrammeVars) -> pd.DataFrame:
    """Per source and year: amount, spending by cost type, what binds."""
    P: ProgrammeData = data.programme
    prog, years = P.programme, P.years
    cols = ["source", "year", "amount", *(f"spent_{k}" for k in COST_TYPES), "spent", "left",
            "binds"]
    rows = []
    for (k, y), amount in prog.amounts.items():
        t = years.index(y)
        row = {"source": prog.sources[k].name, "year": y, "amount": amount}
        for kind in COST_TYPES:
            row[f"spent_{kind}"] = sum(form.val(p) for (key, kk), p in pv.pay.items()
                                       if kk == k and key[2] == t and key[1] == kind)
        row["spent"] = sum(row[f"spent_{kind}"] for kind in COST_TYPES)
        row["left"] = amount - row["spent"]
        binds = []
        if row["left"] <= _TOL * max(1.0, amount) and amount > 0:
            binds.append("金额/amount")
        capped = []
        for (kk, j), name in pv.caps.items():
            if kk != k:
                continue
            paid_here = sum(form.val(p) for (key, k2), p in pv.pay.items()
                            if k2 == k and key[0] == j and key[2] == t)
            # the cap row: Σ p − γ Σ cost ≤ 0, binding at 0
            held = 0.0 if form.x is None else form.problem.activity(name, form.x)
            if paid_here > _TOL and abs(held) <= _TOL * max(1.0, paid_here):
                capped.append(str(data.sites["site_id"][j]))
        if capped:
            binds.append(f"上限比例/cap_share {prog.sources[k].cap_share:.0%}: "
                         + ", ".join(capped))
        row["binds"] = "; ".join(binds)
        rows.append(row)
    return pd.DataFrame(rows, columns=cols).sort_values(["year", "source"], kind="stable") \
        .reset_index(drop=True)


def explain_shortfall(data: EmbeddedData, form: Formulation, pv: ProgrammeVars, solver: str,
                      time_limit: float | None) -> str | None:
    """Which sources (or year budgets) run short, and by how much, when no plan exists.

    The slacks on the source, year-budget and funding rows are freed and their sum
    minimised on a variant of the model (the built one is left as it is); money no source may
    pay counts double, so a source that may pay is named as running short first.

    Parameters
    ----------
    data
        The model's data.
    form
        Its formulation.
    pv
        The programme's variables.
    solver
        ``"highs"`` or ``"cbc"``.
    time_limit
        Seconds; None for no limit.

    Returns
    -------
    str or None
        The message, or None when money is not the reason (the relaxed problem has no
        plan either).
    """
    slacks = list(pv.short.values()) + list(pv.unfunded.values())
    if not slacks:
        return None
    # an item no source may pay weighs double: a source that may pay runs short first
    model = form.problem.variant(
        objective=[(v, 1.0) for v in pv.short.values()]
        + [(v, 2.0) for v in pv.unfunded.values()], maximize=False,
        bounds={v: (0.0, float("inf")) for v in slacks})
    try:
        solve_safe(form, model, solver, time_limit, False, 0.0)
    except SitingError:
        return None
    vals = {v: form.val(v) for v in slacks}
    P: ProgrammeData = data.programme
    prog, years = P.programme, P.years
    parts = []
    for key, v in pv.short.items():
        gap = vals[v]
        if gap > _TOL:
            k, t = key
            what = f"the {years[t]} budget" if k == "budget" else \
                f"funding source {prog.sources[k].name!r} in {years[t]}"
            parts.append(f"{what} runs short by {gap:,.0f} CNY")
    for key, v in pv.unfunded.items():
        gap = vals[v]
        if gap > _TOL:
            j, kind, t, si = key
            svc = "" if si is None else f" ({data.services[si]})"
            parts.append(f"no funding source may pay the {kind}{svc} of site "
                         f"{data.sites['site_id'][j]} in {years[t]} ({gap:,.0f} CNY)")
    if not parts:
        return None
    return ("no plan meets the requirements with the programme's money: " + "; ".join(parts)
            + ". Raise these amounts (funding table 金额, phases 预算) or let other sources "
            "pay (费用类型, 服务, 条件)")
