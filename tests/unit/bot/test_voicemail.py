"""Voicemail on outbound calls: the keyword classifier, the detector's wiring and what it does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pipecat.classifiers.base_classifier import (
    ClassifierError,
    ScoreQuestion,
    YesNoQuestion,
)
from pipecat.classifiers.llm.classifier import LLMClassifier
from pipecat.extensions.voicemail.voicemail_detector import VOICEMAIL_QUESTION, TTSGate
from pipecat.frames.frames import (
    EndWorkerFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.tests.utils import SleepFrame, run_test

from voicelab.bot.agent import AgentContext
from voicelab.bot.call import CallInfo
from voicelab.bot.persona import Persona, load_persona
from voicelab.bot.reference_agent import reference_agent
from voicelab.bot.voicemail import OutboundVoicemail, VoicemailKeywords
from voicelab.config import Settings
from voicelab.recording.store import CallRecord

KEYS = {
    "openai_api_key": "sk-test",
    "deepgram_api_key": "dg-test",
    "cartesia_api_key": "ca-test",
    "cartesia_voice_id": "voice-test",
}
MESSAGE = "Please call us back."


@pytest.mark.parametrize(
    "heard",
    [
        "Hi, you've reached Sam. Leave a message after the beep.",
        "The person you are calling is not available. Please record your message at the tone.",
        "Hello, you have reached the voicemail of Dana.",
        "Sorry I can\u2019t take your call right now.",
    ],
)
def test_a_machines_greeting_is_voicemail(heard: str) -> None:
    results = asyncio.run(VoicemailKeywords().choice(heard, {"voicemail": VOICEMAIL_QUESTION}))
    assert results["voicemail"].choice == "voicemail"
    assert results["voicemail"].probabilities == {"conversation": 0.0, "voicemail": 1.0}


@pytest.mark.parametrize("heard", ["Hello?", "Yes, this is Taylor. Who is calling?", ""])
def test_a_person_is_a_conversation(heard: str) -> None:
    results = asyncio.run(VoicemailKeywords().choice(heard, {"voicemail": VOICEMAIL_QUESTION}))
    assert results["voicemail"].choice == "conversation"


def test_it_answers_yes_or_no_and_refuses_other_questions() -> None:
    classifier = VoicemailKeywords()
    yes = asyncio.run(
        classifier.yes_no("Leave a message.", {"vm": YesNoQuestion(instructions="voicemail?")})
    )
    assert yes["vm"].is_yes
    with pytest.raises(ClassifierError):
        asyncio.run(
            classifier.ask("x", {"mood": ScoreQuestion(instructions="mood", levels=["a", "b"])})
        )


# --- the reference agent's wiring ----------------------------------------------------------


def context(tmp_path: Path, direction: str, **settings: Any) -> AgentContext:
    call = CallInfo("CA" + "4" * 32, "MZ" + "4" * 32, "", direction, "+15550001111", "+15557770101")  # type: ignore[arg-type]
    record = CallRecord.open(tmp_path, call.call_sid, "server")
    persona = load_persona(direction)  # type: ignore[arg-type]
    return AgentContext(call, Settings(recordings_dir=tmp_path, **settings), None, persona, record)


def test_outbound_calls_detect_voicemail_after_the_stt_and_gate_after_the_tts(
    tmp_path: Path,
) -> None:
    parts = reference_agent(context(tmp_path, "outbound", providers="instant"))
    names = [type(p).__name__ for p in parts.processors]  # type: ignore[union-attr]
    assert names == [
        "InstantSTTService",
        "OutboundVoicemail",
        "LLMUserAggregator",
        "ScriptedLLMService",
        "InstantTTSService",
        "TTSGate",
    ]
    detector = parts.processors[1]  # type: ignore[index]
    assert isinstance(detector._classifier, VoicemailKeywords)
    assert parts.processors[5] is detector.gate()  # type: ignore[index, union-attr]
    # Inbound callers called us: no machine to expect.
    inbound = reference_agent(context(tmp_path / "in", "inbound", providers="instant"))
    assert not any(isinstance(p, OutboundVoicemail | TTSGate) for p in inbound.processors)  # type: ignore[union-attr]


def test_with_cloud_providers_the_llm_classifies(tmp_path: Path) -> None:
    parts = reference_agent(context(tmp_path, "outbound", providers="cloud", **KEYS))
    detector = next(p for p in parts.processors if isinstance(p, OutboundVoicemail))  # type: ignore[union-attr]
    assert isinstance(detector._classifier, LLMClassifier)
    assert detector._classifier.llm is parts.processors[3]  # type: ignore[index]


def test_the_outbound_persona_has_its_voicemail_message(tmp_path: Path) -> None:
    outbound = load_persona("outbound")
    assert outbound.voicemail and "Compass Group" in outbound.voicemail
    assert load_persona("inbound").voicemail is None
    path = tmp_path / "outbound.md"
    path.write_text(
        "---\nid: x\nversion: 1\ndirection: outbound\ngreeting: Hi.\n"
        "voicemail: |\n  Call us\n  back.\n---\nBe brief.\n"
    )
    mine = Persona.from_file(path)
    assert mine.voicemail == "Call us back."
    # The message is part of what the call ran with.
    assert mine.text_hash != Persona(**{**mine.__dict__, "voicemail": None}).text_hash


# --- what the detector does ----------------------------------------------------------------


def _run(
    tmp_path: Path, frames: list[Any], message: str | None = MESSAGE
) -> tuple[Any, CallRecord]:
    record = CallRecord.open(tmp_path, "CA" + "6" * 32, "server")
    detector = OutboundVoicemail(
        record=record,
        message=message,
        classifier=VoicemailKeywords(),
        answer_silence_secs=0.5,
        decision_timeout=0.1,
        voicemail_response_delay=0.2,
    )
    down, _ = asyncio.run(run_test(Pipeline([detector, detector.gate()]), frames_to_send=frames))
    record.flush()
    return down, record


def _events(record: CallRecord) -> list[dict[str, Any]]:
    if not record.events_path.exists():
        return []
    return [json.loads(line) for line in record.events_path.read_text().splitlines()]


def test_a_machine_gets_the_message_then_the_bot_hangs_up(tmp_path: Path) -> None:
    greeting = "Hi, you've reached Sam, leave a message after the beep."
    frames = [
        TTSStartedFrame(),  # the bot's own greeting, held back by the gate
        UserStartedSpeakingFrame(),
        TranscriptionFrame(greeting, "", ""),
        UserStoppedSpeakingFrame(),
        SleepFrame(0.8),
    ]
    down, record = _run(tmp_path, frames)
    said = [f.text for f in down if isinstance(f, TTSSpeakFrame)]
    assert said == [MESSAGE]
    assert not any(isinstance(f, TTSStartedFrame) for f in down)  # the greeting was dropped
    ends = [f for f in down if isinstance(f, EndWorkerFrame)]
    assert len(ends) == 1 and ends[0].reason.startswith("voicemail")
    assert [e["data"] for e in _events(record) if e["type"] == "voicemail.detected"] == [
        {"message": MESSAGE}
    ]
    assert record.read_manifest()["voicemail_detection"] == {"detected": True, "message": MESSAGE}


def test_a_person_hears_the_greeting_and_no_message(tmp_path: Path) -> None:
    frames = [
        TTSStartedFrame(),
        UserStartedSpeakingFrame(),
        TranscriptionFrame("Hello? Who is this?", "", ""),
        UserStoppedSpeakingFrame(),
        SleepFrame(0.8),
    ]
    down, record = _run(tmp_path, frames)
    assert any(isinstance(f, TTSStartedFrame) for f in down)  # released by the gate
    assert not any(isinstance(f, TTSSpeakFrame | EndWorkerFrame) for f in down)
    assert record.read_manifest()["voicemail_detection"] == {"detected": False}
    assert not any(e["type"] == "voicemail.detected" for e in _events(record))


def test_a_silent_line_is_a_person_waiting_to_be_greeted(tmp_path: Path) -> None:
    # pipecat's detector alone would hold the greeting until something was said.
    down, record = _run(tmp_path, [TTSStartedFrame(), SleepFrame(0.9)])
    assert any(isinstance(f, TTSStartedFrame) for f in down)
    assert record.read_manifest()["voicemail_detection"] == {"detected": False}
