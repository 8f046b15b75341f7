"""The grid: one cell per (variant, scenario, repeat), each with a stable id.

A cell's id is made of its coordinates only (``variant/scenario/repeat``), never of a
time or a host, so a restarted sweep finds the cells its store already holds by the
same id (:func:`recorded_cells`), whichever worker recorded them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicelab.sweeps._file import SweepFile, public_overrides

__all__ = ["FAILED_DIR", "Cell", "build_grid", "recorded_cells", "set_aside"]

# Where a failed attempt's call directory goes, inside the store: hidden from the loaders
# (they skip dot-directories), kept for whoever wants to see why it failed.
FAILED_DIR = ".failed"


@dataclass(frozen=True, slots=True)
class Cell:
    """One call of the sweep.

    Attributes:
        sweep: The sweep's name.
        variant: The variant's name.
        scenario: The scenario's id.
        repeat: 1-based repeat number.
    """

    sweep: str
    variant: str
    scenario: str
    repeat: int

    @property
    def id(self) -> str:
        return f"{self.variant}/{self.scenario}/{self.repeat}"

    def manifest(self, sweep: SweepFile, attempt: int) -> dict[str, Any]:
        """What ``call.json`` keeps under ``sweep`` (overrides with secrets redacted)."""
        return {
            "name": self.sweep,
            "variant": self.variant,
            "repeat": self.repeat,
            "cell": self.id,
            "attempt": attempt,
            "overrides": public_overrides(sweep.variant_overrides(self.variant)),
        }


def build_grid(sweep: SweepFile, scenario_ids: Iterable[str]) -> list[Cell]:
    """Every cell, repeat by repeat: a sweep stopped halfway has every variant equally far."""
    ids = list(scenario_ids)
    return [
        Cell(sweep.name, variant.name, scenario, repeat)
        for repeat in range(1, sweep.repeats + 1)
        for scenario in ids
        for variant in sweep.variants
    ]


def recorded_cells(store: Path, sweep: str) -> tuple[set[str], list[Path]]:
    """The ids of the cells of ``sweep`` whose call is complete in ``store``, and the call
    directories of that sweep left incomplete (an interrupted run's calls in flight).

    A call is complete when the server has closed its manifest (``end_reason``) and it is
    not marked failed. Manifests are read directly: this runs before every sweep.
    """
    done: set[str] = set()
    incomplete: list[Path] = []
    if not store.is_dir():
        return done, incomplete
    with os.scandir(store) as entries:
        for entry in entries:
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            try:
                manifest = json.loads((Path(entry.path) / "call.json").read_bytes())
            except (OSError, ValueError):
                continue
            mark = manifest.get("sweep") if isinstance(manifest, dict) else None
            if not isinstance(mark, dict) or mark.get("name") != sweep:
                continue
            if manifest.get("end_reason") and not mark.get("failed"):
                done.add(str(mark.get("cell")))
            else:
                incomplete.append(Path(entry.path))
    return done, incomplete


def set_aside(directory: Path, store: Path) -> Path:
    """Move a failed or incomplete call directory to ``store/.failed/`` (returned)."""
    target = store / FAILED_DIR / directory.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(directory), target)
    return target
