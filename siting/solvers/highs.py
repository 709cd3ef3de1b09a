"""HiGHS through highspy: the matrices handed over directly, in one call.

HiGHS times ``run()`` only, so the time left after the hand-over is what it is given;
its reported objective is checked against the solution it returns (HiGHS 1.16 can report
a wrong optimum after a MIP start).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from siting.errors import InfeasibleError, SitingError
from siting.solvers.base import (
    MatrixModel,
    Progress,
    SolverResult,
    bound_and_gap,
    quiet,
    solver_threads,
    within,
)

# HiGHS checks no interrupt callback in its presolve (nor, with presolve off, in the
# set-up before its root LP) and its own time limit only between passes: 28.7 s of
# presolve on a 5.6 M-nonzero max cover given 27.3 s, 1.9 s on 211k nonzeros given
# 0.5 s, on a loaded 2-core machine (5-9 us per nonzero). With a start at hand and less
# time left than this many seconds per nonzero, HiGHS is not run: the start stands.
PRESOLVE_S_PER_NZ = 1e-5


def solve_matrix(model: MatrixModel, time_limit: float | None = None, msg: bool = False,
                 mip_gap: float = 0.0, start: np.ndarray | None = None,
                 progress: Progress | None = None) -> SolverResult:
    """Solve a :class:`MatrixModel` with highspy (no PuLP): fast to hand over at scale.

    ``start`` is a complete column vector handed to HiGHS as its first incumbent. The
    objective is recomputed from the returned solution and checked against HiGHS's report.
    With a start and a time limit too short for HiGHS's presolve, which cannot be
    interrupted (under :data:`PRESOLVE_S_PER_NZ` seconds per nonzero), HiGHS is not run
    and the start is returned, feasible with no bound.
    ``progress`` is called with (seconds, incumbent, bound) as HiGHS logs them.

    Parameters
    ----------
    model
        The model as matrices.
    time_limit
        Seconds for the whole call, hand-over included; ``None`` for no limit.
    msg
        Show HiGHS's log.
    mip_gap
        Relative gap at which HiGHS may stop and report ``"optimal"``.
    start
        ``(n,)`` complete feasible column vector, HiGHS's first incumbent; if HiGHS then
        reports a wrong optimum, the model is solved again without it in the time left.
    progress
        Called with ``(seconds, incumbent, bound)`` (offset included) as HiGHS logs them.

    Returns
    -------
    SolverResult
        Objective, bound and trace include the model's offset.

    Raises
    ------
    InfeasibleError
        If the model is infeasible.
    SitingError
        If the time limit is not positive or no integer solution was found within it.
    """
    import highspy

    if time_limit is not None and time_limit <= 0:
        raise SitingError(f"time limit must be > 0 s, got {time_limit}")
    t_enter = t0 = time.perf_counter()
    if start is not None and time_limit is not None \
            and time_limit < PRESOLVE_S_PER_NZ * model.A.nnz:
        return _start_stands(model, start, t0)  # HiGHS would overrun the limit
    h = _loaded(model, msg, offset=0.0)  # the offset is added to what HiGHS reports
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, start))
        sol.value_valid = True
        h.setSolution(sol)
    if time_limit is not None:  # HiGHS times run() only: the hand-over counts too
        spent = time.perf_counter() - t_enter
        h.setOptionValue("time_limit", float(max(time_limit - spent, 0.05 * time_limit)))
    trace = []

    def _log(e):
        d = e.data_out
        t, o, b = float(d.running_time), float(d.mip_primal_bound), float(d.mip_dual_bound)
        trace.append((t, o, b))
        if progress is not None and np.isfinite(o) and abs(o) < 1e30:
            progress(t, o + model.offset, b + model.offset)

    _subscribe(h, _log, every_s=1.0 if progress is not None else None)
    if time_limit is not None:  # HiGHS may overrun its own limit in a long LP: stop it
        _stop_at(h, t_enter + time_limit)
    h.run()
    runtime = time.perf_counter() - t0
    status = h.getModelStatus()
    S = highspy.HighsModelStatus
    if status == S.kInfeasible:
        raise InfeasibleError("the covering model is infeasible")
    info = h.getInfo()
    if info.primal_solution_status != 2 and start is not None:  # stopped before any
        return _start_stands(model, start, t0)
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        raise SitingError(
            f"highs found no integer solution {within(time_limit)}; raise --time-limit")
    x = np.asarray(h.getSolution().col_value)
    objective = float(info.objective_function_value)
    actual = float(model.c @ x)
    if abs(actual - objective) > 1e-6 * max(1.0, abs(actual)):
        # HiGHS 1.16 can report the objective and bound of a wrong optimum after a MIP
        # start (seen on a set cover: 47.9 M reported, the solution costs 49.9 M, CBC and
        # HiGHS without the start prove 49.9 M): never trust it, solve again without it
        if start is not None:
            left = None if time_limit is None else time_limit - (time.perf_counter() - t_enter)
            if left is None or (time_limit is not None and left > 0.05 * time_limit):
                return solve_matrix(model, left, msg, mip_gap, None, progress)
        objective, proven = actual, False  # the solution stands; no proof, no bound
    else:
        proven = True
    optimal = proven and status == S.kOptimal
    dual = float(info.mip_dual_bound) if proven else float("nan")
    bound, gap = bound_and_gap(objective, dual, optimal, mip_gap)
    trace = [(t, o, b) for t, o, b in trace if np.isfinite(o) and abs(o) < 1e30]
    off = model.offset
    return SolverResult(x=x, objective=objective + off, bound=bound + off, mip_gap=gap,
                        status="optimal" if optimal else "feasible", solver="highs",
                        runtime_s=runtime, trace=[(t, o + off, b + off) for t, o, b in trace])


def lp_values(model: MatrixModel, variants: list[tuple[np.ndarray | None, float, float]],
              time_limit: float | None = None) -> list[float]:
    """Optimal values of the LP relaxation of ``model`` under a series of variants.

    Each variant changes the objective (None keeps the last one) and the bounds of the
    model's last row; the LPs are solved one after another in one HiGHS, each from the
    previous basis (a parametric sweep costs little more than one LP).

    Parameters
    ----------
    model
        The model (its integrality ignored).
    variants
        ``(c, lo, hi)`` per LP.
    time_limit
        Seconds for each LP; None for no limit.

    Returns
    -------
    list of float
        Each LP's optimum with the model's offset; ``-inf`` (maximising) or ``inf``
        (minimising) when infeasible; ``nan`` when not solved.
    """
    import highspy

    h = _relaxation(model, time_limit)
    S = highspy.HighsModelStatus
    last = model.shape[0] - 1
    idx = np.arange(model.shape[1], dtype=np.int32)
    out = []
    for c, lo, hi in variants:
        if c is not None:
            h.changeColsCost(len(idx), idx, np.asarray(c, float))
        h.changeRowBounds(last, float(lo), float(hi))
        h.run()
        status = h.getModelStatus()
        if status == S.kOptimal:
            out.append(float(h.getInfo().objective_function_value))
        elif status == S.kInfeasible:
            out.append(-np.inf if model.maximize else np.inf)
        else:
            out.append(float("nan"))
    return out


def lp_duals(model: MatrixModel, time_limit: float | None = None
             ) -> tuple[float, np.ndarray] | None:
    """The optimum of the LP relaxation of ``model`` and its row duals.

    Parameters
    ----------
    model
        The model (its integrality ignored).
    time_limit
        Seconds; None for no limit.

    Returns
    -------
    tuple or None
        ``(value, duals)``: the LP optimum with the model's offset, and per row the rate
        at which it changes with the row's active bound (maximising: > 0 where raising
        an upper bound raises the maximum); None when no optimum was found in time.
    """
    import highspy

    h = _relaxation(model, time_limit)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return (float(h.getInfo().objective_function_value),
            np.asarray(h.getSolution().row_dual, float))


def _relaxation(model: MatrixModel, time_limit: float | None):
    """A quiet ``highspy.Highs`` holding the LP relaxation of ``model`` (its offset
    kept), with ``time_limit`` seconds per run when given."""
    h = _loaded(replace(model, integer=np.zeros(0, np.int64)), False, model.offset)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(max(time_limit, 0.1)))
    return h


def _set_threads(h) -> None:
    """Limit HiGHS to :func:`~siting.solvers.base.solver_threads` threads, when set."""
    n = solver_threads()
    if n is not None:
        h.setOptionValue("threads", n)


def _start_stands(model: MatrixModel, start: np.ndarray, t0: float) -> SolverResult:
    """The start as the result: feasible, with no bound (HiGHS found or proved nothing)."""
    x = np.asarray(start, dtype=float)
    return SolverResult(x=x, objective=model.value(x), bound=float("nan"),
                        mip_gap=float("nan"), status="feasible", solver="highs",
                        runtime_s=time.perf_counter() - t0)


def _stop_at(h, deadline: float) -> None:
    """Interrupt HiGHS once ``time.perf_counter()`` passes ``deadline``, also inside a long
    simplex or interior-point solve, where its own time limit is checked late."""

    def stop(e):
        if time.perf_counter() > deadline:
            e.interrupt()

    for hook in (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt):
        hook.subscribe(stop)


def _subscribe(h, log, every_s: float | None) -> None:
    """Call ``log`` on each new incumbent and each log line of HiGHS; with ``every_s``,
    also from HiGHS's frequent interrupt check, at most every ``every_s`` seconds, so the
    bound is seen moving even when HiGHS writes no log (``output_flag`` off)."""
    h.cbMipImprovingSolution.subscribe(log)
    h.cbMipLogging.subscribe(log)
    if every_s is None:
        return
    last = [0.0]

    def tick(e):
        t = float(e.data_out.running_time)
        if t - last[0] >= every_s:
            last[0] = t
            log(e)

    h.cbMipInterrupt.subscribe(tick)


def _loaded(model: MatrixModel, msg: bool, offset: float):
    """A ``highspy.Highs`` holding ``model`` (:func:`_pass`), with ``offset`` as its
    objective constant; its log shown only with ``msg``."""
    import highspy

    with quiet(not msg):  # HiGHS prints its banner when constructed
        h = highspy.Highs()
    h.setOptionValue("output_flag", bool(msg))
    _pass(h, model, offset)
    return h


def _pass(h, model: MatrixModel, offset: float) -> None:
    """Hand ``model`` to the ``highspy.Highs`` ``h`` (column-wise, one ``passModel``
    call), with ``offset`` as its objective constant and this process's threads."""
    A = sp.csc_array(model.A)
    A.sort_indices()
    nrow, ncol = A.shape
    integrality = np.zeros(ncol, dtype=np.int32)
    integrality[model.integer] = 1  # kInteger
    _set_threads(h)
    h.passModel(ncol, nrow, A.nnz, 1, -1 if model.maximize else 1, offset,
                model.c, model.lower, model.col_hi, model.row_lo, model.row_hi,
                A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float),
                integrality)


def write_model(model: MatrixModel, path: str | Path) -> Path:
    """Write the model to ``path`` (``.lp`` or ``.mps``) with its row and column names.

    Parameters
    ----------
    model
        The model as matrices; unnamed columns and rows are written ``x_j`` and ``r_i``.
    path
        File to write; its suffix (``.lp`` or ``.mps``) chooses the format.

    Returns
    -------
    Path
        ``path``.
    """
    h = _loaded(model, msg=False, offset=model.offset)
    nrow, ncol = model.shape
    for j in range(ncol):
        h.passColName(j, model.col_names[j] if model.col_names else f"x_{j}")
    for i in range(nrow):
        h.passRowName(i, model.row_names[i] if model.row_names else f"r_{i}")
    h.writeModel(str(path))
    return Path(path)
