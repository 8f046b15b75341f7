"""A good call's latency with the media-websocket fuzzer running beside it, vs alone.

    .venv/bin/python bench/bench_fuzz_neighbour.py [--calls 4] [--providers instant]
                                                   [--results bench/RESULTS.md]

Everything runs in this process on 127.0.0.1 (``LocalNetwork``: the real server and
carrier). First ``--calls`` good simulated calls (``evals/scenarios/cold_food.yaml``, two
turns) run one after another alone; then the same number again while a thread plays
hypothesis-generated hostile sessions (``tests/fuzz/media_fuzzer.py``: raw garbage, forged
starts, authentic calls that flood or send junk) back to back. Reported: caller-side
voice-to-voice per turn (p50 / p90 / max) in both phases, the hostile sessions played and
how the server closed them. Figures only, nothing asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from media_fuzzer import (  # noqa: E402
    KINDS,
    BackgroundNetwork,
    FuzzSession,
    Outcome,
    play_session,
    sessions,
)

from voicelab.config import Settings  # noqa: E402
from voicelab.simulator.scenario import load_scenario  # noqa: E402


def good_calls(net: BackgroundNetwork, count: int) -> list[float]:
    """Voice-to-voice of every answered turn of ``count`` good calls, one after another."""
    scenario = load_scenario(ROOT / "evals/scenarios/cold_food.yaml")
    latencies: list[float] = []
    for _ in range(count):
        call = net.submit(net.network.simulate(scenario)).result(300)
        if call.caller is None:
            print(f"  call failed: {call.error or call.status}")
            continue
        v2v = call.caller.v2v()
        latencies.extend(v2v[turn] for turn in sorted(v2v) if turn > 0)
    return latencies


def fuzz_until(
    net: BackgroundNetwork, stop: threading.Event, outcomes: list[Outcome], kinds: tuple[str, ...]
) -> None:
    """Play hostile sessions of ``kinds`` back to back until ``stop`` is set."""

    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(session=sessions(kinds=kinds))
    def batch(session: FuzzSession) -> None:
        if not stop.is_set():
            outcomes.append(asyncio.run(play_session(session, net.server_url, net.auth_token)))

    while not stop.is_set():
        batch()


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "no answered turns"
    ordered = sorted(latencies)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"n={len(ordered)} p50={statistics.median(ordered):.3f} s "
        f"p90={p90:.3f} s max={ordered[-1]:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--providers", default="instant", choices=["instant", "scripted"])
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument(
        "--outsider",
        action="store_true",
        help="only what an outsider can send (an authentic call needs a signed webhook)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root:
        settings_ = Settings(providers=args.providers, recordings_dir=Path(root))
        with BackgroundNetwork(settings_) as net:
            good_calls(net, 1)  # warm-up: voices synthesised, models loaded
            alone = good_calls(net, args.calls)
            print(f"alone:        {summary(alone)}")
            outcomes: list[Outcome] = []
            stop = threading.Event()
            kinds = ("raw", "forged") if args.outsider else KINDS
            fuzzer = threading.Thread(
                target=fuzz_until, args=(net, stop, outcomes, kinds), daemon=True
            )
            started = time.monotonic()
            fuzzer.start()
            beside = good_calls(net, args.calls)
            stop.set()
            fuzzer.join(120)
            seconds = time.monotonic() - started
            print(f"beside fuzz:  {summary(beside)}")
    kinds = collections.Counter(o.kind for o in outcomes)
    codes = collections.Counter(str(o.close_code) for o in outcomes)
    errors = [e for o in outcomes for e in o.errors]
    fuzz_line = (
        f"{len(outcomes)} hostile sessions in {seconds:.0f} s "
        f"({dict(kinds)}; server close codes {dict(codes)}; {len(errors)} health failures); "
        f"load average {os.getloadavg()[0]:.1f} at the end (other work on the machine counts)"
    )
    print(fuzz_line)
    if args.results is not None:
        with args.results.open("a") as out:
            out.write(
                f"\n## Good call beside the media fuzzer ({datetime.now(UTC):%Y-%m-%d}, "
                f"{args.providers}, {os.cpu_count()} cores"
                f"{', outsider sessions only' if args.outsider else ''})\n\n"
                "`bench/bench_fuzz_neighbour.py`: caller-side voice-to-voice of the two turns "
                f"of `cold_food`, {args.calls} calls per phase.\n\n"
                f"| phase | voice-to-voice |\n| --- | --- |\n"
                f"| alone | {summary(alone)} |\n| beside the fuzzer | {summary(beside)} |\n\n"
                f"{fuzz_line}.\n"
            )


if __name__ == "__main__":
    main()
