"""Solver back-ends behind one interface: HiGHS (highspy) and CBC (bundled with PuLP).

A model is built once — as a :class:`MatrixModel`, or a PuLP problem for the embedded
model — and :func:`solve` / :func:`solve_pulp` return a typed :class:`SolverResult`
whose status is honest: ``"optimal"`` only when the solver proved it, a time-limited stop
is ``"feasible"`` with its proven bound and gap (``nan`` when none was proven; PuLP
itself reports ``Optimal`` for such runs, so the solvers' own status and bound are read).
"""

from __future__ import annotations

import time

import numpy as np
import pulp

from siting.config.scenario import DEFAULT_SOLVER, SOLVERS
from siting.errors import InfeasibleError, SitingError
from siting.solvers import cbc, highs
from siting.solvers.base import (
    MatrixModel,
    Progress,
    SolverResult,
    bound_and_gap,
    check_solver,
    quiet,
)

__all__ = ["DEFAULT_SOLVER", "SOLVERS", "MatrixModel", "Progress", "SolverResult", "bound_and_gap",
           "quiet", "solve", "solve_pulp", "write_model"]

write_model = highs.write_model


def solve(model: MatrixModel, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
          msg: bool = False, mip_gap: float = 0.0, start: np.ndarray | None = None,
          progress: Progress | None = None) -> SolverResult:
    """Solve a :class:`MatrixModel`.

    Parameters
    ----------
    model
        The model as matrices.
    solver
        ``"highs"`` or ``"cbc"``.
    time_limit
        Seconds for the whole call, hand-over included; ``None`` for no limit.
    msg
        Show the solver's log.
    mip_gap
        Relative gap at which the solver may stop and report ``"optimal"``.
    start
        A complete feasible column vector handed over as the first incumbent.
    progress
        Called with ``(seconds, incumbent, bound)``: live as HiGHS logs them; for CBC,
        whose log is read when it ends, once per logged line after the solve.

    Returns
    -------
    SolverResult
    """
    name = check_solver(solver, time_limit)
    if model.shape[1] == 0:  # nothing to decide
        return SolverResult(x=np.zeros(0), objective=model.offset, bound=model.offset,
                            mip_gap=0.0, status="optimal", solver=name, runtime_s=0.0)
    if name == "highs":
        return highs.solve_matrix(model, time_limit, msg, mip_gap, start, progress)
    res = cbc.solve_matrix(model, time_limit, msg, mip_gap, start)
    _replay(res.trace, progress)
    return res


def solve_pulp(prob: pulp.LpProblem, solver: str = DEFAULT_SOLVER,
               time_limit: float | None = None, msg: bool = False, mip_gap: float = 0.0,
               warm_start: bool = False, start: dict | None = None,
               progress: Progress | None = None) -> SolverResult:
    """Solve a PuLP problem; the values are left on its variables (``x`` is empty).

    ``warm_start`` passes the variables' initial values to CBC as a MIP start;
    ``start`` (variable name → value of a complete feasible solution) is handed to
    HiGHS as its first incumbent.

    Parameters
    ----------
    prob
        The PuLP problem, solved in place.
    solver
        ``"highs"`` or ``"cbc"``.
    time_limit
        Seconds for the solve; ``None`` for no limit.
    msg
        Show the solver's log.
    mip_gap
        Relative gap at which the solver may stop and report ``"optimal"``.
    warm_start
        CBC only: pass the variables' initial values as a MIP start.
    start
        HiGHS only: variable name → value of a complete feasible solution (missing
        names count as 0); ``None`` for no start.
    progress
        Called with ``(seconds, incumbent, bound)``: live for HiGHS, from the log
        after the solve for CBC.

    Returns
    -------
    SolverResult
        With an empty ``x``; ``trace`` is filled for CBC only.

    Raises
    ------
    InfeasibleError
        If the problem is infeasible.
    SitingError
        If no integer solution was found within ``time_limit``.
    """
    name = check_solver(solver, time_limit)
    t0 = time.perf_counter()
    if not prob.variables():  # nothing to decide: no site covers anyone
        const = float(prob.objective.constant) if prob.objective is not None else 0.0
        return SolverResult(x=np.zeros(0), objective=const, bound=const, mip_gap=0.0,
                            status="optimal", solver=name, runtime_s=0.0)
    if name == "highs":
        status, bound = highs.solve_pulp(prob, time_limit, msg, mip_gap, start, progress)
        trace: list = []
    else:
        status, bound, trace = cbc.solve_pulp(prob, time_limit, msg, mip_gap, warm_start)
        _replay(trace, progress)
    runtime = time.perf_counter() - t0
    if prob.status == pulp.LpStatusInfeasible:
        raise InfeasibleError(f"the {prob.name} model is infeasible")
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        raise SitingError(
            f"{name} found no integer solution for {prob.name} within {time_limit} s; "
            "raise --time-limit")
    objective = float(pulp.value(prob.objective) or 0.0)
    bound, gap = bound_and_gap(objective, bound, status == "optimal", mip_gap)
    return SolverResult(x=np.zeros(0), objective=objective, bound=bound, mip_gap=gap,
                        status=status, solver=name, runtime_s=runtime, trace=trace)


def _replay(trace: list, progress: Progress | None) -> None:
    """Hand CBC's logged ``(seconds, incumbent, bound)`` lines to ``progress`` (CBC's log
    is read when it ends)."""
    if progress is not None:
        for t, o, b in trace:
            progress(t, o, b)
