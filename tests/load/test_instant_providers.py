"""The ``instant`` providers: real pipecat services that need no model and answer at once."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
from helpers import serve_app
from pipecat.frames.frames import TranscriptionFrame

from voicelab.bot.providers import build_providers, pool_models
from voicelab.bot.services import InstantSTTService, InstantTTSService, ScriptedLLMService
from voicelab.bot.services.instant_stt import INSTANT_TRANSCRIPT
from voicelab.bot.services.instant_tts import synthetic_speech
from voicelab.config import Settings
from voicelab.recording.audible import audible_windows
from voicelab.server.app import create_app
from voicelab.server.runner import CallServer


def test_instant_bundle_needs_no_model_but_the_turn_models():
    providers = build_providers(Settings(providers="instant"), pool=None)
    assert providers.name == "instant"
    assert isinstance(providers.stt, InstantSTTService)
    assert isinstance(providers.llm, ScriptedLLMService)
    assert isinstance(providers.tts, InstantTTSService)
    assert providers.description["vad"] == {"service": "silero"}
    turns = {"vad", "smart_turn"}
    assert pool_models("instant") == turns == pool_models("cloud")
    assert pool_models("scripted") == {"whisper", "tts"} | turns
    assert pool_models("offline") == {"whisper", "tts", "llm"} | turns


def test_instant_server_loads_only_the_turn_models_and_is_ready(tmp_path):
    app = create_app(Settings(providers="instant", recordings_dir=tmp_path, log_dir=tmp_path))
    pool = app.state.voicelab.pool
    with serve_app(app) as url:
        health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ready"
    assert pool.loaded == {
        "whisper": False,
        "llm": False,
        "tts": False,
        "vad": True,
        "smart_turn": True,
    }


def test_in_process_instant_server_loads_no_speech_model(tmp_path):
    settings = Settings(providers="instant", recordings_dir=tmp_path, log_dir=tmp_path)
    with CallServer(settings) as server:
        assert server._server is not None
        pool = server._server.app.state.voicelab.pool  # GracefulServer.app: the FastAPI app
        assert httpx.get(f"{server.url}/health").json()["status"] == "ready"
        assert pool.loaded["vad"] and not (pool.loaded["whisper"] or pool.loaded["llm"])


def test_scripted_server_still_waits_for_its_models(tmp_path):
    # The same readiness rule, for a bundle that does need the pool: not ready until loaded.
    app = create_app(Settings(providers="scripted", recordings_dir=tmp_path, log_dir=tmp_path))
    assert app.state.voicelab.pool is not None
    assert not any(app.state.voicelab.pool.loaded.values())


def test_synthetic_speech_lasts_in_proportion_to_the_text_and_is_audible_throughout():
    short = synthetic_speech("Hello.", 8000, seconds_per_char=0.02)
    long = synthetic_speech("Hello." * 10, 8000, seconds_per_char=0.02)
    assert short.dtype == np.int16
    assert short.size == round(6 * 0.02 * 8000) and long.size == 10 * short.size
    samples = long.astype(np.float32) / 32768
    windows = samples.size // 80
    # Every 10 ms window but the faded edges is audible by voicelab's one definition.
    assert audible_windows(samples, 80).size >= windows - 2
    assert synthetic_speech("Hi", 16000, seconds_per_char=0.02).size == 640


def test_instant_stt_gives_one_transcript_per_segment():
    stt = InstantSTTService()

    async def frames(audio: bytes) -> list[object]:
        return [frame async for frame in stt.run_stt(audio)]

    out = asyncio.run(frames(bytes(16000)))
    assert [type(f) for f in out] == [TranscriptionFrame]
    assert out[0].text == INSTANT_TRANSCRIPT  # type: ignore[attr-defined]
