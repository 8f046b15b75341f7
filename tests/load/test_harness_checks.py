"""The load harness's own checks catch what they claim to: foreign audio, broken records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soak  # bench/soak.py: the load harness
import soundfile as sf

RATE = 8000


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Loud, broadband, changing audio: noise bursts through a moving pitch."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    voiced = sum(np.sin(2 * np.pi * np.cumsum(pitch * k) / RATE) / k for k in range(1, 20))
    return 0.2 * voiced / 3 + 0.02 * rng.normal(size=t.size)


def tone(freq: float, seconds: float, amplitude: float = soak.PILOT_AMPLITUDE) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * RATE)) / RATE)


def test_pilot_tones_are_distinct_and_inside_the_phone_band():
    freqs = [soak.pilot_hz(i) for i in range(soak.PILOT_COUNT)]
    assert len(set(freqs)) == soak.PILOT_COUNT
    assert min(freqs) >= 300 and max(freqs) <= 3400
    assert soak.pilot_hz(soak.PILOT_COUNT) == freqs[0]


def test_own_pilot_under_speech_is_clean_and_a_foreign_one_is_caught():
    own, other = soak.pilot_hz(3), soak.pilot_hz(40)
    others = [soak.pilot_hz(i) for i in range(soak.PILOT_COUNT) if i != 3]
    silence = np.zeros(2 * RATE)
    clean = np.concatenate([silence, speech_like(3.0) + tone(own, 3.0), silence])
    assert soak.line_is_clean(*soak.pilot_levels(clean, RATE, own, others))
    # Another caller's audio on this line, for one second only.
    crossed = clean.copy()
    crossed[3 * RATE : 4 * RATE] += tone(other, 1.0) + speech_like(1.0, seed=1)
    own_db, foreign_db = soak.pilot_levels(crossed, RATE, own, others)
    assert own_db >= soak.OWN_PILOT_MIN_DB and foreign_db >= soak.FOREIGN_PILOT_MAX_DB
    assert not soak.line_is_clean(own_db, foreign_db)
    # A line that carries someone else's caller instead of its own fails too.
    swapped = np.concatenate([silence, speech_like(3.0) + tone(other, 3.0), silence])
    assert not soak.line_is_clean(*soak.pilot_levels(swapped, RATE, own, others))
    # So does a line with no caller at all.
    quiet = np.concatenate([silence, speech_like(3.0), silence])
    assert not soak.line_is_clean(*soak.pilot_levels(quiet, RATE, own, others))


def complete_record(directory: Path) -> Path:
    directory.mkdir()
    stereo = np.zeros((800, 2), dtype=np.float32)
    sf.write(directory / "server.wav", stereo, RATE)
    sf.write(directory / "caller.wav", stereo, RATE)
    (directory / "call.json").write_text(
        json.dumps({"end_reason": "stop", "recording": "server.wav"})
    )
    events = [
        {"source": "server", "type": "call.started"},
        {"source": "caller", "type": "call.ended"},
        {"source": "server", "type": "call.ended"},
    ]
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return directory


def test_a_complete_record_has_no_problems(tmp_path):
    assert soak.record_problems(complete_record(tmp_path / "call")) == []


def test_each_missing_part_of_a_record_is_reported(tmp_path):
    assert soak.record_problems(None) == ["no call directory"]

    no_end = complete_record(tmp_path / "a")
    (no_end / "call.json").write_text(json.dumps({"recording": "server.wav"}))
    assert soak.record_problems(no_end) == ["call.json has no end_reason"]

    no_wav = complete_record(tmp_path / "b")
    (no_wav / "call.json").write_text(json.dumps({"end_reason": "stop", "recording": None}))
    assert soak.record_problems(no_wav) == ["call.json names no recording"]

    torn = complete_record(tmp_path / "c")
    (torn / "server.wav").write_bytes((torn / "server.wav").read_bytes()[:20])
    assert [p.split(":")[0] for p in soak.record_problems(torn)] == [
        "server.wav is not a valid WAV"
    ]

    unfinished = complete_record(tmp_path / "d")
    lines = (unfinished / "events.jsonl").read_text().splitlines()
    (unfinished / "events.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    assert soak.record_problems(unfinished) == ["events.jsonl has no server call.ended"]

    late = complete_record(tmp_path / "e")
    with (late / "events.jsonl").open("a") as f:
        f.write(json.dumps({"source": "server", "type": "stt.transcript"}) + "\n")
    assert soak.record_problems(late) == ["events.jsonl does not end with call.ended"]


def test_twilios_final_status_callback_may_follow_call_ended(tmp_path):
    # Twilio reports "completed" after the media stream closed: not a lost write.
    record = complete_record(tmp_path / "call")
    with (record / "events.jsonl").open("a") as f:
        f.write(json.dumps({"source": "server", "type": "twilio.status"}) + "\n")
    assert soak.record_problems(record) == []


def test_judging_a_phase_flags_the_line_that_carries_a_simultaneous_callers_audio():
    from voicelab.simulator.simulator import CallResult

    freqs = [soak.pilot_hz(i) for i in range(soak.PILOT_COUNT)]
    silence = np.zeros(RATE)
    lines = {i: speech_like(3.0) + tone(soak.pilot_hz(i), 3.0) for i in range(6)}
    lines[2][RATE : 2 * RATE] += tone(soak.pilot_hz(4), 1.0)  # call 4 leaks into call 2
    checks = [
        soak.CallCheck(
            i,
            CallResult(f"load_{i:04d}", status="completed"),
            [],
            batch=0,
            prominence=soak.pilot_prominence_db(np.concatenate([silence, x, silence]), RATE, freqs),
            v2v_s=0.5,
        )
        for i, x in lines.items()
    ]
    soak.judge_lines(checks)
    assert [c.ok for c in checks] == [True, True, False, True, True, True]
    own, foreign = checks[2].pilots_db  # type: ignore[misc]
    assert own >= soak.OWN_PILOT_MIN_DB and foreign >= soak.FOREIGN_PILOT_MAX_DB
    # The control (pilots of no call on the line) shows what chance gives: nothing.
    assert all(c.control_db is not None and c.control_db < 10 for c in checks)
