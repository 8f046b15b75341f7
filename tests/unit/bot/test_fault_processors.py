"""The fault processors one by one, in pipecat's test pipeline (real frames, no call)."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import (
    EndWorkerFrame,
    ErrorFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import SleepFrame, run_test

from voicelab.bot.fault_injection import ProviderFault
from voicelab.bot.faults import (
    FALLBACK_LINE,
    GOODBYE_LINE,
    MAX_FALLBACKS,
    FallbackSpeaker,
    FirstTokenGuard,
    failed_service,
)

_UP = FrameDirection.UPSTREAM
REPLY = [LLMFullResponseStartFrame(), LLMTextFrame("Hello"), LLMFullResponseEndFrame()]


def error_from(service: str) -> ErrorFrame:
    return ErrorFrame(error=f"{service} broke", processor=ProviderFault(service, "error", delay=1))  # type: ignore[arg-type]


def said(frames: object) -> list[str]:
    return [f.text for f in frames if isinstance(f, TTSSpeakFrame)]  # type: ignore[attr-defined]


def test_an_llm_error_drops_the_reply_and_is_reported_once_per_reply():
    fault = ProviderFault("llm", "error", delay=1, times=1)
    _down, up = asyncio.run(
        run_test(
            fault,
            frames_to_send=[*REPLY, *REPLY],
            expected_down_frames=[
                LLMFullResponseStartFrame,
                LLMFullResponseEndFrame,
                # times=1: the second reply goes through whole.
                LLMFullResponseStartFrame,
                LLMTextFrame,
                LLMFullResponseEndFrame,
            ],
            expected_up_frames=[ErrorFrame],
        )
    )
    assert up[0].processor is fault and failed_service(up[0]) == "llm"


def test_a_slow_transcript_comes_late_but_comes():
    fault = ProviderFault("stt", "slow_first_byte", delay=0.3)
    transcript = TranscriptionFrame("hello", "user", "now")
    _down, _ = asyncio.run(
        run_test(
            fault,
            frames_to_send=[
                transcript,
                SleepFrame(0.1),
                UserStartedSpeakingFrame(),
                SleepFrame(0.5),
            ],
            # The transcript is overtaken by what came after it.
            expected_down_frames=[UserStartedSpeakingFrame, TranscriptionFrame],
        )
    )


def test_the_first_token_guard_interrupts_a_silent_llm_and_reports_it():
    guard = FirstTokenGuard(timeout=0.2)
    _down, up = asyncio.run(
        run_test(
            guard,
            frames_to_send=[LLMFullResponseStartFrame(), SleepFrame(0.5)],
            expected_down_frames=[LLMFullResponseStartFrame, InterruptionFrame],
            expected_up_frames=[InterruptionFrame, ErrorFrame],
        )
    )
    assert "no first token within 0.2 s" in up[1].error


def test_the_first_token_guard_lets_a_timely_reply_through():
    asyncio.run(
        run_test(
            FirstTokenGuard(timeout=0.2),
            frames_to_send=[*REPLY, SleepFrame(0.4)],
            expected_down_frames=[
                LLMFullResponseStartFrame,
                LLMTextFrame,
                LLMFullResponseEndFrame,
            ],
            expected_up_frames=[],
        )
    )


def test_one_fallback_per_turn_then_a_goodbye_and_a_hang_up():
    speaker = FallbackSpeaker()
    frames = []
    for _ in range(MAX_FALLBACKS + 1):
        frames += [UserStartedSpeakingFrame(), error_from("llm"), error_from("stt")]
    down, _ = asyncio.run(run_test(speaker, frames_to_send=frames, frames_to_send_direction=_UP))
    assert said(down) == [FALLBACK_LINE] * MAX_FALLBACKS + [GOODBYE_LINE]
    assert isinstance(down[-1], EndWorkerFrame) and speaker.gave_up


def test_a_tts_that_cannot_say_the_fallback_either_ends_the_call():
    speaker = FallbackSpeaker()
    down, _ = asyncio.run(
        run_test(
            speaker,
            frames_to_send=[error_from("tts"), error_from("tts")],
            frames_to_send_direction=_UP,
        )
    )
    assert said(down) == [FALLBACK_LINE]  # one more try, then nothing can be said
    assert isinstance(down[-1], EndWorkerFrame) and "TTS failed" in (speaker.gave_up or "")


def test_errors_that_are_no_providers_are_only_passed_on():
    speaker = FallbackSpeaker()
    down, _up = asyncio.run(
        run_test(
            speaker,
            frames_to_send=[ErrorFrame(error="serializer trouble")],
            frames_to_send_direction=_UP,
            expected_up_frames=[ErrorFrame],
        )
    )
    assert said(down) == [] and speaker.gave_up is None
