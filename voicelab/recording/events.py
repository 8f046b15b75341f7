"""The CallEvent schema: the one line format of every ``events.jsonl``.

A call record is the contract between running a call and analysing it (see
``docs/DESIGN.md`` section 3). Each line of ``events.jsonl`` is one
:class:`CallEvent` serialised with :meth:`CallEvent.to_json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from voicelab.errors import InvalidArgumentError

__all__ = ["EVENT_TYPES", "UNCONNECTED_END_REASONS", "CallEvent", "EndReason", "EventSource"]

EventSource = Literal["server", "caller", "carrier"]

EndReason = Literal[
    # A media session ran:
    "stop",  # Twilio's `stop` message: the call (or its stream) ended at Twilio's side
    "hangup",  # the simulated caller hung up (caller side)
    "websocket_closed",  # the socket closed without a `stop`
    "error",  # setup, a provider or a record write failed; an `error` event says which
    "timeout",  # VOICELAB_MAX_CALL_SECONDS
    "shutdown",  # the server stopped (also for calls still waiting for their stream)
    # No media session ever ran (the server's record of a call it heard of):
    "capacity",  # refused at VOICELAB_MAX_CALLS: the caller heard busy
    "busy",  # Twilio's final status before any stream
    "no-answer",
    "failed",
    "canceled",
    "no_stream",  # Twilio completed the call, or said nothing more, and no stream came
    "token_expired",  # TwiML served, but no stream within VOICELAB_STREAM_TOKEN_TTL
]
"""Why a call ended: ``call.json``'s ``end_reason`` and ``call.ended``'s ``reason``."""

UNCONNECTED_END_REASONS: frozenset[str] = frozenset(
    {"capacity", "busy", "no-answer", "failed", "canceled", "no_stream", "token_expired"}
)
"""End reasons of calls whose media never reached the agent."""

# Known event types. Writers may only emit these; readers must tolerate others
# (a newer writer) by keeping them as plain rows.
EVENT_TYPES: frozenset[str] = frozenset(
    {
        "call.started",
        "call.ended",
        "vad.started",
        "vad.stopped",
        "user.speech_started",
        "user.speech_stopped",
        "stt.transcript",
        "llm.started",
        "llm.first_token",
        "llm.response",
        "tts.started",
        "tts.first_audio",
        "bot.speech_started",
        "bot.speech_stopped",
        "interruption",
        "metrics.ttfb",
        "metrics.v2v",
        "error",
        "dtmf",
        "mark",
        "clear",
        "twilio.status",
        "caller.utterance_started",
        "caller.utterance_ended",
        "caller.heard_started",
        "caller.heard_ended",
        "caller.transcript",
    }
)


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One timed thing that happened during a call.

    Attributes:
        t: Seconds since the writer's call start, on a monotonic clock.
        wall: Wall-clock time (UTC) when it happened.
        source: Who observed it: ``server``, ``caller`` or ``carrier``.
        type: One of :data:`EVENT_TYPES`.
        data: Type-specific fields. Text is under ``text``, durations in
            seconds under names ending ``_s``, the service under ``service``.
    """

    t: float
    wall: datetime
    source: EventSource
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise InvalidArgumentError(f"unknown call event type {self.type!r}")

    def to_json(self) -> str:
        """Serialise as one JSON line (no trailing newline)."""
        return json.dumps(
            {
                "t": round(self.t, 6),
                "wall": self.wall.astimezone(UTC).isoformat(timespec="microseconds"),
                "source": self.source,
                "type": self.type,
                "data": self.data,
            },
            ensure_ascii=False,
            default=str,
        )

    @classmethod
    def from_json(cls, line: str) -> CallEvent:
        """Parse one line written by :meth:`to_json`."""
        raw = json.loads(line)
        return cls(
            t=float(raw["t"]),
            wall=datetime.fromisoformat(raw["wall"]),
            source=raw["source"],
            type=raw["type"],
            data=dict(raw.get("data") or {}),
        )
