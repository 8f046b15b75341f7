"""Where someone speaks on one channel of a recording: Silero VAD, pipecat's own model.

Used when a recording says nothing of its caller's utterances (a bare stereo WAV, a real
call's server recording). Silero judges each 32 ms chunk; chunks at or above pipecat's
confidence are speech, and speech separated by less than ``gap_s`` of silence is one
utterance (a caller's pause between two sentences does not make two turns).
"""

from __future__ import annotations

import numpy as np
import soxr

__all__ = ["SpeechSpan", "speech_spans"]

_RATE = 16000  # Silero's native rate; a phone recording is resampled up to it
SpeechSpan = tuple[float, float]
"""An utterance's start and end, in seconds from the recording's sample 0."""


def speech_spans(
    samples: np.ndarray,
    sample_rate: int,
    *,
    gap_s: float = 0.8,
    min_speech_s: float = 0.25,
    confidence: float = 0.7,
) -> list[SpeechSpan]:
    """The speech of ``samples`` (mono float32 in [-1, 1]) as utterance spans, in order.

    Args:
        samples: One channel.
        sample_rate: Its rate.
        gap_s: Shorter silences inside speech do not end an utterance.
        min_speech_s: Shorter bursts (a cough, a click) are not utterances.
        confidence: Silero's speech probability a chunk must reach (pipecat's default).
    """
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from voicelab._process import quiet_onnxruntime

    quiet_onnxruntime()
    vad = SileroVADAnalyzer(sample_rate=_RATE)
    vad.set_sample_rate(_RATE)
    audio = (
        soxr.resample(samples.astype(np.float32), sample_rate, _RATE) if samples.size else samples
    )
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    chunk = vad.num_frames_required()
    chunk_s = chunk / _RATE
    spans: list[list[float]] = []
    for index in range(pcm.size // chunk):
        block = pcm[index * chunk : (index + 1) * chunk]
        if vad.voice_confidence(block.tobytes()) < confidence:
            continue
        start, end = index * chunk_s, (index + 1) * chunk_s
        if spans and start - spans[-1][1] < gap_s:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(round(a, 3), round(b, 3)) for a, b in spans if b - a >= min_speech_s]
