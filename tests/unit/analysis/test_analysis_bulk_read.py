"""The cold load's one-parse path (``_bulk``) builds the same tables as reading call by call.

A varied tree (the fixture calls, a synthetic group of sweep-tagged calls, and calls made
odd on purpose: torn and unterminated last lines, blank lines, fields written as ``null``,
fields of unexpected types, unknown and nested fields, a judge's verdicts, a function call,
a duplicate call, a call with no events) is loaded both ways with no cache; every table
must match column for column, dtype for dtype, row for row, with the same warnings.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import FIXTURES, INBOUND, INBOUND_DIR, MALFORMED_DIR, OUTBOUND_DIR
from synthetic_tree import write_synthetic_tree

import voicelab.analysis.load as load
from voicelab.analysis import _bulk
from voicelab.analysis._scan import scan

LOADERS = ("events_df", "turns_df", "calls_df", "tool_calls_df", "judgments_df")


def _copy(root: Path, n: int, change) -> Path:
    """A copy of the inbound fixture call under a fresh sid, its lines passed to ``change``."""
    sid = f"CAf{n:031x}"  # (not the synthetic calls' sids)
    directory = root / f"20250301-1016{n:02d}_{sid}"
    shutil.copytree(FIXTURES / INBOUND_DIR, directory)
    manifest = (directory / "call.json").read_text().replace(INBOUND, sid)
    (directory / "call.json").write_text(manifest)
    lines = (directory / "events.jsonl").read_text().replace(INBOUND, sid).splitlines()
    (directory / "events.jsonl").write_text(change([json.loads(line) for line in lines]))
    return directory


def _jsonl(events: list[dict]) -> str:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)


def _odd_fields(events: list[dict]) -> str:
    for event in events:
        data = event.setdefault("data", {})
        if event["type"] == "stt.transcript":
            data["final"] = None  # written as null: read as final, like a missing one
        elif event["type"] == "metrics.v2v":
            data["measured_from"] = None  # null: not the default "user_stopped"
        elif event["type"] == "tts.started":
            data["note"] = {"nested": [1, 2], "empty": {}, "word": "é"}
        elif event["type"] == "llm.response":
            data["text"] = data.get("text", "") + " (null and void)"
    events[0]["t"] = 0  # an int time
    events[1]["data"] = None
    del events[2]["data"]
    verdict = {"kind": "eval", "criterion": "polite", "passed": True, "confidence": 1}
    verdict |= {"verdict": "yes", "judge": "offline:x", "key": "k1", "reason": "ok"}
    started = {"turn": 1, "name": "log", "call_id": "c1", "arguments": {"a": [1, 2]}}
    done = {"turn": 1, "name": "log", "call_id": "c1", "result": "{}", "duration_s": 1}
    usage = {"prompt_tokens": 1.5, "completion_tokens": 7}  # a float count: kept in extra
    events += [
        {"t": 8.0, "wall": "2025-03-01T10:16:08+00:00", "source": "server",
         "type": "llm.usage", "data": usage},
        {"t": 9.0, "wall": "2025-03-01T10:16:09+00:00", "source": "server",
         "type": "function_call.started", "data": started},
        {"t": 9.5, "wall": "2025-03-01T10:16:09.5+00:00", "source": "server",
         "type": "function_call.completed", "data": done | {"mocked": False}},
        {"t": 9.6, "wall": "2025-03-01T10:16:09.6+00:00", "source": "server",
         "type": "tts.usage", "data": {"characters": 12}},
        {"t": 9.7, "wall": "2025-03-01T10:16:09.7+00:00", "source": "server",
         "type": "error", "data": {"message": "boom", "fatal": True}},
        {"t": 20.0, "wall": "2025-03-01T10:20:00+00:00", "source": "judge",
         "type": "judge.verdict", "data": verdict},
    ]  # fmt: skip
    return _jsonl(events)


@pytest.fixture
def varied_root(tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    root.mkdir()
    shutil.copytree(FIXTURES / INBOUND_DIR, root / INBOUND_DIR)
    shutil.copytree(FIXTURES / OUTBOUND_DIR, root / OUTBOUND_DIR)
    write_synthetic_tree(root / "sweep", 3)
    _copy(root, 1, lambda e: _jsonl(e)[:-30])  # torn mid-line: dropped with a warning
    _copy(root, 2, lambda e: _jsonl(e)[:-1])  # whole but unterminated: kept
    _copy(root, 3, lambda e: "\n" + _jsonl(e[:5]) + "\n\n" + _jsonl(e[5:]) + "  ")
    _copy(root, 4, _odd_fields)
    (_copy(root, 5, _jsonl) / "caller.wav").unlink()
    (_copy(root, 6, _jsonl) / "events.jsonl").unlink()  # no events yet
    _copy(root, 7, lambda e: _jsonl(e)[:-1] + ', "x": ')  # the last line torn after "}"
    _copy(root, 8, lambda e: _jsonl(e[:5]) + "\n" + _jsonl(e[5:])[:-9])  # blank line, torn
    duplicate = root / "20250301-102000_copy"  # the inbound call again: skipped
    shutil.copytree(FIXTURES / INBOUND_DIR, duplicate)
    return root


def _load_all(root: Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = {name: getattr(load, name)(root, cache=False) for name in LOADERS}
    return frames, sorted(str(w.message) for w in caught)


def test_one_parse_builds_what_call_by_call_builds(
    varied_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _bulk.read_bulk(scan(varied_root)) is not None  # the tree takes the one-parse path
    bulk, bulk_warnings = _load_all(varied_root)
    monkeypatch.setattr(load, "read_bulk", lambda dirs: None)  # as when Arrow cannot read it
    slow, slow_warnings = _load_all(varied_root)
    assert bulk_warnings == slow_warnings
    assert any("dropped a truncated last line" in m for m in bulk_warnings)
    assert any("already loaded" in m for m in bulk_warnings)
    for name in LOADERS:
        pd.testing.assert_frame_equal(bulk[name], slow[name], check_exact=True, obj=name)
        assert list(bulk[name]["call_sid"].astype(str).unique()) == list(
            slow[name]["call_sid"].astype(str).unique()
        )
    events = bulk["events_df"]
    # the odd call's tts.started but the one whose data was removed
    assert events["extra"].str.contains('"note"').sum() == 2
    assert events["call_sid"].nunique() == 12  # 13 calls, one with no events
    assert len(bulk["judgments_df"]) == 1 and len(bulk["tool_calls_df"]) == 1
    odd = bulk["calls_df"].set_index("call_sid").loc[f"CAf{4:031x}"]
    assert odd["fatal_error"] and odd["n_errors"] == 1 and odd["tts_characters"] == 12
    assert odd["llm_completion_tokens"] == 7 and pd.isna(odd["llm_prompt_tokens"])


def test_a_tree_arrow_cannot_read_loads_call_by_call(calls_root: Path) -> None:
    # The malformed fixture's third line is no JSON: the whole tree goes the slow way,
    # which names that call and loads the others.
    assert _bulk.read_bulk(scan(calls_root)) is None
    frames, messages = _load_all(calls_root)
    assert any(MALFORMED_DIR in m and "line 3" in m for m in messages)
    assert frames["calls_df"]["call_sid"].nunique() == 2
