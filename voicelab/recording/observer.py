"""A pipecat observer that turns frames into CallEvents, as they happen."""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    InputDTMFFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    OutputDTMFFrame,
    OutputDTMFUrgentFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import LLMUsageMetricsData, TTFBMetricsData, TTSUsageMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.observers.user_bot_latency_observer import UserBotLatencyObserver
from pipecat.processors.frame_processor import FrameDirection

from voicelab.recording.store import CallRecord

__all__ = ["CallEventObserver"]


class CallEventObserver(BaseObserver):
    """Writes one CallEvent per meaningful frame into a call's ``events.jsonl``.

    Frames that pipecat broadcasts in both directions (speaking state) are
    de-duplicated by tracking the state they announce. ``turn`` counts the
    caller's turns: 0 is the greeting, +1 at each ``user.speech_started``.

    Args:
        record: Where the events go.
    """

    def __init__(self, record: CallRecord, **kwargs: Any) -> None:
        super().__init__(observe_every_push=False, **kwargs)
        self._record = record
        self.turn = 0
        self._user_speaking = False
        self._vad_speaking = False
        self._spoken: list[str] = []  # TTS text of the current bot speech, as it is spoken
        self._bot_speaking = False
        self._llm_started_at: float | None = None
        self._llm_text: list[str] = []
        self._llm_first_token = False
        self._tts_started_at: float | None = None
        self._tts_first_audio = False
        self._speak_text: str | None = None  # text of a TTSSpeakFrame (the greeting) to come

    def latency_observer(self) -> UserBotLatencyObserver:
        """pipecat's voice-to-voice observer, wired to emit ``metrics.v2v`` events."""
        observer = UserBotLatencyObserver()

        @observer.event_handler("on_latency_measured")
        async def _measured(_: Any, seconds: float) -> None:
            self._emit("metrics.v2v", v2v_s=round(seconds, 4), measured_from="user_stopped")

        @observer.event_handler("on_first_bot_speech_latency")
        async def _first(_: Any, seconds: float) -> None:
            self._emit("metrics.v2v", v2v_s=round(seconds, 4), measured_from="client_connected")

        return observer

    def _emit(self, type: str, **data: Any) -> None:
        self._record.emit(type, turn=self.turn, **data)

    async def on_push_frame(self, data: FramePushed) -> None:
        self.handle(data.frame, data.direction)

    def handle(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        """Record ``frame`` if it marks something a call record keeps."""
        if isinstance(frame, UserStartedSpeakingFrame) and not self._user_speaking:
            self._user_speaking = True
            self.turn += 1
            self._emit("user.speech_started")
        elif isinstance(frame, UserStoppedSpeakingFrame) and self._user_speaking:
            self._user_speaking = False
            self._emit("user.speech_stopped")
        elif isinstance(frame, VADUserStartedSpeakingFrame) and not self._vad_speaking:
            self._vad_speaking = True
            self._emit("vad.started")
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._vad_speaking:
            self._vad_speaking = False
            self._emit("vad.stopped", stop_secs=frame.stop_secs)
        elif isinstance(frame, TranscriptionFrame):
            self._emit("stt.transcript", text=frame.text.strip(), final=True)
        elif isinstance(frame, InterimTranscriptionFrame):
            self._emit("stt.transcript", text=frame.text.strip(), final=False)
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._llm_started_at = self._record.now()
            self._llm_text, self._llm_first_token = [], False
            self._emit("llm.started")
        elif isinstance(frame, LLMTextFrame):
            self._on_llm_text(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame) and self._llm_started_at is not None:
            self._emit("llm.response", text="".join(self._llm_text).strip())
            self._llm_started_at = None
        elif isinstance(frame, TTSSpeakFrame):
            self._speak_text = frame.text.strip()
        elif isinstance(frame, TTSStartedFrame):
            self._tts_started_at, self._tts_first_audio = self._record.now(), False
            # Spoken text without an LLM (the greeting) is known up front: keep it even
            # if the caller hangs up before a word of it is played.
            text, self._speak_text = self._speak_text, None
            self._emit("tts.started", **({"text": text} if text else {}))
        elif isinstance(frame, TTSAudioRawFrame) and not self._tts_first_audio:
            self._on_tts_audio()
        elif isinstance(frame, BotStartedSpeakingFrame) and not self._bot_speaking:
            self._bot_speaking = True
            self._emit("bot.speech_started")
        elif isinstance(frame, BotStoppedSpeakingFrame) and self._bot_speaking:
            self._bot_speaking = False
            self._emit("bot.speech_stopped", text=" ".join(self._spoken).strip())
            self._spoken = []
        elif isinstance(frame, TTSTextFrame):
            self._spoken.append(frame.text.strip())
        elif isinstance(frame, InterruptionFrame) and direction == FrameDirection.DOWNSTREAM:
            # Every user turn start broadcasts one; only those that cut the bot off count.
            if self._bot_speaking:
                self._emit("interruption")
            else:
                # Speech on its way but not started is dropped (e.g. a greeting a voicemail
                # detector held back): its text was never said.
                self._spoken = []
        elif isinstance(frame, InputDTMFFrame):
            self._emit("dtmf", digit=str(frame.button.value))
        elif isinstance(frame, OutputDTMFFrame | OutputDTMFUrgentFrame):
            # The keys the bot presses (an IVR navigator's <dtmf>), one event per key.
            for button in frame.buttons or ():
                self._emit("dtmf.sent", digit=str(button.value))
        elif isinstance(frame, MetricsFrame):
            self._on_metrics(frame)
        elif isinstance(frame, ErrorFrame):
            self._emit("error", message=str(frame.error), fatal=bool(frame.fatal))

    def finish(self) -> None:
        """Close what the call's end cut short: a bot still speaking stops here."""
        if self._bot_speaking:
            self._bot_speaking = False
            self._emit("bot.speech_stopped", text=" ".join(self._spoken).strip(), cut_off=True)
            self._spoken = []

    def _on_llm_text(self, text: str) -> None:
        if self._llm_started_at is None:
            return
        if not self._llm_first_token:
            self._llm_first_token = True
            ttft = self._record.now() - self._llm_started_at
            self._emit("llm.first_token", ttft_s=round(ttft, 4))
        self._llm_text.append(text)

    def _on_tts_audio(self) -> None:
        self._tts_first_audio = True
        if self._tts_started_at is not None:
            ttfa = self._record.now() - self._tts_started_at
            self._emit("tts.first_audio", ttfa_s=round(ttfa, 4))

    def _on_metrics(self, frame: MetricsFrame) -> None:
        for item in frame.data:
            if isinstance(item, TTFBMetricsData) and item.value > 0:
                self._emit("metrics.ttfb", service=item.processor, ttfb_s=round(item.value, 4))
            elif isinstance(item, LLMUsageMetricsData):
                usage = item.value
                self._emit(
                    "llm.usage",
                    service=item.processor,
                    prompt_tokens=int(usage.prompt_tokens or 0),
                    completion_tokens=int(usage.completion_tokens or 0),
                    total_tokens=int(usage.total_tokens or 0),
                )
            elif isinstance(item, TTSUsageMetricsData):
                self._emit("tts.usage", service=item.processor, characters=int(item.value))
