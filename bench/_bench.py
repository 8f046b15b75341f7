"""What every `make bench` script shares: the machine line, summaries, sections, audio checks.

The scripts (``bench/p*.py``) each measure one figure of issue 10, print a Markdown
section for ``bench/RESULTS.md`` and, with ``--markdown FILE``, write it there too
(``bench/run_all.py`` collects them into one dated section). Figures are summarised as
p50 / p95 and the min-max range with the number of values, never a mean alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np
import pandas as pd

from voicelab.recording.audible import UNDERRUN_S

__all__ = [
    "BENCH",
    "GAP_MIN_S",
    "RESULTS",
    "ROOT",
    "WARM_UP_ID",
    "Headline",
    "Summary",
    "add_output_args",
    "cut_ins",
    "emit",
    "loadavg",
    "machine_line",
    "measured",
    "play",
    "playout_gaps",
    "summary_table",
    "turn_counts",
]

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"
WARM_UP_ID = "warm_up"
GAP_MIN_S = UNDERRUN_S
"""A playout gap (``voicelab.recording.audible.UNDERRUN_S``, what ``voicelab load`` counts):
at least this long inaudible inside one stretch of bot speech heard by the caller (two 20 ms
frames that never came). Only meaningful for the instant TTS, whose tone is audible from its
first sample to its last; real voices pause between words."""


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as ``/proc/loadavg`` gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """One Markdown line: cores, CPU, Python, pipecat, commit, date, load average now."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "voicelab"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    if dirty:  # what ran is the working tree, not the commit alone
        commit += " + uncommitted changes in voicelab/"
    return (
        f"Machine: `nproc` {os.cpu_count()}, {cpu_model()}; CPython {platform.python_version()}, "
        f"pipecat-ai {version('pipecat-ai')}; commit {commit or '?'}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {loadavg()}."
    )


@dataclass(frozen=True)
class Summary:
    """p50 / p95 / min / max of some values, in their unit (seconds unless said)."""

    n: int
    p50: float
    p95: float
    p90: float
    lo: float
    hi: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
        if x.size == 0:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        q50, q90, q95 = np.quantile(x, [0.5, 0.9, 0.95])
        return cls(int(x.size), float(q50), float(q95), float(q90), float(x.min()), float(x.max()))

    def cells(self, scale: float = 1000.0, digits: int = 0) -> list[str]:
        """``p50, p95, min–max, n`` as table cells (default: milliseconds)."""
        if self.n == 0:
            return ["n/a", "n/a", "n/a", "0"]

        def f(v: float) -> str:
            return f"{v * scale:,.{digits}f}"

        return [f(self.p50), f(self.p95), f"{f(self.lo)}–{f(self.hi)}", str(self.n)]


def summary_table(
    rows: Sequence[tuple[str, Summary]], unit: str = "ms", scale: float = 1000.0, digits: int = 0
) -> str:
    """A Markdown table of summaries, one row per ``(label, summary)``."""
    lines = [
        f"| | p50 {unit} | p95 {unit} | min–max {unit} | n |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {label} | " + " | ".join(s.cells(scale, digits)) + " |" for label, s in rows]
    return "\n".join(lines)


def measured(
    recordings: Path, skip: Sequence[str] = (WARM_UP_ID,)
) -> tuple[pd.DataFrame, list[Path]]:
    """The bot's replies (``turns_df`` rows past the greeting) and the call directories of
    every call under ``recordings`` but those of scenarios ``skip`` (the warm-up's)."""
    from voicelab.analysis import calls_df, turns_df

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loaders' warnings are the tests' business
        calls = calls_df(recordings, cache=False)
        turns = turns_df(recordings, cache=False)
    calls = calls[~calls["scenario_id"].isin(list(skip))]
    turns = turns[turns["call_sid"].isin(set(calls["call_sid"])) & (turns["turn"] > 0)]
    return turns, [Path(d) for d in calls["call_dir"]]


def turn_counts(turns: pd.DataFrame) -> tuple[int, int, int]:
    """``(caller turns, of them with no reply heard, extra server turns)`` of ``measured``'s
    replies. An extra server turn has no ``caller_turn``: the server ended a turn where the
    caller had only paused (a split sentence), whether or not the bot spoke into the pause."""
    caller = turns[turns["caller_turn"].notna()]
    return (
        len(caller),
        int(caller["v2v_caller_s"].isna().sum()),
        int(turns["caller_turn"].isna().sum()),
    )


def _caller_events(directory: Path) -> list[dict]:
    events = []
    for line in (directory / "events.jsonl").read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("source") == "caller":
            events.append(event)
    return events


def cut_ins(directory: Path) -> int:
    """Caller turns of a call during which the bot's voice started while the caller spoke.

    On speech with a pause inside a sentence, this is the bot taking the pause for the end
    of the turn and answering half a sentence (the caller's events: a ``heard_started``
    between its ``utterance_started`` and ``utterance_ended``).
    """
    events = _caller_events(directory)
    spans = {}
    for e in events:
        turn = e.get("data", {}).get("turn")
        if e["type"] == "caller.utterance_started":
            spans.setdefault(turn, [e["t"], None])
        elif e["type"] == "caller.utterance_ended" and turn in spans:
            spans[turn][1] = e["t"]
    heard = [e["t"] for e in events if e["type"] == "caller.heard_started"]
    return sum(
        any(start < t < end for t in heard) for start, end in spans.values() if end is not None
    )


def playout_gaps(directory: Path, min_gap_s: float = GAP_MIN_S) -> list[tuple[int, float]]:
    """``(turn, seconds)`` of each inaudible stretch of at least ``min_gap_s`` inside the
    bot's speech the caller heard (turn 0: the greeting).

    Reads the heard channel of ``caller.wav`` (the caller's clock, sample 0 = its t 0) and
    the caller's ``heard_started``/``heard_ended`` events; within each heard stretch every
    run of inaudible 10 ms windows (voicelab's audible rule) that long is a gap: audio that
    should have been playing and was not there in time.
    """
    from voicelab.analysis import load_audio
    from voicelab.recording.audible import audible, window_samples

    audio = load_audio(directory, "caller")
    bot, rate = audio.channels["bot"], audio.sample_rate
    window = window_samples(rate)
    loud = audible(bot, window)
    events = _caller_events(directory)
    starts = [e for e in events if e["type"] == "caller.heard_started"]
    ends = [e["t"] for e in events if e["type"] == "caller.heard_ended"]
    gaps: list[tuple[int, float]] = []
    for start, end in zip(starts, ends, strict=False):
        a, b = int(start["t"] * rate / window), int(end * rate / window)
        run = 0
        for flag in loud[a:b]:
            if flag:
                if run * window / rate >= min_gap_s:
                    gaps.append((int(start["data"].get("turn", -1)), run * window / rate))
                run = 0
            else:
                run += 1
    return gaps


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """``--markdown FILE`` (write the section there) and ``--append`` (to RESULTS.md)."""
    parser.add_argument("--markdown", type=Path, help="also write the Markdown section here")
    parser.add_argument(
        "--append",
        action="store_true",
        help=f"append the section, with the machine line, to {RESULTS.relative_to(ROOT)}",
    )


Headline = tuple[str, str, str]
"""One line of ``make bench``'s summary table: figure, what was measured, issue 10's goal."""


def emit(args: argparse.Namespace, section: str, headline: Sequence[Headline] = ()) -> None:
    """Print the section; write it to ``--markdown`` (and the headline lines beside it, as
    ``.json``, for ``run_all.py``'s summary); with ``--append`` add it to RESULTS.md."""
    print("\n" + section)
    if args.markdown:
        args.markdown.write_text(section)
        args.markdown.with_suffix(".json").write_text(json.dumps([list(h) for h in headline]))
    if args.append:
        with RESULTS.open("a") as results:
            results.write(f"\n{machine_line()}\n\n{section}\n")
        print(f"appended to {RESULTS}")


async def play(network: Any, scenarios: Sequence[Any], at_once: int = 1, label: str = "") -> list:
    """Play ``scenarios`` on ``network``, ``at_once`` at a time; print one line per call."""
    gate = asyncio.Semaphore(at_once)

    async def one(scenario: Any) -> Any:
        async with gate:
            call = await network.simulate(scenario)
            print(
                f"  {label:10} {call.scenario_id:22} {call.status} {call.seconds:5.1f} s",
                flush=True,
            )
            return call

    return list(await asyncio.gather(*(one(s) for s in scenarios)))
