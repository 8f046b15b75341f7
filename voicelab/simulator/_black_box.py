"""The record of a call that no voicelab server recorded: a black-box agent's.

A voicelab server writes a call's manifest (``call.json``) and its server events; a bot
voicelab did not write (a stock Pipecat Twilio bot, or a voicelab server whose records
go elsewhere) writes nothing here. Then the simulator writes the manifest from what the
carrier and the caller know, after the call: the CallSid, direction, numbers, times,
statuses, the caller's end reason, who hung up (``ended_by``: the carrier saw it), what
the agent did that Twilio saw (``answered_by``, ``transferred_to``, ``transfer_status``)
and the agent's URL. Nothing about the server is made
up: providers, persona, versions and the server recording stay absent, so the loaders
leave their columns empty (DESIGN.md section 3).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from voicelab.recording.store import EVENTS, CallRecord
from voicelab.simulator._carrier_twilio import CarrierCall
from voicelab.simulator.caller import CallerResult

__all__ = ["BLACK_BOX", "black_box_manifest", "recorded_by_server", "write_black_box_manifest"]

BLACK_BOX = "black-box"
"""``agent.kind`` of a call whose agent voicelab knows only by its URL."""


def recorded_by_server(directory: Path) -> bool:
    """Whether any voicelab server wrote events into this call directory."""
    events = directory / EVENTS
    if not events.exists():
        return False
    for line in events.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # a line being written: not ours to judge
            continue
        if isinstance(event, dict) and event.get("source") == "server":
            return True
    return False


def black_box_manifest(
    call: CarrierCall, caller: CallerResult | None, agent_url: str
) -> dict[str, Any]:
    """The manifest fields of a black-box call, from the carrier's call and the caller.

    ``direction`` is the agent's point of view, as a voicelab server writes it: Twilio's
    ``outbound-api`` is ``outbound``. ``status_history`` has the server manifest's shape
    (one object per status), without the times the carrier does not keep.
    """
    fields: dict[str, Any] = {
        "call_sid": call.sid,
        "account_sid": call.account_sid,
        "direction": "inbound" if call.direction == "inbound" else "outbound",
        "from": call.from_,
        "to": call.to,
        "status": call.status,
        "status_history": [{"status": status} for status in call.status_history],
        "agent": {"kind": BLACK_BOX, "url": agent_url},
    }
    if call.stream_sid is not None:
        fields["stream_sid"] = call.stream_sid
    if call.start_time is not None:
        fields["started_at"] = call.start_time.isoformat()
    if call.end_time is not None:
        fields["ended_at"] = call.end_time.isoformat()
    if caller is not None:
        fields["end_reason"] = caller.end_reason
    if call.ended_by in ("bot", "caller"):  # the network ending a call is neither
        fields["ended_by"] = call.ended_by
    for name in ("answered_by", "transferred_to", "transfer_status"):
        if getattr(call, name) is not None:
            fields[name] = getattr(call, name)
    return fields


async def write_black_box_manifest(
    directory: Path, call: CarrierCall, caller: CallerResult | None, agent_url: str
) -> bool:
    """Write the black-box manifest into ``directory`` unless a server recorded the call there.

    Returns:
        Whether it was written.
    """
    if await asyncio.to_thread(recorded_by_server, directory):
        return False
    record = CallRecord(directory, "caller")
    record.update_manifest(**black_box_manifest(call, caller, agent_url))
    await record.aflush()
    return True
