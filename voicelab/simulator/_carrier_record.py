"""What the carrier writes into call records: its events and its fields of ``call.json``.

Only when the carrier has a recordings root (``Carrier(recordings_root=...)``, as every
:class:`~voicelab.network.LocalNetwork` does). The carrier is a third writer of a call's
directory beside the server and the simulated caller: events with source ``carrier``
(``error``, ``call.hangup``, ``call.transferred``, ``amd.result``), on a clock that starts
when the carrier created the call, and ``answered_by``, ``transferred_to`` and
``transfer_status`` in ``call.json``. A failed write is logged and never stops a call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger

from voicelab.errors import CallRecordError
from voicelab.recording.store import CallRecord
from voicelab.simulator._carrier_twilio import CarrierCall

__all__ = ["CarrierRecords"]


class CarrierRecords:
    """The carrier's record writers, one per call, opened on first use.

    Args:
        root: The recordings root (``None``: nothing is written, only logged).
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._records: dict[str, CallRecord] = {}

    def emit(self, call: CarrierCall, type: str, t: float | None = None, **data: Any) -> None:
        """Write a carrier event for ``call`` (``t``: seconds since the call was created)."""
        record = self._record(call)
        if record is None:
            return
        try:
            record.emit(type, t=t, **data)
        except (OSError, CallRecordError) as exc:
            logger.warning("carrier: call {}: could not record {}: {}", call.sid, type, exc)

    def manifest(self, call: CarrierCall, **fields: Any) -> None:
        """Merge ``fields`` into ``call``'s ``call.json``."""
        record = self._record(call)
        if record is None:
            return
        try:
            record.update_manifest(**fields)
        except (OSError, CallRecordError) as exc:
            logger.warning("carrier: call {}: could not write call.json: {}", call.sid, exc)

    def now(self, call: CarrierCall) -> float:
        """Seconds on ``call``'s carrier clock."""
        record = self._record(call)
        return record.now() if record is not None else 0.0

    def forget(self, call: CarrierCall) -> None:
        self._records.pop(call.sid, None)

    def _record(self, call: CarrierCall) -> CallRecord | None:
        if self.root is None:
            return None
        record = self._records.get(call.sid)
        if record is None:
            try:
                record = CallRecord.open(self.root, call.sid, "carrier", t0=call.created_mono)
            except (OSError, CallRecordError) as exc:
                logger.warning("carrier: call {}: no call directory: {}", call.sid, exc)
                return None
            self._records[call.sid] = record
        return record
