"""The warm path: a tree whose files all stat the same is not listed again, and the frames
made last time are handed out again; any change to the tree still shows on the next load.

A directory changed in the last few seconds is listed again at every check (it could change
again in the same clock tick without its mtime moving), so most of these tests age the tree's
timestamps first, as a recording a minute old would be, to test the checks by stat alone.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import FIXTURES, INBOUND, INBOUND_DIR, MALFORMED_DIR, OUTBOUND, OUTBOUND_DIR

from voicelab.analysis import CallRecordWarning, calls_df, events_df, load_records, turns_df
from voicelab.analysis._scan import scan

AN_HOUR_AGO = (1_700_000_000 * 10**9, 1_700_000_000 * 10**9)


def _age(root: Path) -> None:
    """Set every file and directory under ``root`` (and ``root``) to an old mtime."""
    for where, dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(Path(where) / name, ns=AN_HOUR_AGO, follow_symlinks=False)
        for name in dirs:
            os.utime(Path(where) / name, ns=AN_HOUR_AGO, follow_symlinks=False)
    os.utime(root, ns=AN_HOUR_AGO)


@pytest.fixture
def aged(good_root: Path) -> Path:
    """The two fixture calls, loaded once (the cache written) and aged: the memo is in use."""
    (good_root / "empty_group").mkdir()  # a directory that holds no call (yet)
    calls_df(good_root)
    turns_df(good_root)
    _age(good_root)
    calls_df(good_root)  # the index learns the aged stats (the records are read again)
    turns_df(good_root)
    first = scan(good_root)
    assert scan(good_root) is first  # not listed again: the memo is what is tested below
    return good_root


def _append_event(root: Path) -> None:
    event = {"t": 99.0, "wall": "2025-03-01T10:20:00+00:00", "source": "server"}
    with (root / INBOUND_DIR / "events.jsonl").open("a") as handle:
        handle.write(json.dumps({**event, "type": "interruption", "data": {"turn": 1}}) + "\n")


def _drop_caller_wav(root: Path) -> None:
    (root / INBOUND_DIR / "caller.wav").unlink()


def _add_call(root: Path) -> None:
    shutil.copytree(FIXTURES / INBOUND_DIR, root / "zz_copy")
    manifest = root / "zz_copy" / "call.json"
    manifest.write_text(manifest.read_text().replace(INBOUND, "CAnew"))


def _add_call_in_group(root: Path) -> None:
    _add_call(root)
    (root / "zz_copy").rename(root / "empty_group" / "zz_copy")
    os.utime(root, ns=AN_HOUR_AGO)  # the root itself looks untouched


def _remove_call(root: Path) -> None:
    shutil.rmtree(root / OUTBOUND_DIR)


def _edit_manifest_in_place(root: Path) -> None:
    manifest = root / INBOUND_DIR / "call.json"
    data = json.loads(manifest.read_text())
    with manifest.open("w") as handle:  # truncated and rewritten: the directory is unchanged
        handle.write(json.dumps({**data, "variant": "edited by hand"}))


@pytest.mark.parametrize(
    "change",
    [
        _append_event,
        _drop_caller_wav,
        _add_call,
        _add_call_in_group,
        _remove_call,
        _edit_manifest_in_place,
    ],
)
def test_every_change_shows_on_the_next_load(aged: Path, tmp_path: Path, change: object) -> None:
    assert callable(change)
    change(aged)
    # What a first reading of the changed tree gives: a copy of it, never seen before.
    fresh = tmp_path / "fresh"
    shutil.copytree(aged, fresh, symlinks=True, ignore=shutil.ignore_patterns(".voicelab_cache"))
    for load in (events_df, turns_df, calls_df):
        expected = load(fresh, cache=False)
        got = load(aged)
        if load is calls_df:  # paths differ by the root: compare them under it
            for col in ("call_dir", "server_wav", "caller_wav"):
                got[col] = got[col].str.replace(str(aged), "", regex=False)
                expected[col] = expected[col].str.replace(str(fresh), "", regex=False)
        # Rows and values; a removed call's sid stays a (now unused) category of the cached
        # tables, as it always has.
        pd.testing.assert_frame_equal(got, expected, obj=load.__name__, check_categorical=False)


def test_the_changes_are_the_ones_made(aged: Path) -> None:
    before = calls_df(aged).set_index("call_sid")
    _append_event(aged)
    after = calls_df(aged).set_index("call_sid")
    assert after.loc[INBOUND, "n_events"] == before.loc[INBOUND, "n_events"] + 1
    _drop_caller_wav(aged)
    assert pd.isna(calls_df(aged).set_index("call_sid").loc[INBOUND, "caller_wav"])
    assert isinstance(before.loc[INBOUND, "caller_wav"], str)
    _add_call_in_group(aged)
    after = calls_df(aged).set_index("call_sid")
    assert after.loc["CAnew", "call_dir"] == str(aged / "empty_group" / "zz_copy")
    assert set(after.index) == {INBOUND, OUTBOUND, "CAnew"}


def test_a_fresh_tree_is_listed_again_and_a_same_tick_change_is_seen(good_root: Path) -> None:
    # Just written: every directory is listed again at each check (its mtime might not move
    # if it changed again within the same clock tick), so a file added at once is found.
    first = scan(good_root)
    assert scan(good_root) is first  # same listings, same stats: the result stands
    shutil.copy(good_root / INBOUND_DIR / "caller.wav", good_root / OUTBOUND_DIR / "caller.wav")
    assert "caller.wav" in next(d for d in scan(good_root) if d.name == OUTBOUND_DIR).stats


def test_the_cache_directory_created_in_the_root_keeps_the_scan(good_root: Path) -> None:
    _age(good_root)
    first = scan(good_root)
    calls_df(good_root)  # creates .voicelab_cache: the root's mtime moves, its calls do not
    assert scan(good_root) is first
    (good_root / OUTBOUND_DIR / "events.jsonl").touch()  # a file changed: scanned again
    changed = scan(good_root)
    assert changed is not first and scan(good_root) is changed


def test_a_frame_handed_out_is_the_callers_to_change(aged: Path) -> None:
    expected = {load: load(aged, cache=False) for load in (events_df, turns_df, calls_df)}
    for load in expected:
        frame = load(aged)
        frame.iloc[0, 1] = frame.iloc[1, 1]  # in place, as a notebook might
        frame["call_sid"] = "mine"
        frame.drop(index=frame.index[-1], inplace=True)
        frame["extra_column"] = 1
    for load, frame in expected.items():
        pd.testing.assert_frame_equal(load(aged), frame, obj=load.__name__)


def test_load_records_is_the_three_loaders_from_one_scan(aged: Path) -> None:
    records = load_records(aged)
    for got, load in zip(records, (events_df, turns_df, calls_df), strict=True):
        pd.testing.assert_frame_equal(got, load(aged, cache=False), obj=load.__name__)
    _append_event(aged)
    assert len(load_records(aged).events) == len(records.events) + 1


def test_load_records_warns_like_the_loaders(calls_root: Path) -> None:
    with pytest.warns(CallRecordWarning, match=MALFORMED_DIR):
        events, turns, calls = load_records(calls_root)
    assert set(calls["call_sid"]) == {INBOUND, OUTBOUND}
    assert set(events["call_sid"]) == set(turns["call_sid"]) == {INBOUND, OUTBOUND}
