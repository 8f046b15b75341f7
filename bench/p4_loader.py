"""P4: a million events into ``events_df``, ``turns_df`` and ``calls_df``, cold and warm.

    .venv/bin/python bench/p4_loader.py [--calls 10000] [--markdown FILE] [--append]

Writes the synthetic recordings tree of ``bench/bench_loader.py`` (``tests/synthetic_tree.py``:
``--calls`` simulated calls, 6 exchanges each, about 106 events a call, no audio), then
reads it in fresh Python processes:

1. cold: a new process, no parquet cache yet: ``events_df``, then ``turns_df``, then
   ``calls_df`` (the first builds every table in one pass and writes the cache);
2. warm: the same three again in that process (the second read);
3. warm, fresh process: a new process reading the cache on disk.

The files were just written, so the OS page cache holds them in every case (dropping it
needs root); "cold" is voicelab's cold path: parse, build, write the cache. Imports are
timed apart. ``bench/bench_loader.py`` has the incremental and cache-off figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _bench import Headline, add_output_args, emit, loadavg

TABLES = ("events_df", "turns_df", "calls_df")


def child(root: Path) -> None:
    """In a fresh process: time the import, then two rounds of the three loaders (JSON out)."""
    start = time.perf_counter()
    import voicelab.analysis as analysis

    out: dict[str, object] = {"import_s": time.perf_counter() - start}
    for round_ in ("first", "second"):
        for name in TABLES:
            start = time.perf_counter()
            frame = getattr(analysis, name)(root)
            out[f"{round_}_{name}_s"] = time.perf_counter() - start
            out[f"{name}_rows"] = len(frame)
    print(json.dumps(out))


def read_in_fresh_process(root: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def section(calls: int, events: int, gen_s: float, cold: dict, fresh: dict, load: str) -> str:
    def total(r: dict, round_: str) -> float:
        return sum(r[f"{round_}_{n}_s"] for n in TABLES)

    rows = [
        ("cold: first read, fresh process, no cache", cold, "first"),
        ("warm: second read, same process", cold, "second"),
        ("warm: fresh process, cache on disk", fresh, "first"),
    ]
    lines = [
        f"#### P4: {events:,} events → the three DataFrames",
        "",
        f"`bench/p4_loader.py`: {calls:,} synthetic calls ({events:,} events, written in "
        f"{gen_s:.0f} s); rows: events {cold['events_df_rows']:,}, turns "
        f"{cold['turns_df_rows']:,}, calls {cold['calls_df_rows']:,}. Import of "
        f"`voicelab.analysis` {cold['import_s']:.2f} s (not counted). Load average before "
        f"{load}, after {loadavg()}. Goal: cold ≤ 3 s, warm ≤ 0.5 s (all three).",
        "",
        "| read | `events_df` s | `turns_df` s | `calls_df` s | all three s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, r, round_ in rows:
        cells = " | ".join(f"{r[f'{round_}_{n}_s']:.2f}" for n in TABLES)
        lines.append(f"| {label} | {cells} | **{total(r, round_):.2f}** |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="10,000: ~1,060,000 events")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    add_output_args(parser)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    from synthetic_tree import write_synthetic_tree

    load = loadavg()
    with tempfile.TemporaryDirectory(prefix="voicelab-p4-") as tmp:
        root = Path(tmp) / "recordings"
        start = time.perf_counter()
        events = write_synthetic_tree(root, args.calls)
        gen_s = time.perf_counter() - start
        print(f"{events:,} events in {args.calls:,} calls written in {gen_s:.0f} s", flush=True)
        cold = read_in_fresh_process(root)
        fresh = read_in_fresh_process(root)

    def total(r: dict, round_: str) -> float:
        return sum(r[f"{round_}_{n}_s"] for n in TABLES)

    headline: list[Headline] = [
        (f"P4 cold, {events:,} events, all three", f"{total(cold, 'first'):.2f} s", "≤ 3 s"),
        ("P4 warm (second read), all three", f"{total(cold, 'second'):.2f} s", "≤ 0.5 s"),
    ]
    emit(args, section(args.calls, events, gen_s, cold, fresh, load), headline)


if __name__ == "__main__":
    main()
