"""ModelBuilder: the matrices it assembles, its variants and names, checked against a model
written out by hand and against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from siting.errors import SitingError
from siting.solvers import MatrixModel, solve, write_model
from siting.solvers.builder import ModelBuilder


def _small() -> tuple[ModelBuilder, np.ndarray]:
    """max 3 y0 + 2 y1 + 4 y2 + f0 + f1 s.t. 2 y0 + 3 y1 + 4 y2 ≤ 6 (budget),
    f_k ≤ 5 y_k (a family), f0 + f1 ≤ 4 (extended from f0 ≤ 4), y binary."""
    b = ModelBuilder("small", maximize=True)
    y = [b.add_var(f"y_{j}", 0, 1, integer=True) for j in range(3)]
    f = b.add_vars("f_{}_{}", [np.zeros(2, int), np.arange(2)], 0.0, np.inf)
    b.add_row([(y[0], 2.0), (y[1], 1.0), (y[1], 2.0), (y[2], 4.0)], "<=", 6, "budget")
    b.add_rows("link_{}", [np.arange(2)], np.array([0, 1, 0, 1]),
               np.concatenate([f, y[:2]]), np.array([1.0, 1.0, -5.0, -5.0]), "<=", 0.0)
    b.add_row([(f[0], 1.0)], "<=", 4, "share")
    assert b.extend_row("share", [(f[1], 1.0)]) and not b.extend_row("nothing", [(f[1], 1)])
    b.set_objective([(y[0], 3.0), (y[1], 2.0), (y[2], 4.0), (f, 1.0)])
    A = np.array([[2, 3, 4, 0, 0], [-5, 0, 0, 1, 0], [0, -5, 0, 0, 1], [0, 0, 0, 1, 1]], float)
    return b, A


def _brute(c, A, hi, n_bin=3) -> float:
    """max c·x over binary y (first n_bin columns), flows as large as the rows allow."""
    best = -np.inf
    for ys in itertools.product([0, 1], repeat=n_bin):
        if A[0, :3] @ ys > hi[0]:
            continue
        caps = [5 * ys[0], 5 * ys[1]]
        f0 = min(caps[0], 4.0)
        f1 = min(caps[1], 4.0 - f0)
        best = max(best, float(c[:3] @ ys) + f0 + f1)
    return best


def test_the_built_matrices_are_the_model_written_by_hand():
    b, A = _small()
    m = b.model()
    assert m.shape == (4, 5) and b.n_cols == 5 and b.n_rows == 4
    np.testing.assert_array_equal(m.A.toarray(), A)  # repeated y1 summed
    np.testing.assert_array_equal(m.c, [3, 2, 4, 1, 1])
    np.testing.assert_array_equal(m.row_hi, [6, 0, 0, 4])
    assert np.isneginf(m.row_lo).all() and m.maximize
    assert m.integer.tolist() == [0, 1, 2] and np.isinf(m.col_hi[3:]).all()
    res = solve(m, "highs")
    assert res.objective == pytest.approx(_brute(m.c, A, m.row_hi)) == pytest.approx(11.0)


def test_variants_change_a_copy_only():
    b, A = _small()
    base = b.model()
    before = (base.A.toarray().copy(), base.row_hi.copy(), base.col_hi.copy(), base.c.copy())
    cheaper = b.variant(rhs={"budget": 4.0})
    assert solve(cheaper, "highs").objective == pytest.approx(
        _brute(base.c, A, np.array([4.0, 0, 0, 4]))) == pytest.approx(7.0)
    floor = b.variant(objective=[(0, 2.0), (1, 3.0), (2, 4.0)], maximize=False,
                      rows=[([(3, 1.0), (4, 1.0)], ">=", 4.0, "served")])
    r = solve(floor, "highs")  # the cheapest plan serving 4: y0 alone (2) or y1 alone (3)
    assert r.objective == pytest.approx(2.0) and r.x[0] == pytest.approx(1.0)
    fixed = b.variant(bounds={2: (1.0, 1.0)}, base=cheaper)  # y2 open on the 4 budget
    assert solve(fixed, "highs").objective == pytest.approx(4.0 + 0.0)
    after = b.model()
    assert after is base
    for x, y in zip(before, (after.A.toarray(), after.row_hi, after.col_hi, after.c)):
        np.testing.assert_array_equal(x, y)
    b.set_bounds(0, 0.0, 0.0)  # closing y0 takes effect in the next model
    closed = solve(b.model(), "highs")
    assert closed.x[0] == 0 and closed.objective == pytest.approx(6.0)  # y1 and its flow


def test_names_come_from_the_formats_and_reach_the_file(tmp_path):
    b, _ = _small()
    m = b.model(names=True)
    assert m.col_names == ["y_0", "y_1", "y_2", "f_0_0", "f_0_1"]
    assert m.row_names == ["budget", "link_0", "link_1", "share"]
    assert b.row("share") == 3 and b.row("link_0") is None  # family rows are not indexed
    text = write_model(m, tmp_path / "small.lp").read_text()
    assert "budget:" in text and "f_0_1" in text and "link_1:" in text


def test_a_row_with_an_unknown_sense_is_refused():
    b = ModelBuilder("bad")
    x = b.add_var("x")
    with pytest.raises(SitingError, match="sense"):
        b.add_row([(x, 1.0)], "<", 1.0, "r")
    with pytest.raises(SitingError, match="sense"):
        b.add_rows("r_{}", [np.arange(1)], np.zeros(1), np.array([x]), np.ones(1), "=", 1.0)


def test_array_terms_equal_the_same_terms_one_by_one():
    """A term holding an array of columns (the flows' families) is the same row as its
    columns added one at a time, in rows, objective and variants alike."""
    one, many = ModelBuilder("one"), ModelBuilder("many")
    for b in (one, many):
        cols = b.add_vars("x_{}", [np.arange(4)], 0.0, 1.0)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    one.add_row([(int(c), float(v)) for c, v in zip(cols, w)], ">=", 2, "r")
    many.add_row([(cols, w)], ">=", 2, "r")
    one.set_objective([(int(c), 1.0) for c in cols])
    many.set_objective([(cols, 1.0)])
    a, b_ = one.model(), many.model()
    assert (a.A != b_.A).nnz == 0 and np.array_equal(a.c, b_.c)
    extra = [([(cols[:2], 1.0)], "<=", 1.0, "cap")]
    va, vb = one.variant(rows=extra), many.variant(rows=extra)
    assert (sp.csr_array(va.A) != sp.csr_array(vb.A)).nnz == 0
    assert isinstance(va, MatrixModel) and va.shape == (2, 4)
