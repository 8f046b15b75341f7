"""P3: simultaneous calls: (a) instant stack, how many hold P2 ≤ 100 ms p95 with no gaps;
(b) real offline models, p90 with 6 calls at once.

    .venv/bin/python bench/p3_concurrency.py [--steps 8,16,32,48,64] [--lines 2]
        [--offline-calls 6] [--part a|b|both] [--markdown FILE] [--append]

(a) For each step N: N calls placed at once on the ``instant`` providers (no models; real
Silero VAD, pipeline, transport, recorder, one process as in ``bench/soak.py``), every
caller saying soak's line ``--lines`` times (a WAV rendered once), so all N talk at the
same time after the greeting. Per step: P2's figure (``v2v_caller_s - vad_stop_s``)
p50/p95, replies missing, and playout gaps: silences of 40 ms or more inside the bot's
reply as the caller heard it (``bench/_bench.py`` ``playout_gaps``; the instant voice is a
tone with no silence of its own, so any is audio that came late). A step passes with P2
p95 ≤ 100 ms, every turn answered and no gap; the result is the largest passing N. Once
a step is saturated (P2 p95 over 5 s or a quarter of the turns unanswered) the larger
steps are not run unless ``--all-steps``.

(b) ``--offline-calls`` calls of the ``bench/scenarios`` speech at once on the
``offline`` providers (one warm model pool; one warm-up call first, not counted):
``v2v_caller_s`` p50/p90/p95.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from _bench import (
    WARM_UP_ID,
    Headline,
    Summary,
    add_output_args,
    emit,
    loadavg,
    measured,
    play,
    playout_gaps,
    summary_table,
    turn_counts,
)
from _speech import bench_scenarios
from soak import LINE

from voicelab.bot.models import ModelPool
from voicelab.config import load_settings
from voicelab.network import LabModels, LocalNetwork
from voicelab.simulator.scenario import Scenario, ScenarioTurn
from voicelab.simulator.voices import PHONE_RATE, CallerVoice

P2_LIMIT_S = 0.100
SATURATED_S = 5.0
WARM_UP = Scenario(id=WARM_UP_ID, turns=[ScenarioTurn(say="Hello, I have some feedback.")])


def line_scenario(workdir: Path, lines: int) -> Scenario:
    """Soak's line, ``lines`` times, from one WAV rendered once."""
    wav = workdir / "line.wav"
    if not wav.exists():
        sf.write(wav, CallerVoice().speak(LINE).astype(np.float32), PHONE_RATE)
    return Scenario(
        id="p3_line",
        description="soak's caller line",
        turns=[ScenarioTurn(wav=wav.name, text=LINE) for _ in range(lines)],
        path=workdir / "p3_line.yaml",
    )


async def step(workdir: Path, n: int, scenario: Scenario, warm_up: bool) -> dict:
    recordings = workdir / f"a-{n:03d}"
    settings = load_settings(
        providers="instant", recordings_dir=recordings, log_dir=workdir / "logs", max_calls=1000
    )
    async with LocalNetwork(settings) as network:
        if warm_up:
            await play(network, [WARM_UP], label="warm-up")
        started = time.perf_counter()
        calls = await play(network, [scenario] * n, at_once=n, label=f"{n} at once")
        seconds = time.perf_counter() - started
    turns, dirs = measured(recordings)
    gaps = [playout_gaps(d) for d in dirs]
    overhead = Summary.of(turns["v2v_caller_s"] - turns["vad_stop_s"])
    expected = n * len(scenario.turns)
    unanswered = max(0, expected - int(turns["v2v_caller_s"].notna().sum()))
    flat = [seconds for call in gaps for _, seconds in call]
    in_greetings = sum(turn == 0 for call in gaps for turn, _ in call)
    return {
        "n": n,
        "seconds": seconds,
        "completed": sum(c.status == "completed" for c in calls),
        "overhead": overhead,
        "v2v": Summary.of(turns["v2v_caller_s"]),
        "turns": expected,
        "unanswered": unanswered,
        "calls_with_gaps": sum(bool(g) for g in gaps),
        "gaps": len(flat),
        "greeting_gaps": in_greetings,
        "max_gap": max(flat) if flat else 0.0,
    }


def passes(result: dict) -> bool:
    o = result["overhead"]
    return (
        o.n > 0
        and o.p95 <= P2_LIMIT_S
        and result["unanswered"] == 0
        and result["gaps"] == 0
        and result["completed"] == result["n"]
    )


def saturated(result: dict) -> bool:
    o = result["overhead"]
    return o.n == 0 or o.p95 > SATURATED_S or result["unanswered"] > result["turns"] / 4


async def part_a(workdir: Path, steps: list[int], lines: int, all_steps: bool) -> list[dict]:
    scenario = line_scenario(workdir, lines)
    results = []
    for index, n in enumerate(steps):
        result = await step(workdir, n, scenario, warm_up=index == 0)
        results.append(result)
        print(f"step {n}: {'pass' if passes(result) else 'FAIL'}", flush=True)
        if saturated(result) and not all_steps:
            break
    return results


def section_a(results: list[dict], steps: list[int], lines: int, load: str) -> str:
    best = max((r["n"] for r in results if passes(r)), default=0)
    lines_md = [
        f"#### P3 (a): simultaneous calls, instant providers, real Silero: **{best} calls** "
        "hold P2 ≤ 100 ms p95 with no playout gap",
        "",
        f"`bench/p3_concurrency.py --part a`: N calls at once, each saying soak's line "
        f"{lines} times after the greeting. P2 = `v2v_caller_s − vad_stop_s`, ms. Gap: "
        f"≥ 40 ms of silence inside a heard reply. Load average before {load}, after "
        f"{loadavg()}. Goal: ≥ 64.",
        "",
        "| calls at once | wall s | completed | turns unanswered | P2 p50 | P2 p95 | P2 min–max "
        "| v2v p50 | v2v p95 | calls with gaps | gaps (in greetings) | longest gap ms | pass |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| --- |",
    ]
    for r in results:
        p50, p95, span, _ = r["overhead"].cells()
        v50, v95, _, _ = r["v2v"].cells()
        lines_md.append(
            f"| {r['n']} | {r['seconds']:.0f} | {r['completed']}/{r['n']} | "
            f"{r['unanswered']}/{r['turns']} | {p50} | {p95} | {span} | {v50} | {v95} | "
            f"{r['calls_with_gaps']} | {r['gaps']} ({r['greeting_gaps']}) | "
            f"{r['max_gap'] * 1000:.0f} | "
            f"{'yes' if passes(r) else 'no'} |"
        )
    skipped = [n for n in steps if n not in {r["n"] for r in results}]
    if skipped:
        lines_md += ["", f"Not run (an earlier step was saturated): {skipped}."]
    return "\n".join(lines_md) + "\n"


async def part_b(
    workdir: Path, calls: int, contexts: int = 1, threads: int = 2
) -> tuple[float, Path]:
    recordings = workdir / f"b-offline-{contexts}x{threads}"
    settings = load_settings(
        providers="offline", recordings_dir=recordings, log_dir=workdir / "logs", max_calls=1000
    )
    scenarios = bench_scenarios(workdir / "audio")
    models = LabModels(bot=ModelPool(llm_contexts=contexts, llm_threads=threads))
    async with LocalNetwork(settings, models=models) as network:
        await play(network, [WARM_UP], label="warm-up")
        started = time.perf_counter()
        chosen = [scenarios[i % len(scenarios)] for i in range(calls)]
        await play(network, chosen, at_once=calls, label=f"{calls} offline")
    return time.perf_counter() - started, recordings


def section_b(
    seconds: float, recordings: Path, calls: int, load: str, contexts: int, threads: int
) -> str:
    turns, dirs = measured(recordings)
    v2v = Summary.of(turns["v2v_caller_s"])
    caller_turns, unanswered, split = turn_counts(turns)
    rows = [("`v2v_caller_s`", v2v), ("`stt_s`", Summary.of(turns["stt_s"]))]
    rows += [("`llm_ttft_s`", Summary.of(turns["llm_ttft_s"]))]
    return (
        f"#### P3 (b): {calls} offline calls at once: **p90 {v2v.p90 * 1000:,.0f} ms**\n\n"
        f"`bench/p3_concurrency.py --part b`: {len(dirs)} calls of the `bench/scenarios` "
        f"speech at once, offline providers, one model pool with {contexts} SmolLM2 "
        f"context(s) of {threads} thread(s) ({seconds:.0f} s). {unanswered} "
        f"of {caller_turns} caller turns had no reply heard; {split} extra server turns (a "
        f"pause taken for a turn's end). Load average before {load}, after "
        f"{loadavg()}. Goal: p90 ≤ 1,500 ms.\n\n" + summary_table(rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="8,16,32,48,64", help="calls at once, per step")
    parser.add_argument("--lines", type=int, default=2, help="caller lines per call in (a)")
    parser.add_argument("--all-steps", action="store_true", help="go on past saturation")
    parser.add_argument("--offline-calls", type=int, default=6, help="calls at once in (b)")
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument(
        "--llm-contexts", type=int, default=1, help="SmolLM2 contexts in (b) (ModelPool)"
    )
    parser.add_argument("--llm-threads", type=int, default=2, help="threads per context in (b)")
    parser.add_argument("--workdir", type=Path, help="keep the recordings here")
    add_output_args(parser)
    args = parser.parse_args()
    try:
        steps = [int(s) for s in args.steps.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--steps takes numbers separated by commas, got {args.steps!r}")
    counts = (args.lines, args.offline_calls, args.llm_contexts, args.llm_threads)
    if not steps or min(steps) < 1 or min(counts) < 1:
        parser.error("--steps, --lines, --offline-calls and the LLM counts must be positive")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="voicelab-p3-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sections = []
    headline: list[Headline] = []
    if args.part in ("a", "both"):
        load = loadavg()
        results = asyncio.run(part_a(workdir, steps, args.lines, args.all_steps))
        sections.append(section_a(results, steps, args.lines, load))
        best = max((r["n"] for r in results if passes(r)), default=0)
        headline.append(
            (
                "P3a most instant calls at once with P2 ≤ 100 ms p95, no gap",
                f"{best} (steps {','.join(str(r['n']) for r in results)})",
                "≥ 64",
            )
        )
    if args.part in ("b", "both"):
        load = loadavg()
        contexts, threads = args.llm_contexts, args.llm_threads
        seconds, recordings = asyncio.run(part_b(workdir, args.offline_calls, contexts, threads))
        sections.append(section_b(seconds, recordings, args.offline_calls, load, contexts, threads))
        turns, _ = measured(recordings)
        v2v = Summary.of(turns["v2v_caller_s"])
        headline.append(
            (
                f"P3b {args.offline_calls} offline calls at once, v2v p90"
                f" ({contexts} LLM context(s) x {threads} thread(s))",
                f"{v2v.p90 * 1000:,.0f} ms (n {v2v.n})",
                "≤ 1,500 ms (6 calls)",
            )
        )
    emit(args, "\n".join(sections), headline)
    print(f"recordings: {workdir}")


if __name__ == "__main__":
    main()
