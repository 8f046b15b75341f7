"""Fixtures of the analysis tests: a private copy of the hand-written call records."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # before anything imports pyplot

import matplotlib
import pytest
from analysis_fixtures import FIXTURES, INBOUND_DIR, MALFORMED_DIR, OUTBOUND_DIR

matplotlib.use("Agg")


@pytest.fixture
def calls_root(tmp_path: Path) -> Path:
    """The three fixture calls, copied: loading writes a cache (and reports) into the tree."""
    root = tmp_path / "recordings"
    root.mkdir()
    for name in (INBOUND_DIR, OUTBOUND_DIR, MALFORMED_DIR):
        shutil.copytree(FIXTURES / name, root / name)
    return root


@pytest.fixture
def good_root(calls_root: Path) -> Path:
    """The two well-formed calls only (no warnings to filter)."""
    shutil.rmtree(calls_root / MALFORMED_DIR)
    return calls_root
