"""The windowed, batching Whisper front: right words, a short window, one pass for many calls."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import jiwer
import numpy as np
import pytest
import soxr

from voicelab.bot.services.windowed_whisper import WindowedWhisper, _repetitive

if TYPE_CHECKING:
    from voicelab.bot.models import ModelPool

LINES = [
    "My chicken curry was cold when it arrived at the table.",
    "No, thank you.",
    "The coffee in the lobby cafe was burnt and the staff were rude.",
    "It was okay, I guess.",
]


@pytest.fixture(scope="module")
def speech(model_pool: ModelPool) -> dict[str, np.ndarray]:
    """Each line spoken by the bot's own voice, at Whisper's 16 kHz."""
    tts = model_pool.tts()
    out = {}
    for line in LINES:
        audio = np.concatenate(list(tts.stream(line))).astype(np.float32)
        out[line] = soxr.resample(audio, 24000, 16000).astype(np.float32)
    return out


def _wer(reference: str, hypothesis: str) -> float:
    clean = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.Strip()])
    return float(jiwer.wer(clean(reference), clean(hypothesis)))


@pytest.mark.slow  # real Whisper on real speech: 5 s
def test_transcribes_each_line_in_a_short_window(
    model_pool: ModelPool, speech: dict[str, np.ndarray]
) -> None:
    whisper = WindowedWhisper(model_pool.whisper())
    for line, audio in speech.items():
        (segment,), _ = whisper.transcribe(audio, language="en")
        assert _wer(line, segment.text) <= 0.15, (line, segment.text)
        assert segment.no_speech_prob < 0.4  # pipecat's threshold keeps the text
    # Every line fitted the 10 s window, not Whisper's 30 s one.
    assert whisper.window_frames(len(speech[LINES[2]]) / 16000) == 1000


def test_window_grows_with_the_utterance_up_to_whispers(model_pool: ModelPool) -> None:
    whisper = WindowedWhisper(model_pool.whisper(), min_window_secs=10, tail_secs=3)
    assert whisper.window_frames(0.5) == 1000
    assert whisper.window_frames(12.0) == 1500  # 12 s of speech + 3 s of silence
    assert whisper.window_frames(40.0) == 3000


def test_a_view_sets_its_calls_window(model_pool: ModelPool, speech: dict[str, np.ndarray]) -> None:
    whisper = WindowedWhisper(model_pool.whisper())
    (short,), _ = whisper.transcribe(speech[LINES[1]])
    (full,), _ = whisper.with_window(30).transcribe(speech[LINES[1]])
    assert whisper.windows == [1000, 3000]  # VOICELAB_STT_WINDOW_SECS=30: Whisper's own
    assert _wer(LINES[1], short.text) <= 0.15 and _wer(LINES[1], full.text) <= 0.15


def test_concurrent_utterances_share_a_pass_and_keep_their_own_words(
    model_pool: ModelPool, speech: dict[str, np.ndarray]
) -> None:
    whisper = WindowedWhisper(model_pool.whisper())
    results: dict[str, str] = {}
    start = threading.Barrier(len(LINES))

    def call(line: str) -> None:
        start.wait()
        (segment,), _ = whisper.transcribe(speech[line])
        results[line] = segment.text

    threads = [threading.Thread(target=call, args=(line,)) for line in LINES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(results) == set(LINES)
    for line, text in results.items():
        assert _wer(line, text) <= 0.15, (line, text)
    assert sum(whisper.batches) == len(LINES)
    assert max(whisper.batches) > 1, whisper.batches


def test_silence_is_not_speech(model_pool: ModelPool) -> None:
    whisper = WindowedWhisper(model_pool.whisper())
    (segment,), _ = whisper.transcribe(np.zeros(16000, dtype=np.float32))
    assert segment.text == "" or segment.no_speech_prob >= 0.4


def test_repetition_loops_are_recognised() -> None:
    assert _repetitive("Yes. Yes. Yes. Yes. Yes. Yes. Yes. Yes. Yes.")
    assert _repetitive("It was okay, I guess. It was okay, I guess. It was okay, I guess.")
    assert not _repetitive("My chicken curry was cold when it arrived at the table.")
    assert not _repetitive("Yes.")
