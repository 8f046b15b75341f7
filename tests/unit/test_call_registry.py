"""CallRegistry: one record per call, status events on its clock, bounded memory."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from voicelab.recording.store import find_call_dir
from voicelab.server.calls import CallRegistry, StatusEvent

SID = "CA" + "a" * 32
OTHER = "CA" + "b" * 32


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def statuses(root: Path, sid: str) -> list[dict[str, Any]]:
    directory = find_call_dir(root, sid)
    assert directory is not None
    lines = (directory / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["type"] == "twilio.status"]


def test_every_write_about_a_call_goes_through_one_record(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path)
    registry.learn(SID)  # the TwiML webhook
    record = registry.open_record(SID)  # the media stream
    assert registry.open_record(SID) is record
    time.sleep(0.2)
    assert registry.record_status(StatusEvent(SID, "completed", {"CallDuration": "3"})) is record
    record.flush()
    (event,) = statuses(tmp_path, SID)
    assert event["t"] >= 0.2  # on the call's clock, not a fresh record's t = 0
    manifest = record.read_manifest()
    assert (
        manifest["status"] == "completed" and manifest["status_history"][0]["CallDuration"] == "3"
    )


def test_learning_ignores_what_is_not_a_call_sid(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path)
    for bad in ("", "../etc", "CA123", SID + "\n"):
        registry.learn(bad)
    assert registry.known_count == 0 and not list(tmp_path.iterdir())


def test_an_unknown_calls_status_creates_nothing_and_is_dropped_after_a_while(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    registry = CallRegistry(tmp_path, hold_unknown_s=10, clock=clock)
    assert registry.record_status(StatusEvent(SID, "completed")) is None
    assert not list(tmp_path.iterdir())  # no directory, no file
    clock.now += 11
    registry.open_record(SID)  # the call shows up too late: the status was dropped
    record = registry.record_of(SID)
    assert record is not None
    record.flush()
    assert not (record.directory / "events.jsonl").exists()


def test_a_status_that_beats_post_outbound_is_filed_once_the_call_is_known(
    tmp_path: Path,
) -> None:
    registry = CallRegistry(tmp_path)
    registry.record_status(StatusEvent(SID, "initiated"))  # before /outbound has the SID
    time.sleep(0.2)
    record = registry.open_record(SID)
    registry.record_status(StatusEvent(SID, "ringing"))
    record.flush()
    events = statuses(tmp_path, SID)
    assert [e["data"]["status"] for e in events] == ["initiated", "ringing"]
    # The record's clock starts at the first status: initiated at ~0, ringing ~0.2 s later.
    assert events[0]["t"] == pytest.approx(0.0, abs=0.05) and events[1]["t"] >= 0.2


@pytest.mark.asyncio
async def test_calls_are_forgotten_after_they_end_and_their_final_status_arrives(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    registry = CallRegistry(tmp_path, forget_after_s=60, idle_forget_s=600, clock=clock)
    session = asyncio.create_task(asyncio.sleep(0))
    registry.open_record(SID)
    registry.started(SID, session)
    registry.record_status(StatusEvent(SID, "completed"))
    clock.now += 10_000
    registry.learn(OTHER)  # any activity sweeps: a live call is never forgotten
    assert registry.record_of(SID) is not None and registry.active_count == 1
    registry.ended(SID)
    clock.now += 59
    registry.learn(OTHER)
    assert registry.record_of(SID) is not None  # late callbacks still land in its record
    clock.now += 2
    registry.learn(OTHER)
    assert registry.record_of(SID) is None and registry.known_count == 1
    await session


def test_calls_without_a_final_status_are_forgotten_after_the_idle_time(tmp_path: Path) -> None:
    clock = FakeClock()
    registry = CallRegistry(tmp_path, forget_after_s=60, idle_forget_s=600, clock=clock)
    for i in range(100):  # webhooks whose calls never streamed nor reported back
        registry.learn(f"CA{i:032x}")
    clock.now += 599
    registry.learn(SID)
    assert registry.known_count == 101
    clock.now += 2
    registry.learn(OTHER)
    assert registry.known_count == 2  # memory stays bounded


def test_held_statuses_are_bounded(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path)
    for i in range(CallRegistry.MAX_HELD + 50):
        registry.record_status(StatusEvent(f"CA{i:032x}", "ringing"))
    assert len(registry._held) == CallRegistry.MAX_HELD
    assert not list(tmp_path.iterdir())
