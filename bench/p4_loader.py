"""P4: a million events into ``events_df``, ``turns_df`` and ``calls_df``, beside the Arrow floor.

    .venv/bin/python bench/p4_loader.py [--events 1000000] [--tree fixture] [--runs 3]
                                        [--markdown FILE] [--append]

Writes a recordings tree of about ``--events`` events in a temporary directory, no audio:
``--tree fixture`` clones the first recorded call of ``tests/fixtures/calls`` (45 events, a
fresh CallSid per copy: about 22,000 call directories for a million events), ``--tree
synthetic`` is ``tests/synthetic_tree.py``'s generated calls (106 events each). Then, each
measurement in a fresh Python process (imports timed apart), ``--runs`` times:

1. floor: read every ``events.jsonl`` and parse the bytes with ``pyarrow.json.read_json``
   into pandas (no validation, no typed columns, no cache): what parsing costs at all;
2. cold ``events_df``: no parquet cache (it is removed first);
3. cold all three: ``events_df``, ``turns_df``, ``calls_df`` with no cache (the first builds
   every table in one pass and writes the cache), then the same three again in that process
   (warm, same process), then ``load_records`` (the three from one scan);
4. warm, fresh process: the three from the cache on disk.

The files were just written, so the OS page cache holds them in every case (dropping it
needs root). Figures are the median of the runs and their range; the load average is taken
before and after. Goal (issue 19): cold ≤ 2× the floor, warm ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This checkout's voicelab (not an installed one: a worktree measures its own code).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _bench import ROOT, Headline, add_output_args, emit, loadavg

TABLES = ("events_df", "turns_df", "calls_df")
FIXTURE = ROOT / "tests/fixtures/calls/20250301-101500_CAa1b2c3d4e5f60718293a4b5c6d7e8f90"
MODES = ("floor", "cold_events", "cold_all", "warm_fresh")


def write_fixture_tree(root: Path, events: int) -> tuple[int, int]:
    """Clone the fixture call until ``events`` events are written: ``(calls, events)``."""
    sid = FIXTURE.name.split("_", 1)[1]
    manifest = (FIXTURE / "call.json").read_text()
    lines = (FIXTURE / "events.jsonl").read_text()
    per_call = lines.count("\n")
    calls = -(-events // per_call)
    root.mkdir(parents=True)
    for i in range(calls):
        new = f"CA{i:032x}"
        directory = root / f"{FIXTURE.name.split('_', 1)[0]}_{new}"
        directory.mkdir()
        (directory / "call.json").write_text(manifest.replace(sid, new))
        (directory / "events.jsonl").write_text(lines.replace(sid, new))
    return calls, calls * per_call


def floor(root: Path) -> dict[str, float]:
    """Read the events bytes of every call and parse them with ``pyarrow.json`` into pandas."""
    import pyarrow as pa
    import pyarrow.json as pj

    start = time.perf_counter()
    files = sorted(p for p in root.glob("*/events.jsonl"))
    data = b"".join(p.read_bytes() for p in files)
    read = time.perf_counter()
    frame = pj.read_json(pa.BufferReader(data)).to_pandas()
    end = time.perf_counter()
    return {"floor_s": end - start, "floor_read_s": read - start, "floor_rows": len(frame)}


def child(mode: str, root: Path) -> None:
    """In a fresh process: time the import, then one measurement (JSON on stdout)."""
    start = time.perf_counter()
    import warnings

    import voicelab.analysis as analysis

    warnings.simplefilter("ignore")  # none expected; never let one cost the timing
    out: dict[str, object] = {"import_s": time.perf_counter() - start}
    cpu = time.process_time()  # of every thread of the process (pyarrow parses on several)
    if mode == "floor":
        out |= floor(root)
        out["floor_cpu_s"] = time.process_time() - cpu
    elif mode == "cold_events":
        shutil.rmtree(root / ".voicelab_cache", ignore_errors=True)
        start = time.perf_counter()
        out["events_rows"] = len(analysis.events_df(root))
        out["cold_events_s"] = time.perf_counter() - start
        out["cold_events_cpu_s"] = time.process_time() - cpu
    else:
        if mode == "cold_all":
            shutil.rmtree(root / ".voicelab_cache", ignore_errors=True)
        rounds = ("cold", "warm_same") if mode == "cold_all" else ("warm_fresh",)
        for round_ in rounds:
            total = 0.0
            for name in TABLES:
                start = time.perf_counter()
                frame = getattr(analysis, name)(root)
                seconds = time.perf_counter() - start
                out[f"{round_}_{name}_s"], out[f"{name}_rows"] = seconds, len(frame)
                total += seconds
            out[f"{round_}_s"] = total
            if round_ == "cold":
                out["cold_cpu_s"] = time.process_time() - cpu
        if mode == "cold_all":  # the three again, from one scan (load_records)
            start = time.perf_counter()
            analysis.load_records(root)
            out["warm_one_s"] = time.perf_counter() - start
    print(json.dumps(out))


def measure(mode: str, root: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def section(
    tree: str, calls: int, events: int, gen_s: float, runs: list[dict], loads: tuple[str, str]
) -> tuple[str, list[Headline]]:
    def values(key: str) -> list[float]:
        return [r[key] for r in runs if key in r]

    floor_s = statistics.median(values("floor_s"))
    cold_s = statistics.median(values("cold_s"))
    warm_s = statistics.median(values("warm_same_s"))
    first = runs[0]
    lines = [
        f"#### P4: {events:,} events → the three DataFrames, beside the Arrow floor",
        "",
        f"`bench/p4_loader.py --tree {tree}`: {calls:,} call directories ({events:,} events, "
        f"written in {gen_s:.0f} s); rows: events {first['events_df_rows']:,}, turns "
        f"{first['turns_df_rows']:,}, calls {first['calls_df_rows']:,}. Median of "
        f"{len(values('cold_s'))} fresh processes per row (range in brackets); import of "
        f"`voicelab.analysis` {statistics.median(values('import_s')):.2f} s (not counted). "
        f"Load average before {loads[0]}, after {loads[1]}. Goal (issue 19): cold ≤ 2× the "
        "floor, warm ≤ 0.5 s (all three).",
        "",
        "| read | `events_df` s | `turns_df` s | `calls_df` s | all s |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| floor: read the `events.jsonl` bytes, `pyarrow.json` → pandas (reading "
        f"{statistics.median(values('floor_read_s')):.2f} s) | | | | "
        f"**{_cell(values('floor_s'))}** |",
        f"| cold `events_df` alone, no cache | {_cell(values('cold_events_s'))} | | | |",
    ]
    for label, round_ in (
        ("cold: fresh process, no cache", "cold"),
        ("warm: second read, same process", "warm_same"),
        ("warm: fresh process, cache on disk", "warm_fresh"),
    ):
        cells = " | ".join(_cell(values(f"{round_}_{n}_s")) for n in TABLES)
        lines.append(f"| {label} | {cells} | **{_cell(values(f'{round_}_s'))}** |")
    if values("warm_one_s"):
        lines.append(
            "| warm: `load_records` (the three from one scan), same process | | | | "
            f"**{_cell(values('warm_one_s'))}** |"
        )
    ratios = [r["cold_s"] / r["floor_s"] for r in runs if "cold_s" in r and "floor_s" in r]
    lines += ["", f"Cold all three / floor: **{cold_s / floor_s:.2f}×** (each run's own: "]
    lines[-1] += ", ".join(f"{ratio:.2f}×" for ratio in ratios) + ")."
    if values("cold_cpu_s") and values("floor_cpu_s"):
        floor_cpu, cold_cpu = (statistics.median(values(k)) for k in ("floor_cpu_s", "cold_cpu_s"))
        lines[-1] += (
            f" CPU time (every thread of the process): floor {_cell(values('floor_cpu_s'))} s, "
            f"cold `events_df` alone {_cell(values('cold_events_cpu_s'))} s, cold all three "
            f"{_cell(values('cold_cpu_s'))} s ({cold_cpu / floor_cpu:.2f}× the floor's)."
        )
    headline: list[Headline] = [
        (f"P4 floor, {events:,} events (`pyarrow.json` → pandas)", f"{floor_s:.2f} s", ""),
        (
            "P4 cold, all three (× the floor)",
            f"{cold_s:.2f} s ({cold_s / floor_s:.2f}×)",
            "≤ 2× the floor",
        ),
        ("P4 warm (second read), all three", f"{warm_s:.2f} s", "≤ 0.5 s"),
    ]
    return "\n".join(lines) + "\n", headline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about this many events")
    parser.add_argument("--tree", choices=("fixture", "synthetic"), default="fixture")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per measurement")
    parser.add_argument("--keep", type=Path, help="write the tree here and keep it")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    add_output_args(parser)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    if args.events < 1 or args.runs < 1:
        parser.error("--events and --runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="voicelab-p4-") as tmp:
        root = args.keep or Path(tmp) / "recordings"
        start = time.perf_counter()
        if root.exists():
            calls = sum(1 for _ in root.glob("*/events.jsonl"))
            events = sum(p.read_bytes().count(b"\n") for p in root.glob("*/events.jsonl"))
        elif args.tree == "fixture":
            calls, events = write_fixture_tree(root, args.events)
        else:
            from synthetic_tree import write_synthetic_tree

            calls = -(-args.events // 106)
            events = write_synthetic_tree(root, calls)
        gen_s = time.perf_counter() - start
        print(f"{events:,} events in {calls:,} calls ready in {gen_s:.0f} s", flush=True)
        load = loadavg()
        runs = []
        for i in range(args.runs):
            run: dict = {}
            for mode in MODES:
                run |= measure(mode, root)
            print(f"run {i + 1}: {json.dumps(run)}", flush=True)
            runs.append(run)
        text, headline = section(args.tree, calls, events, gen_s, runs, (load, loadavg()))
    emit(args, text, headline)


if __name__ == "__main__":
    main()
