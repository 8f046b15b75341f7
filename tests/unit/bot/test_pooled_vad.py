"""Every call's Silero analyzer over the pool's one session: same state, same answers."""

from __future__ import annotations

import asyncio

import numpy as np
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

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
    # pipecat's analyzer attributes, all there (fails if pipecat adds one we skip), plus
    # the batch and the score in hand
    assert set(vars(first)) == set(vars(stock)) | {"_batch", "_scored"}
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


def _frames(audio: bytes, rate: int) -> list[bytes]:
    step = rate // 50 * 2  # Twilio's 20 ms
    return [audio[i : i + step] for i in range(0, len(audio), step)]


async def _states(analyzer: SileroVADAnalyzer, frames: list[bytes]) -> list[tuple[object, float]]:
    states = []
    for frame in frames:
        states.append((await analyzer.analyze_audio(frame), analyzer._prev_volume))
        await asyncio.sleep(0)  # let the other calls' frames in, as a server's loop does
    return states


def test_batched_analyzers_decide_as_pipecats_own_with_calls_at_once() -> None:
    """Speech and silence through pipecat's analyzer one call at a time, and through pooled
    analyzers many calls at once (their windows scored in shared batches): the same VAD
    state and volume after every 20 ms frame, at both rates Silero reads."""
    import soxr

    from voicelab.recording.wav import pcm16
    from voicelab.simulator.voices import CallerVoice

    pool = ModelPool()
    params = VADParams(stop_secs=0.2)
    line = CallerVoice().speak("Hello, I would like to give some feedback on my stay.")
    for rate in (16000, 8000):
        spoken = pcm16(soxr.resample(line, 8000, rate).astype(np.float32))
        talk = bytes(rate // 2) + spoken + bytes(rate) + spoken + bytes(rate // 2)
        calls = [_frames(talk[i * 640 :] + talk[: i * 640], rate) for i in range(6)]

        async def run(calls: list[list[bytes]] = calls, rate: int = rate) -> list:
            analyzers = [
                PooledSileroVADAnalyzer(session=pool.vad(), sample_rate=rate, params=params)
                for _ in calls
            ]
            for analyzer in analyzers:
                analyzer.set_sample_rate(rate)
            return await asyncio.gather(
                *(_states(a, f) for a, f in zip(analyzers, calls, strict=True))
            )

        pooled = asyncio.run(run())
        for frames, got in zip(calls, pooled, strict=True):
            stock = SileroVADAnalyzer(sample_rate=rate, params=params)
            stock.set_sample_rate(rate)
            expected = asyncio.run(_states(stock, frames))
            assert [s for s, _ in got] == [s for s, _ in expected]
            assert np.allclose([v for _, v in got], [v for _, v in expected], atol=1e-6)
            assert {VADState.SPEAKING, VADState.QUIET} <= {s for s, _ in got}  # heard the line
