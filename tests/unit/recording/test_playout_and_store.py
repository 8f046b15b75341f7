import json
import threading

import numpy as np

from voicelab.recording.events import CallEvent
from voicelab.recording.store import CallRecord, find_call_dir
from voicelab.simulator._playout import PlayoutBuffer


def test_playout_returns_marks_only_after_the_audio_before_them_has_played():
    buffer = PlayoutBuffer()
    buffer.push_audio(np.ones(200, dtype=np.float32))
    buffer.push_mark("m1")
    buffer.push_audio(np.full(100, 0.5, dtype=np.float32))
    first, marks = buffer.pop(160)
    assert marks == [] and first.min() == 1.0
    second, marks = buffer.pop(160)
    assert marks == ["m1"]
    assert np.allclose(second[:40], 1.0) and np.allclose(second[40:140], 0.5)
    assert np.allclose(second[140:], 0.0)  # silence once the buffer runs dry


def test_clear_drops_audio_and_returns_pending_marks():
    buffer = PlayoutBuffer()
    buffer.push_audio(np.ones(800, dtype=np.float32))
    buffer.push_mark("a")
    buffer.push_mark("b")
    assert buffer.clear() == ["a", "b"]
    assert buffer.queued_samples == 0
    played, marks = buffer.pop(160)
    assert not played.any() and marks == []


def test_call_record_appends_events_and_merges_manifest(tmp_path):
    server = CallRecord.open(tmp_path, "CA" + "1" * 32, "server")
    caller = CallRecord.open(tmp_path, "CA" + "1" * 32, "caller")
    assert server.directory == caller.directory == find_call_dir(tmp_path, "CA" + "1" * 32)

    def write(record: CallRecord, n: int) -> None:
        for i in range(n):
            record.emit("dtmf", digit=str(i % 10))

    threads = [threading.Thread(target=write, args=(r, 200)) for r in (server, caller)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.flush()  # the writes happen on the record writer thread
    lines = server.events_path.read_text().splitlines()
    assert len(lines) == 400
    events = [CallEvent.from_json(line) for line in lines]  # every line whole
    assert {e.source for e in events} == {"server", "caller"}

    server.update_manifest(status="ringing", status_history=[{"status": "ringing"}])
    caller.update_manifest(scenario={"id": "cold_food"}, status_history=[{"status": "in-progress"}])
    caller.flush()
    manifest = json.loads(server.manifest_path.read_text())
    assert manifest["status"] == "ringing" and manifest["scenario"] == {"id": "cold_food"}
    assert [h["status"] for h in manifest["status_history"]] == ["ringing", "in-progress"]
