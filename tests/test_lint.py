"""The linter and the type checker pass on the package, its tests and scripts (settings in
pyproject.toml: ruff rules E, F, W, I, B, UP; mypy on siting/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        pytest.skip(f"{module} is not installed: pip install -e '.[test]'")


def test_ruff():
    _tool("ruff")
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    res = subprocess.run([exe, "check", "siting", "tests", "scripts"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_mypy():
    _tool("mypy")
    res = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
