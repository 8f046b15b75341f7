"""Hibari, a tiny offline TTS (bundled 24 kHz American voice), as a pipecat service."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from typing import Any

import numpy as np
from pipecat.frames.frames import ErrorFrame, Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.utils.tracing.service_decorators import traced_tts

from voicelab.bot.services.clauses import ClauseTextAggregator

__all__ = ["HibariTTSService", "trim_leading_silence"]

HIBARI_SAMPLE_RATE = 24000


def trim_leading_silence(
    audio: np.ndarray, threshold: float = 0.01, keep_s: float = 0.02
) -> np.ndarray:
    """Drop the silence Hibari puts before each sentence (260-340 ms of pure latency).

    Keeps ``keep_s`` seconds before the first sample above ``threshold`` so the
    onset is not clipped.
    """
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio[:0]
    start = max(0, int(loud[0]) - int(keep_s * HIBARI_SAMPLE_RATE))
    return audio[start:]


class HibariTTSService(TTSService):
    """Streams Hibari speech clause by clause, synthesised off the event loop.

    Args:
        engine: A warmed ``hibari.Hibari`` instance (from the model pool).
        lock: Serialises use of the shared engine across calls.
        **kwargs: Passed to :class:`TTSService`.
    """

    Settings = TTSSettings

    def __init__(self, *, engine: Any, lock: threading.Lock, **kwargs: Any) -> None:
        kwargs.setdefault("settings", TTSSettings(model="hibari", voice="heart", language="en"))
        super().__init__(push_start_frame=True, push_stop_frames=True, **kwargs)
        self._engine = engine
        self._engine_lock = lock
        # Speak each clause as it arrives rather than each sentence (services/clauses.py).
        self._text_aggregator = ClauseTextAggregator()

    def can_generate_metrics(self) -> bool:
        return True

    def _synthesize(self, text: str, out: asyncio.Queue[np.ndarray | None], loop: Any) -> None:
        try:
            with self._engine_lock:
                for sentence in self._engine.stream(text):
                    loop.call_soon_threadsafe(out.put_nowait, trim_leading_silence(sentence))
        finally:
            loop.call_soon_threadsafe(out.put_nowait, None)

    @traced_tts  # pipecat's `tts` span per reply when the call is traced
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Synthesise ``text``; yields 16-bit PCM frames at the pipeline's output rate."""
        await self.start_tts_usage_metrics(text)
        queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        worker = asyncio.create_task(
            asyncio.to_thread(self._synthesize, text, queue, asyncio.get_running_loop())
        )
        try:
            while (samples := await queue.get()) is not None:
                if samples.size == 0:
                    continue
                await self.stop_ttfb_metrics()
                pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
                audio = await self._resampler.resample(pcm, HIBARI_SAMPLE_RATE, self.sample_rate)
                yield TTSAudioRawFrame(audio, self.sample_rate, 1, context_id=context_id)
            await worker
        except Exception as exc:  # synthesis failure must not kill the call
            yield ErrorFrame(error=f"Hibari TTS failed: {exc}")
        finally:
            await self.stop_ttfb_metrics()
