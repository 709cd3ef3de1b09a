"""What every back-end shares: the model as matrices, the typed result, honest bounds."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from siting.config.scenario import SOLVERS
from siting.errors import SitingError

STATUSES = ("optimal", "feasible")
# called during a solve with (seconds, incumbent objective, proven bound)
Progress = Callable[[float, float, float], None]


@dataclass
class MatrixModel:
    """A mixed-integer linear model as matrices (built once, solved by any back-end).

    .. math::

        \\min / \\max\\; c^\\top x + \\text{offset} \\quad\\text{s.t.}\\quad
        \\ell^{row} \\le A x \\le u^{row},\\quad \\ell^{col} \\le x \\le u^{col},\\quad
        x_j \\in \\mathbb{Z}\\; (j \\in \\text{integer})

    Parameters
    ----------
    c
        ``(n,)`` objective coefficients.
    A
        ``(m, n)`` sparse constraint matrix.
    row_lo, row_hi
        ``(m,)`` row bounds (``-inf``/``inf`` for one-sided rows).
    col_hi
        ``(n,)`` column upper bounds; ``col_lo`` defaults to zeros.
    integer
        Indices of the integer columns.
    maximize
        Sense of the objective.
    col_names, row_names
        Names written to an exported model file (``x_3``/``r_5`` when not given).
    offset
        Constant added to the objective.
    """

    c: np.ndarray
    A: sp.sparray
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray
    maximize: bool = False
    col_lo: np.ndarray | None = None
    col_names: list[str] | None = None
    row_names: list[str] | None = None
    offset: float = 0.0

    def __post_init__(self) -> None:
        self.c = np.asarray(self.c, dtype=float)
        self.A = sp.csr_array(self.A, dtype=float)
        n = len(self.c)
        self.row_lo = np.asarray(self.row_lo, dtype=float)
        self.row_hi = np.asarray(self.row_hi, dtype=float)
        self.col_hi = np.asarray(self.col_hi, dtype=float)
        self.col_lo = np.zeros(n) if self.col_lo is None else np.asarray(self.col_lo, float)
        self.integer = np.asarray(self.integer, dtype=np.int64)
        m = self.A.shape[0]
        if self.A.shape[1] != n or len(self.col_hi) != n or len(self.col_lo) != n:
            raise SitingError(f"model has {n} objective coefficients but {self.A.shape[1]} "
                              f"matrix columns and {len(self.col_hi)} column bounds")
        if len(self.row_lo) != m or len(self.row_hi) != m:
            raise SitingError(f"model has {m} rows but {len(self.row_lo)}/{len(self.row_hi)} "
                              "row bounds")
        for names, k, what in ((self.col_names, n, "column"), (self.row_names, m, "row")):
            if names is not None and len(names) != k:
                raise SitingError(f"{len(names)} {what} names for {k} {what}s")

    @property
    def lower(self) -> np.ndarray:
        """Column lower bounds (zeros unless ``col_lo`` was given)."""
        return np.zeros(len(self.c)) if self.col_lo is None else self.col_lo

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``: the number of rows and columns."""
        return self.A.shape

    def value(self, x: np.ndarray) -> float:
        """Objective of a column vector ``x`` (offset included).

        Parameters
        ----------
        x
            ``(n,)`` column values.

        Returns
        -------
        float
            ``c @ x + offset``.
        """
        return float(self.c @ np.asarray(x, float)) + self.offset


@dataclass
class SolverResult:
    """What a back-end returns: the solution and how much of it is proven.

    Attributes
    ----------
    x
        Column values (empty for a PuLP model: values are on its variables).
    objective
        Objective of the solution returned (recomputed from ``x`` where possible).
    bound
        Best proven bound (the MIP dual bound), ``nan`` when none was proven.
    mip_gap
        ``|objective - bound| / max(|objective|, 1e-9)``; ``nan`` without a bound.
    status
        ``"optimal"`` (proven within ``mip_gap``) or ``"feasible"``.
    solver, runtime_s
        Back-end name and wall time of the solve.
    trace
        ``(seconds, objective, bound)`` tuples over the solve.
    """

    x: np.ndarray
    objective: float
    bound: float
    mip_gap: float
    status: str
    solver: str
    runtime_s: float
    trace: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def as_dict(self) -> dict:
        """The headline fields as a plain dict (no ``x``)."""
        return dict(objective=self.objective, bound=self.bound, mip_gap=self.mip_gap,
                    status=self.status, solver=self.solver, runtime_s=self.runtime_s,
                    trace=list(self.trace))


THREADS_ENV = "SITING_SOLVER_THREADS"


def solver_threads() -> int | None:
    """Threads a solver may use in this process (``SITING_SOLVER_THREADS``), or None
    for the solver's own default.

    ``siting batch`` sets it on each worker of its local cluster so that workers solving
    at once do not oversubscribe the cores.

    Returns
    -------
    int or None
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise SitingError(f"{THREADS_ENV}={raw!r} is not a number of threads (≥ 1); "
                          "unset it or give e.g. 1")
    return n


def within(time_limit: float | None) -> str:
    """``"within 19.2 s"`` (a limit for messages, one decimal) or ``"without a time limit"``.

    Parameters
    ----------
    time_limit
        Seconds, or None.

    Returns
    -------
    str
    """
    return "without a time limit" if time_limit is None else f"within {time_limit:.1f} s"


def check_solver(solver: str, time_limit: float | None) -> str:
    """Lower-cased solver name, or a :class:`SitingError` naming the choices.

    Parameters
    ----------
    solver
        Solver name, any case; one of ``SOLVERS`` (``"highs"``, ``"cbc"``).
    time_limit
        Seconds allowed for the solve; must be > 0, or ``None`` for no limit.

    Returns
    -------
    str
        The solver name in lower case.

    Raises
    ------
    SitingError
        If the solver is unknown or the time limit is not positive.
    """
    name = solver.lower()
    if name not in SOLVERS:
        raise SitingError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if time_limit is not None and time_limit <= 0:
        raise SitingError(f"time limit must be > 0 s, got {time_limit}")
    return name


def bound_and_gap(objective: float, bound: float | None, optimal: bool,
                  mip_gap: float) -> tuple[float, float]:
    """The proven bound and relative gap to report: a solve stopped without a finite
    bound has none (NaN, NaN) — never the objective, which would read as proven.

    Parameters
    ----------
    objective
        Objective of the solution found.
    bound
        Proven (dual) bound from the solver; ``None`` or non-finite when none was proven.
    optimal
        Whether the solver proved optimality (within ``mip_gap``); then a missing bound
        is taken to be the objective.
    mip_gap
        Relative gap the solver was asked for; caps the reported gap of an optimal solve.

    Returns
    -------
    tuple of float
        ``(bound, gap)`` with ``gap = |objective - bound| / max(|objective|, 1e-9)``;
        ``(nan, nan)`` for a solve stopped without a bound.
    """
    if bound is None or not np.isfinite(bound):
        if not optimal:
            return float("nan"), float("nan")
        bound = objective
    gap = abs(objective - bound) / max(abs(objective), 1e-9)
    return float(bound), float(min(gap, mip_gap) if optimal else gap)


@contextlib.contextmanager
def quiet(active: bool = True) -> Iterator[None]:
    """Silence the C-level standard output (HiGHS writes its banner there, not to Python).

    Parameters
    ----------
    active
        Silence the output; ``False`` makes this a no-op (to show the solver's log).
    """
    if not active:
        yield
        return
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (e.g. some notebook kernels): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
