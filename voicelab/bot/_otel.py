"""The OpenTelemetry SDK side of :mod:`voicelab.bot.tracing` (imported only when tracing is on).

One :class:`CallSpans` processor per process sits on the process's tracer provider: it gives
every span of a call's trace the call's attributes and hands the span to the batch processor
(the *sink*) of the server that runs the call, found by the span's trace id. Everything here
that the SDK calls while a span starts or ends is guarded: tracing never breaks a call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode, format_trace_id

import voicelab
from voicelab.errors import ConfigError

__all__ = ["CallSpans", "CallTrace", "call_spans", "close_sink", "open_sink", "start_call"]

SERVICE = "voicelab"
# Ended calls kept routable: a span that ends just after its call (a service's) still goes out.
RECENT_CALLS = 256


@dataclass(frozen=True)
class _Route:
    attributes: Mapping[str, str]
    sink: SpanProcessor


class CallSpans(SpanProcessor):
    """Routes each span of a registered call's trace: its attributes, then its server's sink.

    Spans of traces it does not know (not voicelab's) are left alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, _Route] = {}
        self._recent: OrderedDict[int, _Route] = OrderedDict()
        self._sinks: set[SpanProcessor] = set()

    def add_sink(self, sink: SpanProcessor) -> None:
        with self._lock:
            self._sinks.add(sink)

    def remove_sink(self, sink: SpanProcessor) -> None:
        """Forget ``sink`` and every call routed to it (its server is stopping)."""
        with self._lock:
            self._sinks.discard(sink)
            for table in (self._live, self._recent):
                for trace_id in [t for t, route in table.items() if route.sink is sink]:
                    del table[trace_id]

    def add_call(self, trace_id: int, attributes: Mapping[str, str], sink: SpanProcessor) -> None:
        with self._lock:
            self._live[trace_id] = _Route(dict(attributes), sink)

    def end_call(self, trace_id: int) -> None:
        with self._lock:
            route = self._live.pop(trace_id, None)
            if route is not None:
                self._recent[trace_id] = route
                while len(self._recent) > RECENT_CALLS:
                    self._recent.popitem(last=False)

    def _route(self, span: ReadableSpan) -> _Route | None:
        context = span.context
        if context is None:
            return None
        with self._lock:
            return self._live.get(context.trace_id) or self._recent.get(context.trace_id)

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        try:
            route = self._route(span)
            if route is not None:
                span.set_attributes(route.attributes)
        except Exception:
            logger.opt(exception=True).debug("traces: a span's call attributes were not set")

    def on_end(self, span: ReadableSpan) -> None:
        try:
            route = self._route(span)
            if route is not None:
                route.sink.on_end(span)
        except Exception:
            logger.opt(exception=True).debug("traces: a span was not queued for export")

    def shutdown(self) -> None:
        # The process is exiting (the provider's atexit): close what no server closed.
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            close_sink(sink, timeout=2.0)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            sinks = list(self._sinks)
        return all(sink.force_flush(timeout_millis) for sink in sinks)


_CALL_SPANS: CallSpans | None = None
_INSTALL_LOCK = threading.Lock()


def call_spans() -> CallSpans:
    """The process's one :class:`CallSpans`, added to its tracer provider on first use.

    Without a provider yet, voicelab sets one up (service name ``voicelab``, unless
    ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` name one). An SDK provider the
    application already set gets the processor added, beside its own.

    Raises:
        ConfigError: The process's provider is not the SDK's (nothing can be added to it).
    """
    global _CALL_SPANS
    with _INSTALL_LOCK:
        if _CALL_SPANS is None:
            provider = trace.get_tracer_provider()
            if isinstance(provider, trace.ProxyTracerProvider):  # none set yet
                trace.set_tracer_provider(TracerProvider(resource=_resource()))
                provider = trace.get_tracer_provider()  # another thread's may have won
            if not isinstance(provider, TracerProvider):
                raise ConfigError(
                    "VOICELAB_OTLP_ENDPOINT: this process's OpenTelemetry tracer provider is "
                    f"a {type(provider).__name__}, not the SDK's: voicelab cannot add to it"
                )
            spans = CallSpans()
            provider.add_span_processor(spans)
            _CALL_SPANS = spans
        return _CALL_SPANS


def _resource() -> Resource:
    # Resource.create reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; a name given
    # here would override them, so "voicelab" only replaces the SDK's unknown_service.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: SERVICE}))
    return resource


def open_sink(url: str) -> BatchSpanProcessor:
    """A batch processor exporting to ``url`` over OTLP/HTTP (protobuf), registered."""
    spans = call_spans()
    sink = BatchSpanProcessor(OTLPSpanExporter(endpoint=url))
    spans.add_sink(sink)
    return sink


def close_sink(sink: Any, timeout: float) -> bool:
    """Export what ``sink`` holds and shut it, waiting at most ``timeout`` s; ``True`` if done.

    The SDK's shutdown waits for a collector that does not answer as long as its exporter's
    timeout (10 s, ``OTEL_EXPORTER_OTLP_TIMEOUT``, retries included): it runs on a daemon
    thread of its own here, left to finish (or fail) by itself past ``timeout``.
    """
    call_spans().remove_sink(sink)
    closing = threading.Thread(target=sink.shutdown, name="voicelab-traces-close", daemon=True)
    closing.start()
    closing.join(timeout)
    return not closing.is_alive()


class CallTrace:
    """One call's trace: its root span, current in the call's task while the call runs.

    Args:
        span: The call's root span (recording, sampled).
        spans: The process's router, which knows the trace until :meth:`end`.
    """

    def __init__(self, span: Span, spans: CallSpans) -> None:
        self._span = span
        self._spans = spans
        self._trace_id = span.get_span_context().trace_id
        self._token: object | None = None

    @property
    def trace_id(self) -> str:
        """The trace id as tracing backends show it (32 hex digits)."""
        return format_trace_id(self._trace_id)

    @property
    def attributes(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self._span.attributes or {}).items()}

    def attach(self) -> None:
        """Make the call's span current in this task: the tasks the pipeline creates from
        here inherit it, so pipecat's conversation span (started with the current context)
        becomes its child."""
        self._token = otel_context.attach(trace.set_span_in_context(self._span))

    def end(self, reason: str) -> None:
        """End the call's span with ``reason``; call it in the task that attached it."""
        try:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
                self._token = None
            self._span.set_attribute("voicelab.end_reason", reason)
            if reason == "error":
                self._span.set_status(Status(StatusCode.ERROR, "the call ended in an error"))
            self._span.end()
        except Exception:
            logger.opt(exception=True).warning("traces: the call's span did not end cleanly")
        finally:
            self._spans.end_call(self._trace_id)


def start_call(attributes: Mapping[str, str], sink: SpanProcessor) -> CallTrace | None:
    """Start a call's trace, routed to ``sink``; ``None`` when the SDK records none."""
    spans = call_spans()
    tracer = trace.get_tracer("voicelab", voicelab.__version__)
    # A root of its own (an empty parent context): one call, one trace.
    span = tracer.start_span("call", context=otel_context.Context(), attributes=attributes)
    context = span.get_span_context()
    if not (isinstance(span, Span) and context.is_valid and context.trace_flags.sampled):
        span.end()  # OTEL_SDK_DISABLED, or sampled out: no trace to name in the record
        return None
    spans.add_call(context.trace_id, attributes, sink)
    return CallTrace(span, spans)
