"""Solver back-ends behind one interface: HiGHS (highspy) and CBC (bundled with PuLP).

A model is built once as a :class:`MatrixModel` (the embedded model through
:class:`~siting.solvers.builder.ModelBuilder`) and :func:`solve` returns a typed
:class:`SolverResult` whose status is honest: ``"optimal"`` only when the solver proved
it, a time-limited stop is ``"feasible"`` with its proven bound and gap (``nan`` when
none was proven; PuLP itself reports ``Optimal`` for CBC runs stopped by the limit, so
CBC's own status and bound are read from its log).
"""

from __future__ import annotations

import numpy as np

from siting.config.scenario import DEFAULT_SOLVER, SOLVERS
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
           "quiet", "solve", "write_model"]

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


def _replay(trace: list, progress: Progress | None) -> None:
    """Hand CBC's logged ``(seconds, incumbent, bound)`` lines to ``progress`` (CBC's log
    is read when it ends)."""
    if progress is not None:
        for t, o, b in trace:
            progress(t, o, b)
