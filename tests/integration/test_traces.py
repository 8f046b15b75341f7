"""Traces where teams already look: a real call's spans at a real OTLP/HTTP collector.

The collector is a tiny app on 127.0.0.1 that takes ``POST /v1/traces`` (protobuf) and decodes
it with ``opentelemetry-proto``, as Jaeger or Tempo would. The call is a real simulated call
through the carrier on the ``instant`` providers (a fixed transcript, the scripted LLM, a tone as
speech; real Silero VAD, turn-taking, transport and recorder), with a three-word greeting.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from helpers import assert_record_complete, read_events, serve_app, short_greeting_prompts
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from voicelab.config import Settings
from voicelab.network import LabModels, LocalNetwork
from voicelab.simulator.scenario import Scenario, load_scenario
from voicelab.simulator.simulator import CallResult

pytestmark = pytest.mark.slow

# The documented contract (README "Traces"): the attribute to search a backend for, and how
# long a stopping server waits for a collector.
CALL_SID_ATTRIBUTE = "voicelab.call_sid"
CLOSE_TIMEOUT_S = 5.0

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
_COLD_FOOD = load_scenario(SCENARIOS / "cold_food.yaml")
# Two short caller lines: a greeting turn and two answered turns, a few seconds in all.
TWO_LINES = _COLD_FOOD.model_copy(
    update={
        "turns": [
            turn.model_copy(update={"say": say})
            for turn, say in zip(_COLD_FOOD.turns, ["My lunch was cold.", "Thanks."], strict=True)
        ],
        "expect": [],
    }
)


def otlp_collector(
    authorization: str | None = None,
) -> tuple[FastAPI, list[ExportTraceServiceRequest]]:
    """An OTLP/HTTP trace receiver: the app, and the export requests it has decoded.

    With ``authorization``, requests without that header are refused (401), as a hosted
    backend refuses a missing key.
    """
    received: list[ExportTraceServiceRequest] = []
    app = FastAPI()

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        if authorization is not None and request.headers.get("authorization") != authorization:
            return Response(status_code=401)
        if request.headers.get("content-type") != "application/x-protobuf":
            return Response(status_code=415)
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        received.append(message)
        body = ExportTraceServiceResponse().SerializeToString()
        return Response(body, media_type="application/x-protobuf")

    return app, received


def spans(received: list[ExportTraceServiceRequest]) -> list[dict[str, Any]]:
    """Every span received, flattened: name, hex ids, attributes as plain values."""
    found = []
    for request in received:
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex() or None,
                            "attributes": _attributes(span.attributes),
                            "resource": resource,
                        }
                    )
    return found


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in pairs}


def play(tmp_path: Path, models: LabModels, scenario: Scenario, endpoint: str) -> CallResult:
    """One call on a fresh network traced to ``endpoint``; returns once the server stopped."""
    settings = Settings(
        providers="instant",
        recordings_dir=tmp_path / "rec",
        log_dir=tmp_path / "logs",
        prompts_dir=short_greeting_prompts(tmp_path / "prompts"),
        otlp_endpoint=endpoint,
    )

    async def run() -> CallResult:
        async with LocalNetwork(settings, models=models) as network:
            return await network.simulate(scenario)

    call = asyncio.run(run())
    assert call.directory is not None, call.error
    return call


# A hosted backend's key, given the standard way: the SDK reads it, voicelab never does.
SECRET = "Bearer sekret-otlp-key-Qw93kd0Z"


def test_a_call_is_one_trace_at_the_collector_with_its_sid_on_every_span(
    tmp_path, lab_models, monkeypatch
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization={SECRET}")
    app, received = otlp_collector(authorization=SECRET)
    with serve_app(app) as collector:
        # Stopping the network stopped the server, which flushed its spans on the way out.
        call = play(tmp_path, lab_models, TWO_LINES, collector)
    manifest = assert_record_complete(call.directory)
    sid = manifest["call_sid"]
    assert sid == call.call_sid

    found = spans(received)
    assert found, "no span reached the collector"
    # The call's SID on every span, and one trace, the one its record names.
    assert {s["attributes"].get(CALL_SID_ATTRIBUTE) for s in found} == {sid}
    assert {s["attributes"].get("voicelab.stream_sid") for s in found} == {manifest["stream_sid"]}
    assert {s["attributes"].get("voicelab.direction") for s in found} == {"inbound"}
    assert {s["trace_id"] for s in found} == {manifest["trace_id"]}
    assert {s["resource"].get("service.name") for s in found} == {"voicelab"}

    # The tree: voicelab's call span, pipecat's conversation under it, turns under that,
    # and the services' spans (voicelab's own instant STT, scripted LLM, instant TTS).
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in found:
        by_name.setdefault(span["name"], []).append(span)
    assert {"call", "conversation", "turn", "stt", "llm", "tts"} <= set(by_name), by_name.keys()
    [root] = by_name["call"]
    [conversation] = by_name["conversation"]
    assert root["parent"] is None
    assert root["attributes"]["voicelab.end_reason"] == manifest["end_reason"]
    assert conversation["parent"] == root["span_id"]
    assert conversation["attributes"]["conversation.id"] == sid
    turns = {s["span_id"] for s in by_name["turn"]}
    assert all(s["parent"] == conversation["span_id"] for s in by_name["turn"])
    # The greeting is turn 1; each caller line starts another.
    assert len(turns) >= 3, len(turns)
    services = by_name["stt"] + by_name["llm"] + by_name["tts"]
    assert all(s["parent"] in turns | {conversation["span_id"]} for s in services)
    # Both caller lines were heard and answered, each in a span of its own.
    assert len(by_name["stt"]) >= 2 and len(by_name["llm"]) >= 2
    assert all(s["attributes"]["transcript"] for s in by_name["stt"])

    # The key reached the collector (or nothing would have) and nothing else.
    for path in [*(tmp_path / "rec").rglob("*"), *(tmp_path / "logs").rglob("*")]:
        if path.is_file():
            assert SECRET.split()[1].encode() not in path.read_bytes(), path


@contextmanager
def unresponsive_collector() -> Iterator[str]:
    """A port that accepts connections and never answers (a collector gone quiet)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # the kernel completes the handshakes; nobody ever reads
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_a_collector_that_never_answers_costs_the_call_nothing(tmp_path, lab_models, monkeypatch):
    # Export every 50 ms and let a request hang for 20 s (the call lasts about 10): the SDK's
    # batch thread is stuck on the collector for the whole call. Were any of it on the event
    # loop, the call's audio would stop with it.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "20")
    with unresponsive_collector() as collector:
        started = time.monotonic()
        call = play(tmp_path, lab_models, TWO_LINES, collector)
        took = time.monotonic() - started
    assert call.status == "completed", call.error
    manifest = assert_record_complete(call.directory)
    assert len(manifest["trace_id"]) == 32
    server = [e for e in read_events(call.directory) if e["source"] == "server"]
    assert len([e for e in server if e["type"] == "llm.response"]) == 2  # both lines answered
    # The caller heard each answer promptly (the instant stack answers in well under 1 s).
    caller = [e for e in read_events(call.directory) if e["source"] == "caller"]
    ended = {e["data"]["turn"]: e["t"] for e in caller if e["type"] == "caller.utterance_ended"}
    heard = {e["data"]["turn"]: e["t"] for e in caller if e["type"] == "caller.heard_started"}
    assert set(ended) == {1, 2} and set(heard) >= {1, 2}, (ended, heard)
    assert all(heard[turn] - ended[turn] < 3.0 for turn in (1, 2)), (ended, heard)
    # Stopping the server waited for the collector a bounded time, not the exporter's 20 s.
    assert took - _call_length(call.directory) < CLOSE_TIMEOUT_S + 10, took


def _call_length(directory: Path | None) -> float:
    assert directory is not None
    server = [e for e in read_events(directory) if e["source"] == "server"]
    return float(server[-1]["t"])
