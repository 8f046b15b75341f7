"""``voicelab load`` at 50, 100 and 200 callers: the agent's figures and the generator's own.

    .venv/bin/python bench/bench_load.py [--steps 50,100,200] [--duration 30] [--ramp 10]
        [--workers 2] [--agent voicelab,stock,tone|both] [--before-tree DIR]
        [--markdown FILE] [--append]

Each agent runs in its own process on 127.0.0.1, started here and stopped after:
``voicelab`` is ``voicelab serve`` on the instant providers (no models; real Silero VAD,
pipeline, transport and recorder; ``VOICELAB_MAX_CALLS=1000``, signed webhooks), ``stock``
is ``bench/stock_instant_bot.py`` (stock pipecat's Twilio bot on the same instant services),
``tone`` is ``bench/tone_agent.py`` (a tone after each line, no pipeline: what the generator
holds when the agent costs little); ``--before-tree DIR`` adds ``voicelab-before``, the
server of another source tree (e.g. ``git archive`` of an older commit) for a before/after
in the same run. The agents all run from the start; each step plays them in turn. Per
step, :func:`voicelab.load.run_load` with the default line (Piper, 2.7 s): calls held,
lines answered, v2v p50/p95, underruns, errors, frame pacing jitter p50/p99/max, the
generator's CPU per caller-second and its workers' busiest second. Goal (issue 19): 200
callers with jitter p99 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from _bench import ROOT, add_output_args, emit, loadavg

from voicelab.load import LoadPlan, LoadReport, caller_line, run_load

ACCOUNT = "AC" + "b" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_agent(
    kind: str, workdir: Path, token: str, tree: Path = ROOT
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "1"}
    if kind.startswith("voicelab"):
        env |= {
            "VOICELAB_PROVIDERS": "instant",
            "VOICELAB_MAX_CALLS": "1000",
            "VOICELAB_RECORDINGS_DIR": str(workdir / "recordings"),
            "VOICELAB_LOG_DIR": str(workdir / "logs"),
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": token,
        }
        # run from `tree`: `python -m voicelab` imports that tree's package
        command = [sys.executable, "-m", "voicelab", "serve", "--port", str(port)]
    else:
        script = "stock_instant_bot.py" if kind == "stock" else "tone_agent.py"
        command = [sys.executable, str(ROOT / "bench" / script), "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=tree, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/docs" if kind == "tone" else f"{url}/health").is_success:
                return process, f"{url}/"
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"the {kind} agent exited with {process.returncode}")
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"the {kind} agent did not start")


def row(kind: str, report: LoadReport, before: str, after: str, agent_cpu_s: float) -> str:
    def ms(value: float | None, digits: int = 0) -> str:
        return "-" if value is None else f"{value * 1000:,.{digits}f}"

    errors = ", ".join(f"{k} {n}" for k, n in sorted(report.errors.items())) or "0"
    peak = ", ".join(f"{u.peak_share:.0%}" for u in report.usage)
    return (
        f"| {kind} | {report.calls} | {report.held} | {errors} | {report.answered}/{report.lines}"
        f" | {ms(report.v2v_p50_s)} / {ms(report.v2v_p95_s)}"
        f" | {report.underruns} ({report.calls_with_underruns})"
        f" | {ms(report.jitter_p50_s, 2)} / {ms(report.jitter_p99_s, 2)}"
        f" / {ms(report.jitter_max_s, 1)}"
        f" | {ms(report.loop_lag_p50_s, 2)} / {ms(report.loop_lag_p99_s, 2)}"
        f" | {report.cpu_ms_per_caller_s or 0:.1f} | {peak}"
        f" | {agent_cpu_s * 1000 / (report.calls * report.duration_s):.1f}"
        f" | {before} → {after} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="50,100,200")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--ramp", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--agent",
        default="both",
        help="voicelab, stock, tone, comma-separated; both: voicelab,tone",
    )
    parser.add_argument("--before-tree", type=Path, help="also the server of this source tree")
    parser.add_argument("--nice", type=int, help="the workers' priority (voicelab load --nice)")
    add_output_args(parser)
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    kinds = ["voicelab", "tone"] if args.agent == "both" else args.agent.split(",")
    if not set(kinds) <= {"voicelab", "stock", "tone"}:
        parser.error("--agent takes voicelab, stock and tone")
    trees = {kind: ROOT for kind in kinds}
    if args.before_tree is not None:
        trees["voicelab-before"] = args.before_tree.resolve()
    line = caller_line()
    token = secrets.token_hex(16)
    rows: list[str] = []
    with contextlib.ExitStack() as stack:
        agents: dict[str, tuple[str, psutil.Process]] = {}
        for kind, tree in trees.items():
            temporary = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vl-load-")))
            process, url = start_agent(kind, temporary, token, tree)
            agents[kind] = url, psutil.Process(process.pid)
            stack.callback(process.wait, timeout=60)
            stack.callback(process.terminate)
        for calls in steps:
            for kind, (url, agent) in agents.items():  # in turn, step by step: the same minutes
                plan = LoadPlan(
                    url=url,
                    calls=calls,
                    workers=min(args.workers, calls),
                    ramp_s=args.ramp,
                    duration_s=args.duration,
                    account_sid=ACCOUNT,
                    auth_token=token,
                    nice=args.nice,
                )
                before, cpu = loadavg(), sum(agent.cpu_times()[:2])
                report = run_load(plan, line)
                cpu = sum(agent.cpu_times()[:2]) - cpu  # the agent's, whole step
                print(f"\n{kind}, {calls} callers\n{report.to_text()}", flush=True)
                print(f"agent CPU {cpu:.1f} s", flush=True)
                rows.append(row(kind, report, before, loadavg(), cpu))
                time.sleep(5)  # let the agent end its calls before the next one plays
    section = "\n".join(
        [
            "### `voicelab load`: callers at once (issue 19)",
            "",
            f"`bench/bench_load.py --steps {args.steps} --duration {args.duration:g}"
            f" --ramp {args.ramp:g} --workers {args.workers} --agent {args.agent}"
            + (" --before-tree DIR" if args.before_tree is not None else "")
            + (f" --nice {args.nice}" if args.nice is not None else "")
            + "`: each step's callers start over "
            f"the ramp and hold {args.duration:g} s, saying a {line.seconds:.1f} s Piper line"
            " after each reply. Agents: `voicelab` = `voicelab serve` on the instant providers"
            " (its own process, same box); `stock` = `bench/stock_instant_bot.py` (stock pipecat's"
            " Twilio bot, same services); `voicelab-before` = the server of an older tree;"
            " `tone` = `bench/tone_agent.py` (a tone per line, no pipeline). v2v and jitter in"
            " ms; underruns: silences ≥ 40 ms inside a reply (calls"
            " with any); jitter: every frame's send time minus its deadline; loop lag: the same"
            " for a probe on each worker's clock that sends nothing (the generator's own"
            " lateness, apart from an agent's backpressure);"
            " CPU: the generator's ms of CPU per caller-second; peak: each worker's"
            " busiest second, share of a core; agent CPU: the agent process's CPU over the"
            " step (start, calls, hang-ups) per caller-second held: the figure a busy box"
            " disturbs least. Goal: 200 callers, jitter p99 ≤ 5 ms.",
            "",
            "| agent | callers | held | errors | answered/lines | v2v p50 / p95"
            " | underruns (calls) | jitter p50 / p99 / max | loop lag p50 / p99"
            " | CPU ms per caller-s"
            " | worker peak | agent CPU ms per caller-s | load average before → after |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    emit(args, section)


if __name__ == "__main__":
    main()
