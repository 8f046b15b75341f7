"""Scenarios: the shipped files load, compile to caller actions, and describe themselves."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from voicelab.analysis import check_expectations
from voicelab.errors import ScenarioError
from voicelab.simulator._script import Dtmf, HangUp, Pause, Say
from voicelab.simulator.models import CallerModels
from voicelab.simulator.scenario import (
    Scenario,
    ScenarioExpectation,
    load_scenario,
    load_scenarios,
)
from voicelab.simulator.voices import CallerVoice

SCENARIOS = Path(__file__).resolve().parents[3] / "evals" / "scenarios"
SHIPPED = {
    "allergy_concern",
    "billing_refund",
    "chef_praise",
    "cold_food",
    "greeting_barge_in",
    "hang_up_mid_reply",
    "outbound_busy",
    "outbound_followup",
    "outbound_no_answer",
    "silent_caller",
}
INBOUND_GREETING = (
    "Hello! Thank you for calling Compass Group. I'm here to assist you with any feedback "
    "about our food and services. How can I help you today?"
)


class FakeVoice(CallerVoice):
    """Half a second of tone per word, without loading Piper."""

    calls: list[str]

    def __init__(self, speaking_rate: float = 1.0) -> None:
        super().__init__(speaking_rate)
        self.calls = []

    def speak(self, text: str) -> np.ndarray:
        self.calls.append(text)
        samples = int(4000 * len(text.split()) / self.speaking_rate)
        return (0.3 * np.sin(np.arange(samples) / 3.0)).astype(np.float32)


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text).lstrip(), encoding="utf-8")
    return path


# --- the shipped scenarios ---------------------------------------------------------------


def test_every_shipped_scenario_loads() -> None:
    scenarios = load_scenarios(SCENARIOS)
    assert {s.id for s in scenarios} >= SHIPPED
    assert [s.id for s in scenarios] == sorted(s.id for s in scenarios)
    for scenario in scenarios:
        assert scenario.path is not None and scenario.path.parent == SCENARIOS
        assert scenario.description
        assert scenario.problems() == []


def test_shipped_scenarios_keep_calls_short() -> None:
    for scenario in load_scenarios(SCENARIOS):
        lines = [turn.say for turn in scenario.turns if turn.say]
        assert len(lines) <= 3, scenario.id
        for line in lines:
            assert 4 <= len(line.split()) <= 15, (scenario.id, line)


def test_shipped_scenarios_shape() -> None:
    by_id = {s.id: s for s in load_scenarios(SCENARIOS)}
    assert by_id["cold_food"].spoken_lines == 2
    assert by_id["greeting_barge_in"].turns[0].barge_in_after == 1.5
    assert [t.kind for t in by_id["silent_caller"].turns] == ["pause", "hang_up"]
    assert by_id["silent_caller"].turns[0].pause == 8
    assert [t.kind for t in by_id["hang_up_mid_reply"].turns] == ["say", "hang_up"]
    assert by_id["outbound_followup"].direction == "outbound"
    assert by_id["outbound_busy"].outcome == "busy" and not by_id["outbound_busy"].turns
    assert by_id["outbound_no_answer"].outcome == "no-answer"
    greeting = [e for e in by_id["outbound_followup"].expect if e.turn == 0]
    assert greeting and greeting[0].contains == ["Compass Group"]


def test_shipped_expectations_hold_for_the_scripted_bot() -> None:
    """The scripted bot's replies (copied here: the simulator may not import the bot)."""
    sorry = "I am sorry the food was not up to standard. Could you tell me which site?"
    replies = {
        "cold_food": [INBOUND_GREETING, sorry, "Thank you for your feedback. Goodbye."],
        "billing_refund": [
            INBOUND_GREETING,
            "I am sorry about the billing trouble. I will pass this to our accounts team.",
        ],
        "chef_praise": [INBOUND_GREETING, "Thank you, that is lovely to hear."],
    }
    by_id = {s.id: s for s in load_scenarios(SCENARIOS)}

    def scores(scenario_id: str, said: list[str]) -> pd.DataFrame:
        # The scenario's own expectation models, checked the one way analysis checks them.
        turns = pd.DataFrame(
            {
                "call_sid": scenario_id,
                "turn": range(len(said)),
                "caller_turn": range(len(said)),
                "bot_text": said,
                "v2v_caller_s": 0.5,
            }
        )
        return check_expectations(turns, {scenario_id: by_id[scenario_id].expect})

    for scenario_id, said in replies.items():
        checked = scores(scenario_id, said)
        assert len(checked) and checked["passed"].all(), checked.to_dict("records")
    refund = [*replies["billing_refund"], "Don't worry, you will get a full refund today."]
    failed = scores("billing_refund", refund).query("passed == False")
    assert failed["check"].tolist() == ["expect.must_not_say"]


# --- compiling to caller actions ---------------------------------------------------------


def test_default_demo_compiles_with_the_real_voice(caller_models: CallerModels) -> None:
    scenario = load_scenario(SCENARIOS / "cold_food.yaml")
    actions = scenario.actions(models=caller_models)
    assert [type(a) for a in actions] == [Say, Say]
    for action, turn in zip(actions, scenario.turns, strict=True):
        assert isinstance(action, Say) and action.text == turn.say
        assert action.audio.dtype == np.float32 and 0.5 < action.audio.size / 8000 < 8
        assert np.abs(action.audio).max() > 0.05
    # Synthesis is remembered by the models per (text, rate): the same audio comes back
    # (to whoever shares those models: test_lab_models checks that others share nothing).
    again = scenario.actions(models=caller_models)
    assert all(a.audio is b.audio for a, b in zip(actions, again, strict=True))  # type: ignore[union-attr]


def test_actions_carry_barge_in_dtmf_pause_and_hang_up(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        caller: {speaking_rate: 1.25}
        turns:
          - say: Sorry to cut in, my order was late.
            barge_in_after: 1.5
          - dtmf: "12#"
          - pause: 2.5
          - say: Thanks, goodbye.
          - hang_up: true
        """,
    )
    voice = FakeVoice(1.25)
    actions = load_scenario(path).actions(voice)
    assert [type(a).__name__ for a in actions] == [
        "Say", "Dtmf", "Dtmf", "Dtmf", "Pause", "Say", "HangUp"
    ]  # fmt: skip
    first, last = actions[0], actions[5]
    assert isinstance(first, Say) and first.barge_in_after == 1.5 and first.audio.size
    assert isinstance(last, Say) and last.barge_in_after is None and last.text == "Thanks, goodbye."
    assert [a.digit for a in actions if isinstance(a, Dtmf)] == ["1", "2", "#"]
    assert actions[4] == Pause(2.5) and actions[6] == HangUp(0.0)
    assert voice.calls == ["Sorry to cut in, my order was late.", "Thanks, goodbye."]


def test_hang_up_after_seconds_and_noise(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        caller: {noise_snr_db: 20}
        turns:
          - say: The soup was cold today.
          - hang_up: 3
        """,
    )
    scenario = load_scenario(path)
    clean = Scenario.model_validate({**scenario.model_dump(), "caller": {}}).actions(FakeVoice())
    noisy = scenario.actions(FakeVoice())
    assert noisy[1] == HangUp(3.0)
    assert isinstance(noisy[0], Say) and isinstance(clean[0], Say)
    assert noisy[0].audio.shape == clean[0].audio.shape
    assert not np.array_equal(noisy[0].audio, clean[0].audio)
    # Seeded: the same scenario sounds the same every time.
    assert np.array_equal(noisy[0].audio, scenario.actions(FakeVoice())[0].audio)  # type: ignore[union-attr]


def test_wav_turn_is_loaded_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    tone = 0.4 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    sf.write(tmp_path / "clips" / "hello.wav", tone, 16000)
    path = write(
        tmp_path,
        """
        turns:
          - wav: clips/hello.wav
            text: hello there
            barge_in_after: 0.5
          - wav: clips/hello.wav
        """,
    )
    first, second = load_scenario(path).actions(FakeVoice())
    assert isinstance(first, Say) and isinstance(second, Say)
    assert first.text == "hello there" and first.barge_in_after == 0.5
    assert second.text == ""
    assert first.audio.dtype == np.float32 and abs(first.audio.size - 8000) < 50


def test_silent_line_is_an_error(tmp_path: Path) -> None:
    class Mute(FakeVoice):
        def speak(self, text: str) -> np.ndarray:
            return np.zeros(0, dtype=np.float32)

    path = write(tmp_path, "turns:\n  - say: nothing comes out\n")
    with pytest.raises(ScenarioError, match=r"case.yaml: turns\[0\].say: the line has no audio"):
        load_scenario(path).actions(Mute())


# --- defaults, manifest ------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "turns: [{say: Hello is anyone there}]\n"))
    assert scenario.id == "case" and scenario.direction == "inbound"
    assert scenario.outcome == "answer" and scenario.goal is None and scenario.expect == []
    assert scenario.caller.number == "+15557770100" and scenario.caller.speaking_rate == 1.0


def test_manifest_round_trips_through_json() -> None:
    scenario = load_scenario(SCENARIOS / "cold_food.yaml")
    manifest = json.loads(json.dumps(scenario.manifest()))
    assert manifest == scenario.manifest()
    assert manifest["id"] == "cold_food" and manifest["file"].endswith("cold_food.yaml")
    assert manifest["direction"] == "inbound" and manifest["outcome"] == "answer"
    assert manifest["caller"]["name"] == "Sam Patel"
    assert {"turn": 1, "contains": ["sorry", "apolog"], "max_latency_s": 4.0} in manifest[
        "expectations"
    ]
    # Each expectation is a plain dict that validates back to the same expectation.
    for raw, expectation in zip(manifest["expectations"], scenario.expect, strict=True):
        assert ScenarioExpectation.model_validate(raw) == expectation


def test_load_scenarios_takes_files_and_dirs(tmp_path: Path) -> None:
    write(tmp_path, "turns: [{pause: 1}]\n", "b.yaml")
    write(tmp_path, "turns: [{pause: 1}]\n", "a.yaml")
    assert [s.id for s in load_scenarios(tmp_path)] == ["a", "b"]
    assert [s.id for s in load_scenarios([tmp_path / "b.yaml"])] == ["b"]
    with pytest.raises(ScenarioError, match="no such scenario"):
        load_scenarios([tmp_path / "missing.yaml"])
    write(tmp_path, "id: a\nturns: [{pause: 1}]\n", "c.yaml")
    with pytest.raises(ScenarioError, match=r"c.yaml: id 'a' is already used"):
        load_scenarios(tmp_path)


def test_a_varying_caller_voice_is_synthesised_for_every_call(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        caller: {voice_variation: 0.5}
        turns:
          - say: A line with a fresh take each time.
        """,
    )
    scenario = load_scenario(path)
    assert scenario.caller.voice_variation == 0.5
    voice = FakeVoice()
    voice.variation = scenario.caller.voice_variation
    scenario.actions(voice)
    scenario.actions(voice)
    assert voice.calls == ["A line with a fresh take each time."] * 2  # not cached
    with pytest.raises(ScenarioError, match=r"caller\.voice_variation"):
        load_scenario(write(tmp_path, "caller: {voice_variation: 2}\n", "bad.yaml"))
