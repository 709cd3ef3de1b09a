"""Smoke test of scripts/benchmark.py --quick: rows are produced and peers agree with ours."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


@pytest.mark.slow
def test_quick_benchmark_rows_and_agreement(tmp_path, capsys):
    pytest.importorskip("psutil")
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["benchmark"] = bench  # dataclasses look their module up
    spec.loader.exec_module(bench)
    out = tmp_path / "rows.json"
    peers = ["scipy", "networkx"] + (["spopt"] if importlib.util.find_spec("spopt") else [])
    bench.main(["--quick", "--json", str(out), "--time-limit", "20", "--peers", *peers])
    table = capsys.readouterr().out
    rows = json.loads(out.read_text())
    assert {"instance", "nodes", "method", "stage", "wall_s", "peak_mb", "objective"} <= set(rows[0])
    assert "wall s" in table and "peak MB" in table
    stages = {(r["method"], r["stage"]) for r in rows}
    assert ("ours", "coverage") in stages and ("scipy dijkstra(limit)", "coverage") in stages
    assert any(r["stage"].startswith("end-to-end") and r["objective"] for r in rows)
    for r in rows:
        if r["method"] == "ours" and r["stage"].endswith("solve"):
            assert r["check"].startswith("optimal")
        if r["stage"] == "coverage" and r["method"] != "ours":
            assert r["check"].startswith("same pairs"), r
        if r["method"].startswith("spopt") and r["stage"].endswith("solve"):
            assert "same optimum" in r["check"], r
    if "spopt" in peers:
        assert any(r["method"].startswith("spopt") and r["objective"] for r in rows)
