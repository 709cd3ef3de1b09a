"""Solving the embedded model: the two-stage solve with its greedy fallback, and the budget sweep.

Nothing here changes the built model: the least-cost stage, the sweep's budgets and
floors are variants of its matrices with the same columns
(:meth:`~siting.solvers.builder.ModelBuilder.variant`), so every solve's values are
read the same way. The notes of a solve belong to the plan it returns.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from siting.config.scenario import DEFAULT_SOLVER
from siting.errors import InfeasibleError, SitingError
from siting.models.embedded.city import solve_city
from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.diagnosis import (
    explain_infeasible,
    flow_people,
    marginal_lp,
    marginal_values,
    plan_columns,
    requirements,
)
from siting.models.embedded.formulation import Formulation, solve_safe
from siting.models.embedded.heuristics import fixed_to, greedy_areas
from siting.models.embedded.tables import (
    EmbeddedSolution,
    build_solution,
    group_table,
    plan_areas,
)
from siting.solvers import MatrixModel, Progress, SolverResult
from siting.solvers.base import within
from siting.solvers.builder import with_bounds

# With a time limit, max_served keeps this share of it for its least-cost stage, and
# each stage gets at least _MIN_STAGE_S seconds (or the whole limit if shorter).
_STAGE2_SHARE = 0.15
_MIN_STAGE_S = 1.0
_NAN = float("nan")
# HiGHS starts a programme from the greedy plan too (off: it found better plans without;
# scripts/programme_nanjing.py --greedy-start compares the two)
_START_PROGRAMMES = False


def solve(data: EmbeddedData, form: Formulation, solver: str = DEFAULT_SOLVER,
          time_limit: float | None = None, msg: bool = False, mip_gap: float = 0.0,
          marginal: bool = True, fallback: bool = True,
          problem: MatrixModel | None = None,
          progress: Progress | None = None, decompose: bool | None = False,
          mapper: Callable | None = None, workers: int = 1) -> EmbeddedSolution:
    """Solve the model; return the plan (see :meth:`EmbeddedFacilities.solve`).

    Parameters
    ----------
    data
        The model's data.
    form
        Its built formulation.
    solver
        ``"highs"`` or ``"cbc"``.
    time_limit
        Seconds for the whole call; None for no limit.
    msg
        Show the solver's log.
    mip_gap
        Relative gap at which the solver may stop.
    marginal
        Add marginal values to the plan's sites.
    fallback
        With a time limit, return the greedy plan when the solver found none or a
        worse one.
    problem
        The model to solve: a variant of the built one (its columns are those of
        ``form``); None: the built one.
    progress
        Called with ``(seconds, incumbent, bound)`` of the first stage's solve (of each
        round of a decomposed solve).
    decompose
        Solve independent groups under the one budget and allocate it over their value
        curves (:mod:`~siting.models.embedded.decompose`): True, False (default) or None
        (auto).
        Only for the built problem (``problem`` None).
    mapper
        ``map``-like callable running a decomposed solve's group solves.
    workers
        How many solves the mapper runs at once.

    Returns
    -------
    EmbeddedSolution

    Raises
    ------
    InfeasibleError
        With the planning reason (:func:`~siting.models.embedded.diagnosis.explain_infeasible`).
    """
    prob = form.problem.model() if problem is None else problem
    notes = list(data.notes)
    t0 = time.perf_counter()
    city = None if problem is not None else solve_city(
        data, form, decompose, solver, time_limit, mip_gap, mapper, workers, progress, notes)
    if city is not None:
        r1c, r2c, more, groups = city
        values = form.values()
        sol = build_solution(data, values, r1c, r2c, notes + more)
        sol.sheets["groups"] = group_table(sol, groups, data.services)
        # internal row numbers stay out of the outputs: the sites' stable ids are there
        sol.summary["groups"] = [{k: v for k, v in g.items() if k != "site_rows"}
                                 for g in groups]
        return _finish(sol, data, form, values, marginal, solver, t0)
    greedy = False
    start: np.ndarray | None = None
    rg: SolverResult | None = None
    rg_values: dict = {}
    overhead = 0.0  # seconds a solver call spends outside the solver's own clock
    staged = data.objective == "max_served" and bool(form.open_site)
    if solver.lower() == "highs" and staged and (data.programme is None or _START_PROGRAMMES):
        # HiGHS starts from the greedy plan (complete: binaries, areas, flows), which
        # lets it fix many sites by reduced cost early; CBC is given no start, nor is
        # a programme (on the Nanjing example HiGHS found 187,517 people-years in 8 s
        # without it, 180,001 from it; README, "Programmes")
        try:
            tg = time.perf_counter()
            rg = _solve_greedy(data, form, prob, solver, None)
            overhead = time.perf_counter() - tg  # model hand-over + one LP: an upper bound
            rg_values = form.values()
            start = form.x
        except SitingError:
            rg = None
    limit1 = time_limit
    if time_limit is not None:
        # the whole solve keeps to the limit: the least-cost stage gets the last share
        share = 1.0 - _STAGE2_SHARE if staged else 1.0
        rest = time_limit - (time.perf_counter() - t0) - overhead
        limit1 = max(rest * share, min(_MIN_STAGE_S, time_limit))
    t1 = time.perf_counter()
    try:
        r1 = solve_safe(form, prob, solver, limit1, msg, mip_gap, start=start,
                        progress=progress)
    except SitingError as exc:
        # CBC reports a run stopped before its first plan as infeasible: with a time
        # limit, try the greedy plan before calling the model infeasible
        if fallback and time_limit is not None and data.objective == "max_served":
            try:
                r1 = _solve_greedy(data, form, prob, solver, time_limit)
                notes.append(
                    f"the solver found no plan within the {time_limit:.1f} s time limit: this is "
                    "a greedy plan (sites and complexes by value per CNY) with its "
                    "assignment solved exactly; no bound is known. Raise the time limit")
                greedy = True
            except SitingError:
                pass
        if not greedy:
            if isinstance(exc, InfeasibleError):
                raise InfeasibleError(explain_infeasible(data, solver, time_limit)) from None
            raise
    if r1.status != "optimal" and r1.mip_gap == 0 and not greedy:
        # stopped before the solver proved any bound (the helper then echoes the objective)
        r1 = replace(r1, bound=_NAN, mip_gap=_NAN)
        notes.append("the solver stopped before proving a bound: the gap is unknown")
    values = form.values()
    if (fallback and not greedy and r1.status != "optimal"
            and data.objective == "max_served" and time_limit is not None):
        # stopped early: keep the greedy plan when it beats what the solver found
        if rg is None:
            try:
                rg = _solve_greedy(data, form, prob, solver, time_limit)
                rg_values = form.values()
            except SitingError:
                rg = None
        if rg is not None and rg.objective > r1.objective + 1e-6 * abs(r1.objective):
            notes.append(
                f"the solver's best plan {within(time_limit)} ({r1.objective:,.0f}) was "
                f"worse than the greedy plan ({rg.objective:,.0f}): the greedy plan is "
                "returned, with the solver's bound")
            gap = abs(rg.objective - r1.bound) / max(abs(rg.objective), 1e-9)
            r1 = replace(r1, objective=rg.objective, mip_gap=gap)
            values = rg_values
            greedy = True
    stage2 = None
    two_stage = staged and not greedy
    limit2 = None
    if time_limit is not None and limit1 is not None and two_stage:
        if r1.status != "optimal":  # stage 1 used its limit: the rest is hand-over
            overhead = max(time.perf_counter() - t1 - limit1, 0.0)
        left = time_limit - (time.perf_counter() - t0) - overhead
        if left < _MIN_STAGE_S <= time_limit:
            notes.append(
                f"no time left within {time_limit:g} s for the least-cost stage: the "
                "plan serves the most people found but may cost more than needed")
            two_stage = False
        limit2 = max(left, min(_MIN_STAGE_S, time_limit))
    if two_stage:
        stage2, values2 = _least_cost_stage(form, prob, r1.objective, solver, limit2, msg,
                                            mip_gap, r1.x)
        values = values if values2 is None else values2
    sol = build_solution(data, values, r1, stage2, notes)
    return _finish(sol, data, form, values, marginal, solver, t0)


def _finish(sol: EmbeddedSolution, data: EmbeddedData, form: Formulation, values: dict,
            marginal: bool, solver: str, t0: float) -> EmbeddedSolution:
    """Marginal values (when asked) and the run time of a plan."""
    if marginal and len(sol.sites):
        sites, area = sol.sites["site"].tolist(), plan_areas(data, values)
        rooms = form.rooms is not None and form.rooms.active
        if not data.capacity or (data.needs is None and not rooms):
            vals, people = marginal_values(data, sites, area)
        else:  # needs, levels, shared rooms, subsidy cap: the LP of the model's objective
            plan = {(j, si): float(area[j, si]) for j, si in zip(*np.nonzero(area))
                    if (j, si) in form.area}
            fixed = fixed_to(form, data, plan)
            held = {v: float(values["complex"].get(j, False)) for j, v in form.complex.items()}
            for (j, key), v in ({} if form.rooms is None else form.rooms.level).items():
                held[v] = float(values.get("level", {}).get(j) == key)  # the plan's level
            cols = plan_columns(form, data)[0]
            vals, people = marginal_lp(with_bounds(fixed, {v: (b, b) for v, b in held.items()}),
                                       sites, cols, flow_people(form, data), solver)
        sol.sites["marginal_value"] = vals
        sol.sites["marginal_people"] = people
    sol.summary["runtime_s"] = time.perf_counter() - t0
    return sol


def _least_cost_stage(form: Formulation, prob: MatrixModel, value: float, solver: str,
                      time_limit: float | None, msg: bool, mip_gap: float,
                      x1: np.ndarray) -> tuple[SolverResult | None, dict | None]:
    """Stage 2 of ``max_served``: the least cost holding the stage-1 value (a variant),
    started from the stage-1 plan ``x1``.

    Returns the result and the plan's values, or ``(None, None)`` when nothing was
    found in time (the stage-1 plan is kept).
    """
    tol = 1e-6 * max(1.0, abs(value))
    stage = form.problem.variant(objective=form.cost, maximize=False, base=prob,
                                 rows=[(form.primary, ">=", value - tol, "stage1_value")])
    # the stage-1 plan is feasible here: HiGHS starts from it
    start = x1 if solver.lower() == "highs" and len(x1) == stage.shape[1] else None
    try:
        result = solve_safe(form, stage, solver, time_limit, msg, mip_gap, start=start)
    except SitingError:
        return None, None
    return result, form.values()


def _solve_greedy(data: EmbeddedData, form: Formulation, prob: MatrixModel, solver: str,
                  time_limit: float | None) -> SolverResult:
    """Fix the binaries and areas to the greedy plan; solve the continuous rest."""
    areas = greedy_areas(data)
    try:
        r = solve_safe(form, fixed_to(form, data, areas, prob), solver, time_limit, False, 0.0)
    except InfeasibleError:
        raise InfeasibleError(
            f"the solver found no plan {within(time_limit)} and the greedy fallback plan "
            f"breaks a requirement ({requirements(data)}); raise the time limit") from None
    return replace(r, status="feasible", bound=_NAN, mip_gap=_NAN)


def budget_sweep(data: EmbeddedData, form: Formulation, budgets: Sequence[float],
                 solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
                 mip_gap: float = 0.0, marginal: bool = False) -> list[EmbeddedSolution]:
    """Plans for increasing budgets, re-using one model (see
    :meth:`~siting.models.embedded.EmbeddedFacilities.budget_sweep`).

    Each budget and the floor on the objective are a variant of the built model (which
    keeps its own budget).

    Parameters
    ----------
    data
        The model's data, built with the largest budget.
    form
        Its built formulation.
    budgets
        Budgets in CNY.
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
    if data.objective != "max_served":
        raise SitingError("a budget sweep needs objective max_served")
    if data.budget is None or max(budgets) > data.budget + 1e-6:
        raise SitingError("build the model with the largest budget of the sweep (sites "
                          "beyond the model's budget were left out when it was built)")
    out: list[EmbeddedSolution] = []
    for b in sorted(float(b) for b in budgets):
        floor = []
        if out:
            prev = out[-1].summary["objective"]
            floor = [(form.primary, ">=", prev - 1e-6 * max(1.0, abs(prev)), "sweep_floor")]
        prob = form.problem.variant(rhs={"budget": b}, rows=floor)
        try:
            sol = solve(replace(data, budget=b), form, solver, time_limit, mip_gap=mip_gap,
                        marginal=marginal, fallback=True, problem=prob)
        except SitingError:
            if not out:
                raise
            sol = copy.deepcopy(out[-1])
            sol.summary.update(budget=b, status="feasible", best_bound=_NAN, mip_gap=_NAN)
            sol.summary["notes"] = sol.summary["notes"] + [
                f"no plan at least as good as the {out[-1].summary['budget']:,.0f} CNY "
                "plan was found within the time limit: that plan is kept"]
        out.append(sol)
    return out
