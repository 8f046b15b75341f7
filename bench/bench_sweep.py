"""Sweep throughput on Ray with 1 and 2 workers per variant, and what a call record costs.

The sweep is the tests' (tests/sweep_helpers.py): one short scripted line, two variants
(``vad_stop_secs`` 0.2 / 0.8), instant providers (no models: the pipeline's own cost, real
Silero VAD, real server, carrier and media websocket), ``--repeats`` calls per variant.

Measured, each on a fresh store:
  * in-process (no Ray), ``--concurrency`` calls at once: the CPU seconds one call costs
    (this process's rusage: server + carrier + caller all live here);
  * on a local Ray cluster (2 CPUs, as ``--ray local`` starts one here), 1 and then 2 workers
    per variant, ``--concurrency`` calls per worker: calls per minute over the sweep's wall
    time (workers' start included) and over the calls' own span (first start to last end);
  * bytes per call record (the call directory, what a worker sends back or writes to a
    shared store).

    nice -n 10 .venv/bin/python bench/bench_sweep.py --repeats 8 --append

Prints a Markdown section; ``--append`` adds it to bench/RESULTS.md. No test asserts a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' sweep and short-greeting personas
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from sweep_helpers import write_sweep  # noqa: E402

from voicelab.analysis import calls_df  # noqa: E402
from voicelab.sweeps import sweep  # noqa: E402


def _quiet() -> None:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")


def _record_bytes(store: Path) -> tuple[float, int]:
    calls = calls_df(store, cache=False)
    sizes = [
        sum(f.stat().st_size for f in Path(d).iterdir() if f.is_file()) for d in calls["call_dir"]
    ]
    return (sum(sizes) / len(sizes) if sizes else float("nan")), len(sizes)


def _span_minutes(store: Path) -> float:
    calls = calls_df(store, cache=False)
    return float((calls["ended_at"].max() - calls["started_at"].min()).total_seconds() / 60)


def run(repeats: int, concurrency: int) -> dict[str, object]:
    _quiet()
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    path = write_sweep(work / "sweep", repeats=repeats)
    figures: dict[str, object] = {"cells": 2 * repeats, "concurrency": concurrency}

    store = work / "local"
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    local = sweep(path, store=store, concurrency=concurrency, progress=False)
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    n = len(local.outcomes)
    figures["local"] = {
        "failed": len(local.failures),
        "wall_s": wall,
        "per_min": n / wall * 60,
        "span_per_min": n / _span_minutes(store),
        "cpu_s_per_call": cpu / n,
        "call_s": sum(o.seconds for o in local.outcomes) / n,
    }
    figures["bytes_per_call"], _ = _record_bytes(store)

    from voicelab.sweeps._ray import LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(num_cpus=2).start()
    figures["ray_init_s"] = time.perf_counter() - started
    try:
        for workers in (1, 2):
            store = work / f"ray-{workers}"
            started = time.perf_counter()
            result = sweep(
                path,
                store=store,
                ray="local",
                workers=workers,
                concurrency=concurrency,
                progress=False,
            )
            wall = time.perf_counter() - started
            n = len(result.outcomes)
            figures[f"ray{workers}"] = {
                "failed": len(result.failures),
                "retried": len(result.retried),
                "wall_s": wall,
                "per_min": n / wall * 60,
                "span_per_min": n / _span_minutes(store),
            }
    finally:
        cluster.stop()
    return figures


def section(f: dict[str, object], repeats: int) -> str:
    local, r1, r2 = f["local"], f["ray1"], f["ray2"]
    assert isinstance(local, dict) and isinstance(r1, dict) and isinstance(r2, dict)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    conc = f["concurrency"]
    per_call_bytes = float(f["bytes_per_call"])  # type: ignore[arg-type]
    rows = [
        "| run | calls in flight | failed / retried | wall (s) | calls/min (wall) |"
        " calls/min (calls' span) |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| in-process, no Ray | {conc} | {local['failed']} / - | {local['wall_s']:.1f} |"
        f" {local['per_min']:.1f} | {local['span_per_min']:.1f} |",
        f"| Ray, 1 worker per variant (2 actors) | {2 * conc} | {r1['failed']} / {r1['retried']} |"
        f" {r1['wall_s']:.1f} | {r1['per_min']:.1f} | {r1['span_per_min']:.1f} |",
        f"| Ray, 2 workers per variant (4 actors) | {4 * conc} | {r2['failed']} / {r2['retried']} |"
        f" {r2['wall_s']:.1f} | {r2['per_min']:.1f} | {r2['span_per_min']:.1f} |",
    ]
    return "\n".join(
        [
            "",
            "## Sweeps on Ray (issue 11)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `bench/bench_sweep.py --repeats {repeats}`,"
            f" {os.cpu_count()} cores ({cpu}), run with `nice -n 10` on a machine shared with other"
            f" engineers' work (load average at the end: {load}), so the figures are a floor.",
            f"The sweep: {f['cells']} calls (2 variants × 1 scenario × {repeats} repeats; one"
            " short scripted line, instant providers: real server, carrier, websocket and Silero"
            f" VAD, no models), {conc} calls at once per worker, a local Ray cluster of 2 CPUs"
            f" (starting it took {float(f['ray_init_s']):.1f} s, once).",  # type: ignore[arg-type]
            "",
            *rows,
            "",
            f"- One call of this sweep lasts {local['call_s']:.1f} s of wall time and costs"
            f" {local['cpu_s_per_call']:.2f} s of CPU (server + carrier + caller, one process).",
            f"- A call record (call.json, events.jsonl, server and caller WAVs) is"
            f" {per_call_bytes / 1024:.0f} KiB; that is what a worker writes to a shared store or"
            " sends back through Ray's object store.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=8, help="calls per variant")
    parser.add_argument("--concurrency", type=int, default=2, help="calls at once per worker")
    parser.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    figures = run(args.repeats, args.concurrency)
    text = section(figures, args.repeats)
    print(text)
    print(figures, file=sys.stderr)
    if args.append:
        with open(ROOT / "bench" / "RESULTS.md", "a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
