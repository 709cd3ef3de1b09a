"""Shared fixtures: real OSM extracts from ../shared/data (skipped where absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout; SITING_SHARED_DATA points elsewhere (e.g. from a worktree)
SHARED = Path(os.environ.get("SITING_SHARED_DATA", ROOT.parent / "shared" / "data"))
NANJING = SHARED / "nanjing_xinjiekou_osm" / "nanjing_xinjiekou.osm"


def shared_file(path: Path) -> Path:
    """Return ``path`` or skip the test when ../shared/data is not beside the repository."""
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared/data is not beside this checkout")
    return path


@pytest.fixture(scope="session")
def nanjing_osm() -> Path:
    return shared_file(NANJING)


@pytest.fixture(scope="session")
def helsinki_osm() -> Path:
    from siting.cli import sample_osm

    return sample_osm()


# ---------------------------------------------------------------------------
# one plan, one set of numbers: every run folder a test writes is checked
# (tests/output_check.py) after the test, wherever under the session's temp folder
# ---------------------------------------------------------------------------
_CHECKED: dict[Path, int] = {}  # run folder → marker mtime when checked
OUTPUT_CHECKS = {"checked": 0, "skipped": 0, "comparison_runs": 0}
_SKIPPED: list[str] = []  # partial run folders, named in the terminal summary


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        item.siting_call_failed = report.failed
    return report


@pytest.fixture(autouse=True)
def _check_run_outputs(request, tmp_path_factory):
    """After each passing test, check the run folders written (or rewritten) meanwhile."""
    yield
    if getattr(request.node, "siting_call_failed", True):
        return  # failed or skipped: its folders may be partial, the failure says enough
    from output_check import (
        MARKER,
        check_comparison_folder,
        check_run_folder,
        comparison_folders,
        complete,
        run_folders,
    )

    for folder in run_folders(tmp_path_factory.getbasetemp()):
        stamp = (folder / MARKER).stat().st_mtime_ns
        if _CHECKED.get(folder) == stamp:
            continue
        _CHECKED[folder] = stamp
        if not complete(folder):
            OUTPUT_CHECKS["skipped"] += 1
            _SKIPPED.append(f"{request.node.nodeid}: {folder.name}")
            continue
        check_run_folder(folder)
        OUTPUT_CHECKS["checked"] += 1
    for folder in comparison_folders(tmp_path_factory.getbasetemp()):
        stamp = (folder / MARKER).stat().st_mtime_ns
        if _CHECKED.get(folder) != stamp:
            _CHECKED[folder] = stamp
            OUTPUT_CHECKS["comparison_runs"] += check_comparison_folder(folder)


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        f"output_check: {OUTPUT_CHECKS['checked']} run folders checked for one set of "
        f"numbers, {OUTPUT_CHECKS['skipped']} partial ones skipped; "
        f"{OUTPUT_CHECKS['comparison_runs']} compared runs matched their folders")
    for name in _SKIPPED:
        terminalreporter.write_line(f"  partial (not checked): {name}")
