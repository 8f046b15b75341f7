"""``voicelab replay``'s bad input: one line and exit code 2, before any call is placed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from voicelab.cli import app

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "calls"
OUTBOUND = FIXTURES / "20250301-110000_CAb2c3d4e5f60718293a4b5c6d7e8f90a1"


def _mono(tmp_path: Path) -> Path:
    path = tmp_path / "mono.wav"
    sf.write(path, np.zeros(8000, np.float32), 8000)
    return path


def _not_audio(tmp_path: Path) -> Path:
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    return path


def _not_a_call(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _broken_manifest(tmp_path: Path) -> Path:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "call.json").write_text("{not json")
    return tmp_path / "broken"


def _no_speech(tmp_path: Path) -> Path:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros((16000, 2), np.float32), 8000)
    return path


@pytest.mark.parametrize(
    ("make", "args", "needle"),
    [
        (lambda tmp: tmp / "missing", [], "no such call directory or WAV file"),
        (_not_a_call, [], "not a call record (no call.json)"),
        (_broken_manifest, [], "unreadable"),
        (_mono, [], "needs a stereo WAV"),
        (_not_audio, [], "not a readable WAV"),
        (_no_speech, [], "no caller speech found"),
        (lambda tmp: OUTBOUND, [], "no server recording"),  # a record without audio
        (lambda tmp: OUTBOUND, ["--caller-channel", "1"], "knows its channels"),
        (_mono, ["--caller-channel", "2"], "--caller-channel"),
        (_mono, ["--agent", "x:y", "--server", "http://127.0.0.1:1"], "give one"),
        (_mono, ["--providers", "magic"], "VOICELAB_PROVIDERS"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, make, args, needle):
    result = CliRunner().invoke(
        app, ["replay", str(make(tmp_path)), *args], env={"VOICELAB_RECORDINGS_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not list(tmp_path.glob("2*_CA*")), "no call was placed"
