"""`make bench`: P1-P5 of issue 10 in sequence, one dated section appended to RESULTS.md.

    .venv/bin/python bench/run_all.py [--quick] [--only p1,p4] [--no-append]

Each part runs as its own process (P4's cold read and P5's first turn need a fresh one),
with its own defaults, or with ``--quick`` the short versions that prove the harness
works in a few minutes (not figures to quote). A part that fails is reported in the
section with its exit code, and the others still run. The section starts with the
machine line (cores, CPU model, Python, pipecat, commit, date, load average) and gives
each part's wall time and the load average around it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _bench import BENCH, RESULTS, loadavg, machine_line

# (name, script, full arguments, --quick arguments)
PARTS = [
    ("p1", "p1_voice_to_voice.py", [], ["--turns", "4"]),
    ("p2", "p2_overhead.py", [], ["--turns", "4"]),
    ("p3", "p3_concurrency.py", [], ["--steps", "4,8", "--lines", "1", "--offline-calls", "2"]),
    ("p4", "p4_loader.py", [], ["--events", "50000", "--runs", "1"]),
    ("p5", "p5_first_turn.py", [], ["--calls", "2"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short versions of every part")
    parser.add_argument("--only", help="comma-separated parts to run (p1,...,p5)")
    parser.add_argument("--no-append", action="store_true", help="print, do not append")
    args = parser.parse_args()
    names = [p[0] for p in PARTS]
    chosen = names if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {names}")
    header = [
        f"## `make bench`{' --quick' if args.quick else ''}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        machine_line(),
        "",
    ]
    if args.quick:
        header += ["Quick run (`--quick`): proves the harness, too few values to quote.", ""]
    bodies: list[str] = []
    headlines: list[list[str]] = []
    timings: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="voicelab-bench-") as tmp:
        for name, script, full, quick in PARTS:
            if name not in chosen:
                continue
            markdown = Path(tmp) / f"{name}.md"
            command = [sys.executable, str(BENCH / script), *(quick if args.quick else full)]
            command += ["--markdown", str(markdown)]
            print(f"== {name}: {' '.join(command[1:])}", flush=True)
            before, t0 = loadavg(), time.perf_counter()
            code = subprocess.run(command, check=False).returncode
            seconds = time.perf_counter() - t0
            timings.append(
                f"{name} {seconds / 60:.1f} min (load average {before} → {loadavg()})"
                + ("" if code == 0 else f", **failed: exit {code}**")
            )
            if code == 0 and markdown.exists():
                bodies.append(markdown.read_text().strip())
                summary = markdown.with_suffix(".json")
                if summary.exists():
                    headlines += json.loads(summary.read_text())
            else:
                bodies.append(f"#### {name.upper()}: failed (exit {code}); see the run's output.")
    total = (time.perf_counter() - started) / 60
    header += [f"Parts: {'; '.join(timings)}; total {total:.1f} min.", ""]
    if headlines:
        header += ["| figure | measured | goal (issue 10) |", "| --- | --- | --- |"]
        header += [f"| {figure} | {value} | {goal} |" for figure, value, goal in headlines]
        header.append("")
    section = "\n".join(header) + "\n" + "\n\n".join(bodies) + "\n"
    print("\n" + section)
    if not args.no_append:
        with RESULTS.open("a") as results:
            results.write("\n" + section)
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
