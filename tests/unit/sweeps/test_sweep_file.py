"""The sweep file, the grid and resume bookkeeping: no calls placed (fast)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sweep_helpers import write_sweep
from typer.testing import CliRunner

from voicelab.cli import app
from voicelab.errors import SweepError
from voicelab.sweeps import load_sweep
from voicelab.sweeps._grid import FAILED_DIR, build_grid, recorded_cells


def sweep_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sweep", *args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_a_sweep_file_loads_with_paths_and_setting_names_normalised(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path))
    assert sweep.name == "turn-timeout" and sweep.repeats == 2
    assert sweep.scenarios == [tmp_path / "one_line.yaml"]
    assert sweep.settings["prompts_dir"] == str(tmp_path / "prompts")  # relative to the file
    patient = sweep.variant_overrides("patient")
    assert patient["vad_stop_secs"] == 0.8  # VOICELAB_VAD_STOP_SECS
    assert patient["providers"] == "instant"  # the sweep's settings under every variant
    settings = sweep.variant_settings("quick")
    assert settings.vad_stop_secs == 0.2 and settings.providers == "instant"


def test_the_grid_has_a_stable_id_per_cell_repeat_by_repeat(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, repeats=3))
    cells = build_grid(sweep, ["one_line"])
    assert len(cells) == 2 * 3 and len({c.id for c in cells}) == 6
    assert [c.id for c in cells[:2]] == ["quick/one_line/1", "patient/one_line/1"]
    assert build_grid(sweep, ["one_line"]) == cells


def test_a_records_overrides_never_hold_a_secret(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path))
    cell = build_grid(sweep, ["one_line"])[1]
    fields = cell.manifest(sweep, attempt=1)
    assert fields["overrides"]["openai_api_key"] == "<redacted>"
    assert "sk-not-a-real-key" not in json.dumps(fields)
    assert fields | {"overrides": None} == {
        "name": "turn-timeout",
        "variant": "patient",
        "repeat": 1,
        "cell": "patient/one_line/1",
        "attempt": 1,
        "overrides": None,
    }


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (
            ("VOICELAB_VAD_STOP_SECS: 0.8", "VOICELAB_VAD_STOP_SECS: 99"),
            "variants[1].overrides.VOICELAB_VAD_STOP_SECS: Input should be less than"
            " or equal to 3 (line 9)",
        ),
        (
            ("vad_stop_secs: 0.2", "vad_stop_sec: 0.2"),
            "variants[0].overrides.vad_stop_sec: not a voicelab setting; did you mean"
            " vad_stop_secs? (line 7)",
        ),
        (("repeats: 2", "repeat: 2"), "repeat: unknown field (did you mean repeats?) (line 3)"),
        (("repeats: 2", "repeats: none"), "repeats: Input should be a valid integer"),
        (("name: patient", "name: quick"), "variant names must differ: quick repeated"),
        (
            ("providers: instant,", "recordings_dir: elsewhere, providers: instant,"),
            "settings.recordings_dir: the sweep's store is set by --store",
        ),
        (
            ("[one_line.yaml]", "[missing.yaml]"),
            "scenarios[0]: no such scenario file or directory",
        ),
        (("name: turn-timeout", "name: turn timeout"), "name: String should match pattern"),
    ],
)
def test_a_bad_sweep_file_exits_2_naming_file_field_and_line(
    tmp_path: Path, edit: tuple[str, str], needle: str
) -> None:
    path = write_sweep(tmp_path)
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    code, output = sweep_cli(str(path))
    assert code == 2, output
    assert f"{path}: " in output and needle in output, output
    assert "Traceback" not in output
    with pytest.raises(SweepError):
        load_sweep(path)


def test_a_bad_scenario_in_a_sweep_names_both_files(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    (tmp_path / "one_line.yaml").write_text("turns:\n  - say: 3\n    sya: oops\n")
    code, output = sweep_cli(str(path))
    assert code == 2
    assert f"{path}: scenarios (line 2)" in output and "one_line.yaml: turns[0].sya" in output


def test_ray_asked_for_without_ray_installed_is_an_install_hint_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, output = sweep_cli(str(write_sweep(tmp_path)), "--ray", "local", "--store", str(tmp_path))
    assert code == 2, output
    assert "pip install 'voicelab-phone[ray]'" in output


def _manifest(directory: Path, **fields: object) -> None:
    directory.mkdir(parents=True)
    (directory / "call.json").write_text(json.dumps({"call_sid": directory.name, **fields}))


def test_recorded_cells_are_the_complete_unfailed_calls_of_that_sweep(tmp_path: Path) -> None:
    mark = {"name": "turn-timeout", "variant": "quick", "repeat": 1, "cell": "quick/one_line/1"}
    _manifest(tmp_path / "a", sweep=mark, end_reason="hangup")
    _manifest(tmp_path / "b", sweep={**mark, "cell": "quick/one_line/2"})  # still in flight
    _manifest(tmp_path / "c", sweep={**mark, "cell": "patient/one_line/1", "failed": "x"})
    _manifest(tmp_path / "d", sweep={**mark, "name": "other", "cell": "o/1"}, end_reason="stop")
    _manifest(tmp_path / FAILED_DIR / "e", sweep={**mark, "cell": "hidden/1"}, end_reason="stop")
    _manifest(tmp_path / "f", end_reason="hangup")  # a call of no sweep
    done, incomplete = recorded_cells(tmp_path, "turn-timeout")
    assert done == {"quick/one_line/1"}
    assert sorted(p.name for p in incomplete) == ["b", "c"]
