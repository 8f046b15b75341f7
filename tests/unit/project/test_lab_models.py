"""Who owns the models: a lab (or whoever it is given them by), never a class or a module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicelab.lab import Lab
from voicelab.network import LabModels
from voicelab.simulator import models as simulator_models
from voicelab.simulator.ears import CallerEars
from voicelab.simulator.models import CallerModels


def test_two_labs_given_the_same_models_load_each_once(
    tmp_path: Path, lab_models: LabModels
) -> None:
    # The suite's own models: whichever test loads them first, each loads once in all.
    models = lab_models
    first = Lab(providers="scripted", recordings_dir=tmp_path / "a", models=models)
    second = Lab(providers="scripted", recordings_dir=tmp_path / "b", models=models)
    with first, second:
        # Both servers warmed their models at start: from the one pool they were given.
        assert first.models is second.models is models
        # (Other tests may have loaded the pool's LLM too: each model once, whichever.)
        assert {"whisper", "tts", "vad"} <= set(models.bot.loads)
        assert set(models.bot.loads.values()) == {1}
        loaded = dict(models.bot.loads)
        # A restart loads nothing either: the pool outlives the server.
        first.stop()
        first.start()
        assert models.bot.loads == loaded
    # The callers' ears borrow the bot's Whisper (the same model) instead of loading one.
    tone = (0.3 * np.sin(np.arange(8000) / 3.0)).astype(np.float32)
    assert isinstance(CallerEars(models.caller).transcribe(tone), str)
    assert models.caller.whisper() is models.bot.whisper()
    assert models.bot.loads["whisper"] == 1 and models.caller.loads["whisper"] == 0


def test_labs_without_shared_models_share_no_state(tmp_path: Path) -> None:
    one = Lab(providers="instant", recordings_dir=tmp_path / "a")
    other = Lab(providers="instant", recordings_dir=tmp_path / "b")
    assert one.models is not other.models
    assert one.models.bot is not other.models.bot
    assert one.models.caller is not other.models.caller
    # What one lab's callers remember (a synthesised line) the other's do not.
    line = np.ones(80, dtype=np.float32)
    assert one.models.caller.speech("hello", lambda: line) is line
    assert other.models.caller.speech("hello", np.zeros(80, dtype=np.float32).copy)[0] == 0.0
    assert one.models.caller.speech("hello", lambda: np.zeros(1, np.float32)) is line


def test_caller_models_load_lazily_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[object] = []
    monkeypatch.setattr(
        simulator_models, "_load_piper", lambda: loaded.append(object()) or loaded[-1]
    )
    models = CallerModels()
    assert not any(models.loaded.values()) and not models.loads and not loaded
    voice = models.voice()
    assert models.voice() is voice is loaded[0] and len(loaded) == 1
    assert models.loads == {"voice": 1}
    assert models.loaded == {"voice": True, "whisper": False, "llm": False}
    assert CallerModels().voice() is not voice  # another owner loads its own


def test_simulate_is_one_call_and_says_so_for_a_file_of_several(tmp_path: Path) -> None:
    """``Lab.simulate`` returns one CallResult, never a list: a file of several scenarios is
    refused (before anything starts) with the method that plays them."""
    from voicelab.errors import ScenarioError

    several = Path(__file__).resolve().parents[3] / "evals" / "pipecat" / "feedback_script.yaml"
    lab = Lab(providers="instant", recordings_dir=tmp_path)
    with pytest.raises(ScenarioError, match=r"holds 4 scenarios: play them with simulate_many"):
        lab.simulate(several)
    assert lab._network is None  # refused before any server or carrier started
