"""The breakdown's parts, hand-computed: transcription apart from the turn-end wait, parts that
add up, and replies heard during the caller's next line flagged rather than counted.

Before the split, ``stt_s`` took the whole wait from the VAD's stop to the hand-off (1.52 s
on a turn where Whisper took 0.11 s: smart-turn's fallback timeout charged to STT).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from voicelab.analysis import BREAKDOWN, turns_df
from voicelab.analysis.latency import breakdown, reply_latencies

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SID = "CA" + "5" * 32
CALLER_OFFSET_S = 0.05  # the caller's clock starts 50 ms after the server's


def _event(source: str, t: float, kind: str, **data: object) -> dict:
    offset = CALLER_OFFSET_S if source == "caller" else 0.0
    wall = (T0 + timedelta(seconds=t + offset)).isoformat(timespec="microseconds")
    return {"t": t, "wall": wall, "source": source, "type": kind, "data": data}


def _reply(n: int, said: tuple[float, float], vad: float, stt: float, stop: float, bot: float):
    """Server and caller events of caller line ``n`` and the server's turn ``n`` answering it."""
    s = lambda t, kind, **d: _event("server", t, kind, **d)  # noqa: E731
    c = lambda t, kind, **d: _event("caller", t, kind, **d)  # noqa: E731
    return [
        c(said[0], "caller.utterance_started", turn=n, text=f"line {n}"),
        s(said[0] + 0.3, "user.speech_started", turn=n - 1),
        c(said[1], "caller.utterance_ended", turn=n, text=f"line {n}"),
        s(vad, "vad.stopped", turn=n - 1, stop_secs=0.2),
        s(stt, "stt.transcript", turn=n - 1, text=f"line {n}", final=True),
        s(stop, "user.speech_stopped", turn=n),
        s(stop + 0.01, "llm.started", turn=n),
        s(stop + 0.21, "llm.first_token", turn=n, ttft_s=0.2),
        s(bot - 0.1, "tts.started", turn=n, text="Thanks."),
        s(bot, "tts.first_audio", turn=n, ttfa_s=0.1),
        s(bot, "bot.speech_started", turn=n),
        s(bot, "metrics.v2v", turn=n, v2v_s=round(bot - said[1] - CALLER_OFFSET_S, 6)),
        s(bot + 1.0, "bot.speech_stopped", turn=n, text="Thanks."),
    ]


def _write(root: Path, events: list[dict]) -> Path:
    directory = root / f"{T0:%Y%m%d-%H%M%S}_{SID}"
    directory.mkdir(parents=True)
    lines = sorted(events, key=lambda e: e["wall"])
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    manifest = {"call_sid": SID, "direction": "inbound", "started_at": T0.isoformat()}
    (directory / "call.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def turns(tmp_path: Path) -> pd.DataFrame:
    caller = lambda t, kind, **d: _event("caller", t, kind, **d)  # noqa: E731
    events = [
        # Line 1: VAD stop 0.20 s after the caller's end (server wall 3.25 - caller wall 3.05),
        # Whisper's transcript 0.11 s later, the turn handed over 1.50 s after the VAD stop.
        *_reply(1, (1.0, 3.0), vad=3.25, stt=3.36, stop=4.75, bot=5.06),
        caller(5.10, "caller.heard_started", turn=1),
        caller(6.00, "caller.heard_ended", turn=1),
        # Line 2's reply comes 6 s late: the caller has started line 3 at 12.0 and hears it
        # while speaking (the caller files speech heard mid-line under its previous line).
        *_reply(2, (8.0, 9.0), vad=9.25, stt=9.30, stop=9.40, bot=15.0),
        caller(12.0, "caller.utterance_started", turn=3, text="line 3"),
        caller(15.05, "caller.heard_started", turn=2),
        caller(16.0, "caller.utterance_ended", turn=3, text="line 3"),
        caller(16.5, "caller.heard_ended", turn=2),
    ]
    return turns_df(_write(tmp_path, events)).set_index("caller_turn")


def test_transcription_and_the_turn_end_wait_are_separate_parts(turns: pd.DataFrame) -> None:
    one = turns.loc[1]
    assert one["vad_stop_s"] == pytest.approx(0.20)
    assert one["stt_s"] == pytest.approx(0.11)  # 3.36 - 3.25: Whisper's own time
    assert one["turn_end_s"] == pytest.approx(1.39)  # 4.75 - 3.25 - 0.11
    assert one["llm_ttft_s"] == pytest.approx(0.2)
    assert one["tts_ttfa_s"] == pytest.approx(0.1)
    # heard 5.10 - said 3.00 on the caller's clock
    assert one["v2v_caller_s"] == pytest.approx(2.10)
    # The remainder: 2.10 - (0.20 + 0.11 + 1.39 + 0.2 + 0 + 0.1) = 0.10
    assert one["transport_s"] == pytest.approx(0.10)
    assert one[list(BREAKDOWN)].sum() == pytest.approx(one["v2v_caller_s"])
    assert not one["overlaps_next_line"]


def test_a_reply_heard_during_the_next_line_is_flagged_not_counted(turns: pd.DataFrame) -> None:
    late = turns.loc[2]
    assert late["overlaps_next_line"]
    # 15.05 - 9.00 = 6.05 s would include the caller's own line 3: no latency figure at all.
    assert math.isnan(late["v2v_caller_s"]) and math.isnan(late["v2v_server_s"])
    assert math.isnan(late["v2v_recording_s"]) and math.isnan(late["transport_s"])
    # What the server measured of its own work stays.
    assert late["stt_s"] == pytest.approx(0.05) and late["turn_end_s"] == pytest.approx(0.10)
    # Every surface reads reply_latencies: line 1 is the only latency.
    replies = reply_latencies(turns.reset_index())
    assert list(replies["line"]) == [1] and replies["v2v_s"].tolist() == pytest.approx([2.10])


@pytest.mark.parametrize(
    ("stt_final_t", "stt", "turn_end"),
    [
        (2.11, 0.11, 1.41),  # the transcript was ready long before the turn-end decision
        (2.50, 0.30, 0.00),  # the transcript came after the decision: the wait is STT's
        (1.90, 0.00, 0.30),  # a streaming final, ready before the VAD's stop
        (None, 0.30, 0.00),  # no transcript time known: the whole wait, as before the split
    ],
)
def test_the_wait_after_the_vad_stop_goes_to_whichever_ended_last(
    stt_final_t: float | None, stt: float, turn_end: float
) -> None:
    stop = 2.0 + stt + turn_end
    parts = breakdown(
        utterance_ended_t=1.0,
        heard_started_t=4.0,
        caller_to_vad_s=0.2,
        vad_stopped_t=2.0,
        stt_final_t=stt_final_t,
        user_stopped_t=stop,
        llm_ttft_s=0.2,
        tts_ttfa_s=0.1,
    )
    assert parts["stt_s"] == pytest.approx(stt) and parts["turn_end_s"] == pytest.approx(turn_end)
    assert sum(parts[p] for p in BREAKDOWN) == pytest.approx(parts["v2v_caller_s"])


def test_without_vad_events_the_turn_end_stays_in_the_vad_part() -> None:
    parts = breakdown(
        utterance_ended_t=1.0,
        heard_started_t=2.0,
        caller_to_stop_s=0.3,
        user_stopped_t=4.0,
        stt_final_t=4.1,
        llm_ttft_s=0.2,
        tts_ttfa_s=0.1,
    )
    assert parts["turn_end_s"] == 0.0 and parts["stt_s"] == pytest.approx(0.1)
    assert sum(parts[p] for p in BREAKDOWN) == pytest.approx(1.0)
    assert math.isnan(breakdown(stt_final_t=4.1)["turn_end_s"])  # nothing known: unknown


def test_a_turn_the_server_split_off_a_line_keeps_the_lines_number(tmp_path: Path) -> None:
    s = lambda t, kind, **d: _event("server", t, kind, **d)  # noqa: E731
    c = lambda t, kind, **d: _event("caller", t, kind, **d)  # noqa: E731
    events = [
        c(1.0, "caller.utterance_started", turn=1, text="Hi, my salad had nuts in it."),
        s(1.3, "user.speech_started", turn=0),
        # The caller pauses after "Hi,": the server ends a turn inside the line (wall 2.2 is
        # between the line's start, 1.05, and its end, 4.05) and starts answering it.
        s(2.0, "vad.stopped", turn=0, stop_secs=0.2),
        s(2.2, "user.speech_stopped", turn=1),
        s(2.5, "bot.speech_started", turn=1),
        s(2.5, "metrics.v2v", turn=1, v2v_s=0.5),
        s(2.6, "user.speech_started", turn=1),
        s(2.7, "interruption", turn=1),
        c(4.0, "caller.utterance_ended", turn=1, text="Hi, my salad had nuts in it."),
        s(4.25, "vad.stopped", turn=1, stop_secs=0.2),
        s(4.4, "user.speech_stopped", turn=2),
        s(4.8, "bot.speech_started", turn=2),
        s(4.8, "metrics.v2v", turn=2, v2v_s=0.75),
        c(4.85, "caller.heard_started", turn=1),
    ]
    turns = turns_df(_write(tmp_path, events)).set_index("turn")
    assert turns.loc[1, "line"] == 1 and pd.isna(turns.loc[1, "caller_turn"])
    assert turns.loc[2, "line"] == 1 and turns.loc[2, "caller_turn"] == 1
    assert turns.loc[1, "split_line"] and turns.loc[2, "split_line"]
    assert turns.loc[2, "v2v_caller_s"] == pytest.approx(0.85)  # heard 4.85 - said 4.00
    assert math.isnan(turns.loc[1, "v2v_caller_s"])  # the line's reply is measured once
    replies = reply_latencies(turns.reset_index())
    assert list(replies["line"]) == [1, 1] and list(replies["turn"]) == [1, 2]
