"""The in-process runner: one lab per variant in this process, ``concurrency`` calls at once.

Every variant's network (server + carrier) starts before the first call, so the limit
holds across the whole grid and the calls of different variants interleave in time (a
slower afternoon on a shared machine then slows every variant alike). A failed attempt is
played once more, then reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from voicelab.config import Settings
from voicelab.network import LabModels, LocalNetwork
from voicelab.simulator.scenario import Scenario
from voicelab.sweeps._file import SweepFile
from voicelab.sweeps._grid import Cell
from voicelab.sweeps._play import CellOutcome, CellPlayer, runner_info

__all__ = ["ATTEMPTS", "run_local"]

ATTEMPTS = 2  # a failed call is retried once, then reported


async def run_local(
    sweep: SweepFile,
    cells: Sequence[Cell],
    scenarios: dict[str, Scenario],
    *,
    base: Settings,
    store: Path,
    concurrency: int,
    report: Callable[[CellOutcome], None],
    models: LabModels | None = None,
) -> list[CellOutcome]:
    """Play ``cells`` here; ``report`` sees every attempt. Returns each cell's last attempt.

    The variants' labs share ``models`` (default: new ones), so each model loads once here.
    """
    variants = sorted({cell.variant for cell in cells})
    models = models if models is not None else LabModels()
    networks = {
        name: LocalNetwork(
            sweep.variant_settings(name, base).model_copy(update={"recordings_dir": store}),
            models=models,
        )
        for name in variants
    }
    try:
        await asyncio.gather(*(network.start() for network in networks.values()))
        players = {
            name: CellPlayer(network, sweep, scenarios, runner_info(kind="local"))
            for name, network in networks.items()
        }
        gate = asyncio.Semaphore(concurrency)

        async def one(cell: Cell) -> CellOutcome:
            outcome: CellOutcome | None = None
            for attempt in range(1, ATTEMPTS + 1):
                async with gate:
                    outcome = await players[cell.variant].play(cell, attempt)
                report(outcome)
                if not outcome.failed:
                    break
            assert outcome is not None
            return outcome

        return list(await asyncio.gather(*(one(cell) for cell in cells)))
    finally:
        await asyncio.gather(*(network.stop() for network in networks.values()))
