"""P2: framework overhead: instant STT/LLM/TTS, caller-side latency minus the VAD stop.

    .venv/bin/python bench/p2_overhead.py [--turns 12] [--markdown FILE] [--append]

The ``instant`` providers (a fixed transcript, the scripted LLM, a synthetic tone; no
models) with real Silero VAD, turn strategy, transport, recorder, websocket and playout,
in one process (``LocalNetwork``). Calls of ``evals/scenarios/cold_food.yaml`` one after
another, after one warm-up call, until ``--turns`` caller turns are measured.

Per turn: ``v2v_caller_s - vad_stop_s``, where ``vad_stop_s`` is the breakdown's wait for
the VAD to decide the caller stopped (its ``stop_secs`` plus the audio's trip to the
server; DESIGN.md section 4). What is left is everything voicelab and pipecat add: the
turn strategy's wait, aggregation, the services' (near zero) time, the websocket both
ways and the playout. Also shown: ``v2v_caller_s`` minus the configured ``stop_secs``
alone, and the breakdown.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from _bench import (
    ROOT,
    WARM_UP_ID,
    Headline,
    Summary,
    add_output_args,
    emit,
    loadavg,
    measured,
    play,
    summary_table,
    turn_counts,
)

from voicelab.analysis import BREAKDOWN
from voicelab.config import load_settings
from voicelab.network import LocalNetwork
from voicelab.simulator.scenario import Scenario, ScenarioTurn, load_scenario

SCENARIO = ROOT / "evals" / "scenarios" / "cold_food.yaml"
WARM_UP = Scenario(id=WARM_UP_ID, turns=[ScenarioTurn(say="Hello, I have some feedback.")])


async def run(turns: int, workdir: Path) -> tuple[float, float]:
    settings = load_settings(
        providers="instant", recordings_dir=workdir / "recordings", log_dir=workdir / "logs"
    )
    scenario = load_scenario(SCENARIO)
    per_call = sum(t.spoken for t in scenario.turns)
    calls = -(-turns // per_call)
    async with LocalNetwork(settings) as network:
        await play(network, [WARM_UP], label="warm-up")
        started = time.perf_counter()
        await play(network, [scenario] * calls, label="instant")
    return time.perf_counter() - started, settings.vad_stop_secs


def section(
    workdir: Path, seconds: float, stop_secs: float, load_before: str
) -> tuple[str, list[Headline]]:
    turns, dirs = measured(workdir / "recordings")
    overhead = turns["v2v_caller_s"] - turns["vad_stop_s"]
    rows = [
        ("**`v2v_caller_s − vad_stop_s`** (P2)", Summary.of(overhead)),
        (
            f"`v2v_caller_s − stop_secs` ({stop_secs} s)",
            Summary.of(turns["v2v_caller_s"] - stop_secs),
        ),
        ("`v2v_caller_s`", Summary.of(turns["v2v_caller_s"])),
        *((f"`{c}`", Summary.of(turns[c])) for c in BREAKDOWN),
    ]
    caller_turns, unanswered, split = turn_counts(turns)
    p2 = rows[0][1]
    headline: list[Headline] = [
        (
            "P2 framework overhead p50 / p95",
            f"{p2.p50 * 1000:,.0f} / {p2.p95 * 1000:,.0f} ms (n {p2.n})",
            "≤ 30 ms p50",
        )
    ]
    text = (
        f"#### P2: framework overhead, instant providers ({len(dirs)} calls, {seconds:.0f} s)\n\n"
        f"`bench/p2_overhead.py`: `cold_food` one call at a time, real Silero VAD. Load "
        f"average before {load_before}, after {loadavg()}. {unanswered} of {caller_turns} "
        f"caller turns had no reply heard; {split} extra server turns. Goal: P2 ≤ 30 ms "
        "p50.\n\n" + summary_table(rows) + "\n"
    )
    return text, headline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=12, help="caller turns to measure (min)")
    parser.add_argument("--workdir", type=Path, help="keep the recordings here")
    add_output_args(parser)
    args = parser.parse_args()
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="voicelab-p2-"))
    load_before = loadavg()
    seconds, stop_secs = asyncio.run(run(args.turns, workdir))
    emit(args, *section(workdir, seconds, stop_secs, load_before))
    print(f"recordings: {workdir}")


if __name__ == "__main__":
    main()
