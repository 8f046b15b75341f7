"""A black-box agent's record: the simulator's manifest, and what the loaders make of it.

The record is written by the real writers (``CallRecord``, ``WavStreamWriter``) as the
simulated caller and the simulator write it for a bot voicelab did not write: caller
events, ``caller.wav`` and the manifest from the carrier's call. No server event at all.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _doubles import SERVER_COLUMNS

from voicelab.analysis import calls_df, events_df, turn_wer, turns_df
from voicelab.recording.contract import CallManifest
from voicelab.recording.store import CallRecord
from voicelab.recording.wav import WavStreamWriter, pcm16
from voicelab.simulator._black_box import (
    BLACK_BOX,
    black_box_manifest,
    recorded_by_server,
    write_black_box_manifest,
)
from voicelab.simulator._carrier_twilio import CarrierCall
from voicelab.simulator.caller import CallerResult

SID = "CA" + "b1" * 16
URL = "http://127.0.0.1:9999"
RATE = 8000
# (turn, caller speech start/end, bot reply heard start/end); turn 0 is the greeting.
GREETING = (0.2, 0.8)
TURNS = [(1, 1.0, 2.0, 2.6, 3.2), (2, 3.6, 4.4, 5.1, 5.6)]


def _carrier_call(direction: str = "inbound") -> CarrierCall:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    call = CarrierCall(
        sid=SID,
        account_sid="AC" + "0" * 32,
        to="+15550001000",
        from_="+15557770001",
        direction=direction,
        status="completed",
        stream_sid="MZ" + "c2" * 16,
        start_time=start,
        end_time=start + timedelta(seconds=6),
    )
    call.status_history.extend(["ringing", "in-progress", "completed"])
    return call


def test_manifest_has_what_the_carrier_and_caller_know_and_no_server_fields() -> None:
    manifest = black_box_manifest(_carrier_call(), CallerResult(ended_by="caller"), URL)
    assert manifest["call_sid"] == SID and manifest["direction"] == "inbound"
    assert (manifest["from"], manifest["to"]) == ("+15557770001", "+15550001000")
    assert manifest["started_at"] == "2026-12-01T12:00:00+00:00"
    assert manifest["ended_at"] == "2026-12-01T12:00:06+00:00"
    assert manifest["end_reason"] == "hangup" and manifest["status"] == "completed"
    assert [s["status"] for s in manifest["status_history"]] == [
        "ringing",
        "in-progress",
        "completed",
    ]
    assert manifest["agent"] == {"kind": BLACK_BOX, "url": URL}
    invented = {"providers", "persona", "versions", "settings_hash", "server_port", "recording"}
    assert not invented & set(manifest)


@pytest.mark.parametrize(
    ("by", "ended_by"), [("bot", "bot"), ("caller", "caller"), ("carrier", None)]
)
def test_manifest_says_what_the_agent_did_as_the_carrier_saw_it(
    by: str, ended_by: str | None
) -> None:
    call = _carrier_call("outbound-api")
    call.end_by(by, "rest" if by == "bot" else "hung_up")
    call.answered_by, call.transferred_to, call.transfer_status = "human", "+15550100200", "busy"
    manifest = black_box_manifest(call, CallerResult(), URL)
    assert manifest.get("ended_by") == ended_by  # the network ending a call is neither
    assert manifest["answered_by"] == "human"
    assert (manifest["transferred_to"], manifest["transfer_status"]) == ("+15550100200", "busy")
    CallManifest.model_validate(manifest)  # the contract takes it as written


def test_manifest_direction_is_the_agents_view() -> None:
    outbound = black_box_manifest(
        _carrier_call("outbound-api"), CallerResult(ended_by="server"), URL
    )
    assert outbound["direction"] == "outbound"
    assert outbound["end_reason"] == "stop"  # the far end closed the stream


def test_a_voicelab_servers_record_is_left_alone(tmp_path: Path) -> None:
    record = CallRecord.open(tmp_path, SID, "server")
    record.update_manifest(call_sid=SID, direction="inbound", end_reason="websocket_closed")
    record.emit("call.started", call_sid=SID)
    record.flush()
    assert recorded_by_server(record.directory)
    written = asyncio.run(
        write_black_box_manifest(record.directory, _carrier_call(), CallerResult(), URL)
    )
    manifest = json.loads(record.manifest_path.read_text())
    assert not written and "agent" not in manifest
    assert manifest["end_reason"] == "websocket_closed"


def _tone(seconds: float, freq: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _black_box_call(root: Path) -> Path:
    """Write a black-box call as the caller and the simulator do; returns its directory."""
    record = CallRecord.open(root, SID, "caller")
    record.update_manifest(call_sid=SID, scenario={"id": "allergy"})
    said = np.zeros(6 * RATE, dtype=np.float32)
    heard = np.zeros_like(said)
    start, end = GREETING
    heard[int(start * RATE) : int(end * RATE)] = _tone(end - start, 440)
    record.emit("caller.heard_started", t=start, turn=0)
    record.emit("caller.heard_ended", t=end, turn=0)
    record.emit("caller.transcript", t=end, turn=0, text="Hello, how can I help?")
    for turn, s0, s1, h0, h1 in TURNS:
        said[int(s0 * RATE) : int(s1 * RATE)] = _tone(s1 - s0, 220)
        heard[int(h0 * RATE) : int(h1 * RATE)] = _tone(h1 - h0, 440)
        record.emit("caller.utterance_started", t=s0, turn=turn, text=f"line {turn}")
        record.emit("caller.utterance_ended", t=s1, turn=turn, text=f"line {turn}")
        record.emit("caller.heard_started", t=h0, turn=turn)
        record.emit("caller.heard_ended", t=h1, turn=turn)
        record.emit("caller.transcript", t=h1, turn=turn, text=f"reply {turn}")
    wav = WavStreamWriter(record.directory / "caller.wav", RATE, channels=2)
    wav.write(pcm16(np.stack([said, heard], axis=1)))
    wav.close()
    record.emit("call.ended", reason="hangup")
    record.flush()
    caller = CallerResult(ended_by="caller")
    assert asyncio.run(write_black_box_manifest(record.directory, _carrier_call(), caller, URL))
    return record.directory


@pytest.fixture
def black_box_root(tmp_path: Path) -> Path:
    _black_box_call(tmp_path)
    return tmp_path


def test_calls_df_has_the_call(black_box_root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "call skipped", no other warning
        calls = calls_df(black_box_root)
    assert list(calls["call_sid"]) == [SID]
    call = calls.iloc[0]
    assert call["agent"] == BLACK_BOX and call["agent_url"] == URL
    assert call["direction"] == "inbound" and call["scenario_id"] == "allergy"
    assert call["end_reason"] == "hangup" and call["status"] == "completed"
    assert call["duration_s"] == pytest.approx(6.0)
    assert bool(call["simulated"]) and call["n_turns"] == 2
    assert pd.isna(call["n_interruptions"]) and pd.isna(call["server_wav"])
    assert pd.isna(call["providers"]) and pd.isna(call["server_port"])


def test_turns_df_gives_the_caller_side(black_box_root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        turns = turns_df(black_box_root, cache=False)
    assert list(turns["turn"]) == [0, 1, 2] and list(turns["caller_turn"]) == [0, 1, 2]
    assert list(turns["speaker"]) == ["bot", "both", "both"]
    replies = turns[turns["turn"] > 0]
    expected = [h0 - s1 for _, _, s1, h0, _ in TURNS]
    assert list(replies["v2v_caller_s"]) == pytest.approx(expected)
    assert list(replies["v2v_recording_s"]) == pytest.approx(expected, abs=0.011)
    assert list(turns["heard_text"]) == ["Hello, how can I help?", "reply 1", "reply 2"]
    assert list(replies["caller_text"]) == ["line 1", "line 2"]
    assert list(turns["bot_speech_s"]) == pytest.approx([0.6, 0.6, 0.5])
    # Server-side columns are there and empty.
    assert turns[SERVER_COLUMNS].isna().all().all()
    assert turns[["stt_text", "bot_text", "interrupted"]].isna().all().all()


def test_events_and_wer_of_a_black_box_call(black_box_root: Path) -> None:
    events = events_df(black_box_root)
    assert set(events["source"]) == {"caller"}
    transcripts = events[events["type"] == "caller.transcript"]
    assert list(transcripts["text"]) == ["Hello, how can I help?", "reply 1", "reply 2"]
    # No server transcript to score: the turns are left out, not counted as deletions.
    assert turn_wer(turns_df(black_box_root)).empty


def test_wer_still_counts_a_voicelab_calls_unheard_turn(black_box_root: Path) -> None:
    turns = turns_df(black_box_root)
    server_call = turns.assign(call_sid="CA" + "d3" * 16, stt_text=None)
    server_call.loc[server_call["turn"] == 1, "bot_started_t"] = 3.0  # a server side exists
    wer = turn_wer(server_call)
    assert list(wer["caller_turn"]) == [1, 2] and list(wer["deletions"]) == [2, 2]
