"""calls_df / turns_df / events_df over the hand-written fixtures: shape, dtypes, tolerance."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import (
    FIXTURES,
    INBOUND,
    INBOUND_DIR,
    MALFORMED_DIR,
    OUTBOUND,
    OUTBOUND_DIR,
)

from voicelab.analysis import CallRecordWarning, calls_df, events_df, turns_df
from voicelab.errors import CallRecordError

UTC_US = "datetime64[us, UTC]"


def _documented(fn: object) -> list[str]:
    """Column names listed in a loader's docstring ``Columns:`` section, in order."""
    section = (fn.__doc__ or "").split("Columns:")[1].split("\n\n")[0]
    # Entries may wrap: "a, b,\n    c (dtype): ..." or "a, b\n    (dtype): ...".
    section = re.sub(r",\n\s+", ", ", section)
    section = re.sub(r"\n\s+\(", " (", section)
    names: list[str] = []
    for line in section.splitlines():
        match = re.match(r"^ {8}([a-z][a-z0-9_, ]*?) \(", line)
        if match:
            names += [n.strip() for n in match.group(1).split(",")]
    return names


@pytest.mark.parametrize("loader", [calls_df, turns_df, events_df])
def test_docstring_lists_every_column_in_order(good_root: Path, loader: object) -> None:
    df = loader(good_root)  # type: ignore[operator]
    documented = _documented(loader)
    # The fixtures' top-level "variant" tag fills the declared variant column.
    assert documented == list(df.columns)


def test_calls_df_one_row_per_call_with_manifest_fields(good_root: Path) -> None:
    calls = calls_df(good_root)
    assert list(calls["call_sid"]) == [INBOUND, OUTBOUND]  # directory (= time) order
    inbound, outbound = calls.iloc[0], calls.iloc[1]
    assert inbound["direction"] == "inbound" and outbound["direction"] == "outbound"
    assert inbound["persona_id"] == "compass-inbound" and inbound["persona_version"] == 3
    assert inbound["stt_service"] == "faster-whisper" and outbound["llm_model"] == "gpt-4o-mini"
    assert inbound["scenario_id"] == "canteen_feedback" and pd.isna(outbound["scenario_id"])
    assert bool(inbound["simulated"]) and not bool(outbound["simulated"])
    # 10:15:00.000 -> 10:15:05.800 and 11:00:00 -> 11:00:11
    assert list(calls["duration_s"]) == pytest.approx([5.8, 11.0])
    assert list(calls["n_turns"]) == [2, 2]
    assert list(calls["n_interruptions"]) == [0, 1]
    assert list(calls["n_errors"]) == [0, 1]
    assert list(calls["variant"]) == ["A", "B"]  # extra manifest fields become columns


def test_calls_df_dtypes_and_paths(good_root: Path) -> None:
    calls = calls_df(good_root)
    assert str(calls["started_at"].dtype) == UTC_US
    assert calls["started_at"].iloc[0] == pd.Timestamp("2025-03-01T10:15:00Z")
    assert str(calls["n_turns"].dtype) == "Int64"
    assert str(calls["simulated"].dtype) == "boolean"
    inbound = calls.iloc[0]
    assert Path(inbound["call_dir"]) == good_root / INBOUND_DIR
    assert Path(inbound["server_wav"]).name == "server_8765_inbound_recording_20250301_101500.wav"
    assert Path(inbound["caller_wav"]).is_file()
    assert pd.isna(calls.iloc[1]["server_wav"]) and pd.isna(calls.iloc[1]["caller_wav"])


def test_events_df_one_row_per_line_typed(good_root: Path) -> None:
    events = events_df(good_root)
    lines = sum(
        len((good_root / d / "events.jsonl").read_text().splitlines())
        for d in (INBOUND_DIR, OUTBOUND_DIR)
    )
    assert len(events) == lines == 45 + 34
    assert str(events["wall"].dtype) == UTC_US
    assert str(events["call_sid"].dtype) == "category"
    assert str(events["turn"].dtype) == "Int64" and str(events["final"].dtype) == "boolean"
    interim = events[(events["type"] == "stt.transcript") & events["final"].eq(False)]
    assert list(interim["text"]) == ["Hi I had lunch at the"]
    v2v = events[events["type"] == "metrics.v2v"]
    assert list(v2v["v2v_s"]) == pytest.approx([0.13, 0.79, 0.57, 0.18, 0.98, 1.06])
    started = events[events["type"] == "call.started"].iloc[0]
    assert json.loads(started["extra"])["direction"] == "inbound"  # unlisted fields kept
    assert pd.isna(events[events["type"] == "llm.started"]["extra"]).all()


def test_turns_df_rows_texts_and_speakers(good_root: Path) -> None:
    turns = turns_df(good_root)
    inbound = turns[turns["call_sid"] == INBOUND]
    assert list(inbound["turn"]) == [0, 1, 2]
    assert list(inbound["caller_turn"]) == [0, 1, 2]  # matched by wall clock
    assert list(inbound["speaker"]) == ["bot", "both", "both"]
    assert inbound["bot_text"].iloc[0].startswith("Hello, you're through to Compass Group")
    assert inbound["caller_text"].iloc[2] == "The soup was cold and I waited 10 minutes."
    # Only final transcripts count: the interim "Hi I had lunch at the" is not repeated.
    assert inbound["stt_text"].iloc[1] == (
        "Hi I had lunch at the canteen today and I want to give feedback."
    )
    assert inbound["bot_text"].iloc[2].startswith("I'm so sorry")  # llm.response wins
    outbound = turns[turns["call_sid"] == OUTBOUND]
    # The streaming final "yeah the delivery was late" came before the VAD stop and was
    # stamped turn 0; it belongs to the caller's first speech turn all the same.
    assert outbound["stt_text"].iloc[1] == "yeah the delivery was late and the food was wrong"
    assert list(outbound["interrupted"]) == [False, True, False]
    assert outbound["caller_turn"].isna().all()
    assert str(turns["started_at"].dtype) == UTC_US


def test_malformed_directory_is_warned_about_and_skipped(calls_root: Path) -> None:
    with pytest.warns(CallRecordWarning, match=re.escape(MALFORMED_DIR)) as record:
        calls = calls_df(calls_root)
    assert "line 3" in str(record[0].message)
    assert list(calls["call_sid"]) == [INBOUND, OUTBOUND]
    # Cached or not, a skipped call is reported on every load.
    with pytest.warns(CallRecordWarning, match=re.escape(MALFORMED_DIR)):
        events = events_df(calls_root)
    assert set(events["call_sid"].astype(str)) == {INBOUND, OUTBOUND}


def test_truncated_last_line_is_dropped_alone(good_root: Path) -> None:
    path = good_root / OUTBOUND_DIR / "events.jsonl"
    with path.open("a") as handle:
        handle.write('{"t": 11.5, "wall": "2025-03-01T11:00:11.5')  # the writer died here
    with pytest.warns(CallRecordWarning, match="truncated last line"):
        events = events_df(good_root)
    assert (events["call_sid"] == OUTBOUND).sum() == 34  # the 34 whole lines stay


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda d: (d / "call.json").unlink(), "missing manifest"),
        (lambda d: (d / "call.json").write_text('{"call_sid": "CAb2'), "unreadable manifest"),
        (lambda d: (d / "call.json").write_text('{"direction": "inbound"}'), "no call_sid"),
    ],
)
def test_bad_manifest_skips_the_call(good_root: Path, damage: object, why: str) -> None:
    damage(good_root / OUTBOUND_DIR)  # type: ignore[operator]
    with pytest.warns(CallRecordWarning, match=why):
        calls = calls_df(good_root)
    assert list(calls["call_sid"]) == [INBOUND]


def test_unknown_event_types_and_fields_are_kept(good_root: Path) -> None:
    path = good_root / OUTBOUND_DIR / "events.jsonl"
    event = {
        "t": 11.2,
        "wall": "2025-03-01T11:00:11.200000+00:00",
        "source": "server",
        "type": "vad.params",
        "data": {"gain_db": 0.2, "turn": "two"},
    }
    with path.open("a") as handle:
        handle.write(json.dumps(event) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CallRecordWarning)
        events = events_df(good_root)
    row = events[events["type"] == "vad.params"].iloc[0]
    assert pd.isna(row["turn"])  # a turn that is not an int is not a turn number...
    assert json.loads(row["extra"]) == {"gain_db": 0.2, "turn": "two"}  # ...but is kept


def test_root_may_be_a_single_call_directory(good_root: Path) -> None:
    calls = calls_df(good_root / INBOUND_DIR)
    assert list(calls["call_sid"]) == [INBOUND]
    assert len(turns_df(good_root / INBOUND_DIR)) == 3


def test_not_a_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(CallRecordError, match="not a directory"):
        calls_df(tmp_path / "nowhere")


def test_empty_root_gives_empty_typed_frames(tmp_path: Path) -> None:
    assert calls_df(tmp_path).empty
    events = events_df(tmp_path)
    assert events.empty and str(events["wall"].dtype) == UTC_US
    assert turns_df(tmp_path).empty


def test_cache_is_reused_then_invalidated_by_a_change(good_root: Path) -> None:
    first = events_df(good_root)
    index = json.loads((good_root / ".voicelab_cache" / "records.json").read_text())
    assert set(index["entries"]) == {INBOUND_DIR, OUTBOUND_DIR}
    # A second load returns the same frame from the cache...
    pd.testing.assert_frame_equal(events_df(good_root), first)
    pd.testing.assert_frame_equal(events_df(good_root, cache=False), first)
    # ...until a call's events change (size and mtime): then that call is re-read.
    path = good_root / OUTBOUND_DIR / "events.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    assert (events_df(good_root)["call_sid"] == OUTBOUND).sum() == 33
    # A removed call disappears, a new one appears.
    shutil.rmtree(good_root / OUTBOUND_DIR)
    assert set(calls_df(good_root)["call_sid"]) == {INBOUND}


def test_cache_files_of_old_generations_are_removed(good_root: Path) -> None:
    events_df(good_root)
    (good_root / OUTBOUND_DIR / "events.jsonl").touch()
    os.utime(good_root / OUTBOUND_DIR / "events.jsonl", ns=(1, 1))
    events_df(good_root)
    parquet = sorted(p.name for p in (good_root / ".voicelab_cache").glob("records-*.parquet"))
    assert len(parquet) == 5  # calls, events, turns, tool calls, judgments of this generation


def test_a_planted_cache_symlink_is_never_written_through(good_root: Path, tmp_path: Path) -> None:
    # Records come from CI artifacts: a .voicelab_cache link would have the index replaced,
    # and old parquet files deleted, wherever it points.
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    (victim / "records.json").write_text("precious")
    (victim / "records-mine.parquet").write_text("precious")
    os.utime(victim / "records-mine.parquet", ns=(1, 1))  # "stale" to the cache's cleanup
    (good_root / ".voicelab_cache").symlink_to(victim, target_is_directory=True)
    assert set(calls_df(good_root)["call_sid"]) == {INBOUND, OUTBOUND}  # loads, uncached
    assert sorted(p.name for p in victim.iterdir()) == ["records-mine.parquet", "records.json"]
    assert {p.read_text() for p in victim.iterdir()} == {"precious"}


def test_a_second_directory_with_the_same_call_sid_is_skipped(good_root: Path) -> None:
    copy = good_root / f"20250302-000000_{INBOUND}"
    shutil.copytree(good_root / INBOUND_DIR, copy)
    with pytest.warns(CallRecordWarning, match="already loaded"):
        calls = calls_df(good_root)
    assert list(calls["call_sid"]) == [INBOUND, OUTBOUND]
    assert Path(calls["call_dir"].iloc[0]) == good_root / INBOUND_DIR
    with pytest.warns(CallRecordWarning, match="already loaded"):
        turns = turns_df(good_root)
    assert (turns["call_sid"] == INBOUND).sum() == 3  # not twice


def test_an_utterance_the_server_never_registered_keeps_a_row(good_root: Path) -> None:
    path = good_root / INBOUND_DIR / "events.jsonl"
    text = "Are you still there?"
    with path.open("a") as handle:  # said after the server hung up: no user.speech_stopped
        for t, kind in ((6.0, "started"), (6.8, "ended")):
            event = {
                "t": t,
                "wall": f"2025-03-01T10:15:0{t + 0.05:.2f}0000+00:00",
                "source": "caller",
                "type": f"caller.utterance_{kind}",
                "data": {"turn": 3, "text": text},
            }
            handle.write(json.dumps(event) + "\n")
    turns = turns_df(good_root)
    last = turns[turns["call_sid"] == INBOUND].iloc[-1]
    assert pd.isna(last["turn"]) and last["caller_turn"] == 3
    assert last["speaker"] == "caller" and last["caller_text"] == text
    assert pd.isna(last["bot_text"]) and pd.isna(last["v2v_caller_s"])
    assert last["started_at"] == pd.Timestamp("2025-03-01T10:15:06.05Z")


def test_a_damaged_cache_is_rebuilt(good_root: Path) -> None:
    first = turns_df(good_root)
    (good_root / ".voicelab_cache" / "records.json").write_text('{"version": 1, "entries": [')
    pd.testing.assert_frame_equal(turns_df(good_root), first)
    for parquet in (good_root / ".voicelab_cache").glob("records-*.parquet"):
        parquet.write_bytes(b"not parquet")
    pd.testing.assert_frame_equal(turns_df(good_root), first)


def test_file_names_match_the_writer() -> None:
    from voicelab.analysis import _files
    from voicelab.recording import store

    assert (_files.MANIFEST, _files.EVENTS) == (store.MANIFEST, store.EVENTS)


def test_calls_in_subdirectories_load_and_hidden_ones_do_not(tmp_path: Path) -> None:
    # The notebooks record into recordings/01_quickstart/ etc.; sweeps keep failed
    # attempts in .failed/ and the store its index in .by-sid/: those are not calls.
    root = tmp_path / "recordings"
    group = root / "01_quickstart" / "morning"
    group.mkdir(parents=True)
    shutil.copytree(FIXTURES / INBOUND_DIR, group / INBOUND_DIR)
    shutil.copytree(FIXTURES / OUTBOUND_DIR, root / OUTBOUND_DIR)
    for hidden in (".failed", ".by-sid", ".voicelab_cache/x"):
        shutil.copytree(FIXTURES / MALFORMED_DIR, root / hidden / MALFORMED_DIR)
    (root / "01_quickstart" / "loop").symlink_to(root)  # a link back up must not loop
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing hidden is read (the malformed call warns)
        calls = calls_df(root, cache=False)
    assert list(calls["call_sid"]) == [INBOUND, OUTBOUND]  # in time order across groups
    assert calls["call_dir"].iloc[0] == str(group / INBOUND_DIR)
    assert calls["caller_wav"].iloc[0] == str(group / INBOUND_DIR / "caller.wav")
    assert turns_df(root)["call_sid"].astype(str).nunique() == 2


def test_the_cache_keys_calls_by_their_path_under_the_root(tmp_path: Path) -> None:
    # Two groups may hold directories of the same name (a copied run): each is its own
    # call in the cache, found at its own path, and only a changed one is read again.
    root = tmp_path / "recordings"
    for name, sid in (("a", INBOUND), ("b", "CAcopy0000000000000000000000000001")):
        shutil.copytree(FIXTURES / INBOUND_DIR, root / name / INBOUND_DIR)
        manifest = root / name / INBOUND_DIR / "call.json"
        manifest.write_text(manifest.read_text().replace(INBOUND, sid))
    first = calls_df(root)
    index = json.loads((root / ".voicelab_cache" / "records.json").read_text())
    assert set(index["entries"]) == {f"a/{INBOUND_DIR}", f"b/{INBOUND_DIR}"}
    assert list(first["call_dir"]) == [str(root / "a" / INBOUND_DIR), str(root / "b" / INBOUND_DIR)]
    events = root / "b" / INBOUND_DIR / "events.jsonl"
    events.write_text(events.read_text().replace("so sorry", "SO sorry"))
    turns = turns_df(root)
    replies = turns.set_index(["call_sid", "turn"])["bot_text"]
    assert replies[(INBOUND, 2)].startswith("I'm so sorry")
    assert replies[("CAcopy0000000000000000000000000001", 2)].startswith("I'm SO sorry")
    pd.testing.assert_frame_equal(calls_df(root), calls_df(root, cache=False))


def test_a_dangling_manifest_link_is_named_not_a_crash(good_root: Path) -> None:
    manifest = good_root / INBOUND_DIR / "call.json"
    manifest.unlink()
    manifest.symlink_to(good_root / "gone.json")
    with pytest.warns(CallRecordWarning, match=re.escape(f"{manifest}: missing manifest")):
        calls = calls_df(good_root)
    assert list(calls["call_sid"]) == [OUTBOUND]
