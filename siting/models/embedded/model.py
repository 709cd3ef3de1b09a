"""The embedded-facility model: several services per site sharing floor area.

:class:`EmbeddedFacilities` decides which candidate sites to open, which services each
hosts and how much floor area each service gets, under site area, service minimum
areas, a money budget, the complex rule (导则 2024) and the per-community area standard
(30 or 80 m² per 100 households), with capacities from floor area. It is built
straight into sparse matrices (:class:`~siting.solvers.builder.ModelBuilder`; only
demand–site pairs within each service's walking threshold) and solved with HiGHS or
CBC through :func:`siting.solvers.solve`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from siting.config.policy import Policy
from siting.config.scenario import DEFAULT_SOLVER
from siting.errors import InfeasibleError
from siting.models.embedded.data import EmbeddedData, derive_data
from siting.models.embedded.diagnosis import (
    explain_infeasible,
    held,
    marginal_lp,
    plan_columns,
)
from siting.models.embedded.formulation import Formulation, build, write_lp
from siting.models.embedded.funding import (
    ProgrammeVars,
    add_programme,
    explain_shortfall,
    fit_greedy,
    programme_tables,
    settle,
)
from siting.models.embedded.operations import settle_deficits
from siting.models.embedded.programme import Programme, resolve
from siting.models.embedded.solve import budget_sweep, solve
from siting.models.embedded.tables import EmbeddedSolution
from siting.models.instance import Instance
from siting.solvers import Progress
from siting.solvers.builder import ModelBuilder


class EmbeddedFacilities:
    r"""Multi-service embedded facilities in stock buildings (exact MILP).

    Sets: sites :math:`J` (new candidates :math:`J^n`, existing :math:`J^e`), services
    :math:`S`, demand points :math:`I`, communities :math:`C`. :math:`P_s = \{(i,j):
    d_{ij} \le t_s\}` are the pairs within service :math:`s`'s walking threshold
    :math:`t_s` (minutes × the group's speed); pairs beyond it do not exist.

    Data: usable area :math:`A_j`; cost of a site, charged on what it acquires
    (``[sites.costs.<mode>] charged_on``, :func:`siting.costs.price`): fixed
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
        &\textstyle\sum_{i:(i,j)\in P_s} f_{ijs} \le \min(\sum_{i:(i,j)\in P_s} D_{is},\,
          U_{js}/q_s)\, x_{js} && \text{(implied; tightens the LP bound)}\\
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

    Programme planning (issue #16; off or neutral unless set), with their rows in the
    docstrings of their modules: shared rooms (``[shared_rooms]``, :math:`b_{jp}`,
    counted once in :math:`\sum_s a_{js} - \sum_p b_{jp}` for area, rent and the
    complex rule) and levels (``[hierarchy]``, :math:`l_{jk}` with
    :math:`\sum_k l_{jk} = y_j`, area limits and services per level) in
    :mod:`~siting.models.embedded.rooms`; the cap on the yearly operating subsidy
    (``operations.subsidy_cap_per_year``) in :mod:`~siting.models.embedded.operations`;
    residents' needs (demand columns ``needs_priority_<s>``: :math:`w_s k_{cs}` per
    person served; ``needs_demand_<s>``: :math:`D_{is} = N_{is} r_s k_{cs}`) in
    :mod:`~siting.models.embedded.needs`.

    ``capacity=False`` is the pure coverage mode: no flows; :math:`v_{is} \in [0,1]`,
    :math:`v_{is} \le \sum_{j:(i,j)\in P_s} x_{js}` and people served
    :math:`\sum N_{is} v_{is}` (min area and the standard still apply).

    **Decomposition** (``decompose``, formulation in
    :mod:`~siting.models.embedded.decompose`): with ``max_served`` and a budget, groups
    :math:`g` sharing only the budget, :math:`\max \sum_g V_g(b_g)` s.t.
    :math:`\sum_g b_g \le B` over their value curves :math:`V_g`, with a proven bound.
    One group (districts joined by walks): rows across the districts' seams relaxed
    at LP prices, a Lagrangian bound (:mod:`~siting.models.embedded.seams`).

    Size: one flow variable per pair within the service's threshold and positive demand,
    aggregated per demand point (never per person, never demand × sites).

    The model is built once: :attr:`data` (:mod:`~siting.models.embedded.data`) holds
    the derived arrays, :attr:`formulation` (:mod:`~siting.models.embedded.formulation`)
    the model's matrices with every row named after the constraint above it writes
    (:meth:`write_lp`). Solving leaves the built model as it was.

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
        :func:`~siting.models.embedded._rows.merge_demand`). Exact for ``max_served``
        and ``min_cost``; off for ``min_distance``, whose walking distances differ
        between the points. Results are still reported per original demand point.
    required
        Site rows forced open (``y_j = 1``), their costs counted (``--require``).
    step_free
        Distances on the step-free network (same demand and sites): the pairs
        :math:`P_s` of services with ``step_free = true`` in the policy come from it,
        so stairs lengthen (or cut) their walks; other services use ``instance``.
    programme
        Years, funding sources and new residential projects
        (:class:`~siting.models.embedded.programme.Programme`): each site opens in a
        year, the objective counts people served per year, every cost item is paid by
        eligible sources; formulation in :mod:`~siting.models.embedded.funding`. The
        sites table's ``year_available`` and the demand table's ``from_year`` say when
        each may open or counts. None: the single-period model above.
    """

    name = "embedded"

    def __init__(self, instance: Instance, policy: Policy, demand: pd.DataFrame | None = None,
                 sites: pd.DataFrame | None = None, *, budget: float | None = None,
                 standard: float | None = None, standard_mode: str | None = None,
                 capacity: bool = True, objective: str = "max_served",
                 max_new_sites: int | None = None, min_coverage: float | None = None,
                 reduce: bool = True, step_free: Instance | None = None,
                 required: Iterable[int] = (), programme: Programme | None = None) -> None:
        self.data: EmbeddedData = derive_data(
            instance, policy, demand, sites, budget=budget, standard=standard,
            standard_mode=standard_mode, capacity=capacity, objective=objective,
            max_new_sites=max_new_sites, min_coverage=min_coverage, reduce=reduce,
            step_free=step_free, required=required)
        if programme is not None:  # tied to the tables as given (their extra columns)
            self.data = replace(self.data, programme=resolve(
                programme, self.data.demand.assign(**_cols(demand, "from_year")),
                sites if sites is not None else self.data.sites))
        self.formulation: Formulation = build(self.data)
        self.programme_vars: ProgrammeVars | None = None
        if programme is not None:
            self.programme_vars = add_programme(self.data, self.formulation)

    @property
    def problem(self) -> ModelBuilder:
        """The built model (its objective is the model's own; ``problem.model()`` gives
        its matrices)."""
        return self.formulation.problem

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              msg: bool = False, mip_gap: float = 0.0, marginal: bool = True,
              fallback: bool = True, progress: Progress | None = None,
              decompose: bool | None = False, mapper: Callable | None = None,
              workers: int = 1) -> EmbeddedSolution:
        """Solve; return the plan (raises :class:`InfeasibleError` with a planning reason).

        ``max_served`` is solved in two stages (people served, then cost at that value).
        A time limit bounds the whole call: the greedy start counts, stage 1 gets 85 % of
        what is left, stage 2 the rest (each ≥ 1 s; if it finds nothing, the stage-1
        plan is kept). A stopped run returns its best plan and gap; if the solver found
        none, ``fallback`` returns a greedy plan (no bound; said in the notes).

        Parameters
        ----------
        solver
            ``"highs"`` or ``"cbc"``.
        time_limit
            Seconds for the whole call; None for no limit.
        msg
            Show the solver's log.
        mip_gap
            Relative gap at which the solver may stop.
        marginal
            Add ``marginal_value`` and ``marginal_people`` to the plan's sites (one LP
            per chosen site).
        fallback
            With a time limit, return the greedy plan when the solver found none or a
            worse one.
        progress
            Called with ``(seconds, incumbent, bound)`` of the first stage's solve (of
            each round of a decomposed solve).
        decompose
            Split the model into groups sharing only the budget and allocate it over
            their value curves (see the class docstring): True, False (default) or None
            (auto: ≥ 2 groups, none with over two thirds of the columns, or one group
            of ≥ 8 districts). True with one group: by districts at their seams.
            Off by default: on districts that differ the whole model did better in the
            same time (README, "A city under one budget").
        mapper
            ``map``-like callable running the groups' solves (``map``,
            ``Executor.map``, a dask ``Client.map``); default the built-in ``map``.
        workers
            How many group solves the mapper runs at once (shares the time limit).

        Returns
        -------
        EmbeddedSolution
            The plan; its ``summary["notes"]`` are this solve's own; a decomposed solve
            adds ``summary["groups"]`` (per group: budget, cost, value, new sites).
        """
        def run(data: EmbeddedData, limit: float | None, marg: bool = marginal
                ) -> EmbeddedSolution:
            return solve(data, self.formulation, solver, limit, msg, mip_gap, marg,
                         fallback, progress=progress, decompose=decompose, mapper=mapper,
                         workers=workers)

        if self.programme_vars is None:
            return run(self.data, time_limit)
        return _solve_programme(self, solver, time_limit, run, marginal)

    def budget_sweep(self, budgets: Sequence[float], solver: str = DEFAULT_SOLVER,
                     time_limit: float | None = None, mip_gap: float = 0.0,
                     marginal: bool = False) -> list[EmbeddedSolution]:
        """Plans for increasing budgets, re-using one model.

        The previous plan stays feasible with more money, so each solve is asked to do
        at least as well (a constraint on the objective); if a time limit stops it
        before it finds such a plan, the previous plan is kept and marked so. People
        served therefore never fall as the budget rises, even with time limits. The
        model must be built with the largest budget; it keeps it afterwards.

        Parameters
        ----------
        budgets
            Budgets in CNY, at most the model's.
        solver
            ``"highs"`` or ``"cbc"``.
        time_limit
            Seconds per budget; None for no limit.
        mip_gap
            Relative gap at which the solver may stop.
        marginal
            Add marginal values to each plan's sites.

        Returns
        -------
        list of EmbeddedSolution
            One plan per budget, in increasing order of budget.
        """
        return budget_sweep(self.data, self.formulation, budgets, solver, time_limit,
                            mip_gap, marginal)

    def explain_infeasible(self, solver: str = DEFAULT_SOLVER,
                           time_limit: float | None = None) -> str:
        """Why no plan exists, in planning terms (communities, budget, limits).

        Parameters
        ----------
        solver
            Solver of the least budget meeting every other requirement.
        time_limit
            Seconds for that solve; None for no limit.

        Returns
        -------
        str
        """
        return explain_infeasible(self.data, solver, time_limit)

    def write_lp(self, path: str | Path) -> Path:
        """Write the built model to a CPLEX LP file, its rows under their names.

        Parameters
        ----------
        path
            Where to write (``.lp``).

        Returns
        -------
        pathlib.Path
        """
        return write_lp(self.formulation, path)


def _cols(table: pd.DataFrame | None, *names: str) -> dict:
    """The columns ``names`` of a table that has them (aligned by position)."""
    if table is None:
        return {}
    return {c: table[c].to_numpy() for c in names if c in table}


def _solve_programme(model: EmbeddedFacilities, solver: str, time_limit: float | None,
                     run: Callable, marginal: bool) -> EmbeddedSolution:
    """Solve a programme (with a greedy fallback it can pay for), the short source named
    when infeasible, then the opening years, payments, the programme's sheets and (when
    asked) the sites' marginal values in people-years."""
    pv = model.programme_vars
    assert pv is not None
    t0 = time.perf_counter()
    model.data = fit_greedy(model.data, model.formulation, solver,
                            10.0 if time_limit is None else 0.3 * time_limit)
    if time_limit is not None:
        time_limit = max(time_limit - (time.perf_counter() - t0), 1.0)
    try:
        sol = run(model.data, time_limit, False)
    except InfeasibleError as exc:
        why = explain_shortfall(model.data, model.formulation, pv, solver, time_limit)
        if why is None:
            raise
        raise InfeasibleError(why) from exc
    note = settle(model.data, model.formulation, pv, sol.sites, solver, time_limit)
    sol.summary["notes"] += [note] if note else []
    if model.data.programme.programme.charges_operations:
        if not settle_deficits(model.formulation, pv):
            sol.summary["notes"].append(
                "funding: the operating deficits could not be settled: the funding and "
                "annual summary sheets may show more running-cost spending than needed")
        ops = [s.name for s in model.data.programme.programme.sources
               if "operations" in s.cost_types]
        sol.summary["notes"].append(
            f"funding: running costs are charged each year a new site is open (the "
            f"city's subsidy per unit served plus any operating deficit, policy "
            f"[operations]), paid by {', '.join(ops)}")
    year, sheets = programme_tables(model.data, model.formulation, pv, sol.sites)
    sol.sheets.update(sheets)
    sol.sites["year_open"] = year.to_numpy()
    if marginal and len(sol.sites):  # on the programme's own objective (people-years)
        more, more_kept = pv.site_columns()
        cols, kept = plan_columns(model.formulation, model.data, more, more_kept)
        people = [t for terms in pv.people.values() for t in terms]
        sol.sites["marginal_value"], sol.sites["marginal_people"] = marginal_lp(
            held(model.formulation, kept), sol.sites["site"].tolist(), cols, people, solver)
        sol.summary["notes"].append(
            "marginal values of a programme are in its objective's units: priority-weighted "
            "people-years (marginal_value) and people-years served (marginal_people) lost "
            "when the site is dropped, the other sites keeping their years and areas")
    # the money the plan was held to (years' budgets and sources), for the headlines
    money = model.data.programme.money
    sol.summary.update(programme_money=money if np.isfinite(money) else None,
                       programme_spent=float(sheets["annual_summary"]["spent_total"].sum()),
                       programme_years=list(model.data.programme.years))
    return sol
