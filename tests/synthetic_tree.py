"""Synthetic recordings trees, for the loader benchmark and the scale test (test scaffolding:
not part of the package).

Each call looks like a simulated inbound call: a greeting, then ``turns`` exchanges with
the server's and the caller's events (16 per exchange, 10 around them), jittered latencies
and a prompt ``variant`` tag in the manifest. No audio: this measures the loaders.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_synthetic_tree"]

_START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _line(t0: datetime, source: str, offset: float, t: float, kind: str, **data: Any) -> str:
    wall = (t0 + timedelta(seconds=t + offset)).isoformat(timespec="microseconds")
    event = {"t": round(t, 6), "wall": wall, "source": source, "type": kind, "data": data}
    return json.dumps(event)


def _call_lines(
    sid: str,
    t0: datetime,
    turns: int,
    rng: np.random.Generator,
    truth: list[dict[str, Any]],
    delay_s: float = 0.0,
) -> list[str]:
    s = partial(_line, t0, "server", 0.0)
    c = partial(_line, t0, "caller", 0.05)  # the caller's clock starts 50 ms later
    lines = [
        s(0.0, "call.started", call_sid=sid, direction="inbound", **{"from": "+1555", "to": "+1"}),
        s(0.004, "twilio.status", status="in-progress"),
        s(0.02, "tts.started", turn=0, text="Hello, you're through to Compass Group."),
        s(0.12, "tts.first_audio", turn=0, ttfa_s=0.1),
        s(0.13, "bot.speech_started", turn=0),
        s(0.13, "metrics.v2v", turn=0, v2v_s=0.13, measured_from="client_connected"),
        s(2.0, "bot.speech_stopped", turn=0),
    ]
    t = 2.5
    for n in range(1, turns + 1):
        vad, stt, ttft, ttfa, net = rng.gamma(4, [0.05, 0.08, 0.06, 0.03, 0.04])
        net += delay_s
        text = f"this is what the caller says in turn {n}"
        end = t + 1.5  # caller clock: t, server clock: t + 0.05
        stop = end + 0.05 + vad
        bot = stop + stt + 0.01 + ttft + 0.02 + ttfa
        # What turns_df must find: transport is the network both ways plus the 10 ms before
        # llm.started and the 20 ms from the first token to tts.started.
        parts = {
            "vad_stop_s": vad,
            "stt_s": stt,
            "turn_end_s": 0.0,  # no vad.stopped events: the turn end stays in vad_stop_s
            "llm_ttft_s": ttft,
            "tool_s": 0.0,
            "tts_ttfa_s": ttfa,
        }
        truth.append({"call_sid": sid, "turn": n, **parts, "transport_s": net + 0.03})
        lines += [
            c(t, "caller.utterance_started", turn=n, text=text),
            s(t + 0.25, "user.speech_started", turn=n - 1),
            c(end, "caller.utterance_ended", turn=n, text=text),
            s(stop, "user.speech_stopped", turn=n),
            s(stop + stt, "stt.transcript", turn=n, text=text, final=True),
            s(stop + stt + 0.01, "llm.started", turn=n),
            s(stop + stt + 0.01 + ttft, "llm.first_token", turn=n, ttft_s=round(ttft, 4)),
            s(stop + stt + 0.01 + ttft, "metrics.ttfb", turn=n, service="LLM#0", ttfb_s=ttft),
            s(bot - ttfa, "tts.started", turn=n, text="Thanks for telling me."),
            s(bot, "tts.first_audio", turn=n, ttfa_s=round(ttfa, 4)),
            s(bot, "bot.speech_started", turn=n),
            s(bot, "metrics.v2v", turn=n, v2v_s=round(bot - end - 0.05, 4)),
            s(bot + 0.2, "llm.response", turn=n, text="Thanks for telling me. Anything else?"),
            c(bot - 0.05 + net, "caller.heard_started", turn=n),
            s(bot + 1.8, "bot.speech_stopped", turn=n),
            c(bot + 1.8 + net, "caller.heard_ended", turn=n),
        ]
        t = bot + 2.5
    lines += [
        c(t, "call.ended", reason="hangup"),
        s(t + 0.1, "call.ended", reason="hangup"),
        s(t + 0.2, "twilio.status", status="completed"),
    ]
    return lines


def write_synthetic_tree(
    root: Path,
    calls: int,
    turns: int = 6,
    *,
    seed: int = 0,
    truth: list[dict[str, Any]] | None = None,
    scenario: dict[str, Any] | None = None,
    delay_s: float = 0.0,
    first: int = 0,
) -> int:
    """Write ``calls`` call directories under ``root``; returns how many events it wrote.

    ``truth``, if given, receives the latency breakdown each answered turn was generated
    with (``call_sid``, ``turn`` and the ``BREAKDOWN`` columns), to check the loaders by.
    ``scenario`` is written as the calls' ``call.json`` scenario (with its expectations);
    ``delay_s`` is added to every reply's trip to the caller (a slower agent); ``first``
    is the first call's number (its CallSid and minute), so two trees can hold distinct calls.
    """
    truth = [] if truth is None else truth
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    for i in range(first, first + calls):
        sid = f"CA{i:032x}"
        t0 = _START + timedelta(minutes=i)
        directory = root / f"{t0:%Y%m%d-%H%M%S}_{sid}"
        directory.mkdir()
        lines = _call_lines(sid, t0, turns, rng, truth, delay_s)
        (directory / "events.jsonl").write_text("\n".join(lines) + "\n")
        manifest = {
            "call_sid": sid,
            "direction": "inbound",
            "started_at": t0.isoformat(),
            "persona": {"id": "compass-inbound", "version": 1, "text_hash": "abc123"},
            "variant": "AB"[i % 2],
        }
        if scenario is None:
            manifest["scenario_id"] = "synthetic"
        else:
            manifest["scenario"] = scenario
        (directory / "call.json").write_text(json.dumps(manifest))
        written += len(lines)
    return written
