"""A mixed-integer model assembled straight into arrays: named columns and rows, no
expression objects.

:class:`ModelBuilder` is what the embedded model is written in. A column is an integer
(its index), a linear expression a list of ``(column, coefficient)`` terms (repeated
columns are summed), and a family of columns or rows can be added in one call from
numpy arrays. :meth:`ModelBuilder.model` hands the result over as a
:class:`~siting.solvers.base.MatrixModel` (built once, cached until the next change);
:meth:`ModelBuilder.variant` gives a copy with other bounds, right-hand sides, rows or
objective for a staged solve, leaving the built model as it is. Names are kept as
format strings and number arrays for column and row families and written out only
when asked (an exported LP file, a test).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from siting.errors import SitingError
from siting.solvers.base import MatrixModel

Terms = list  # [(column, coefficient), ...]; a column array with coefficients (or one)
_INF = float("inf")
_SENSES = {"<=": (-_INF, None), ">=": (None, _INF), "==": (None, None)}  # None: the rhs


def _bounds(sense: str, rhs: float | np.ndarray) -> tuple:
    """``(lo, hi)`` of rows ``expr <sense> rhs`` (``rhs`` a number or an array)."""
    if sense not in _SENSES:
        raise SitingError(f"row sense must be one of {', '.join(_SENSES)}, got {sense!r}")
    lo, hi = _SENSES[sense]
    return (rhs if lo is None else lo + 0 * rhs), (rhs if hi is None else hi + 0 * rhs)


class _Names:
    """Names of a growing list of columns or rows: single names and lazy families."""

    def __init__(self) -> None:
        self._chunks: list = []  # list[str] or (fmt, arrays)

    def add(self, name: str) -> None:
        if not self._chunks or not isinstance(self._chunks[-1], list):
            self._chunks.append([])
        self._chunks[-1].append(name)

    def add_family(self, fmt: str, parts: Sequence[np.ndarray]) -> None:
        self._chunks.append((fmt, [np.asarray(p) for p in parts]))

    def materialize(self) -> list[str]:
        out: list[str] = []
        for ch in self._chunks:
            if isinstance(ch, list):
                out.extend(ch)
            else:
                fmt, parts = ch
                out.extend(fmt.format(*vals) for vals in zip(*(p.tolist() for p in parts)))
        return out


class _Entries:
    """The matrix's ``(row, column, value)`` entries: single ones and numpy blocks."""

    def __init__(self) -> None:
        self.ri: list[int] = []
        self.ci: list[int] = []
        self.vi: list[float] = []
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def put(self, i: int, terms: Iterable[tuple]) -> None:
        """Entries of row ``i``; a term's column and coefficient may be arrays."""
        for c, v in terms:
            if isinstance(c, np.ndarray):
                self.blocks.append((np.full(len(c), i, np.int64), c.astype(np.int64),
                                    np.broadcast_to(np.asarray(v, float), c.shape).copy()))
            else:
                self.ri.append(i)
                self.ci.append(c)
                self.vi.append(v)

    def coo(self) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """``(values, (rows, columns))`` of every entry."""
        b = self.blocks
        return (np.concatenate([np.asarray(self.vi, float)] + [x[2] for x in b]),
                (np.concatenate([np.asarray(self.ri, np.int64)] + [x[0] for x in b]),
                 np.concatenate([np.asarray(self.ci, np.int64)] + [x[1] for x in b])))


class ModelBuilder:
    """A MILP assembled column by column and row by row (see the module docstring).

    Parameters
    ----------
    name
        The model's name (said in messages).
    maximize
        Sense of the objective.
    """

    def __init__(self, name: str, maximize: bool = False) -> None:
        self.name = name
        self.maximize = maximize
        self.objective: Terms = []
        self._lo: list = []  # floats or arrays (families)
        self._hi: list = []
        self._int: list[np.ndarray] = []
        self._n = 0
        self._col_names = _Names()
        self._rlo: list = []
        self._rhi: list = []
        self._m = 0
        self._row_names = _Names()
        self._index: dict[str, int] = {}  # rows added one by one, by name
        self._entries = _Entries()
        self._model: MatrixModel | None = None
        self._bounds: dict[int, tuple[float, float]] = {}  # set_bounds

    n_cols = property(lambda self: self._n, doc="Number of columns.")
    n_rows = property(lambda self: self._m, doc="Number of rows.")

    def add_var(self, name: str, lo: float = 0.0, hi: float = _INF,
                integer: bool = False) -> int:
        """Add one column; return its index.

        Parameters
        ----------
        name
            Its name.
        lo, hi
            Its bounds (``-inf``/``inf`` for none).
        integer
            Integer (with bounds 0 and 1: binary).

        Returns
        -------
        int
        """
        self._model = None
        j = self._n
        self._lo.append(float(lo))
        self._hi.append(float(hi))
        if integer:
            self._int.append(np.array([j], np.int64))
        self._col_names.add(name)
        self._n += 1
        return j

    def add_vars(self, fmt: str, parts: Sequence[np.ndarray], lo: float | np.ndarray = 0.0,
                 hi: float | np.ndarray = _INF, integer: bool = False) -> np.ndarray:
        """Add a family of columns named ``fmt.format(*parts[:, k])``; return their indices.

        Parameters
        ----------
        fmt
            Name format, e.g. ``"f_{}_{}"``.
        parts
            Arrays of equal length, the numbers in each name.
        lo, hi
            Bounds, scalars or one per column.
        integer
            Integer columns.

        Returns
        -------
        numpy.ndarray
        """
        self._model = None
        k = len(parts[0]) if parts else 0
        cols = np.arange(self._n, self._n + k, dtype=np.int64)
        self._lo.append(np.broadcast_to(np.asarray(lo, float), (k,)).copy())
        self._hi.append(np.broadcast_to(np.asarray(hi, float), (k,)).copy())
        if integer:
            self._int.append(cols)
        self._col_names.add_family(fmt, parts)
        self._n += k
        return cols

    def set_bounds(self, col: int, lo: float, hi: float) -> None:
        """Change the bounds of a column (e.g. fix it before a solve).

        Parameters
        ----------
        col
            The column.
        lo, hi
            Its new bounds.
        """
        self._model = None
        self._bounds[int(col)] = (float(lo), float(hi))

    def add_row(self, terms: Iterable[tuple[int, float]], sense: str, rhs: float,
                name: str) -> int:
        """Add the row ``Σ coef · column <sense> rhs``; return its index.

        Parameters
        ----------
        terms
            ``(column, coefficient)`` pairs (repeated columns are summed); a term may
            hold an array of columns with an array of coefficients or one for all.
        sense
            ``"<="``, ``">="`` or ``"=="``.
        rhs
            Right-hand side.
        name
            The row's name (unique: :meth:`extend_row` and :meth:`row` find it by it).

        Returns
        -------
        int
        """
        self._model = None
        i = self._m
        lo, hi = _bounds(sense, float(rhs))
        self._rlo.append(lo)
        self._rhi.append(hi)
        self._entries.put(i, terms)
        self._row_names.add(name)
        self._index[name] = i
        self._m += 1
        return i

    def add_rows(self, fmt: str, parts: Sequence[np.ndarray], rows: np.ndarray,
                 cols: np.ndarray, vals: np.ndarray, sense: str,
                 rhs: float | np.ndarray) -> np.ndarray:
        """Add a family of rows from coordinates; return their indices.

        Parameters
        ----------
        fmt, parts
            Row names, as in :meth:`add_vars` (one name per row).
        rows
            Row of each entry, ``0 … len(parts[0]) - 1`` within the family.
        cols, vals
            Column and coefficient of each entry.
        sense
            ``"<="``, ``">="`` or ``"=="`` (all rows).
        rhs
            Right-hand sides, a scalar or one per row.

        Returns
        -------
        numpy.ndarray
        """
        self._model = None
        k = len(parts[0]) if parts else 0
        idx = np.arange(self._m, self._m + k, dtype=np.int64)
        lo, hi = _bounds(sense, np.broadcast_to(np.asarray(rhs, float), (k,)).copy())
        self._rlo.append(lo)
        self._rhi.append(hi)
        self._entries.blocks.append((np.asarray(rows, np.int64) + self._m,
                                     np.asarray(cols, np.int64), np.asarray(vals, float)))
        self._row_names.add_family(fmt, parts)
        self._m += k
        return idx

    def row(self, name: str) -> int | None:
        """Index of the row added by :meth:`add_row` under ``name`` (None if none).

        Parameters
        ----------
        name
            The row's name.

        Returns
        -------
        int or None
        """
        return self._index.get(name)

    def extend_row(self, name: str, terms: Iterable[tuple[int, float]]) -> bool:
        """Add terms to an existing row; False (nothing done) when there is none.

        Parameters
        ----------
        name
            The row's name (added by :meth:`add_row`).
        terms
            ``(column, coefficient)`` pairs.

        Returns
        -------
        bool
        """
        i = self._index.get(name)
        if i is None:
            return False
        self._model = None
        self._entries.put(i, terms)
        return True

    def set_objective(self, terms: Terms, maximize: bool | None = None) -> None:
        """Replace the objective.

        Parameters
        ----------
        terms
            ``(column, coefficient)`` pairs.
        maximize
            New sense; None keeps it.
        """
        self._model = None
        self.objective = list(terms)
        if maximize is not None:
            self.maximize = maximize

    def model(self, names: bool = False) -> MatrixModel:
        """The model as matrices (cached; rebuilt after a change).

        Parameters
        ----------
        names
            Attach the column and row names (for an exported file; built on demand).

        Returns
        -------
        MatrixModel
        """
        if self._model is None:
            n, m = self._n, self._m
            A = sp.csr_array(self._entries.coo(), shape=(m, n))  # repeated entries summed
            A.sum_duplicates()
            A.eliminate_zeros()
            self._model = with_bounds(MatrixModel(
                _terms_vector(self.objective, n), A, _flat(self._rlo, m), _flat(self._rhi, m),
                _flat(self._hi, n),
                np.concatenate(self._int) if self._int else np.zeros(0, np.int64),
                maximize=self.maximize, col_lo=_flat(self._lo, n)), self._bounds)
        if names and self._model.col_names is None:
            self._model.col_names = self._col_names.materialize()
            self._model.row_names = self._row_names.materialize()
        return self._model

    def variant(self, objective: Terms | None = None, maximize: bool | None = None,
                rows: Sequence[tuple[Terms, str, float, str]] = (),
                bounds: dict | None = None, rhs: dict | None = None,
                base: MatrixModel | None = None) -> MatrixModel:
        """A copy of :meth:`model` with changes; the built model is left as it is.

        Parameters
        ----------
        objective
            New objective terms (None: the same).
        maximize
            New sense (None: the same).
        rows
            More rows, ``(terms, sense, rhs, name)``.
        bounds
            ``column → (lo, hi)``.
        rhs
            ``row name → new right-hand side`` (of a one-sided row added by
            :meth:`add_row`).
        base
            The model to change: an earlier variant (its rows after the built ones);
            None: :meth:`model`.

        Returns
        -------
        MatrixModel
        """
        base = self.model() if base is None else base
        n = base.shape[1]
        extra = [(_terms_vector(t, n), *_bounds(sense, float(v))) for t, sense, v, _ in rows]
        return _vary(base, None if objective is None else _terms_vector(objective, n),
                     maximize, extra, bounds or {},
                     {self._index[k]: float(v) for k, v in (rhs or {}).items()})

    def activity(self, name: str, x: np.ndarray) -> float:
        """``Σ coef · x`` of the row ``name`` (added by :meth:`add_row`).

        Parameters
        ----------
        name
            The row's name.
        x
            Column values.

        Returns
        -------
        float
        """
        A = self.model().A
        i = self._index[name]
        lo, hi = A.indptr[i], A.indptr[i + 1]
        return float(A.data[lo:hi] @ np.asarray(x, float)[A.indices[lo:hi]])


def _vary(base: MatrixModel, c: np.ndarray | None, maximize: bool | None, rows: list,
          bounds: dict, rhs: dict) -> MatrixModel:
    """:meth:`ModelBuilder.variant` on matrices: rows ``(coefficients, lo, hi)``, right-hand
    sides by row index (the finite side of a one-sided row)."""
    A, lo_r, hi_r = base.A, base.row_lo.copy(), base.row_hi.copy()
    for i, value in rhs.items():
        if np.isfinite(hi_r[i]):
            hi_r[i] = value
        else:
            lo_r[i] = value
    if rows:
        A = sp.vstack([A, sp.csr_array(np.vstack([r[0] for r in rows]))]).tocsr()
        lo_r = np.append(lo_r, [r[1] for r in rows])
        hi_r = np.append(hi_r, [r[2] for r in rows])
    out = MatrixModel(base.c if c is None else c, A, lo_r, hi_r, base.col_hi, base.integer,
                      maximize=base.maximize if maximize is None else maximize,
                      col_lo=base.lower, offset=base.offset)
    return with_bounds(out, bounds)


def with_bounds(model: MatrixModel, bounds: dict) -> MatrixModel:
    """A copy of ``model`` with other column bounds (the matrices are shared).

    Parameters
    ----------
    model
        The model.
    bounds
        ``column → (lo, hi)``.

    Returns
    -------
    MatrixModel
    """
    col_lo, col_hi = model.lower.copy(), model.col_hi.copy()
    if bounds:
        cols = np.fromiter(bounds.keys(), np.int64, len(bounds))
        lh = np.array(list(bounds.values()), float).reshape(-1, 2)
        col_lo[cols], col_hi[cols] = lh[:, 0], lh[:, 1]
    return MatrixModel(model.c, model.A, model.row_lo, model.row_hi, col_hi, model.integer,
                       maximize=model.maximize, col_lo=col_lo, offset=model.offset)


def _terms_vector(terms: Terms, n: int) -> np.ndarray:
    """Dense ``(n,)`` coefficients of a term list (repeated columns summed)."""
    out = np.zeros(n)
    single = [(c, v) for c, v in terms if not isinstance(c, np.ndarray)]
    if single:
        cols, vals = zip(*single)
        np.add.at(out, np.asarray(cols, np.int64), np.asarray(vals, float))
    for c, v in terms:
        if isinstance(c, np.ndarray):
            np.add.at(out, c, np.broadcast_to(np.asarray(v, float), c.shape))
    return out


def _flat(chunks: list, n: int) -> np.ndarray:
    """Concatenate floats and arrays into one ``(n,)`` array."""
    out: list[np.ndarray] = []
    run: list[float] = []
    for ch in chunks:
        if isinstance(ch, np.ndarray):
            if run:
                out.append(np.asarray(run, float))
                run = []
            out.append(ch)
        else:
            run.append(ch)
    if run:
        out.append(np.asarray(run, float))
    flat = np.concatenate(out) if out else np.zeros(0)
    assert len(flat) == n
    return flat

