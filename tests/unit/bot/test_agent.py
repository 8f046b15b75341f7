"""The agent seam without calls: choosing an agent, checking what it returns, the pipeline
voicelab builds around it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from custom_agents import fixed_reply_agent
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameProcessor

from voicelab.bot.agent import AgentContext, AgentParts, agent_name, build_agent_parts, load_agent
from voicelab.bot.call import CallInfo
from voicelab.bot.faults import CallGuards
from voicelab.bot.persona import load_persona
from voicelab.bot.pipeline import CallPipeline
from voicelab.bot.reference_agent import REFERENCE_AGENT, reference_agent
from voicelab.config import Settings, load_settings
from voicelab.errors import ConfigError
from voicelab.lab import Lab
from voicelab.network import LocalNetwork
from voicelab.recording.observer import CallEventObserver
from voicelab.recording.store import CallRecord
from voicelab.server.app import create_app
from voicelab.server.runner import CallServer

CALL = CallInfo("CA" + "1" * 32, "MZ" + "1" * 32, "", "inbound", "+15550001111", "+15550002222")


# --- choosing an agent: VOICELAB_AGENT, load_agent ---------------------------------------


@pytest.mark.parametrize("bad", ["my_bot", "my_bot:", ":build", "my bot:build", "my_bot:build()"])
def test_a_malformed_voicelab_agent_is_refused_at_settings(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICELAB_AGENT", bad)
    with pytest.raises(ConfigError, match=r"invalid setting VOICELAB_AGENT: .*must be an import"):
        load_settings()


def test_a_well_formed_voicelab_agent_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICELAB_AGENT", " my_bot.agents:factories.build ")
    assert load_settings().agent == "my_bot.agents:factories.build"
    assert load_settings(agent="").agent is None  # empty: the reference agent


def test_load_agent_defaults_to_the_reference_agent() -> None:
    assert load_agent(None) is reference_agent
    assert load_agent(REFERENCE_AGENT) is reference_agent
    assert load_agent(fixed_reply_agent) is fixed_reply_agent
    assert agent_name(reference_agent) == REFERENCE_AGENT


def test_load_agent_falls_back_to_the_settings_agent_then_the_reference_agent() -> None:
    # The one home of "none -> VOICELAB_AGENT -> the reference agent" (servers, labs).
    chosen = Settings(agent="custom_agents:fixed_reply_agent")
    assert load_agent(None, chosen) is fixed_reply_agent
    assert load_agent(reference_agent, chosen) is reference_agent  # the argument wins
    assert load_agent(None, Settings(agent=None)) is reference_agent


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("no_such_module_xyz:build", "no module named 'no_such_module_xyz'"),
        ("voicelab.bot.agent:no_such_factory", "has no attribute 'no_such_factory'"),
        ("voicelab.bot.agent:AGENT_VARIABLE", "is a str, not a factory"),
        ("not-an-import-string", "must be an import string"),
    ],
)
def test_an_agent_that_does_not_import_is_one_line_naming_the_variable(spec: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_agent(spec)
    message = str(caught.value)
    assert message.startswith("invalid setting VOICELAB_AGENT: ") and why in message


def test_a_module_that_raises_on_import_is_reported_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "exploding_agent_mod.py").write_text("raise ImportError('needs torch')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"VOICELAB_AGENT: .*importing .* failed.*needs torch"):
        load_agent("exploding_agent_mod:build")


def test_a_non_callable_agent_is_refused() -> None:
    with pytest.raises(ConfigError, match="a callable or a 'module:factory' string, not int"):
        load_agent(42)  # type: ignore[arg-type]


def test_a_broken_agent_stops_the_server_at_start_not_per_call(tmp_path: Path) -> None:
    settings = Settings(providers="instant", recordings_dir=tmp_path, agent="no_such_mod_q:f")
    with pytest.raises(ConfigError, match="VOICELAB_AGENT"):
        create_app(settings)
    server = CallServer(settings, log_level="error")
    with pytest.raises(ConfigError, match="no module named 'no_such_mod_q'"):
        server.start()
    assert not server.running and server.port is None  # nothing listens, the port is free


def test_the_lab_imports_its_agent_when_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid setting VOICELAB_AGENT: .*must be an import"):
        Lab(agent="not an import string", providers="instant", recordings_dir=tmp_path)
    with pytest.raises(ConfigError, match="no module named 'no_such_mod_r'"):
        Lab(agent="no_such_mod_r:f", providers="instant", recordings_dir=tmp_path)
    lab = Lab(agent="custom_agents:fixed_reply_agent", providers="instant", recordings_dir=tmp_path)
    assert lab.agent is fixed_reply_agent
    assert lab.settings.agent == "custom_agents:fixed_reply_agent"  # in the settings hash too
    assert Lab(agent=fixed_reply_agent, recordings_dir=tmp_path).agent is fixed_reply_agent


def test_an_agent_and_a_server_url_do_not_go_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give one of them"):
        LocalNetwork(
            Settings(recordings_dir=tmp_path),
            server_url="http://127.0.0.1:9",
            agent=fixed_reply_agent,
        )


# --- what an agent returns ----------------------------------------------------------------


def context(tmp_path: Path, settings: Settings | None = None) -> AgentContext:
    settings = settings or Settings(providers="instant", recordings_dir=tmp_path)
    record = CallRecord.open(tmp_path, CALL.call_sid, "server")
    return AgentContext(CALL, settings, None, load_persona("inbound"), record)


def test_a_factory_may_return_just_its_processors_or_be_async(tmp_path: Path) -> None:
    processors = [FrameProcessor(), FrameProcessor()]

    async def async_agent(ctx: AgentContext) -> list[FrameProcessor]:
        return processors

    parts = asyncio.run(build_agent_parts(async_agent, context(tmp_path)))
    assert isinstance(parts, AgentParts) and parts.processors == processors
    pipeline = Pipeline([FrameProcessor()])
    parts = asyncio.run(build_agent_parts(lambda ctx: pipeline, context(tmp_path)))
    assert parts.processors is pipeline


@pytest.mark.parametrize(
    ("returned", "named"),
    [
        (None, "a NoneType"),
        (FrameProcessor(), "a FrameProcessor"),
        (["stt", FrameProcessor()], "str"),
        (AgentParts([FrameProcessor()], after_output=[object()]), "object"),  # type: ignore[list-item]
    ],
)
def test_a_factory_that_returns_no_processors_is_a_clear_error(
    tmp_path: Path, returned: Any, named: str
) -> None:
    def sloppy_agent(ctx: AgentContext) -> Any:
        return returned

    with pytest.raises(ConfigError, match=f"sloppy_agent returned {named}: expected AgentParts"):
        asyncio.run(build_agent_parts(sloppy_agent, context(tmp_path)))


# --- the pipeline voicelab builds around an agent ----------------------------------------


class _UnconnectedWebSocket:
    """Where the transport would read and write; building the pipeline touches neither."""

    client_state: Any = None
    application_state: Any = None


def pipeline_names(tmp_path: Path, parts: AgentParts, settings: Settings) -> list[str]:
    record = CallRecord.open(tmp_path, CALL.call_sid, "server")
    session = CallPipeline(
        websocket=_UnconnectedWebSocket(),  # type: ignore[arg-type]
        call=CALL,
        settings=settings,
        record=record,
    )
    worker, _ = session._build(
        parts, tmp_path / "x.wav", CallEventObserver(record), CallGuards(settings)
    )
    inner = next(p for p in worker._pipeline.processors if type(p).__name__ == "Pipeline")
    return [type(p).__name__ for p in inner.processors]


def test_a_custom_agent_gets_the_transport_recorder_and_guards_around_it(tmp_path: Path) -> None:
    # Faults on the STT and the TTS: voicelab places them after the agent's own services.
    settings = Settings(
        providers="instant", recordings_dir=tmp_path, faults={"stt": "error", "tts": "error"}
    )
    parts = fixed_reply_agent(context(tmp_path, settings))
    assert pipeline_names(tmp_path, parts, settings) == [
        "PipelineSource",
        "FastAPIWebsocketInputTransport",
        "FallbackSpeaker",
        "InstantSTTService",
        "ProviderFault",  # the STT fault, right after the agent's STT
        "LLMUserAggregator",
        "FixedReply",  # not an LLM service: no first-token guard
        "InstantTTSService",
        "ProviderFault",
        "FastAPIWebsocketOutputTransport",
        "StreamingRecorder",
        "LLMAssistantAggregator",
        "PipelineSink",
    ]
    # An agent that handles its own errors: only the fallback speaker at the head.
    unguarded = fixed_reply_agent(context(tmp_path, settings))
    unguarded.guards = False
    names = pipeline_names(tmp_path, unguarded, settings)
    assert "ProviderFault" not in names and names[2] == "FallbackSpeaker"


def test_a_whole_pipeline_is_placed_as_it_is(tmp_path: Path) -> None:
    settings = Settings(providers="instant", recordings_dir=tmp_path, faults={"stt": "error"})
    parts = fixed_reply_agent(context(tmp_path, settings))
    assert not isinstance(parts.processors, Pipeline)
    whole = AgentParts(Pipeline(list(parts.processors)))
    names = pipeline_names(tmp_path, whole, settings)
    assert names[2:5] == ["FallbackSpeaker", "Pipeline", "FastAPIWebsocketOutputTransport"]
