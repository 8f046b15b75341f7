"""CallRecord writes: stamped on the caller's thread, written on the record writer, in order."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from voicelab.recording._disk import DISK, DiskWorker
from voicelab.recording.store import CallRecord

SID = "CA" + "7" * 32


def lines(record: CallRecord) -> list[dict[str, Any]]:
    return [json.loads(x) for x in record.events_path.read_text().splitlines()]


def test_emit_stamps_at_once_and_writes_on_another_thread(tmp_path: Path) -> None:
    record = CallRecord.open(tmp_path, SID, "server")
    writers: list[str] = []
    append = record._append

    def spy(line: bytes) -> None:
        writers.append(threading.current_thread().name)
        append(line)

    record._append = spy  # type: ignore[method-assign]
    gate = threading.Event()
    DISK.submit(gate.wait, 10)  # the writer is busy: emit must not wait for it
    started = time.monotonic()
    event = record.emit("dtmf", digit="1")
    assert time.monotonic() - started < 5  # returned while the writer was blocked
    assert not record.events_path.exists()  # nothing written on this thread
    stamped = event.t
    time.sleep(0.2)
    gate.set()
    record.flush()
    assert writers and all(name != threading.current_thread().name for name in writers)
    (written,) = lines(record)
    # Stamped at emit, not when written (0.2 s later).
    assert written["t"] == pytest.approx(stamped, abs=1e-5) and stamped < 0.2


def test_order_is_kept_and_call_ended_lands_after_the_final_manifest(tmp_path: Path) -> None:
    record = CallRecord.open(tmp_path, SID, "server")
    for i in range(200):
        record.emit("dtmf", digit=str(i % 10))
    record.update_manifest(end_reason="hangup", recording="server.wav")
    seen: list[object] = []
    # A reader that waits for call.ended and then reads the manifest, as analysis does.
    DISK.submit(lambda: seen.append(json.loads(record.manifest_path.read_text())["end_reason"]))
    record.emit("call.ended", reason="hangup")
    record.flush()
    events = lines(record)
    assert [e["data"]["digit"] for e in events[:200]] == [str(i % 10) for i in range(200)]
    assert events[-1]["type"] == "call.ended"
    assert seen == ["hangup"]  # call.json was final before call.ended was written


def test_update_manifest_merges_a_copy_taken_when_called(tmp_path: Path) -> None:
    record = CallRecord.open(tmp_path, SID, "server")
    history = [{"status": "ringing"}]
    gate = threading.Event()
    DISK.submit(gate.wait, 10)
    record.update_manifest(status="ringing", status_history=history)
    history.append({"status": "changed after the call"})  # must not leak into the record
    gate.set()
    record.update_manifest(status="completed", status_history=[{"status": "completed"}])
    manifest = record.read_manifest()  # flushes first
    assert manifest["status"] == "completed"
    assert [h["status"] for h in manifest["status_history"]] == ["ringing", "completed"]


@pytest.mark.asyncio
async def test_aflush_waits_without_blocking_the_loop(tmp_path: Path) -> None:
    record = CallRecord.open(tmp_path, SID, "server")
    gate = threading.Event()
    DISK.submit(gate.wait, 10)
    record.emit("dtmf", digit="5")
    flushing = asyncio.create_task(record.aflush())
    await asyncio.sleep(0.1)
    assert not flushing.done()  # still waiting for the blocked writer...
    ticks = 0
    while ticks < 3:  # ...while the loop keeps running
        await asyncio.sleep(0.01)
        ticks += 1
    gate.set()
    await asyncio.wait_for(flushing, 10)
    assert lines(record)[0]["data"] == {"digit": "5"}


def test_a_failed_write_is_logged_and_later_writes_still_happen(tmp_path: Path) -> None:
    worker = DiskWorker("test-writer")
    done: list[int] = []

    def broken() -> None:
        raise OSError("disk full")

    messages: list[str] = []
    sink = logger.add(messages.append, level="ERROR")
    try:
        worker.submit(broken)
        worker.submit(done.append, 1)
        worker.flush(10)
    finally:
        logger.remove(sink)
    assert done == [1]
    assert any("call record write failed" in m and "disk full" in m for m in messages)


def test_flush_on_the_writer_thread_does_not_deadlock() -> None:
    worker = DiskWorker("test-writer")
    finished = threading.Event()

    def job() -> None:
        worker.flush()  # a job waiting for its own queue would hang forever
        finished.set()

    worker.submit(job)
    worker.flush(10)
    assert finished.is_set()
