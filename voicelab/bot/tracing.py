"""Traces where teams already look: every call's OpenTelemetry spans, sent to an OTLP collector.

With ``VOICELAB_OTLP_ENDPOINT`` set (and ``voicelab-phone[otel]`` installed), each call's pipeline
runs with pipecat's tracing on (``PipelineWorker(enable_tracing=True, conversation_id=<CallSid>)``)
inside a span of voicelab's own, so one call is one trace::

    call            voicelab: the SIDs, direction, agent; at the end, the end reason
    └── conversation        pipecat: conversation.id = the CallSid
        ├── turn            pipecat: one per turn (the greeting is turn 1)
        │   ├── stt / llm / tts     pipecat's service spans (voicelab's own services too)
        └── turn ...

Every span of the trace carries ``voicelab.call_sid``, ``voicelab.stream_sid`` and
``voicelab.direction`` (pipecat gives ``additional_span_attributes`` to the conversation span
only), and the call's ``call.json`` carries the trace's id (``trace_id``): a trace finds its
record and a record its trace.

Why not pipecat's ``setup_tracing``: OpenTelemetry has one tracer provider per process, set
once, and pipecat's observers and services take their tracers from it; that helper adds its
exporter to the provider for the life of the process. A voicelab process starts and stops
servers (a lab in a notebook, a test session, a sweep's variants), each with its own endpoint,
so voicelab adds one span processor to the process's provider, once, which hands each span to
the exporter of the server whose call it belongs to (:mod:`voicelab.bot._otel`). A server's
exporter (:class:`TraceExport`) opens when the server starts and is flushed and shut when it
stops.

Tracing never holds a call up: an ended span is queued in memory and exported by the SDK's
batch thread, never on the event loop. An unreachable collector costs log lines, not latency
(past 2048 queued spans the oldest are dropped); stopping a server waits at most
:data:`CLOSE_TIMEOUT_S` for the last spans. The SDK's own ``OTEL_EXPORTER_OTLP_HEADERS`` /
``_TIMEOUT`` / ``_COMPRESSION`` / ``_CERTIFICATE``, ``OTEL_BSP_*``, ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` apply as usual (read by the SDK; voicelab never reads them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger

from voicelab._extras import install_command
from voicelab.bot.call import CallInfo
from voicelab.config import Settings
from voicelab.errors import ConfigError

if TYPE_CHECKING:
    from voicelab.bot._otel import CallTrace

__all__ = [
    "CALL_SID_ATTRIBUTE",
    "CLOSE_TIMEOUT_S",
    "INSTALL_HINT",
    "TraceExport",
    "call_attributes",
    "require_otel",
    "traces_url",
]

INSTALL_HINT = (
    "VOICELAB_OTLP_ENDPOINT is set, but the OpenTelemetry SDK and its OTLP/HTTP exporter "
    f"are not installed: {install_command('otel')}"
)
# The attribute every span of a call's trace carries: search a tracing backend for it.
CALL_SID_ATTRIBUTE = "voicelab.call_sid"
TRACES_PATH = "/v1/traces"
# How long a stopping server waits for a collector to take its last spans.
CLOSE_TIMEOUT_S = 5.0


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector: ``endpoint`` + ``/v1/traces`` unless it has it.

    (As ``OTEL_EXPORTER_OTLP_ENDPOINT`` is read: the collector's base URL, e.g. port 4318.)
    """
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def call_attributes(call: CallInfo) -> dict[str, str]:
    """The attributes that tie a span to its call (and so to its record); no phone numbers."""
    return {
        CALL_SID_ATTRIBUTE: call.call_sid,
        "voicelab.stream_sid": call.stream_sid,
        "voicelab.direction": call.direction,
    }


def require_otel() -> None:
    """Check the ``otel`` extra is installed.

    Raises:
        ConfigError: It is not (the message names the extra to install).
    """
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None


class TraceExport:
    """One server's traces: an OTLP/HTTP exporter, and a trace for each of its calls.

    Built with the server's app (a missing extra is a :class:`ConfigError` at start),
    opened by :meth:`start` when the server starts and closed by :meth:`close` when it
    stops.

    Args:
        endpoint: The collector (see :func:`traces_url`).

    Raises:
        ConfigError: The ``otel`` extra is not installed.
    """

    def __init__(self, endpoint: str) -> None:
        require_otel()
        self.url = traces_url(endpoint)
        self._sink: Any = None  # a BatchSpanProcessor (the SDK is imported only when on)

    @classmethod
    def from_settings(cls, settings: Settings) -> TraceExport | None:
        """The export ``settings.otlp_endpoint`` asks for, or ``None`` when it is unset.

        Raises:
            ConfigError: It is set and the ``otel`` extra is not installed.
        """
        return cls(settings.otlp_endpoint) if settings.otlp_endpoint else None

    @property
    def open(self) -> bool:
        return self._sink is not None

    def start(self) -> None:
        """Open the exporter (idempotent); the process's tracer provider is set up first.

        Raises:
            ConfigError: The process's tracer provider is not one voicelab can add to.
        """
        if self._sink is None:
            from voicelab.bot import _otel

            self._sink = _otel.open_sink(self.url)
            logger.info(f"traces: every call's spans go to {self.url}")

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Send the spans still queued and shut the exporter, waiting at most ``timeout`` s.

        Blocking (run it off the event loop). Returns whether the exporter finished in time;
        spans a collector has not taken by then are dropped, with a warning (an export the
        collector refuses, the SDK logs itself).
        """
        sink, self._sink = self._sink, None
        if sink is None:
            return True
        from voicelab.bot import _otel

        flushed = _otel.close_sink(sink, timeout)
        if not flushed:
            logger.warning(
                f"traces: {self.url} did not take the last spans within {timeout:g} s; "
                "they were dropped"
            )
        return flushed

    def start_call(self, call: CallInfo) -> CallTrace | None:
        """Open the call's trace (its root span), or ``None`` without one.

        ``None`` when the export is not open, the SDK is disabled or samples the call out,
        or anything goes wrong: tracing never stops a call.
        """
        if self._sink is None:
            return None
        from voicelab.bot import _otel

        try:
            return _otel.start_call(call_attributes(call), self._sink)
        except Exception:
            logger.exception(f"traces: call {call.call_sid} runs without a trace")
            return None
