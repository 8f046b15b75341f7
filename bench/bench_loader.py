"""Benchmark of the call-record loaders (issue 4): cold and warm loads of a synthetic tree.

    python bench/bench_loader.py                  # 10,000 calls, about 1,060,000 events
    python bench/bench_loader.py --calls 500      # a quick look

Writes a synthetic recordings tree into a temporary directory (no audio), then times:
a cold ``events_df`` (parse every ``events.jsonl``, build all tables, write the parquet
cache), the warm loads of each table, an incremental reload after one call changed, and
a load with the cache off. Prints a markdown table for ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicelab.analysis import calls_df, events_df, turns_df

# The synthetic tree writer is test scaffolding (tests/synthetic_tree.py), not the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic_tree import write_synthetic_tree


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=6, help="exchanges per call (16 events each)")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs; the best is reported")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="voicelab-bench-") as tmp:
        root = Path(tmp) / "recordings"
        gen_s, n_events = _timed(lambda: write_synthetic_tree(root, args.calls, args.turns))
        rows: list[tuple[str, float, str]] = []

        cold, events = _timed(lambda: events_df(root))
        rows.append(
            (
                "cold `events_df` (parse JSONL, build + cache all tables)",
                cold,
                f"{len(events):,} rows",
            )
        )
        for name, fn in (
            ("warm `events_df`", lambda: events_df(root)),
            ("warm `calls_df`", lambda: calls_df(root)),
            ("warm `turns_df`", lambda: turns_df(root)),
            ("warm all three", lambda: (events_df(root), calls_df(root), turns_df(root))),
        ):
            seconds, result = _timed(fn, args.repeat)
            size = (
                f"{len(result):,} rows"
                if hasattr(result, "__len__") and not isinstance(result, tuple)
                else ""
            )
            rows.append((name, seconds, size))

        changed = sorted(root.iterdir())[args.calls // 2] / "events.jsonl"
        with changed.open("a") as handle:  # one call grows by one line
            handle.write(changed.read_text().splitlines()[-1] + "\n")
        seconds, _ = _timed(lambda: events_df(root))
        rows.append(("`events_df` after 1 call changed (incremental)", seconds, ""))
        seconds, result = _timed(lambda: events_df(root, cache=False))
        rows.append(
            ("`events_df(cache=False)` (parse only, no cache)", seconds, f"{len(result):,} rows")
        )

    print(
        f"{args.calls:,} calls, {n_events:,} events (generated in {gen_s:.1f} s); "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| load | seconds | |\n| --- | ---: | --- |")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.2f} | {note} |")


if __name__ == "__main__":
    main()
