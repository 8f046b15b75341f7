"""CallRegistry: a record from the first moment, a slot per call, one session, ordered statuses."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from voicelab.recording.store import CallRecord, find_call_dir
from voicelab.server.calls import Admission, CallRegistry, StatusEvent

SID = "CA" + "a" * 32
OTHER = "CA" + "b" * 32
PARTIES = ("+15557770000", "+15550001111")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def events(root: Path, sid: str, kind: str | None = None) -> list[dict[str, Any]]:
    directory = find_call_dir(root, sid)
    assert directory is not None
    CallRecord(directory, "server").flush()
    path = directory / "events.jsonl"
    found = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in found if kind is None or e["type"] == kind]


def manifest(root: Path, sid: str) -> dict[str, Any]:
    directory = find_call_dir(root, sid)
    assert directory is not None
    return CallRecord(directory, "server").read_manifest()


def admit(registry: CallRegistry, sid: str = SID, direction: str = "inbound") -> Admission:
    return registry.admit(sid, direction, *PARTIES)


def sid(n: int) -> str:
    return f"CA{n:032x}"


# --- the record starts with the webhook --------------------------------------------------------


def test_every_write_about_a_call_goes_through_one_record(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path)
    assert admit(registry) is Admission.STREAM  # the TwiML webhook
    record = registry.claim(SID)  # the media stream
    assert isinstance(record, CallRecord)
    assert registry.record_of(SID) is record
    time.sleep(0.2)
    assert registry.record_status(StatusEvent(SID, "completed", {"CallDuration": "3"})) is record
    (event,) = events(tmp_path, SID, "twilio.status")
    assert event["t"] >= 0.2  # on the call's clock, not a fresh record's t = 0
    written = manifest(tmp_path, SID)
    assert written["status"] == "completed" and written["status_history"][0]["CallDuration"] == "3"
    assert written["direction"] == "inbound" and written["from"] == PARTIES[0]


def test_a_call_that_never_streams_is_recorded_with_why(tmp_path: Path) -> None:
    # Issue 15: calls that ended before their stream started left empty directories.
    clock = FakeClock()
    registry = CallRegistry(tmp_path, stream_window_s=30, clock=clock)
    admit(registry)
    clock.now += 31
    assert registry.reserved_count == 0  # the window passed: the slot is free again
    written = manifest(tmp_path, SID)
    assert written["end_reason"] == "token_expired" and written["ended_at"]
    assert [e["data"]["reason"] for e in events(tmp_path, SID, "call.ended")] == ["token_expired"]
    assert registry.claim(SID) == "the call has ended"


@pytest.mark.parametrize(
    "status, reason",
    [
        ("busy", "busy"),
        ("no-answer", "no-answer"),
        ("failed", "failed"),
        ("completed", "no_stream"),
    ],
)
def test_a_final_status_before_the_stream_ends_the_call(
    tmp_path: Path, status: str, reason: str
) -> None:
    registry = CallRegistry(tmp_path, max_calls=1)
    reservation = registry.reserve()
    assert reservation is not None
    registry.placed(SID, reservation, *PARTIES)
    assert registry.at_capacity()  # placed, ringing: it holds the one slot
    registry.record_status(StatusEvent(SID, status, {"SequenceNumber": "2"}))
    assert not registry.at_capacity()
    written = manifest(tmp_path, SID)
    assert (written["end_reason"], written["direction"]) == (reason, "outbound")


@pytest.mark.asyncio
async def test_the_window_ends_an_unused_call_without_any_further_request(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path, stream_window_s=0.2)
    admit(registry)
    await asyncio.sleep(0.5)  # no request comes: the registry's timer ends the call
    CallRecord(tmp_path, "server").flush()
    assert manifest(tmp_path, SID)["end_reason"] == "token_expired"


def test_learning_ignores_what_is_not_a_call_sid(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path)
    reservation = registry.reserve()
    assert reservation is not None
    for bad in ("", "../etc", "CA123", SID + "\n"):
        registry.placed(bad, reservation, *PARTIES)
    assert registry.known_count == 0 and registry.reserved_count == 0
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]


# --- the cap reserves --------------------------------------------------------------------------


def test_the_cap_counts_calls_from_their_webhook_and_refuses_the_rest_as_busy(
    tmp_path: Path,
) -> None:
    # Issue 15: six inbound calls at once all got stream TwiML with VOICELAB_MAX_CALLS=2;
    # four were answered, then dropped.
    registry = CallRegistry(tmp_path, max_calls=2)
    answers = [admit(registry, sid(n)) for n in range(6)]
    assert answers == [Admission.STREAM] * 2 + [Admission.AT_CAPACITY] * 4
    assert [manifest(tmp_path, sid(n)).get("end_reason") for n in range(6)] == [
        None,
        None,
        *["capacity"] * 4,
    ]
    assert registry.claim(sid(5)) == "the call has ended"


def test_outbound_reservations_count_before_twilio_names_the_call(tmp_path: Path) -> None:
    clock = FakeClock()
    registry = CallRegistry(tmp_path, max_calls=2, clock=clock)
    first, second = registry.reserve(), registry.reserve()
    assert first is not None and second is not None
    assert registry.reserve() is None  # ten requests at once: two reach Twilio
    assert admit(registry) is Admission.AT_CAPACITY
    registry.release(first)  # Twilio refused that one
    assert registry.reserve() is not None
    clock.now += CallRegistry.RESERVATION_S + 1  # never turned into a call: freed
    assert registry.reserved_count == 0


def test_an_outbound_calls_webhook_uses_the_slot_it_was_placed_with(tmp_path: Path) -> None:
    clock = FakeClock()
    registry = CallRegistry(
        tmp_path, max_calls=1, stream_window_s=30, placing_window_s=120, clock=clock
    )
    reservation = registry.reserve()
    assert reservation is not None
    registry.placed(SID, reservation, *PARTIES)
    clock.now += 100  # it rang a while
    assert admit(registry, SID, "outbound") is Admission.STREAM  # not busy: its own slot
    clock.now += 29  # the stream window starts at the webhook, not at placement
    assert isinstance(registry.claim(SID), CallRecord)


def test_a_session_frees_its_slot_when_it_ends(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path, max_calls=1)
    admit(registry)
    registry.claim(SID)
    assert admit(registry, OTHER) is Admission.AT_CAPACITY
    registry.ended(SID)
    assert admit(registry, sid(7)) is Admission.STREAM


# --- one session per call ----------------------------------------------------------------------


def test_a_replayed_webhook_and_stream_get_no_second_session(tmp_path: Path) -> None:
    # Issue 15: five replays of a signed webhook gave five live sessions on one CallSid.
    registry = CallRegistry(tmp_path, max_calls=5)
    assert admit(registry) is Admission.STREAM
    assert admit(registry) is Admission.STREAM  # Twilio retrying: the same answer, no new slot
    assert registry.reserved_count == 1
    assert isinstance(registry.claim(SID), CallRecord)
    assert admit(registry) is Admission.ALREADY_STREAMED
    assert registry.claim(SID) == "the call's media session is live already"
    registry.ended(SID)
    assert registry.claim(SID) == "the call has ended"
    assert registry.reserved_count == 0


def test_a_call_that_ended_long_ago_is_refused_from_its_record(tmp_path: Path) -> None:
    clock = FakeClock()
    registry = CallRegistry(tmp_path, forget_after_s=60, idle_forget_s=600, clock=clock)
    admit(registry)
    registry.claim(SID)
    registry.ended(SID)
    record = registry.record_of(SID)
    assert record is not None
    record.update_manifest(end_reason="stop")
    record.flush()
    clock.now += 10_000
    admit(registry, OTHER)  # any activity sweeps
    assert registry.record_of(SID) is None  # forgotten...
    assert admit(registry) is Admission.ALREADY_STREAMED  # ...but its record remembers


def test_an_unwritable_recordings_directory_refuses_the_call_without_raising(
    tmp_path: Path,
) -> None:
    if os.geteuid() == 0:
        root = tmp_path / "a-file-not-a-directory"
        root.write_text("x")  # root ignores permissions; a file in the way fails for anyone
    else:
        root = tmp_path / "locked"
        root.mkdir(mode=0o500)
    registry = CallRegistry(root)
    assert admit(registry) is Admission.UNRECORDABLE
    assert registry.health.problem and "cannot create a call directory" in registry.health.problem
    assert registry.reserved_count == 0


# --- Twilio's statuses -------------------------------------------------------------------------


def test_statuses_are_ordered_by_sequence_and_duplicates_ignored(tmp_path: Path) -> None:
    # Issue 15: a late `ringing` after `completed` set call.json back to ringing, and one
    # callback replayed 1,500 times was stored 1,500 times.
    registry = CallRegistry(tmp_path)
    admit(registry)
    record = registry.claim(SID)
    assert isinstance(record, CallRecord)
    for status, seq in [("initiated", "0"), ("completed", "3"), ("ringing", "1")]:
        assert registry.record_status(StatusEvent(SID, status, {"SequenceNumber": seq}))
    for _ in range(50):
        assert (
            registry.record_status(StatusEvent(SID, "completed", {"SequenceNumber": "3"})) is None
        )
    written = manifest(tmp_path, SID)
    assert written["status"] == "completed"
    assert [h["status"] for h in written["status_history"]] == ["initiated", "ringing", "completed"]
    assert len(events(tmp_path, SID, "twilio.status")) == 3


def test_without_sequence_numbers_the_status_itself_orders_and_dedupes(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path)
    admit(registry)
    registry.claim(SID)
    for status in ["completed", "ringing", "completed"]:
        registry.record_status(StatusEvent(SID, status))
    written = manifest(tmp_path, SID)
    assert written["status"] == "completed"
    assert [h["status"] for h in written["status_history"]] == ["ringing", "completed"]


def test_an_unknown_calls_status_creates_nothing_and_is_dropped_after_a_while(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    registry = CallRegistry(tmp_path, hold_unknown_s=10, clock=clock)
    assert registry.record_status(StatusEvent(SID, "completed")) is None
    assert not list(tmp_path.iterdir())  # no directory, no file
    clock.now += 11
    admit(registry)  # the call shows up too late: the status was dropped
    assert events(tmp_path, SID, "twilio.status") == []


def test_a_status_that_beats_post_outbound_is_filed_once_the_call_is_known(
    tmp_path: Path,
) -> None:
    registry = CallRegistry(tmp_path)
    registry.record_status(StatusEvent(SID, "initiated", {"SequenceNumber": "0"}))
    time.sleep(0.2)
    reservation = registry.reserve()
    assert reservation is not None
    registry.placed(SID, reservation, *PARTIES)
    registry.record_status(StatusEvent(SID, "ringing", {"SequenceNumber": "1"}))
    found = events(tmp_path, SID, "twilio.status")
    assert [e["data"]["status"] for e in found] == ["initiated", "ringing"]
    # The record's clock starts at the first status: initiated at ~0, ringing ~0.2 s later.
    assert found[0]["t"] == pytest.approx(0.0, abs=0.05) and found[1]["t"] >= 0.2


# --- bounded memory ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_calls_are_forgotten_after_they_end_and_their_final_status_arrives(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    registry = CallRegistry(
        tmp_path, max_calls=50, forget_after_s=60, idle_forget_s=600, clock=clock
    )
    session = asyncio.create_task(asyncio.sleep(0))
    admit(registry)
    registry.claim(SID)
    registry.started(SID, session)
    registry.record_status(StatusEvent(SID, "completed"))
    clock.now += 10_000
    admit(registry, sid(1))  # any activity sweeps: a live call is never forgotten
    assert registry.record_of(SID) is not None and registry.active_count == 1
    registry.ended(SID)
    clock.now += 59
    admit(registry, sid(2))
    assert registry.record_of(SID) is not None  # late callbacks still land in its record
    clock.now += 2
    admit(registry, sid(3))
    assert registry.record_of(SID) is None
    await session


def test_calls_without_a_final_status_are_forgotten_after_the_idle_time(tmp_path: Path) -> None:
    clock = FakeClock()
    registry = CallRegistry(
        tmp_path, max_calls=500, stream_window_s=30, idle_forget_s=600, clock=clock
    )
    for i in range(100):  # webhooks whose calls never streamed nor reported back
        admit(registry, sid(i))
    clock.now += 629  # 30 s to end unconnected, then 600 s idle
    admit(registry, SID)
    assert registry.known_count == 101
    clock.now += 2
    admit(registry, OTHER)
    assert registry.known_count == 2  # memory stays bounded


def test_held_statuses_are_bounded(tmp_path: Path) -> None:
    registry = CallRegistry(tmp_path)
    for i in range(CallRegistry.MAX_HELD + 50):
        registry.record_status(StatusEvent(sid(i), "ringing"))
    assert len(registry._held) == CallRegistry.MAX_HELD
    assert not list(tmp_path.iterdir())


def test_calls_that_never_streamed_show_in_the_loaders(tmp_path: Path) -> None:
    # Issue 15: they left empty directories, which the loaders skipped: the calls vanished.
    from voicelab.analysis import calls_df, turns_df

    clock = FakeClock()
    registry = CallRegistry(tmp_path, max_calls=1, stream_window_s=30, clock=clock)
    admit(registry, sid(1))  # holds the slot, its stream never comes
    admit(registry, sid(2))  # busy
    reservation = registry.reserve()
    assert reservation is None  # at the cap
    registry.ended(sid(1))  # no session ran: it stays waiting for one
    clock.now += 31
    registry.record_status(StatusEvent(sid(2), "busy", {"SequenceNumber": "1"}))
    CallRecord(tmp_path, "server").flush()
    calls = calls_df(tmp_path).set_index("call_sid")
    assert calls.loc[sid(1), "end_reason"] == "token_expired"
    assert calls.loc[sid(2), "end_reason"] == "capacity"
    assert calls.loc[sid(2), "status"] == "busy"
    assert calls["known_at"].notna().all() and calls["started_at"].notna().all()
    assert list(calls["n_turns"]) == [0, 0]
    assert turns_df(tmp_path).empty
