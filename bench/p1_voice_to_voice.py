"""P1: caller-side voice-to-voice on the offline stack, beside a stock Pipecat baseline.

    .venv/bin/python bench/p1_voice_to_voice.py [--turns 24] [--no-baseline]
        [--baseline-url http://127.0.0.1:8765] [--llm offline|scripted]
        [--markdown FILE] [--append]

``--llm scripted`` puts voicelab's scripted LLM on both sides (voicelab's ``scripted``
providers, the baseline's ``--llm scripted``): the ratio then measures the pipelines,
not SmolLM2 in-process against SmolLM2 behind llama.cpp's HTTP server.

Plays the benchmark scenarios (``bench/scenarios/*.yaml``: varied speakers and lines,
pauses inside sentences; see ``bench/_speech.py``) through voicelab's carrier emulator
to two bots, alternating call by call (the order swaps every round, so neither stack
always follows the other):

- voicelab: the reference agent on the ``offline`` providers, its server in this
  process (``LocalNetwork``);
- baseline: ``bench/baseline_bot.py``, a plain Pipecat Twilio bot with stock settings
  and the same models, as its own process on its own port (started here unless
  ``--baseline-url`` names a running one), called in black-box mode
  (``LocalNetwork(server_url=...)``).

Each stack gets ``--turns`` caller turns (whole calls, so a few more), after one
warm-up call each that is not counted. The figure is ``v2v_caller_s`` (what the caller
hears: the end of its speech to the first audible reply, after playout). Also counted:
turns the bot never answered and turns it cut into (bot audio while the caller was still
speaking: a pause taken for the end of the turn).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from _bench import (
    BENCH,
    WARM_UP_ID,
    Headline,
    Summary,
    add_output_args,
    cut_ins,
    emit,
    loadavg,
    measured,
    summary_table,
    turn_counts,
)
from _speech import PAUSE_S, bench_scenarios, spoken_turns

from voicelab.analysis import BREAKDOWN, turn_wer
from voicelab.config import load_settings
from voicelab.network import LocalNetwork
from voicelab.simulator.scenario import Scenario, ScenarioTurn
from voicelab.simulator.simulator import SimulatedCall

WARM_UP = Scenario(
    id=WARM_UP_ID,
    description="one short line, to warm a stack before it is measured",
    turns=[ScenarioTurn(say="Hi, I have a quick question about lunch.")],
)


# --llm: what both stacks answer with (the rest is the offline stack's: Whisper, Hibari).
STACKS = {
    "offline": "offline stack",
    "scripted": "offline STT/TTS, scripted LLM on both sides",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_baseline(
    log_path: Path, llm: str, timeout_s: float = 180.0
) -> tuple[subprocess.Popen[bytes], str]:
    """``bench/baseline_bot.py`` in its own process group, answering ``/health``."""
    port = free_port()
    log = log_path.open("wb")
    baseline_llm = "scripted" if llm == "scripted" else "llama"
    process = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "baseline_bot.py"),
            "--port",
            str(port),
            "--llm",
            baseline_llm,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"baseline_bot exited with {process.returncode}; see {log.name}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                print(f"baseline at {url} (log {log.name})", flush=True)
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_baseline(process)
    raise SystemExit(f"baseline_bot did not answer in {timeout_s:.0f} s; see {log.name}")


def stop_baseline(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the baseline's process group (it and its llama.cpp server)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def plan(scenarios: list[Scenario], turns: int) -> list[Scenario]:
    """Scenarios in turn, round-robin, until they hold at least ``turns`` caller turns."""
    calls: list[Scenario] = []
    while sum(spoken_turns(s) for s in calls) < turns:
        calls.append(scenarios[len(calls) % len(scenarios)])
    return calls


def report(call: SimulatedCall, stack: str) -> None:
    print(f"  {stack:8} {call.scenario_id:22} {call.status} {call.seconds:5.1f} s", flush=True)


async def run(args: argparse.Namespace, workdir: Path, baseline_url: str | None) -> dict:
    scenarios = plan(bench_scenarios(workdir / "audio"), args.turns)
    voicelab = load_settings(
        providers=args.llm, recordings_dir=workdir / "voicelab", log_dir=workdir / "logs"
    )
    stacks: dict[str, LocalNetwork] = {"voicelab": LocalNetwork(voicelab)}
    if baseline_url:
        # The stock bot has no status-callback route: send it none.
        stacks["baseline"] = LocalNetwork(
            load_settings(recordings_dir=workdir / "baseline", log_dir=workdir / "logs"),
            server_url=baseline_url,
            status_callback_path=None,
        )
    started = time.perf_counter()
    try:
        for network in stacks.values():
            await network.start()
        if not args.no_warm_up:
            for name, network in stacks.items():
                report(await network.simulate(WARM_UP), f"{name}*")
        order = list(stacks)
        for index, scenario in enumerate(scenarios):
            for name in order if index % 2 == 0 else order[::-1]:
                report(await stacks[name].simulate(scenario), name)
    finally:
        for network in stacks.values():
            await network.stop()
    return {"seconds": time.perf_counter() - started, "calls": len(scenarios)}


def llm_errors(log: Path) -> int:
    """LLM requests the baseline's log shows failing (e.g. llama.cpp's server refusing
    pipecat's ``developer`` message after an empty user turn)."""
    if not log.exists():
        return 0
    return sum(
        "OpenAILLMService" in line and "exception" in line
        for line in log.read_text(errors="replace").splitlines()
    )


def wer_note(turns: pd.DataFrame) -> str:
    """voicelab's STT word error rate over the caller turns (``turn_wer``: all errors over all
    reference words; a turn split at a pause scores what reached the turn it was answered in)."""
    scored = turn_wer(turns)
    if scored.empty:
        return "voicelab STT WER: no scored turns"
    errors = scored[["substitutions", "deletions", "insertions"]].sum().sum()
    words = scored["ref_words"].sum()
    return (
        f"voicelab STT WER over {len(scored)} turns: {errors / words:.1%} ({errors}/{words} words)"
    )


def summarize(
    workdir: Path, names: list[str], run_info: dict, load_before: str, llm: str = "offline"
) -> tuple[str, list[Headline]]:
    rows: list[tuple[str, Summary]] = []
    notes: list[str] = []
    by_stack: dict[str, Summary] = {}
    breakdown_rows: list[tuple[str, Summary]] = []
    for name in names:
        turns, dirs = measured(workdir / name)
        v2v = Summary.of(turns["v2v_caller_s"])
        by_stack[name] = v2v
        rows.append((f"{name} `v2v_caller_s`", v2v))
        caller_turns, unanswered, split = turn_counts(turns)
        cut = sum(cut_ins(d) for d in dirs)
        errors = llm_errors(workdir / "baseline.log") if name == "baseline" else 0
        notes.append(
            f"{name}: {len(dirs)} calls, {caller_turns} caller turns, {unanswered} with no "
            f"reply heard after the caller finished, {cut} cut into (bot audio while the "
            f"caller was still speaking), {split} extra server turns (a pause taken for a "
            "turn's end; black-box: unknown)"
            + (f"; {errors} LLM requests failed (see `bench/baseline_bot.py`)" if errors else "")
        )
        if name == "voicelab":
            breakdown_rows = [(f"voicelab `{c}`", Summary.of(turns[c])) for c in BREAKDOWN]
            notes.append(wer_note(turns))
    lines = [
        f"#### P1: voice-to-voice, {STACKS[llm]}"
        + (" vs a stock Pipecat bot " if "baseline" in names else " (no baseline) ")
        + f"({run_info['calls']} calls per stack, {run_info['seconds']:.0f} s)",
        "",
        "`bench/p1_voice_to_voice.py`: the `bench/scenarios` speech (pauses of "
        f"{PAUSE_S} s inside sentences), alternating call by call; caller-side, seconds "
        f"shown in ms. Load average before {load_before}, after {loadavg()}.",
        "",
        summary_table(rows + breakdown_rows),
        "",
    ]
    lines += [f"- {note}" for note in notes]
    v = by_stack["voicelab"]
    headline: list[Headline] = [
        (
            f"P1 voicelab {llm} v2v p50 / p95",
            f"{ms(v.p50)} / {ms(v.p95)} ms (n {v.n})",
            "≤ 700 / ≤ 1,000 ms",
        ),
    ]
    if "baseline" in by_stack:
        b = by_stack["baseline"]
        headline += [
            ("P1 stock baseline v2v p50 / p95", f"{ms(b.p50)} / {ms(b.p95)} ms (n {b.n})", ""),
            ("P1 ratio voicelab / baseline, p50", f"{v.p50 / b.p50:.2f}", "≤ 0.5"),
        ]
        lines.append(
            f"- **ratio voicelab / baseline: p50 {v.p50 / b.p50:.2f}, p95 {v.p95 / b.p95:.2f}** "
            "(goal: P1 p50 ≤ 700 ms, p95 ≤ 1,000 ms, ratio ≤ 0.5)"
        )
    return "\n".join(lines) + "\n", headline


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=24, help="caller turns per stack (min)")
    parser.add_argument("--no-baseline", action="store_true", help="voicelab only")
    parser.add_argument("--baseline-url", help="a running bench/baseline_bot.py")
    parser.add_argument("--no-warm-up", action="store_true", help="count the first call too")
    parser.add_argument("--workdir", type=Path, help="keep the recordings here")
    parser.add_argument(
        "--llm",
        choices=tuple(STACKS),
        default="offline",
        help="offline: SmolLM2 (the baseline's behind llama_cpp.server); scripted: voicelab's"
        " scripted LLM on both sides, so the ratio leaves the LLM out",
    )
    add_output_args(parser)
    args = parser.parse_args()
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="voicelab-p1-"))
    load_before = loadavg()
    baseline = None
    url = args.baseline_url
    if not args.no_baseline and url is None:
        workdir.mkdir(parents=True, exist_ok=True)
        baseline, url = start_baseline(workdir / "baseline.log", args.llm)
    try:
        info = asyncio.run(run(args, workdir, None if args.no_baseline else url))
    finally:
        if baseline is not None:
            stop_baseline(baseline)
    names = ["voicelab"] if args.no_baseline else ["voicelab", "baseline"]
    emit(args, *summarize(workdir, names, info, load_before, args.llm))
    print(f"recordings: {workdir}")


if __name__ == "__main__":
    main()
