"""The server's view of calls: which are live, and Twilio's status events for each."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from voicelab.recording.store import CallRecord

__all__ = ["CallRegistry", "StatusEvent"]

# Fields of Twilio's status callback kept in the call record (the rest is noise).
STATUS_FIELDS = (
    "CallStatus",
    "SequenceNumber",
    "CallDuration",
    "Timestamp",
    "Direction",
    "From",
    "To",
    "SipResponseCode",
    "ErrorCode",
)


@dataclass(frozen=True)
class StatusEvent:
    """One Twilio call-progress event."""

    call_sid: str
    status: str
    fields: dict[str, str] = field(default_factory=dict)


class CallRegistry:
    """Tracks live media sessions and files status callbacks into call records.

    Args:
        recordings_dir: Root of the call directories.
    """

    def __init__(self, recordings_dir: Path) -> None:
        self.recordings_dir = recordings_dir
        self._active: dict[str, asyncio.Task[object]] = {}

    @property
    def active_count(self) -> int:
        return len(self._active)

    def open_record(self, call_sid: str) -> CallRecord:
        """The call's directory writer (source ``server``), created on first use."""
        return CallRecord.open(self.recordings_dir, call_sid, "server")

    def started(self, call_sid: str, task: asyncio.Task[object]) -> None:
        self._active[call_sid] = task

    def ended(self, call_sid: str) -> None:
        self._active.pop(call_sid, None)

    def record_status(self, event: StatusEvent) -> None:
        """Append Twilio's status to the call's events and status history."""
        record = self.open_record(event.call_sid)
        data = {k: v for k, v in event.fields.items() if k in STATUS_FIELDS and v}
        record.emit(
            "twilio.status",
            status=event.status,
            sequence=data.get("SequenceNumber"),
            duration=data.get("CallDuration"),
        )
        record.update_manifest(
            call_sid=event.call_sid,
            status=event.status,
            status_history=[
                {
                    "status": event.status,
                    "at": datetime.now(UTC).isoformat(),
                    **data,
                }
            ],
        )

    async def wait_idle(self, timeout: float) -> None:
        """Wait for live calls to finish (graceful shutdown)."""
        if self._active:
            await asyncio.wait(list(self._active.values()), timeout=timeout)
