"""``voicelab init``: the starter project, its refusal to overwrite, and its pytest defaults.

These place no call; ``tests/packaging/test_wheel.py`` runs the starter's own tests from an
installed wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import assert_exit_2
from helpers import run_cli as voicelab

from voicelab import _starter
from voicelab._starter import starter_files, write_starter
from voicelab.errors import VoicelabError
from voicelab.simulator.scenario import load_scenario

EXPECTED = {
    "personas/inbound.md",
    "personas/outbound.md",
    "scenarios/cold_food.yaml",
    "scenarios/outbound_followup.yaml",
    "tests/test_agent.py",
    "tests/conftest.py",
    ".env.example",
    "README.md",
}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_init_writes_the_starter_from_the_package_data(tmp_path: Path) -> None:
    project = tmp_path / "agent"
    result = voicelab("init", str(project))
    assert result.exit_code == 0, (result.output, result.exception)
    assert _files(project) == EXPECTED
    for target, source in starter_files().items():
        assert (project / target).read_bytes() == source.read_bytes(), target
    assert "cd " in result.stdout and "pytest" in result.stdout
    for name in ("cold_food", "outbound_followup"):
        assert load_scenario(project / "scenarios" / f"{name}.yaml").id == name


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    write_starter(tmp_path)
    (tmp_path / "README.md").write_text("our own readme\n")
    (tmp_path / "tests" / "conftest.py").unlink()
    result = voicelab("init", str(tmp_path))
    assert_exit_2(result)
    assert "README.md" in result.stderr and "personas/inbound.md" in result.stderr
    assert "--force" in result.stderr
    assert (tmp_path / "README.md").read_text() == "our own readme\n"
    assert not (tmp_path / "tests" / "conftest.py").exists()  # all or nothing


def test_force_overwrites_and_replaces_a_symlink_instead_of_writing_through_it(
    tmp_path: Path,
) -> None:
    project, outside = tmp_path / "p", tmp_path / "outside.md"
    outside.write_text("not the project's\n")
    write_starter(project)
    (project / "README.md").write_text("edited\n")
    (project / "personas" / "inbound.md").unlink()
    (project / "personas" / "inbound.md").symlink_to(outside)
    result = voicelab("init", "--force", str(project))
    assert result.exit_code == 0, (result.output, result.exception)
    assert (project / "README.md").read_bytes() == starter_files()["README.md"].read_bytes()
    assert not (project / "personas" / "inbound.md").is_symlink()
    assert outside.read_text() == "not the project's\n"


def test_init_into_a_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = voicelab("init", str(target))
    assert_exit_2(result)
    assert "not a directory" in result.stderr
    with pytest.raises(VoicelabError, match="not a directory"):
        write_starter(target)


def test_a_scenarios_wav_files_are_copied_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No packaged scenario plays a WAV today; one that did must bring its audio along.
    packaged = tmp_path / "packaged"
    (packaged / "clips").mkdir(parents=True)
    # Real audio: a scenario's wav: files are checked (soundfile) when it loads.
    sf.write(packaged / "clips" / "hello.wav", np.zeros(800, dtype=np.float32), 8000)
    (packaged / "clip_call.yaml").write_text(
        "direction: inbound\nturns:\n  - wav: clips/hello.wav\n    text: hello\n"
    )
    monkeypatch.setattr(_starter, "STARTER_SCENARIOS", ("clip_call",))
    monkeypatch.setattr(_starter, "scenario_path", lambda name: packaged / f"{name}.yaml")
    project = tmp_path / "project"
    write_starter(project)
    scenario = load_scenario(project / "scenarios" / "clip_call.yaml")
    audio = scenario.audio_path(scenario.turns[0])
    assert audio == project / "scenarios" / "clips" / "hello.wav"
    assert audio.read_bytes() == (packaged / "clips" / "hello.wav").read_bytes()


PROBE = """
from pathlib import Path


def test_defaults(voicelab_settings):
    print("providers", voicelab_settings.providers)
    print("prompts", voicelab_settings.prompts_dir)
"""


def _pytest(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow  # runs the plugin's calls
def test_the_starters_tests_default_to_scripted_and_its_personas(tmp_path: Path) -> None:
    write_starter(tmp_path)
    collected = _pytest(tmp_path, "--collect-only")
    assert "2 tests collected" in collected
    (tmp_path / "tests" / "test_probe.py").write_text(PROBE)
    probe = "tests/test_probe.py"
    out = _pytest(tmp_path, probe)
    assert "providers scripted" in out and f"prompts {tmp_path / 'personas'}" in out
    # The command line and the environment still win.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "personas", elsewhere)
    out = _pytest(
        tmp_path,
        probe,
        "--voicelab-providers",
        "instant",
        env={"VOICELAB_PROMPTS_DIR": str(elsewhere)},
    )
    assert "providers instant" in out and f"prompts {elsewhere}" in out


def test_the_starters_python_is_lint_clean(tmp_path: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.fail("ruff is a dev dependency: pip install -e '.[dev]'")
    write_starter(tmp_path)
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--select", "E,F,W,I,B,UP,SIM", "tests"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
