"""OR-Library benchmarks (Beasley): every published optimum reached and proven.

Set covering scp41–45 through :class:`siting.models.coverage.SetCovering`, p-median pmed1–5
through :class:`siting.models.median.PMedian`, on the files in
``${SITING_SHARED_DATA:-../shared/data}/orlib`` (skipped when absent). Each solve's
wall time is printed (``pytest -s``) and recorded in the test's user properties.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from siting.errors import SitingError
from siting.io.orlib import read_pmed, read_scp
from siting.models.benchmarks import pmed_instance, scp_instance
from siting.models.coverage import SetCovering
from siting.models.median import PMedian

from conftest import SHARED

ORLIB = SHARED / "orlib"
SCP = {"scp41": 429, "scp42": 512, "scp43": 516, "scp44": 494, "scp45": 512}
PMED = {"pmed1": 5819, "pmed2": 4093, "pmed3": 4250, "pmed4": 3034, "pmed5": 1355}


def _file(name: str):
    path = ORLIB / f"{name}.txt"
    if not path.exists():
        pytest.skip(f"{path} not found: the OR-Library data folder is absent "
                    "(set SITING_SHARED_DATA to the shared data folder)")
    return path


@pytest.mark.parametrize("name", sorted(SCP))
def test_set_covering_reaches_published_optimum(name, record_property):
    path = _file(name)
    cost, cov = read_scp(path)
    assert cov.shape == (200, 1000)
    assert np.all(np.diff(cov.indptr) > 0)  # every row can be covered
    t0 = time.perf_counter()
    sol = SetCovering(scp_instance(path)).solve(solver="highs", time_limit=10)
    seconds = time.perf_counter() - t0
    record_property("seconds", seconds)
    print(f"{name}: {sol.objective:g} {sol.status} {seconds:.2f} s")
    assert sol.status == "optimal"
    assert sol.objective == SCP[name]
    assert sol.bound == pytest.approx(SCP[name], abs=1e-6)
    chosen = np.zeros(cov.shape[1])
    chosen[sol.chosen] = 1
    assert np.all(cov @ chosen >= 1)  # a real cover
    assert cost[sol.chosen].sum() == SCP[name]


@pytest.mark.parametrize("name", sorted(PMED))
def test_p_median_reaches_published_optimum(name, record_property):
    inst, p = pmed_instance(_file(name))
    assert inst.n_demand == inst.n_sites == 100
    t0 = time.perf_counter()
    sol = PMedian(inst, p).solve(solver="highs", time_limit=10)
    seconds = time.perf_counter() - t0
    record_property("seconds", seconds)
    print(f"{name}: {sol.objective:g} {sol.status} {seconds:.2f} s")
    assert sol.status == "optimal"
    assert sol.objective == PMED[name]
    assert sol.bound == pytest.approx(PMED[name], abs=1e-6 * PMED[name])
    assert len(sol.chosen) == p
    assert np.all(sol.assignment >= 0)


def test_pmed_reader_last_duplicate_edge_counts(tmp_path):
    f = tmp_path / "tiny.txt"
    # edge 1-2 given twice: the second (cost 7) counts, even though it is longer
    f.write_text("4 4 1\n1 2 2\n2 3 4\n2 1 7\n4 4 0\n")
    dist, p = read_pmed(f)
    assert p == 1
    assert dist[0, 1] == dist[1, 0] == 7.0
    assert dist[0, 2] == 11.0
    assert dist[1, 1] == 0.0
    assert np.isinf(dist[3, :3]).all()  # vertex 4 has only a loop: unreachable
    inst, p = pmed_instance(f)
    assert inst.n_demand == 4 and len(inst.pair_dist) == 3 * 3 + 1


def test_scp_reader_wrapped_numbers(tmp_path):
    f = tmp_path / "tiny.txt"
    f.write_text("3 4\n 5 1\n 2 3\n2 1\n 2\n3 2 3\n4\n1 4\n")
    cost, cov = read_scp(f)
    assert cost.tolist() == [5, 1, 2, 3]
    assert cov.toarray().astype(int).tolist() == [[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 1]]


@pytest.mark.parametrize("text", ["", "3 4\n1 2", "2 2\n1 1\n1 3\n1 1\n", "1 x 2"])
def test_bad_orlib_files_are_clear(tmp_path, text):
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(SitingError, match="bad.txt"):
        read_scp(f)
