"""Shared fixtures: real OSM extracts from ../shared/data (skipped where absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# SITING_SHARED_DATA points elsewhere (e.g. from a git worktree not beside ../shared)
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
