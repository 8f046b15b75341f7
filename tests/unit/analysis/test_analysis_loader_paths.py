"""The loader's fast paths keep the record contract: awkward records, cold, cached and memoised.

A naive reading of the record (one ``json.loads`` per line, the typing rules of
``_events.DATA_FIELDS`` spelled out here) must give the same events as ``events_df`` cold,
from the parquet cache, and from the in-process memo; and the memo must never serve a table
older than the files.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from voicelab.analysis import CallRecordWarning, calls_df, events_df, turns_df
from voicelab.analysis._events import DATA_FIELDS

WALL = "2025-03-01T10:15:0{}.000000+00:00"


def _line(t: Any, kind: str, source: str = "server", **data: Any) -> str:
    return json.dumps(
        {"t": t, "wall": WALL.format(int(t) % 10), "source": source, "type": kind, "data": data},
        ensure_ascii=False,
    )


def _call(root: Path, sid: str, body: str) -> Path:
    directory = root / f"20250301-1015{sid[-2:]}_{sid}"
    directory.mkdir(parents=True)
    (directory / "call.json").write_text(json.dumps({"call_sid": sid, "variant": "A"}))
    (directory / "events.jsonl").write_bytes(body.encode())
    return directory


@pytest.fixture
def awkward(tmp_path: Path) -> Path:
    """Calls written the way old writers, dying writers and other tools write them."""
    root = tmp_path / "recordings"
    plain = [
        _line(
            0, "call.started", call_sid="CA01", direction="inbound", **{"from": "+1", "to": "+2"}
        ),
        _line(0.5, "tts.started", turn=0, text='Grüß Gott — 你好 "quoted"'),
        _line(1, "bot.speech_started", turn=0),
        _line(2, "user.speech_stopped", turn=1),
        _line(2.5, "stt.transcript", turn=1, text="hello", final=True),
        _line(3, "llm.first_token", turn=1, ttft_s=1),  # an int where a float is declared
        _line(3.5, "metrics.v2v", turn=1, v2v_s=0.75, measured_from="user_stopped"),
        _line(4, "function_call.started", turn=1, call_id="c1", name="f", arguments={"a": [1]}),
        _line(5, "call.ended", reason="stop"),
    ]
    _call(root, "CA01", "\n".join(plain) + "\n")
    odd = [
        _line(0, "twilio.status", status="in-progress", sequence=None, duration=None),
        _line(1, "twilio.status", status="completed", sequence="3", duration="6"),  # old writer
        _line(2, "user.speech_stopped", turn="2"),  # a string turn: kept in extra
        _line(3, "stt.transcript", turn=True, text=5, final="yes"),  # every type wrong
        _line(4, "mark", name="m", new_field={"nested": [1, None]}, gone=None),
        json.dumps({"t": 5, "wall": WALL.format(5), "source": "server", "type": "x", "data": None}),
        json.dumps({"t": 6, "wall": WALL.format(6), "source": "server", "type": "y"}),
    ]
    # A blank line, CRLF endings, and no final newline.
    _call(root, "CA02", "\r\n".join(odd[:3]) + "\n\n" + "\n".join(odd[3:]))
    # A writer killed mid-line.
    _call(root, "CA03", "\n".join(plain[:3]) + "\n" + plain[3][:25])
    return root


def _naive(root: Path) -> pd.DataFrame:
    """events_df's rows, read the obvious way (the contract, not the loader's code)."""
    rows = []
    for directory in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        sid = json.loads((directory / "call.json").read_text())["call_sid"]
        lines = [x for x in (directory / "events.jsonl").read_bytes().split(b"\n") if x.strip()]
        for number, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except ValueError:
                assert number == len(lines)  # only a cut last line is dropped
                continue
            row: dict[str, Any] = {"call_sid": sid, "t": float(event["t"])}
            row |= {"wall": pd.Timestamp(event["wall"]), "source": event["source"]}
            row["type"] = event["type"]
            extra = {}
            for key, value in (event.get("data") or {}).items():
                if key in DATA_FIELDS and type(value) in DATA_FIELDS[key][1]:
                    row[key] = value
                elif value is not None:
                    extra[key] = value
            row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
            rows.append(row)
    return pd.DataFrame(rows)


def _compare(loaded: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(loaded) == len(expected)
    for column in loaded.columns:
        got = loaded[column].astype(object).where(loaded[column].notna(), None).tolist()
        want = (
            expected[column].astype(object).where(expected[column].notna(), None).tolist()
            if column in expected
            else [None] * len(expected)
        )
        assert got == want, column


def test_events_match_a_naive_reading_cold_cached_and_memoised(awkward: Path) -> None:
    expected = _naive(awkward)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cold = events_df(awkward)
    assert any("dropped a truncated last line" in str(w.message) for w in caught)
    assert all(issubclass(w.category, CallRecordWarning) for w in caught)
    _compare(cold, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CallRecordWarning)
        memoised = events_df(awkward)  # same process: the memo
        uncached = events_df(awkward, cache=False)
    pd.testing.assert_frame_equal(memoised, cold)
    pd.testing.assert_frame_equal(uncached, cold)


def test_hand_checked_values_of_awkward_lines(awkward: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CallRecordWarning)
        events = events_df(awkward)
    odd = events[events["call_sid"] == "CA02"].reset_index(drop=True)
    assert odd["type"].tolist() == [
        "twilio.status",
        "twilio.status",
        "user.speech_stopped",
        "stt.transcript",
        "mark",
        "x",
        "y",
    ]
    assert pd.isna(odd.loc[0, "sequence"]) and pd.isna(odd.loc[0, "extra"])  # nulls: nothing
    assert pd.isna(odd.loc[1, "sequence"])
    assert json.loads(odd.loc[1, "extra"]) == {"sequence": "3"}
    assert odd.loc[1, "duration"] == "6"
    assert pd.isna(odd.loc[2, "turn"]) and json.loads(odd.loc[2, "extra"]) == {"turn": "2"}
    assert json.loads(odd.loc[3, "extra"]) == {"turn": True, "text": 5, "final": "yes"}
    assert pd.isna(odd.loc[3, "text"]) and pd.isna(odd.loc[3, "final"])
    assert json.loads(odd.loc[4, "extra"]) == {"new_field": {"nested": [1, None]}}
    plain = events[events["call_sid"] == "CA01"].reset_index(drop=True)
    assert plain.loc[1, "text"] == 'Grüß Gott — 你好 "quoted"'
    assert plain.loc[5, "ttft_s"] == 1.0 and plain["ttft_s"].dtype == "float64"
    assert json.loads(plain.loc[7, "extra"]) == {"arguments": {"a": [1]}}
    assert len(events[events["call_sid"] == "CA03"]) == 3  # the cut line alone is gone


def test_the_memo_never_outlives_a_change(awkward: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CallRecordWarning)
        before = (events_df(awkward), turns_df(awkward), calls_df(awkward))
        events = next(awkward.glob("*_CA01")) / "events.jsonl"
        with events.open("a") as handle:
            handle.write(_line(6, "interruption", turn=1) + "\n")
        after = events_df(awkward)
        assert len(after) == len(before[0]) + 1 and after["type"].iloc[9] == "interruption"
        assert turns_df(awkward)["interrupted"].sum() == before[1]["interrupted"].sum() + 1
        shutil.rmtree(awkward / ".voicelab_cache")  # another process cleaned up
        pd.testing.assert_frame_equal(events_df(awkward), after)
        for parquet in (awkward / ".voicelab_cache").glob("*.parquet"):
            parquet.unlink()  # gone under a reader: rebuilt, never served from memory
        pd.testing.assert_frame_equal(events_df(awkward), after)
        assert list((awkward / ".voicelab_cache").glob("records-*.events.parquet"))
