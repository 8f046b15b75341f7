"""Voice-to-voice latency of simulated calls, end to end through the carrier and the server.

    .venv/bin/python bench/bench_latency.py [--providers offline] [--calls 5] [--concurrency 1]

Plays the default scenario (``evals/scenarios/cold_food.yaml``) ``--calls`` times and prints
per-turn caller-side voice-to-voice (what a caller hears: end of their speech to the first
audible bot sample, after the playout buffer), the server-side figure (pipecat's
UserBotLatencyObserver) and the breakdown, as p50/p90/max, in Markdown for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from voicelab.analysis import LATENCY_COLUMNS, turns_df
from voicelab.config import load_settings
from voicelab.network import LocalNetwork
from voicelab.simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


async def run(providers: str, calls: int, concurrency: int, scenario_path: Path) -> None:
    recordings = Path(tempfile.mkdtemp(prefix="voicelab-bench-"))
    settings = load_settings(providers=providers, recordings_dir=recordings)
    scenario = load_scenario(scenario_path)
    gate = asyncio.Semaphore(concurrency)
    async with LocalNetwork(settings) as network:

        async def one() -> None:
            async with gate:
                result = await network.simulate(scenario)
                print(f"  {result.call_sid} {result.status} {result.seconds:.1f}s", flush=True)

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(calls)))
        elapsed = time.perf_counter() - start
    print(
        f"\n### {providers}, {calls} calls of {scenario.id}, concurrency {concurrency} "
        f"({elapsed:.0f} s)\n"
    )
    summarize(recordings)


def summarize(recordings: Path) -> None:
    """Markdown table of the latency columns of every bot turn under ``recordings``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        turns = turns_df(recordings)
    replies = turns[turns["turn"] > 0]
    print("| quantity | p50 | p90 | max | n |\n| --- | --- | --- | --- | --- |")
    for column in LATENCY_COLUMNS:
        values = replies[column].dropna()
        if values.empty:
            continue
        print(
            f"| `{column}` | {values.quantile(0.5):.3f} | {values.quantile(0.9):.3f} "
            f"| {values.max():.3f} | {len(values)} |"
        )
    both = replies[["v2v_caller_s", "v2v_recording_s"]].dropna()
    agree = ((both["v2v_caller_s"] - both["v2v_recording_s"]).abs() <= 0.02).mean()
    print(f"\nevent vs recording v2v within 20 ms: {agree:.0%} of {len(both)} turns")
    print(f"recordings: {recordings}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", default="offline", choices=["offline", "scripted", "cloud"])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--scenario", type=Path, default=ROOT / "evals/scenarios/cold_food.yaml")
    parser.add_argument("--summarize", type=Path, help="only summarise an existing recordings dir")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    asyncio.run(run(args.providers, args.calls, args.concurrency, args.scenario))


if __name__ == "__main__":
    main()
