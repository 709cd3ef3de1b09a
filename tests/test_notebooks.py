"""The notebooks run top to bottom (offline) and are stored without outputs."""

from __future__ import annotations

import os

import pytest

from conftest import NANJING, ROOT, SHARED

NOTEBOOKS = ROOT / "notebooks"


@pytest.mark.parametrize("name", ["01_quickstart.ipynb", "02_chinese_district.ipynb",
                                  "03_embedded_plan.ipynb"])
def test_notebook_stored_without_outputs(name):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def _execute(name: str, monkeypatch) -> list[dict]:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # the kernel imports this checkout (not an installed copy) and finds ../shared/data
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("SITING_SHARED_DATA", str(SHARED))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _text(outputs) -> str:
    parts = []
    for o in outputs:
        parts.append(o.get("text", ""))
        data = o.get("data", {})
        parts += [data.get("text/html", ""), data.get("text/plain", "")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def test_quickstart_notebook_runs(monkeypatch):
    outputs = _execute("01_quickstart.ipynb", monkeypatch)
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = _text(outputs)
    assert "People covered" in text                    # RunResult._repr_html_
    assert "leaflet" in text.lower()                    # the map inline
    assert "report.xlsx" in text and "<svg" in text     # written folder, curve


def test_chinese_district_notebook_runs_or_skips_cleanly(monkeypatch):
    outputs = _execute("02_chinese_district.ipynb", monkeypatch)
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = _text(outputs)
    if NANJING.exists():
        assert "覆盖人口" in text and "autonavi" in text and "<svg" in text
    else:
        assert "skipped:" in text


def test_embedded_plan_notebook_runs_or_skips_cleanly(monkeypatch):
    """The embedded walk-through: inventory, a 10 M CNY plan, the standard per community,
    the map and the budget curve."""
    outputs = _execute("03_embedded_plan.ipynb", monkeypatch)
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = _text(outputs)
    if NANJING.exists():
        assert "of 10,000,000 CNY" in text and "required_m2" in text
        assert "leaflet" in text.lower() and "<svg" in text and "budget=20,000,000" in text
    else:
        assert "skipped:" in text
