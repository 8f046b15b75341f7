"""CallEventObserver: pipecat frames in, call-record events out (no pipeline needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection

from voicelab.recording.observer import CallEventObserver
from voicelab.recording.store import CallRecord


def record_of(frames: list[Any], tmp_path: Path, *, finish: bool = False) -> list[dict[str, Any]]:
    record = CallRecord.open(tmp_path, "CA" + "0" * 32, "server")
    observer = CallEventObserver(record)
    for frame in frames:
        observer.handle(frame)
    if finish:
        observer.finish()
    record.flush()  # the writes happen on the record writer thread
    lines = (record.directory / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    return [(e["type"], e["data"].get("turn")) for e in events]


def test_a_greeting_cut_off_by_a_hang_up_keeps_its_text(tmp_path: Path) -> None:
    greeting = "Hello, thank you for calling Compass Group."
    frames = [
        TTSSpeakFrame(greeting),
        TTSStartedFrame(),
        BotStartedSpeakingFrame(),
        TTSTextFrame("Hello,", text_type="sentence"),
    ]
    events = record_of(frames, tmp_path, finish=True)
    assert kinds(events) == [
        ("tts.started", 0),
        ("bot.speech_started", 0),
        ("bot.speech_stopped", 0),
    ]
    assert events[0]["data"]["text"] == greeting
    assert events[2]["data"] == {"turn": 0, "text": "Hello,", "cut_off": True}


def test_finish_after_the_bot_stopped_adds_nothing(tmp_path: Path) -> None:
    frames = [BotStartedSpeakingFrame(), BotStoppedSpeakingFrame()]
    events = record_of(frames, tmp_path, finish=True)
    assert kinds(events) == [("bot.speech_started", 0), ("bot.speech_stopped", 0)]
    assert "cut_off" not in events[1]["data"]


def test_turns_count_caller_speech_and_replies_carry_the_llm_text(tmp_path: Path) -> None:
    frames = [
        UserStartedSpeakingFrame(),
        UserStartedSpeakingFrame(),  # broadcast both ways: counted once
        UserStoppedSpeakingFrame(),
        LLMFullResponseStartFrame(),
        LLMTextFrame("I am so sorry"),
        LLMTextFrame(" to hear that."),
        LLMFullResponseEndFrame(),
        TTSStartedFrame(),  # LLM-driven speech: its text is not known up front
        BotStartedSpeakingFrame(),
        InterruptionFrame(),
        UserStartedSpeakingFrame(),
    ]
    events = record_of(frames, tmp_path)
    assert kinds(events) == [
        ("user.speech_started", 1),
        ("user.speech_stopped", 1),
        ("llm.started", 1),
        ("llm.first_token", 1),
        ("llm.response", 1),
        ("tts.started", 1),
        ("bot.speech_started", 1),
        ("interruption", 1),
        ("user.speech_started", 2),
    ]
    assert events[4]["data"]["text"] == "I am so sorry to hear that."
    assert "text" not in events[5]["data"]


def test_an_upstream_interruption_or_one_while_silent_is_not_recorded(tmp_path: Path) -> None:
    record = CallRecord.open(tmp_path, "CA" + "1" * 32, "server")
    observer = CallEventObserver(record)
    observer.handle(InterruptionFrame())  # the bot is not speaking
    observer.handle(BotStartedSpeakingFrame())
    observer.handle(InterruptionFrame(), FrameDirection.UPSTREAM)
    record.flush()
    types = [json.loads(x)["type"] for x in (record.directory / "events.jsonl").open()]
    assert types == ["bot.speech_started"]


def test_every_key_the_bot_presses_is_a_dtmf_sent_event(tmp_path: Path) -> None:
    from pipecat.frames.frames import InputDTMFFrame, OutputDTMFFrame, OutputDTMFUrgentFrame

    frames = [
        InputDTMFFrame(KeypadEntry.NINE),  # the caller's key: a `dtmf` event, as before
        OutputDTMFUrgentFrame(button=KeypadEntry.TWO),
        OutputDTMFFrame.from_string("4#"),
    ]
    events = record_of(frames, tmp_path)
    assert [(e["type"], e["data"]["digit"]) for e in events] == [
        ("dtmf", "9"),
        ("dtmf.sent", "2"),
        ("dtmf.sent", "4"),
        ("dtmf.sent", "#"),
    ]


def test_text_of_speech_dropped_before_it_started_is_not_what_the_bot_said(tmp_path: Path) -> None:
    # A voicemail detector holds the greeting back, then drops it and interrupts: only the
    # message it leaves afterwards is heard.
    frames = [
        TTSStartedFrame(),
        TTSTextFrame("Hello, how was your visit?", text_type="sentence"),
        InterruptionFrame(),
        TTSStartedFrame(),
        TTSTextFrame("Please call us back.", text_type="sentence"),
        BotStartedSpeakingFrame(),
        BotStoppedSpeakingFrame(),
    ]
    events = record_of(frames, tmp_path)
    stopped = [e["data"] for e in events if e["type"] == "bot.speech_stopped"]
    assert stopped == [{"turn": 0, "text": "Please call us back."}]
