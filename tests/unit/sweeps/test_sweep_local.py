"""A small sweep in this process: records, variant columns, comparison, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import assert_record_complete
from sweep_helpers import SWEEP_NAME, VARIANTS, write_sweep

from voicelab.analysis import calls_df, compare, turns_df
from voicelab.config import Settings
from voicelab.lab import Lab
from voicelab.network import LabModels
from voicelab.sweeps import sweep
from voicelab.sweeps._report import sweep_report

pytestmark = pytest.mark.slow


def test_a_local_sweep_records_every_cell_and_compares_the_variants(
    tmp_path: Path, lab_models: LabModels
) -> None:
    path = write_sweep(tmp_path / "sweep")
    store = tmp_path / "store"
    settings = Settings(recordings_dir=tmp_path / "unused")
    result = sweep(path, settings=settings, store=store, progress=False, models=lab_models)

    assert len(result.cells) == 4 and not result.failures and not result.skipped
    assert not (tmp_path / "unused").exists()  # the store given is where calls go
    calls = calls_df(store)
    assert len(calls) == 4 and set(calls["sweep"]) == {SWEEP_NAME}
    assert sorted(zip(calls["variant"], calls["repeat"], strict=True)) == sorted(
        (v, r) for v in VARIANTS for r in (1, 2)
    )
    for directory in calls["call_dir"]:
        assert_record_complete(Path(directory))
        manifest = json.loads((Path(directory) / "call.json").read_text())
        assert manifest["scenario"]["id"] == "one_line"
        assert manifest["runner"]["kind"] == "local" and manifest["runner"]["pid"] > 0
        assert manifest["sweep"]["cell"].startswith(manifest["sweep"]["variant"] + "/")
        assert "sk-not-a-real-key" not in json.dumps(manifest)
    turns = turns_df(store)
    replies = turns[turns["turn"] > 0]
    assert set(replies["variant"]) == set(VARIANTS) and replies["v2v_caller_s"].notna().all()
    table = compare(turns, by="variant", baseline="quick")
    assert list(table["variant"]) == ["patient"] and list(table["n"]) == [2]
    # The patient variant's VAD waits 0.6 s longer for silence after the caller's line.
    assert table["diff"].iloc[0] > 0.3
    assert result.compare().equals(table)
    text = sweep_report(result)
    assert "4 cells, 4 played now, 0 already recorded" in text and "patient" in text


def test_a_restarted_sweep_plays_only_the_cells_not_recorded(
    tmp_path: Path, lab_models: LabModels
) -> None:
    path = write_sweep(tmp_path / "sweep", repeats=1)
    store = tmp_path / "store"
    first = sweep(path, store=store, progress=False, models=lab_models)
    assert len(first.outcomes) == 2 and not first.failures

    # Lab.sweep: the lab's settings (its recordings directory is the store) and models.
    again = Lab(recordings_dir=store, models=lab_models).sweep(path, progress=False)
    assert len(again.skipped) == 2 and again.outcomes == [] and again.store == store

    # One call lost (deleted), one left half-written by an interrupted run.
    calls = calls_df(store, cache=False).set_index("variant")
    shutil.rmtree(calls.loc["quick", "call_dir"])
    half = Path(calls.loc["patient", "call_dir"])
    manifest = json.loads((half / "call.json").read_text())
    del manifest["end_reason"]
    (half / "call.json").write_text(json.dumps(manifest))
    resumed = sweep(path, store=store, progress=False, models=lab_models)
    assert sorted(o.cell.id for o in resumed.outcomes) == ["patient/one_line/1", "quick/one_line/1"]
    assert [p.name for p in resumed.set_aside] == [half.name]
    assert (store / ".failed" / half.name / "call.json").exists()
    assert len(calls_df(store, cache=False)) == 2


def test_a_failed_call_is_retried_once_then_reported_never_dropped(
    tmp_path: Path, lab_models: LabModels
) -> None:
    # Servers that take one live call at a time, two calls of each variant placed at once.
    path = write_sweep(tmp_path / "sweep", repeats=2)
    text = path.read_text().replace("providers: instant,", "providers: instant, max_calls: 1,")
    path.write_text(text)
    store = tmp_path / "store"
    result = sweep(path, store=store, concurrency=4, progress=False, models=lab_models)
    busy = [o for o in result.attempts if o.failed]
    assert busy, "a second call at once must find the server full"
    # Busy at its webhook, or its stream refused: either way the call did not take place.
    assert all(
        "ended busy" in str(o.error) or "the server recorded no call" in str(o.error) for o in busy
    )
    assert {o.cell.id for o in result.retried} <= {
        o.cell.id for o in result.attempts if o.attempt == 2
    }
    calls = calls_df(store, cache=False)
    recorded = {f"{v}/one_line/{r}" for v, r in zip(calls["variant"], calls["repeat"], strict=True)}
    reported = {o.cell.id for o in result.failures}
    assert all(o.attempt == 2 for o in result.failures)  # reported only after the retry
    # Every cell is either recorded once or reported, never both, never neither.
    assert len(calls) == len(recorded) and not recorded & reported
    assert recorded | reported == {c.id for c in result.cells}
    assert "FAILED" in sweep_report(result) if result.failures else True


def test_voicelab_sweep_prints_the_grid_and_the_comparison(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from voicelab.cli import app

    path = write_sweep(tmp_path / "sweep", repeats=1)
    store = tmp_path / "store"
    result = CliRunner().invoke(app, ["sweep", str(path), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "sweep turn-timeout: 2 cells, 2 played now, 0 already recorded" in result.output
    assert "v2v_caller_s by variant" in result.output
    assert "compare(turns, by='variant'" in result.output and "patient    quick" in result.output
    assert len(calls_df(store)) == 2
