"""Traces (VOICELAB_OTLP_ENDPOINT): the setting, the missing extra, the span router, the close.

A real call's spans at a real collector: ``tests/integration/test_traces.py``.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voicelab.bot import _otel
from voicelab.bot.call import CallInfo
from voicelab.bot.tracing import (
    CALL_SID_ATTRIBUTE,
    INSTALL_HINT,
    TraceExport,
    call_attributes,
    traces_url,
)
from voicelab.config import Settings, load_settings
from voicelab.errors import ConfigError
from voicelab.server.app import create_app
from voicelab.server.runner import CallServer

ENDPOINT = "http://127.0.0.1:4318"


def call_info(n: int) -> CallInfo:
    return CallInfo(
        call_sid=f"CA{n:032x}",
        stream_sid=f"MZ{n:032x}",
        account_sid="AC" + "0" * 32,
        direction="inbound",
        from_number="+15550001111",
        to_number="+15550002222",
    )


# --- the setting -------------------------------------------------------------------------


def test_the_endpoint_is_a_collectors_base_url_and_gets_the_traces_path(monkeypatch):
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    assert load_settings().otlp_endpoint is None  # off unless set
    monkeypatch.setenv("VOICELAB_OTLP_ENDPOINT", "https://otlp.example.com:4318/")
    endpoint = load_settings().otlp_endpoint
    assert endpoint == "https://otlp.example.com:4318"
    assert traces_url(endpoint) == "https://otlp.example.com:4318/v1/traces"
    # A full traces URL is taken as it is (as OTEL_EXPORTER_OTLP_TRACES_ENDPOINT would be).
    assert traces_url("http://tempo:4318/v1/traces") == "http://tempo:4318/v1/traces"


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("localhost:4318", "must start with http:// or https://"),
        ("grpc://collector:4317", "must start with http:// or https://"),
        ("https://user:hunter2@otlp.example.com", "OTEL_EXPORTER_OTLP_HEADERS"),
    ],
)
def test_a_bad_endpoint_is_one_line_naming_the_variable(monkeypatch, value, needle):
    monkeypatch.setenv("VOICELAB_OTLP_ENDPOINT", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "VOICELAB_OTLP_ENDPOINT" in message and needle in message
    assert "\n" not in message
    assert "hunter2" not in message  # a credential put in the URL is not repeated


def test_where_traces_go_does_not_change_the_settings_hash():
    assert Settings().fingerprint() == Settings(otlp_endpoint=ENDPOINT).fingerprint()


# --- the extra ---------------------------------------------------------------------------


@pytest.fixture
def without_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if ``voicelab-phone[otel]`` were not installed: its modules cannot be imported."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)


def test_the_setting_without_the_extra_stops_the_server_at_start(tmp_path, without_otel):
    settings = Settings(providers="instant", recordings_dir=tmp_path, otlp_endpoint=ENDPOINT)
    with pytest.raises(ConfigError) as info:
        create_app(settings)
    assert str(info.value) == INSTALL_HINT
    assert (
        "VOICELAB_OTLP_ENDPOINT" in INSTALL_HINT
        and "pip install 'voicelab-phone[otel]'" in INSTALL_HINT
    )
    server = CallServer(settings)
    with pytest.raises(ConfigError):
        server.start()
    assert not server.running and server.port is None


def test_without_the_setting_the_extra_is_not_needed(tmp_path, without_otel):
    app = create_app(Settings(providers="instant", recordings_dir=tmp_path))
    assert app.state.voicelab.tracing is None


# --- the router: attributes and the right exporter for every span of a call ---------------


Sink = tuple[SimpleSpanProcessor, InMemorySpanExporter]


@pytest.fixture
def new_sink() -> Iterator[Callable[[], Sink]]:
    """Makes a server's sink (an in-memory exporter), registered as a started server's is."""
    made: list[SimpleSpanProcessor] = []

    def make() -> Sink:
        exporter = InMemorySpanExporter()
        made.append(SimpleSpanProcessor(exporter))
        _otel.call_spans().add_sink(made[-1])
        return made[-1], exporter

    yield make
    for sink in made:
        _otel.call_spans().remove_sink(sink)


def test_every_span_of_a_call_gets_its_sid_and_goes_to_its_servers_exporter(new_sink):
    (sink_a, exported_a), (sink_b, exported_b) = new_sink(), new_sink()
    tracer = trace.get_tracer("test")
    call_a = _otel.start_call(call_attributes(call_info(1)), sink_a)
    call_b = _otel.start_call(call_attributes(call_info(2)), sink_b)
    assert call_a is not None and call_b is not None
    assert len(call_a.trace_id) == 32 and call_a.trace_id != call_b.trace_id
    # pipecat's way: a span started in the current context (the conversation), and spans
    # under an explicit parent context taken from it (turns, services).
    call_a.attach()
    conversation = tracer.start_span("conversation")
    turn = tracer.start_span("turn", context=trace.set_span_in_context(conversation))
    turn.end()
    conversation.end()
    call_a.end("stop")
    outsider = tracer.start_span("not a call")  # no call's trace: left alone
    outsider.end()
    with trace.use_span(call_b._span):  # type: ignore[attr-defined]
        tracer.start_span("conversation").end()
    call_b.end("error")

    names_a = {s.name: s for s in exported_a.get_finished_spans()}
    assert set(names_a) == {"call", "conversation", "turn"}
    for span in names_a.values():
        assert span.attributes is not None
        assert span.attributes[CALL_SID_ATTRIBUTE] == call_info(1).call_sid
        assert span.attributes["voicelab.stream_sid"] == call_info(1).stream_sid
        assert span.context is not None and f"{span.context.trace_id:032x}" == call_a.trace_id
    assert names_a["call"].attributes == {
        **call_attributes(call_info(1)),
        "voicelab.end_reason": "stop",
    }
    assert names_a["conversation"].parent.span_id == names_a["call"].context.span_id  # type: ignore[union-attr]
    names_b = {s.name: s for s in exported_b.get_finished_spans()}
    assert set(names_b) == {"call", "conversation"}
    assert names_b["conversation"].attributes[CALL_SID_ATTRIBUTE] == call_info(2).call_sid  # type: ignore[index]
    assert not names_b["call"].status.is_ok  # an error ending is an error span


def test_a_late_span_still_reaches_its_call_and_a_stopped_servers_calls_go_nowhere(new_sink):
    sink, exported = new_sink()
    tracer = trace.get_tracer("test")
    call = _otel.start_call(call_attributes(call_info(3)), sink)
    assert call is not None
    parent = trace.set_span_in_context(call._span)  # type: ignore[attr-defined]
    late = tracer.start_span("tts", context=parent)
    call.end("stop")
    late.end()  # a service span that ends after its call
    assert {s.name for s in exported.get_finished_spans()} == {"call", "tts"}
    _otel.call_spans().remove_sink(sink)  # its server stopped
    tracer.start_span("after", context=parent).end()
    assert {s.name for s in exported.get_finished_spans()} == {"call", "tts"}


def test_a_failing_exporter_never_reaches_the_call():
    class Broken(SimpleSpanProcessor):
        def on_end(self, span: object) -> None:
            raise RuntimeError("collector client exploded")

    broken = Broken(InMemorySpanExporter())
    call = _otel.start_call(call_attributes(call_info(4)), broken)
    assert call is not None
    tracer = trace.get_tracer("test")
    tracer.start_span("turn", context=trace.set_span_in_context(call._span)).end()  # type: ignore[attr-defined]
    call.end("stop")  # no exception: the span processor swallowed it


def test_voicelab_adds_itself_to_the_processs_own_provider():
    router = _otel.call_spans()
    provider = trace.get_tracer_provider()
    # Set up once (by voicelab here, or by the application before it): the SDK's provider,
    # with voicelab's router on it exactly once.
    assert isinstance(provider, TracerProvider)
    assert _otel.call_spans() is router
    routers = [
        p
        for p in provider._active_span_processor._span_processors  # type: ignore[attr-defined]
        if isinstance(p, _otel.CallSpans)
    ]
    assert routers == [router]


def test_an_export_that_is_not_open_traces_nothing():
    export = TraceExport(ENDPOINT)
    assert not export.open
    assert export.start_call(call_info(5)) is None
    assert export.close() is True


# --- closing: bounded, whatever the collector does ----------------------------------------


def test_closing_waits_for_a_silent_collector_only_as_long_as_asked(monkeypatch):
    # The exporter's own wait: longer than ours, short enough to be over soon after the test.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete; nothing ever answers
        export = TraceExport(f"http://127.0.0.1:{silent.getsockname()[1]}")
        export.start()
        call = export.start_call(call_info(6))
        assert call is not None
        call.end("stop")
        started = time.monotonic()
        assert export.close(timeout=0.5) is False  # the exporter waits 2 s; we do not
        assert time.monotonic() - started < 2.0
        assert not export.open
