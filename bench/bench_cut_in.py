"""Cut-ins at a sentence gap: the default demo scenario, played again and again.

``cold_food``'s second line is two sentences, "It was at the London office cafeteria,
around noon. Thanks.", and Piper leaves about 200 ms between them: as long as the VAD's
``stop_secs``. Smart-turn calls the first sentence finished, so whether the bot answers half
the line is a race between the transcript and the VAD confirming the caller's next word
(``bot/turn_end.py``). This plays the scenario ``--calls`` times, one at a time, on the
scripted stack (real Whisper, Silero, smart-turn and Piper caller; the scripted LLM answers
at once, which makes the race as tight as it gets) and counts per call the server turns,
the caller lines the bot spoke into, and the turns it was interrupted in.

    .venv/bin/python bench/bench_cut_in.py [--calls 16] [--markdown FILE] [--append]

Prints a Markdown section; ``--append`` adds it to bench/RESULTS.md. No test asserts a time.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from collections import Counter
from pathlib import Path

from _bench import ROOT, Summary, add_output_args, cut_ins, emit, loadavg

SCENARIO = ROOT / "evals" / "scenarios" / "cold_food.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=16, help="calls to play (default 16)")
    add_output_args(parser)
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")

    from voicelab.analysis import calls_df, turns_df
    from voicelab.lab import Lab

    load = loadavg()
    with tempfile.TemporaryDirectory(prefix="voicelab-cut-in-") as tmp:
        root = Path(tmp)
        with Lab(providers="scripted", recordings_dir=root) as lab:
            results = lab.simulate_many([SCENARIO] * args.calls, progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calls = calls_df(root, cache=False)
            turns = turns_df(root, cache=False)
        spoke_into = sum(cut_ins(Path(d)) for d in calls["call_dir"])
    statuses = Counter(r.status for r in results)
    server_turns = Counter(int(n) for n in calls["n_turns"])
    split = int((calls["n_turns"] > 2).sum())
    interrupted = int(turns["interrupted"].fillna(False).sum())
    replies = turns[turns["caller_turn"] > 0]
    v2v = Summary.of(replies["v2v_caller_s"])
    turns_cells = ", ".join(f"{n} turns: {c}" for n, c in sorted(server_turns.items()))
    section = "\n".join(
        [
            f"#### Cut-ins at a sentence gap: `cold_food` × {args.calls}, scripted stack",
            "",
            f"`bench/bench_cut_in.py`, one call at a time. Load average before {load}, "
            f"after {loadavg()}. Calls {dict(statuses)}.",
            "",
            "| calls | split (more than 2 server turns) | server turns per call | caller lines "
            "the bot spoke into | interrupted turns | reply v2v p50 / p95 ms |",
            "| ---: | ---: | --- | ---: | ---: | --- |",
            f"| {args.calls} | {split} | {turns_cells} | {spoke_into} | {interrupted} | "
            f"{v2v.p50 * 1000:,.0f} / {v2v.p95 * 1000:,.0f} (n {v2v.n}) |",
            "",
        ]
    )
    emit(
        args,
        section,
        [("cold_food calls split at the sentence gap", f"{split} of {args.calls}", "0")],
    )


if __name__ == "__main__":
    main()
