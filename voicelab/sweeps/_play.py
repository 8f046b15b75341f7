"""Playing one cell on one lab: the part the local runner and every Ray worker share.

A :class:`CellPlayer` holds a started :class:`~voicelab.network.LocalNetwork` (server,
carrier, warm models) built with one variant's settings. Each call's ``call.json`` gets
the cell (``sweep``) and who played it (``runner``) when the call is answered, the way the
scenario gets there. A failed attempt (the call could not be placed, did not end, ended
other than its scenario says, e.g. busy, or left no server record) is marked
``sweep.failed`` and its directory moved to the store's ``.failed/``, so the loaders never
count it and a restart plays the cell again.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicelab.network import LocalNetwork
from voicelab.recording.contract import UNCONNECTED_END_REASONS
from voicelab.recording.store import CallRecord
from voicelab.simulator.scenario import Scenario
from voicelab.sweeps._file import SweepFile
from voicelab.sweeps._grid import FAILED_DIR, Cell, set_aside

__all__ = ["CellOutcome", "CellPlayer", "runner_info", "unpack"]


def runner_info(**more: Any) -> dict[str, Any]:
    """``call.json``'s ``runner``: this host and process, plus e.g. Ray's node and actor."""
    return {"host": socket.gethostname(), "pid": os.getpid(), **more}


@dataclass
class CellOutcome:
    """What became of one attempt at a cell.

    Attributes:
        cell: The cell.
        attempt: 1 for the first try, 2 for the retry.
        status: The call's final status (``completed``...), or ``not-placed`` / ``lost``.
        error: Why the attempt failed (``None``: it did not).
        directory: The call directory's name in the store (under ``.failed/`` if failed).
        seconds: Wall time of the call.
        runner: Who played it (``call.json``'s ``runner``).
        archive: The call directory as an uncompressed tar, when it must travel back to
            the driver's store (a Ray worker without a shared store).
    """

    cell: Cell
    attempt: int
    status: str
    error: str | None = None
    directory: str | None = None
    seconds: float = 0.0
    runner: dict[str, Any] = field(default_factory=dict)
    archive: bytes | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class CellPlayer:
    """Plays cells of one variant on one started network.

    Args:
        network: Started, with the variant's settings; its recordings directory is where
            the calls are recorded (the store, or a worker's scratch directory).
        sweep: The sweep (its manifest fields).
        scenarios: The sweep's scenarios by id.
        runner: This player's ``runner`` manifest field.
        pack: Return each call directory as a tar and remove it here (copy-back mode).
    """

    def __init__(
        self,
        network: LocalNetwork,
        sweep: SweepFile,
        scenarios: dict[str, Scenario],
        runner: dict[str, Any],
        *,
        pack: bool = False,
    ) -> None:
        self.network = network
        self.sweep = sweep
        self.scenarios = scenarios
        self.runner = runner
        self.pack = pack

    @property
    def store(self) -> Path:
        return self.network.recordings_dir

    async def play(self, cell: Cell, attempt: int) -> CellOutcome:
        """Play ``cell`` once; never raises for a call that fails (the outcome says so)."""
        manifest = {"sweep": cell.manifest(self.sweep, attempt), "runner": self.runner}
        try:
            call = await self.network.simulate(self.scenarios[cell.scenario], manifest)
        except Exception as exc:  # e.g. the caller's audio could not be made
            return CellOutcome(cell, attempt, "not-placed", f"{type(exc).__name__}: {exc}")
        scenario = self.scenarios[cell.scenario]
        expected = "completed" if scenario.outcome == "answer" else scenario.outcome
        error = call.error
        if error is None and call.status != expected:  # e.g. busy: the server was full
            error = f"the call ended {call.status}; the scenario expects {expected}"
        outcome = CellOutcome(
            cell, attempt, call.status, error=error, seconds=call.seconds, runner=self.runner
        )
        directory = call.directory
        record = CallRecord(directory, "caller") if directory is not None else None
        reason = record.read_manifest().get("end_reason") if record is not None else None
        if (
            outcome.error is None
            and expected == "completed"
            and (not reason or reason in UNCONNECTED_END_REASONS)
        ):
            # e.g. its stream refused or never started: answered, but no call took place
            outcome.error = (
                f"the server recorded no call (end reason {reason or 'none'}: it refused"
                " the stream, the stream never came, or the call never ended)"
            )
        if directory is None or record is None:
            return outcome
        if outcome.failed:
            record.update_manifest(sweep={**manifest["sweep"], "failed": outcome.error})
        await record.aflush()  # every write of this call is on disk before it moves
        if outcome.failed:
            directory = set_aside(directory, self.store)
        outcome.directory = directory.name
        if self.pack:
            outcome.archive = _pack(directory)
            shutil.rmtree(directory, ignore_errors=True)
        return outcome


def _pack(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(directory, arcname=directory.name)
    return buffer.getvalue()


def unpack(outcome: CellOutcome, store: Path) -> None:
    """Write a travelled call directory into ``store`` (``.failed/`` for a failed one)."""
    if outcome.archive is None:
        return
    target = store / FAILED_DIR if outcome.failed else store
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(outcome.archive), mode="r") as tar:
        tar.extractall(target, filter="data")  # only plain files under target
    outcome.archive = None  # the driver keeps outcomes; the bytes are on disk now
