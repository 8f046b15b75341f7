"""Provider bundles: the cloud stack builds with pipecat's services; missing keys are clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipecat.pipeline.worker import PipelineWorker
from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.openai.llm import OpenAILLMService

from voicelab.bot.agent import AgentContext
from voicelab.bot.call import CallInfo
from voicelab.bot.faults import CallGuards
from voicelab.bot.persona import load_persona
from voicelab.bot.pipeline import CallPipeline
from voicelab.bot.providers import build_providers
from voicelab.bot.reference_agent import reference_agent
from voicelab.config import Settings
from voicelab.errors import ConfigError
from voicelab.recording.observer import CallEventObserver
from voicelab.recording.store import CallRecord

KEYS = {
    "openai_api_key": "sk-test",
    "deepgram_api_key": "dg-test",
    "cartesia_api_key": "ca-test",
    "cartesia_voice_id": "voice-test",
}


def test_cloud_providers_are_pipecats_services():
    settings = Settings(providers="cloud", openai_base_url="http://127.0.0.1:11434/v1", **KEYS)
    providers = build_providers(settings)
    assert isinstance(providers.stt, DeepgramSTTService)
    assert isinstance(providers.llm, OpenAILLMService)
    assert isinstance(providers.tts, CartesiaTTSService)
    assert providers.description["llm"]["base_url"] == "http://127.0.0.1:11434/v1"


@pytest.mark.parametrize(
    "missing", ["openai_api_key", "deepgram_api_key", "cartesia_api_key", "cartesia_voice_id"]
)
def test_cloud_without_a_key_names_the_missing_variable(missing):
    settings = Settings(providers="cloud", **{k: v for k, v in KEYS.items() if k != missing})
    with pytest.raises(ConfigError, match=missing.upper()):
        build_providers(settings)


def test_local_providers_need_the_model_pool():
    with pytest.raises(ConfigError, match="ModelPool"):
        build_providers(Settings(providers="scripted"))


class _UnconnectedWebSocket:
    """Where the transport would read and write; building the pipeline touches neither."""

    client_state: Any = None
    application_state: Any = None


def test_the_call_pipeline_builds_with_the_cloud_stack(tmp_path: Path):
    settings = Settings(providers="cloud", recordings_dir=tmp_path, **KEYS)
    call = CallInfo("CA" + "1" * 32, "MZ" + "1" * 32, "", "inbound", "+15550001111", "+15550002222")
    record = CallRecord.open(tmp_path, call.call_sid, "server")
    session = CallPipeline(
        websocket=_UnconnectedWebSocket(),  # type: ignore[arg-type]
        call=call,
        settings=settings,
        record=record,
    )
    # The reference agent's processors, with voicelab's transport, guards and recorder around.
    parts = reference_agent(AgentContext(call, settings, None, load_persona("inbound"), record))
    worker, recorder = session._build(
        parts,
        tmp_path / "x.wav",
        CallEventObserver(record),
        CallGuards(settings),
    )
    assert isinstance(worker, PipelineWorker)
    inner = next(p for p in worker._pipeline.processors if type(p).__name__ == "Pipeline")
    assert [type(p).__name__ for p in inner.processors] == [
        "PipelineSource",
        "FastAPIWebsocketInputTransport",
        "FallbackSpeaker",  # first: every later processor's errors pass it upstream
        "DeepgramSTTService",
        "LLMUserAggregator",
        "OpenAILLMService",
        "FirstTokenGuard",  # a hung LLM gets the fallback line, not silence
        "CartesiaTTSService",
        "FastAPIWebsocketOutputTransport",
        "StreamingRecorder",  # pipecat's AudioBufferProcessor, streamed to the WAV
        "SpeechWatch",  # what a transfer waits on (bot/tools.py)
        "LLMAssistantAggregator",
        "PipelineSink",
    ]
    assert recorder is inner.processors[9]


def test_a_pool_less_agent_gets_smart_turn_with_its_own_model(tmp_path: Path):
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

    from voicelab.bot.turn_end import HeldTurnAnalyzerStopStrategy

    settings = Settings(providers="cloud", recordings_dir=tmp_path, **KEYS)
    call = CallInfo("CA" + "2" * 32, "MZ" + "2" * 32, "", "inbound", "+15550001111", "+15550002222")
    record = CallRecord.open(tmp_path, call.call_sid, "server")
    parts = reference_agent(AgentContext(call, settings, None, load_persona("inbound"), record))
    user = next(p for p in parts.processors if type(p).__name__ == "LLMUserAggregator")
    (stop,) = user._params.user_turn_strategies.stop
    # VOICELAB_TURN_END=smart_turn is what it says without a pool too, not a silent fixed wait.
    assert isinstance(stop, HeldTurnAnalyzerStopStrategy)
    assert type(stop._turn_analyzer) is LocalSmartTurnAnalyzerV3


def test_voicelab_turn_end_smart_turn_words_builds_the_words_rule(tmp_path: Path):
    from voicelab.bot.turn_end import WordsOrSmartTurnStopStrategy

    settings = Settings(
        providers="cloud",
        recordings_dir=tmp_path,
        turn_end="smart_turn_words",
        speculative_replies=True,
        **KEYS,
    )
    call = CallInfo("CA" + "3" * 32, "MZ" + "3" * 32, "", "inbound", "+15550001111", "+15550002222")
    record = CallRecord.open(tmp_path, call.call_sid, "server")
    parts = reference_agent(AgentContext(call, settings, None, load_persona("inbound"), record))
    user = next(p for p in parts.processors if type(p).__name__ == "LLMUserAggregator")
    (stop,) = user._params.user_turn_strategies.stop
    assert type(stop) is WordsOrSmartTurnStopStrategy and stop._speculate


# --- the reference agent on cloud providers without keys (issue 16) ----------------------------


def test_a_server_on_cloud_providers_without_keys_does_not_start(tmp_path):
    # It used to start, say ready on /health, and fail every call.
    from voicelab.server.runner import CallServer

    with pytest.raises(ConfigError) as refused:
        CallServer(Settings(providers="cloud", recordings_dir=tmp_path)).start()
    message = str(refused.value)
    assert "OPENAI_API_KEY, DEEPGRAM_API_KEY, CARTESIA_API_KEY, CARTESIA_VOICE_ID" in message
    assert "\n" not in message


def test_an_agent_of_your_own_on_cloud_providers_needs_none_of_the_reference_keys(tmp_path):
    from voicelab.server.runner import CallServer

    with CallServer(
        Settings(providers="cloud", recordings_dir=tmp_path),
        agent="custom_agents:fixed_reply_agent",
    ) as server:
        assert server.running


def test_the_demo_on_cloud_without_keys_exits_2_with_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from voicelab.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--providers", "cloud"])
    assert result.exit_code == 2, result.output
    assert "VOICELAB_PROVIDERS=cloud needs OPENAI_API_KEY" in result.output
    assert "completed" not in result.output and "Traceback" not in result.output
