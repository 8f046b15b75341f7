"""P5: the first turn after the server starts vs the steady state, offline stack.

    .venv/bin/python bench/p5_first_turn.py [--calls 3] [--markdown FILE] [--append]

In this fresh process (``make bench`` runs every script as its own process): a new
``LocalNetwork`` on the ``offline`` providers (its server loads and warms the model
pool as it starts, as ``voicelab serve`` does), then ``--calls`` calls of
``evals/scenarios/cold_food.yaml`` one after another, with no warm-up call. The first
figure is the first call's first turn; the steady state is the median of every later
turn. Also shown: each call's first turn (what a per-call cold start would cost) and
how long the server took to start.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _bench import (
    ROOT,
    Headline,
    Summary,
    add_output_args,
    emit,
    loadavg,
    measured,
    play,
    summary_table,
)

from voicelab.config import load_settings
from voicelab.network import LocalNetwork
from voicelab.simulator.scenario import load_scenario

SCENARIO = ROOT / "evals" / "scenarios" / "cold_food.yaml"


async def run(calls: int, workdir: Path) -> tuple[float, list]:
    settings = load_settings(
        providers="offline", recordings_dir=workdir / "recordings", log_dir=workdir / "logs"
    )
    scenario = load_scenario(SCENARIO)
    started = time.perf_counter()
    network = LocalNetwork(settings)
    await network.start()
    start_s = time.perf_counter() - started
    try:
        results = [
            (await play(network, [scenario], label=f"call {i + 1}"))[0] for i in range(calls)
        ]
    finally:
        await network.stop()
    return start_s, results


def section(workdir: Path, start_s: float, calls: list, load: str) -> tuple[str, list[Headline]]:
    turns, _ = measured(workdir / "recordings")
    order = {call.call_sid: i for i, call in enumerate(calls)}
    turns = turns.assign(call_index=turns["call_sid"].map(order)).dropna(subset=["call_index"])
    turns = turns.sort_values(["call_index", "turn"])
    v2v = turns["v2v_caller_s"]
    first = float(v2v.iloc[0]) if len(v2v) else float("nan")
    later = v2v.iloc[1:].dropna()
    steady = statistics.median(later) if len(later) else float("nan")
    firsts = turns.groupby("call_index")["v2v_caller_s"].first()
    rows = [
        ("later turns (steady state)", Summary.of(later)),
        ("each later call's first turn", Summary.of(firsts.iloc[1:])),
    ]
    ratio = first / steady if steady == steady and steady else float("nan")
    later_firsts = firsts.iloc[1:].dropna()
    like = first / statistics.median(later_firsts) if len(later_firsts) else float("nan")
    headline: list[Headline] = [
        (
            "P5 first turn after start / steady state",
            f"{ratio:.2f}× ({first * 1000:,.0f} / {steady * 1000:,.0f} ms)",
            "≤ 1.10×",
        )
    ]
    text = (
        f"#### P5: first turn after server start vs steady state, offline stack\n\n"
        f"`bench/p5_first_turn.py`: a fresh process and server (started and warmed in "
        f"{start_s:.1f} s), then {len(calls)} `cold_food` calls one after another, no "
        f"warm-up call. Load average before {load}, after {loadavg()}.\n\n"
        f"**First call's first turn {first * 1000:,.0f} ms; steady state (median of the "
        f"{len(later)} later turns) {steady * 1000:,.0f} ms: {ratio:.2f}×** (goal: within "
        "10 %, ≤ 1.10×). Like for like (the same line of the scenario), over the later "
        f"calls' first turns: {like:.2f}×.\n\n" + summary_table(rows) + "\n"
    )
    return text, headline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3, help="calls after the start (≥ 2)")
    parser.add_argument("--workdir", type=Path, help="keep the recordings here")
    add_output_args(parser)
    args = parser.parse_args()
    if args.calls < 2:
        parser.error("--calls must be at least 2 (a first call and a later one)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="voicelab-p5-"))
    load = loadavg()
    start_s, calls = asyncio.run(run(args.calls, workdir))
    emit(args, *section(workdir, start_s, calls, load))
    print(f"recordings: {workdir}")


if __name__ == "__main__":
    main()
