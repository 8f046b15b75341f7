"""Drive pipecat user-turn stop strategies with frames, as the user aggregator would.

Shared by the turn-end tests: a strategy set up outside a pipeline, turn-analyzer doubles
standing in for smart-turn's verdicts (the model itself is exercised by the integration
tests), and the real Silero VAD fed Piper speech for the hold.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from pipecat.audio.turn.base_turn_analyzer import BaseTurnAnalyzer, EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.utils.asyncio.task_manager import TaskManager

from voicelab.bot.turn_end import caller_voice_pending

__all__ = [
    "FinishedEveryTime",
    "UnsureThenFinished",
    "ends_of_turn",
    "feed",
    "pcm",
    "quiet",
    "say",
    "smart_turn_decides",
    "vad_after_a_sentence",
    "voice_starting",
    "watch",
]


async def ends_of_turn(strategy: Any) -> list[Any]:
    """Set ``strategy`` up as a pipeline would; the list collects each end of turn."""
    setup: Any = FrameProcessorSetup(
        clock=SystemClock(),
        task_manager=TaskManager(loop=asyncio.get_running_loop()),
        pipeline_worker=None,  # type: ignore[arg-type]
    )
    await strategy.setup(setup)
    stopped: list[Any] = []

    @strategy.event_handler("on_user_turn_stopped")
    async def _stopped(_: Any, params: Any) -> None:
        stopped.append(params)

    return stopped


async def say(strategy: Any, text: str) -> None:
    """One caller line: the VAD hears it start and stop, then its final transcript lands."""
    await strategy.process_frame(VADUserStartedSpeakingFrame())
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await strategy.process_frame(TranscriptionFrame(text, "caller", "t", finalized=True))


class FinishedEveryTime(BaseTurnAnalyzer):
    """A turn analyzer that calls every turn finished: the smart-turn verdict on
    "...around noon." that cut callers off in cold_food (the model itself is exercised by
    the integration tests)."""

    @property
    def speech_triggered(self) -> bool:
        return False

    @property
    def params(self) -> SmartTurnParams:
        return SmartTurnParams()

    def append_audio(self, buffer: bytes, is_speech: bool) -> EndOfTurnState:
        return EndOfTurnState.INCOMPLETE

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, None]:
        return EndOfTurnState.COMPLETE, None

    def update_vad_start_secs(self, vad_start_secs: float) -> None:
        pass

    def clear(self) -> None:
        pass


def pcm(audio: np.ndarray) -> bytes:
    """Float audio as 16-bit PCM."""
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()


async def feed(vad: SileroVADAnalyzer, audio: bytes) -> None:
    """Run ``pcm`` through ``vad`` window by window."""
    step = vad.num_frames_required() * 2
    for start in range(0, len(audio) - step + 1, step):
        await vad.analyze_audio(audio[start : start + step])


async def vad_after_a_sentence(speech: np.ndarray) -> SileroVADAnalyzer:
    """The real Silero at 8 kHz, having heard a sentence and 0.3 s of the line after it (its
    volume gate, like a call's, is primed by the caller's voice)."""
    vad = SileroVADAnalyzer()
    vad.set_sample_rate(8000)  # what the pipeline's StartFrame does
    await feed(vad, pcm(np.concatenate([speech, np.zeros(int(0.3 * 8000), np.float32)])))
    return vad


async def voice_starting(vad: SileroVADAnalyzer, speech: np.ndarray) -> None:
    """Feed the start of ``speech`` until the VAD hears voice, well before its
    ``start_secs`` (0.2 s) confirm speech: at most 4 windows of 32 ms."""
    audio, step = pcm(speech), vad.num_frames_required() * 2
    for start in range(0, 4 * step, step):
        await vad.analyze_audio(audio[start : start + step])
        if caller_voice_pending(vad):
            return


async def quiet(vad: SileroVADAnalyzer) -> None:
    """0.3 s of silence: the VAD falls quiet."""
    await feed(vad, bytes(vad.num_frames_required() * 2 * 10))


class UnsureThenFinished(FinishedEveryTime):
    """smart-turn when unsure: "incomplete" at the VAD's stop, then "complete" once its
    ``stop_secs`` of silence have passed (here: when the test says so)."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = False

    def append_audio(self, buffer: bytes, is_speech: bool) -> EndOfTurnState:
        return EndOfTurnState.COMPLETE if self.finished else EndOfTurnState.INCOMPLETE

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, None]:
        return EndOfTurnState.INCOMPLETE, None

    def clear(self) -> None:
        self.finished = False


async def smart_turn_decides(strategy: Any, analyzer: UnsureThenFinished) -> None:
    """smart-turn's ``stop_secs`` of silence run out: the next audio frame says complete."""
    analyzer.finished = True  # smart-turn's silence ran out
    await strategy.process_frame(InputAudioRawFrame(bytes(320), 8000, 1))


async def watch(strategy: Any) -> dict[str, list]:
    """Set ``strategy`` up; the lists collect its ends of turn ("stopped"), its inference
    triggers ("inference": the speculation, or None) and its withdrawals ("withdrawn")."""
    seen: dict[str, list] = {
        "stopped": await ends_of_turn(strategy),
        "inference": [],
        "withdrawn": [],
    }

    @strategy.event_handler("on_user_turn_inference_triggered")
    async def _inference(_: Any, speculation: Any) -> None:
        seen["inference"].append(speculation)

    @strategy.event_handler("on_user_turn_speculation_cancelled")
    async def _withdrawn(_: Any) -> None:
        seen["withdrawn"].append(True)

    return seen
