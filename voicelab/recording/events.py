"""The CallEvent schema: the one line format of every ``events.jsonl``.

A call record is the contract between running a call and analysing it (see
``docs/DESIGN.md`` section 3). Each line of ``events.jsonl`` is one
:class:`CallEvent` serialised with :meth:`CallEvent.to_json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voicelab.errors import InvalidArgumentError
from voicelab.recording.contract import EVENT_DATA, EventSource

__all__ = ["EVENT_TYPES", "CallEvent", "EventSource"]


# Known event types (their data: recording.contract). Writers may only emit these; readers
# must tolerate others (a newer writer) by keeping them as plain rows.
EVENT_TYPES: frozenset[str] = frozenset(EVENT_DATA)


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
