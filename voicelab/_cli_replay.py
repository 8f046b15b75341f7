"""The work behind ``voicelab replay``: a recorded caller played again, its table printed.

The caller's lines become a scenario of ``wav:`` turns (:mod:`voicelab.replay`), played
by ``voicelab simulate``'s own :func:`~voicelab._cli_simulate.run_batch` (the same
network, agent options and records), and the new call is lined up against the original.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import typer

from voicelab._cli_simulate import run_batch
from voicelab.analysis._replay import replay_table
from voicelab.config import Settings
from voicelab.errors import CallRecordError
from voicelab.replay import RecordedCall, read_call, write_scenario
from voicelab.replay._original import original_lines
from voicelab.simulator.simulator import CallResult

__all__ = ["Replay", "print_replay", "replay_call"]

_SHOWN_CHARS = 40  # a reply's words in the printed table; the DataFrame keeps them whole


@dataclass(frozen=True)
class Replay:
    """One replay: the original's caller, the new call and the two lined up.

    Attributes:
        recorded: The original call's caller side.
        call: The new call.
        table: :func:`voicelab.analysis.replay_table` of the two (empty when the new call
            left no record).
    """

    recorded: RecordedCall
    call: CallResult
    table: pd.DataFrame


async def replay_call(
    settings: Settings,
    source: Path,
    *,
    caller_channel: int | None = None,
    server_url: str | None = None,
    carrier_port: int = 0,
    status_callback_path: str | None = "/status-callback",
    scenario_dir: Path | None = None,
) -> Replay:
    """Play the caller's side of ``source`` (a call directory or a stereo WAV) again.

    Args:
        settings: The lab's settings (providers, agent, recordings directory).
        source: The original call.
        caller_channel: The caller's channel of a bare WAV.
        server_url: A running agent to call instead of an in-process one.
        carrier_port: The carrier's port (with ``server_url``).
        status_callback_path: As ``voicelab simulate``'s.
        scenario_dir: Keep the scenario and its clips here (default: a temporary
            directory, removed after the call).

    Raises:
        CallRecordError: ``source`` is not a readable call record or stereo WAV, or no
            caller speech was found in it.
    """
    recorded = read_call(source, caller_channel=caller_channel)
    if not recorded.utterances:
        raise CallRecordError(f"{source}: no caller speech found to replay")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", recorded.call_sid or Path(source).stem)
    mark = {"of": recorded.call_sid, "source": str(source), "kind": recorded.kind}
    with tempfile.TemporaryDirectory(prefix="voicelab-replay-") as temporary:
        scenario = write_scenario(
            recorded, scenario_dir or Path(temporary), scenario_id=f"replay_{name}"
        )
        [call] = await run_batch(
            settings,
            [scenario],
            calls=1,
            concurrency=1,
            server_url=server_url,
            carrier_port=carrier_port,
            status_callback_path=status_callback_path,
            manifest={"replay": mark},
        )
    table = pd.DataFrame()
    if call.directory is not None:
        table = replay_table(original_lines(recorded), call.directory)
    return Replay(recorded, call, table)


def print_replay(replay: Replay) -> None:
    """The new call's outcome, then the table: one row per caller line."""
    call, recorded = replay.call, replay.recorded
    origin = f"call {recorded.call_sid}" if recorded.call_sid else str(recorded.source)
    typer.echo(
        f"\nreplayed {len(recorded.utterances)} caller line(s) of {origin} ({recorded.kind}):"
        f" call {call.call_sid} {call.status} in {call.seconds:.1f} s"
    )
    if call.error:
        typer.echo(f"error: {call.error}")
    if replay.table.empty:
        return
    shown = replay.table.copy()
    for column in ("caller_text", "original_reply", "new_reply"):
        shown[column] = shown[column].map(_short)
    typer.echo("\nReplies and voice-to-voice (s) per caller line, original vs replay\n")
    typer.echo(shown.round(3).to_string(index=False, na_rep="-"))
    if call.directory is not None:
        typer.echo(f"\nrecord: {call.directory}")


def _short(text: object) -> object:
    if not isinstance(text, str):
        return text
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
