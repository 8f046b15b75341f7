"""Whisper over a window sized to the utterance, batched across the process's calls.

faster-whisper pads every utterance to Whisper's 30 s window: on 2 CPU cores tiny.en's
encoder spends 0.38 s on that window whatever was said, most of a phone turn's STT time.
CTranslate2's encoder takes shorter windows (10 s: 0.06 s). A window cut tight to the speech
makes Whisper repeat itself ("Yes, yes", "It was okay, I guess. It was okay"), so the
window keeps a few seconds of real silence after the speech (measured on Hibari speech,
``bench/RESULTS.md``). Utterances that arrive together (concurrent calls) share one
encoder/decoder pass. A transcript that still looks repetitive (Whisper's own
compression-ratio test) is redone the stock way, over the full window.
"""

from __future__ import annotations

import re
import threading
import zlib
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WhisperSegment", "WindowedView", "WindowedWhisper"]

SAMPLE_RATE = 16000
HOP = 160  # samples per mel frame
FULL_WINDOW_SECS = 30.0
# Whisper's temperature-fallback rule: text this compressible is a repetition loop.
COMPRESSION_RATIO_LIMIT = 2.4


@dataclass(frozen=True)
class WhisperSegment:
    """What pipecat's ``WhisperSTTService`` reads from a faster-whisper segment."""

    text: str
    no_speech_prob: float


@dataclass
class _Request:
    audio: np.ndarray
    window_secs: float
    done: Future[WhisperSegment]


class WindowedWhisper:
    """A faster-whisper ``WhisperModel`` behind the part of its API pipecat calls.

    ``transcribe(audio, language=..., ...)`` returns ``([segment], None)`` like faster-whisper's
    (one segment per utterance). Thread-safe: calls from several worker threads are
    gathered into one batch by whichever thread gets the model first.

    Args:
        model: A loaded ``faster_whisper.WhisperModel`` (English-only or multilingual).
        min_window_secs: The shortest window; shorter ones make tiny.en repeat itself.
        tail_secs: Silence kept after the speech inside the window.
        beam_size: 1 is greedy decoding (faster-whisper's default is 5).
        max_batch: Most utterances in one pass.
    """

    def __init__(
        self,
        model: Any,
        *,
        min_window_secs: float = 10.0,
        tail_secs: float = 3.0,
        beam_size: int = 1,
        max_batch: int = 8,
    ) -> None:
        from faster_whisper.tokenizer import Tokenizer

        self.model = model
        self.min_window_secs = min_window_secs
        self.tail_secs = tail_secs
        self.beam_size = beam_size
        self.max_batch = max_batch
        self.batches: list[int] = []  # size of each pass, for benchmarks
        self.windows: list[int] = []  # mel frames of each pass
        self._tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
        )
        self._pending: list[_Request] = []
        self._pending_lock = threading.Lock()
        self._model_lock = threading.Lock()

    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None = None,
        hotwords: str | None = None,
        initial_prompt: str | None = None,
        window_secs: float | None = None,
        **kwargs: Any,
    ) -> tuple[list[WhisperSegment], None]:
        """Transcribe one utterance (float32 mono at 16 kHz). Blocks; call from a thread.

        Args:
            audio: The utterance.
            language: Only English (``None``/``"en"``) takes the windowed path.
            hotwords: Given: the stock path.
            initial_prompt: Given: the stock path.
            window_secs: This utterance's shortest window (default ``min_window_secs``);
                an utterance batched with others gets the largest window among them.
            **kwargs: Any other faster-whisper option: the stock path.
        """
        too_long = len(audio) > (FULL_WINDOW_SECS - self.tail_secs) * SAMPLE_RATE
        if too_long or hotwords or initial_prompt or kwargs or (language not in (None, "en")):
            with self._model_lock:
                stock = self._stock(
                    audio, language, hotwords=hotwords, initial_prompt=initial_prompt
                )
            return [stock], None
        window = self.min_window_secs if window_secs is None else window_secs
        request = _Request(np.asarray(audio, dtype=np.float32), window, Future())
        with self._pending_lock:
            self._pending.append(request)
        # Whoever holds the model runs everything pending, this request included (or a later
        # holder does): no thread waits for a pass that does not contain its utterance.
        while not request.done.done():
            with self._model_lock:
                if request.done.done():
                    break
                with self._pending_lock:
                    batch = self._pending[: self.max_batch]
                    del self._pending[: self.max_batch]
                self._run(batch)
        return [request.done.result()], None

    def with_window(self, window_secs: float) -> WindowedView:
        """This transcriber (its batches and model) with another shortest window."""
        return WindowedView(self, window_secs)

    def window_frames(self, seconds: float, min_window_secs: float | None = None) -> int:
        """Mel frames of the window for an utterance this long."""
        shortest = self.min_window_secs if min_window_secs is None else min_window_secs
        window = min(FULL_WINDOW_SECS, max(shortest, seconds + self.tail_secs))
        return int(np.ceil(window * SAMPLE_RATE / HOP))

    def _run(self, batch: list[_Request]) -> None:
        if not batch:
            return
        try:
            segments = self._transcribe_batch(
                [r.audio for r in batch], max(r.window_secs for r in batch)
            )
        except BaseException as exc:  # every waiting caller gets the error, none hangs
            for request in batch:
                request.done.set_exception(exc)
            return
        for request, segment in zip(batch, segments, strict=True):
            request.done.set_result(segment)

    def _transcribe_batch(
        self, audios: list[np.ndarray], window_secs: float
    ) -> list[WhisperSegment]:
        import ctranslate2

        longest = max(len(a) for a in audios) / SAMPLE_RATE
        frames = self.window_frames(longest, window_secs)
        features = np.stack([self._features(a, frames) for a in audios])
        prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        results = self.model.model.generate(
            ctranslate2.StorageView.from_array(features),
            [prompt] * len(audios),
            beam_size=self.beam_size,
            # bounded by the speech's length: a runaway decode costs at most this
            max_length=min(448, int(24 + 12 * longest)),
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        self.batches.append(len(audios))
        self.windows.append(frames)
        segments = []
        for audio, result in zip(audios, results, strict=True):
            eot = self._tokenizer.eot
            text = self._tokenizer.decode([t for t in result.sequences_ids[0] if t < eot]).strip()
            if _repetitive(text) and frames < self.window_frames(FULL_WINDOW_SECS):
                segments.append(self._stock(audio, None))  # already under the model lock
            else:
                segments.append(WhisperSegment(text, float(result.no_speech_prob)))
        return segments

    def _features(self, audio: np.ndarray, frames: int) -> np.ndarray:
        # Pad the audio, not the features: the model must see the silence it was trained on.
        padded = np.zeros(frames * HOP, dtype=np.float32)
        padded[: min(len(audio), len(padded))] = audio[: len(padded)]
        mel = self.model.feature_extractor(padded)[:, :frames]
        return np.ascontiguousarray(mel, dtype=np.float32)

    def _stock(self, audio: np.ndarray, language: str | None, **options: Any) -> WhisperSegment:
        """faster-whisper's own transcription (full window, beam search, fallbacks).

        Call under the model lock.
        """
        found, _ = self.model.transcribe(audio, language=language or "en", **options)
        found = list(found)
        text = " ".join(s.text.strip() for s in found)
        # the segment most likely to be speech decides: a real transcript is kept
        return WhisperSegment(text, min((s.no_speech_prob for s in found), default=1.0))


def _repetitive(text: str) -> bool:
    """A decoding loop: Whisper's own test (the text compresses too well), or, for text too
    short for that test, a three-word phrase said twice. (A false alarm costs only a stock
    transcription.)"""
    data = text.encode()
    if len(data) > 24 and len(data) / len(zlib.compress(data)) > COMPRESSION_RATIO_LIMIT:
        return True
    words = re.findall(r"[a-z']+", text.lower())
    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    return len(trigrams) != len(set(trigrams))


class WindowedView:
    """A :class:`WindowedWhisper` seen with another shortest window (one call's setting)."""

    def __init__(self, whisper: WindowedWhisper, window_secs: float) -> None:
        self.whisper = whisper
        self.window_secs = window_secs

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[list[WhisperSegment], None]:
        """:meth:`WindowedWhisper.transcribe` with this view's window."""
        return self.whisper.transcribe(audio, window_secs=self.window_secs, **options)
