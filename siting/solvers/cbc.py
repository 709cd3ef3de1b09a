"""CBC, the solver bundled with PuLP (``PULP_CBC_CMD``): status and bound read from its log."""

from __future__ import annotations

import re
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pulp

from siting.errors import InfeasibleError, SitingError
from siting.solvers.base import (
    MatrixModel,
    SolverResult,
    bound_and_gap,
    solver_threads,
    within,
)

_CBC_RESULT = re.compile(r"Result - (.+)")
_CBC_BOUND = re.compile(r"(?:Lower|Upper) bound:\s+(-?[\d.eE+-]+)")


_CBC_PROGRESS = re.compile(
    r"Cbc0010I After \d+ nodes, \d+ on tree, (\S+) best solution, best possible (\S+) "
    r"\(([\d.]+) seconds\)")


def _solve_pulp(prob: pulp.LpProblem, time_limit: float | None, msg: bool, mip_gap: float,
               warm_start: bool = False) -> tuple[str, float | None, list]:
    """Solve a PuLP model with PuLP's bundled CBC; its status, proven bound and trace
    (read from CBC's log, since PuLP reports ``Optimal`` for runs stopped by the limit).

    ``warm_start`` passes the variables' initial values to CBC as a MIP start.

    Parameters
    ----------
    prob
        The PuLP problem, solved in place (values are left on its variables).
    time_limit
        Seconds for CBC; ``None`` for no limit.
    msg
        Show CBC's log.
    mip_gap
        Relative gap at which CBC may stop.
    warm_start
        Pass the variables' initial values as a MIP start.

    Returns
    -------
    status : str
        ``"optimal"`` if CBC's log says so, else ``"feasible"``.
    bound : float or None
        CBC's proven bound in the objective's own sense; ``None`` if not logged.
    trace : list
        ``(seconds, incumbent, bound)`` tuples from CBC's log.
    """
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cbc.log"
        with warnings.catch_warnings():  # PuLP 3.3 deprecates its bundled CBC for 4.0
            warnings.simplefilter("ignore", DeprecationWarning)
            cmd = pulp.PULP_CBC_CMD(msg=msg, timeLimit=time_limit, gapRel=mip_gap,
                                    logPath=str(log), warmStart=warm_start,
                                    threads=solver_threads())
            prob.solve(cmd)
        text = log.read_text(errors="replace") if log.exists() else ""
    found = _CBC_RESULT.search(text)
    result = found.group(1).strip() if found else ""
    found = _CBC_BOUND.search(text)
    bound = float(found.group(1)) if found else None
    # PuLP runs CBC with -max for maximisation; the summary bound is in the original sense
    status = "optimal" if result.startswith("Optimal") else "feasible"
    sign = -1.0 if prob.sense == pulp.LpMaximize else 1.0  # CBC logs -max as a minimum
    trace = [(float(t), sign * float(o), sign * float(b))
             for o, b, t in _CBC_PROGRESS.findall(text) if o != "1e+50"]
    return status, bound, trace




def solve_matrix(model: MatrixModel, time_limit: float | None = None, msg: bool = False,
                 mip_gap: float = 0.0, start: np.ndarray | None = None) -> SolverResult:
    """Solve a :class:`MatrixModel` with CBC (the matrices become a PuLP model).

    Parameters
    ----------
    model
        The model as matrices.
    time_limit
        Seconds for CBC; ``None`` for no limit.
    msg
        Show CBC's log.
    mip_gap
        Relative gap at which CBC may stop and report ``"optimal"``.
    start
        ``(n,)`` column values passed to CBC as a MIP start; ``None`` for none.

    Returns
    -------
    SolverResult
        Objective, bound and trace include the model's offset.

    Raises
    ------
    InfeasibleError
        If the model is infeasible.
    SitingError
        If no integer solution was found within ``time_limit``.
    """
    prob, x = to_pulp(model)
    if start is not None:
        for v, val in zip(x, np.asarray(start, float).tolist()):
            v.setInitialValue(val)
    t0 = time.perf_counter()
    status, bound, trace = _solve_pulp(prob, time_limit, msg, mip_gap, start is not None)
    runtime = time.perf_counter() - t0
    if prob.status == pulp.LpStatusInfeasible:
        raise InfeasibleError(f"the {prob.name} model is infeasible")
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        raise SitingError(f"cbc found no integer solution {within(time_limit)}; "
                          "raise --time-limit")
    values = np.array([v.varValue or 0.0 for v in x])
    off = model.offset
    objective = model.value(values)
    if bound is not None:
        bound += off
    bound, gap = bound_and_gap(objective, bound, status == "optimal", mip_gap)
    return SolverResult(x=values, objective=objective, bound=bound, mip_gap=gap, status=status,
                        solver="cbc", runtime_s=runtime,
                        trace=[(t, o + off, b + off) for t, o, b in trace])


def to_pulp(model: MatrixModel, name: str = "model") -> tuple[pulp.LpProblem, list]:
    """The model as a PuLP problem (named rows and columns; without the objective's
    offset) and its variables in order.

    Parameters
    ----------
    model
        The model as matrices; rows with two finite, different bounds become two
        constraints suffixed ``_lo`` and ``_hi``.
    name
        Name of the PuLP problem.

    Returns
    -------
    prob : pulp.LpProblem
        The problem.
    x : list of pulp.LpVariable
        Its variables, one per column in order.
    """
    prob = pulp.LpProblem(name, pulp.LpMaximize if model.maximize else pulp.LpMinimize)
    integer = np.zeros(len(model.c), bool)
    integer[model.integer] = True
    names = model.col_names or [f"x_{j}" for j in range(len(model.c))]
    inf = np.inf
    x = [prob.add_variable(names[j], None if lo == -inf else lo, None if hi == inf else hi,
                           cat="Integer" if integer[j] else "Continuous")
         for j, (lo, hi) in enumerate(zip(model.lower.tolist(), model.col_hi.tolist()))]
    prob.setObjective(pulp.LpAffineExpression(
        [(x[j], v) for j, v in enumerate(model.c.tolist()) if v]))
    A = model.A
    rows = model.row_names or [f"r_{i}" for i in range(A.shape[0])]
    ind, val, ptr = A.indices.tolist(), A.data.tolist(), A.indptr.tolist()
    for i, (lo, hi) in enumerate(zip(model.row_lo.tolist(), model.row_hi.tolist())):
        expr = pulp.LpAffineExpression([(x[j], v) for j, v in
                                        zip(ind[ptr[i]:ptr[i + 1]], val[ptr[i]:ptr[i + 1]])])
        if lo == hi:
            prob.addConstraint(expr == lo, rows[i])
        else:
            if lo > -inf:
                prob.addConstraint(expr >= lo, rows[i] if hi == inf else f"{rows[i]}_lo")
            if hi < inf:
                prob.addConstraint(expr <= hi, rows[i] if lo == -inf else f"{rows[i]}_hi")
    return prob, x
