"""A light scale test: 200 synthetic calls, the cache doing its job, the import boundary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from synthetic_tree import write_synthetic_tree

import voicelab.analysis as analysis
from voicelab.analysis import BREAKDOWN, _bulk, _files, calls_df, events_df, turns_df

CALLS, TURNS = 200, 6


TRUTH: list[dict[str, object]] = []  # the breakdown each turn was generated with


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scale") / "recordings"
    TRUTH.clear()
    write_synthetic_tree(root, CALLS, TURNS, truth=TRUTH)
    return root


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the call directories read, in one parse of them all or one by one."""
    parsed: list[str] = []
    real, real_bulk = _files.parse_call, _bulk.read_bulk

    def counting(directory: _files.CallDir) -> _files.ParsedCall:
        parsed.append(directory.name)
        return real(directory)

    def counting_bulk(dirs: list[_files.CallDir]) -> _bulk.BulkRead | None:
        parsed.extend(directory.name for directory in dirs)
        return real_bulk(dirs)

    monkeypatch.setattr("voicelab.analysis.load.parse_call", counting)
    monkeypatch.setattr("voicelab.analysis.load.read_bulk", counting_bulk)
    return parsed


def test_scale_loads_every_row_then_serves_from_the_cache(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _count_parses(monkeypatch)
    events = events_df(tree)
    # Per call: 10 framing events + 16 per exchange.
    assert len(events) == CALLS * (10 + 16 * TURNS)
    assert len(parsed) == CALLS
    turns = turns_df(tree)
    calls = calls_df(tree)
    assert len(parsed) == CALLS  # the other tables came from the same pass, via the cache
    assert len(calls) == CALLS and len(turns) == CALLS * (TURNS + 1)
    assert turns["v2v_caller_s"].notna().sum() == CALLS * TURNS
    # Every part of the breakdown, the remainder (transport_s) included, is the one each
    # turn was generated with (to the events' rounding of times).
    truth = pd.DataFrame(TRUTH).set_index(["call_sid", "turn"])
    found = turns.set_index(["call_sid", "turn"]).loc[truth.index, list(BREAKDOWN)]
    assert len(truth) == CALLS * TURNS
    assert ((found - truth[list(BREAKDOWN)]).abs() < 1e-3).all().all()


def test_one_changed_call_is_the_only_one_read_again(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_df(tree)  # warm
    parsed = _count_parses(monkeypatch)
    middle = sorted(p for p in tree.iterdir() if not p.name.startswith("."))[CALLS // 2]
    path = middle / "events.jsonl"
    last = json.loads(path.read_text().splitlines()[-1])
    with path.open("a") as handle:
        handle.write(json.dumps(last | {"t": last["t"] + 1}) + "\n")
    events = events_df(tree)
    assert parsed == [middle.name]
    # Same rows, same order as a load that ignores the cache.
    pd.testing.assert_frame_equal(events, events_df(tree, cache=False))
    assert (events["call_sid"] == middle.name.split("_")[1]).sum() == 10 + 16 * TURNS + 1


def test_public_api_is_explicit() -> None:
    assert sorted(analysis.__all__) == sorted(set(analysis.__all__))
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None


def test_analysis_never_imports_the_runtime() -> None:
    forbidden = ("pipecat", "voicelab.server", "voicelab.bot", "voicelab.simulator")
    code = (
        "import sys, voicelab.analysis\n"
        f"bad = [m for m in sys.modules if m.startswith({forbidden!r})]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
