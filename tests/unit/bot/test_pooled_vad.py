"""Every call's Silero analyzer over the pool's one session: same state, same answers."""

from __future__ import annotations

import numpy as np
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams

from voicelab.bot.models import ModelPool
from voicelab.bot.vad import PooledSileroVADAnalyzer


def _speechlike(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    # a voiced vowel: harmonics of 140 Hz under a syllable-rate envelope
    wave = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return (wave * envelope * 6000).astype(np.int16).tobytes()


def test_pooled_analyzer_has_pipecats_state_and_shares_one_session() -> None:
    pool = ModelPool()
    params = VADParams(stop_secs=0.2)
    stock = SileroVADAnalyzer(params=params)
    first = PooledSileroVADAnalyzer(session=pool.vad(), params=params)
    second = PooledSileroVADAnalyzer(session=pool.vad(), params=params)
    # pipecat's analyzer attributes, all there (fails if pipecat adds one we skip)
    assert set(vars(first)) == set(vars(stock))
    assert set(vars(first._model)) == set(vars(stock._model))
    assert first._model.session is second._model.session is pool.vad()
    assert pool.loads["vad"] == 1


def test_pooled_analyzers_score_like_pipecats_and_keep_their_own_state() -> None:
    pool = ModelPool()
    stock = SileroVADAnalyzer(sample_rate=16000)
    pooled = [PooledSileroVADAnalyzer(session=pool.vad(), sample_rate=16000) for _ in range(2)]
    audio = _speechlike(1.0)
    chunk = stock.num_frames_required() * 2
    silence = bytes(chunk)
    for i in range(0, len(audio) - chunk, chunk):
        frame = audio[i : i + chunk]
        expected = float(stock.voice_confidence(frame))
        # the second analyzer hears silence in between: its state must not leak into the first
        assert abs(float(pooled[0].voice_confidence(frame)) - expected) < 1e-5
        pooled[1].voice_confidence(silence)


def test_pooled_smart_turn_matches_pipecats_analyzer_on_one_shared_session() -> None:
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

    from voicelab.bot.vad import PooledSmartTurnAnalyzer

    pool = ModelPool()
    stock = LocalSmartTurnAnalyzerV3()
    pooled = [PooledSmartTurnAnalyzer(session=pool.smart_turn()) for _ in range(2)]
    assert set(vars(pooled[0])) == set(vars(stock))
    assert pooled[0]._session is pooled[1]._session is pool.smart_turn()
    assert pool.loads["smart_turn"] == 1
    audio = np.frombuffer(_speechlike(2.0), dtype=np.int16).astype(np.float32) / 32768
    for analyzer in (stock, *pooled):
        analyzer.set_sample_rate(16000)
    expected = stock._predict_endpoint(audio)
    for analyzer in pooled:
        got = analyzer._predict_endpoint(audio)
        assert got["prediction"] == expected["prediction"]
        assert abs(got["probability"] - expected["probability"]) < 1e-5
