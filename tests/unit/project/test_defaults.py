"""The packaged defaults (voicelab.defaults): one source, the same as evals/, loaded and checked."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

import voicelab
from voicelab import defaults
from voicelab.analysis import RuleConfig, rule_checks
from voicelab.analysis.quality import RUBRIC, RUBRIC_VERSION
from voicelab.bot.persona import DEFAULT_PROMPTS_DIR, Persona, load_persona
from voicelab.bot.services.scripted_llm import ScriptedLLMService, scripted_reply
from voicelab.errors import ConfigError, ScenarioError
from voicelab.simulator.scenario import load_scenarios

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = Path(voicelab.__file__).parent

# evals/ (the editable copy in the repository) -> the package data it must equal.
COPIES = {
    "prompts": "personas",
    "scenarios": "scenarios",
    "pipecat": "pipecat",
    "scripted_replies.yaml": "scripted_replies.yaml",
    "quality_rules.yaml": "quality_rules.yaml",
    "judge_rubric.md": "judge_rubric.md",
    "sites.yaml": "sites.yaml",
}


def _tree(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize(("evals", "packaged"), COPIES.items())
def test_evals_is_a_copy_of_the_package_data(evals: str, packaged: str) -> None:
    # One source of truth: edit voicelab/defaults/ and copy it to evals/ (or the reverse).
    copy, source = _tree(ROOT / "evals" / evals), _tree(defaults.data_dir() / packaged)
    assert sorted(copy) == sorted(source), f"evals/{evals} and voicelab/defaults/{packaged}"
    drifted = [name for name in source if copy[name] != source[name]]
    assert drifted == [], f"evals/{evals} differs from voicelab/defaults/{packaged}: {drifted}"


def test_evals_holds_nothing_the_package_lacks() -> None:
    assert sorted(p.name for p in (ROOT / "evals").iterdir()) == sorted(COPIES)


def test_the_data_live_inside_the_package() -> None:
    assert defaults.data_dir().is_relative_to(PACKAGE)
    assert defaults.personas_dir() == DEFAULT_PROMPTS_DIR
    assert load_persona("inbound") == Persona.from_file(defaults.personas_dir() / "inbound.md")
    assert defaults.scenario_path("cold_food").is_relative_to(PACKAGE)


def test_every_packaged_scenario_loads_and_knows_its_file() -> None:
    scenarios = load_scenarios(defaults.scenarios_dir())
    assert sorted(s.id for s in scenarios) == defaults.scenario_names()
    assert {"cold_food", "outbound_followup"} <= set(defaults.scenario_names())
    # wav: turns resolve beside the scenario file, so the file must be a real path.
    assert all(s.path is not None and s.path.parent == defaults.scenarios_dir() for s in scenarios)


@pytest.mark.parametrize("name", ["nope", "../personas/inbound", "cold_food.yaml", ""])
def test_an_unknown_scenario_name_lists_the_packaged_ones(name: str) -> None:
    with pytest.raises(ScenarioError, match=r"there are: .*cold_food"):
        defaults.scenario_path(name)


# --- scripted replies --------------------------------------------------------------------


def test_scripted_replies_come_from_the_package_data() -> None:
    replies = defaults.load_scripted_replies()
    cold = next(rule for rule in replies.rules if "cold" in rule.keywords)
    assert scripted_reply("The soup was COLD.") == cold.reply
    assert scripted_reply("what is the weather") == replies.default
    # Priority order: "allergy" comes before "bad".
    assert scripted_reply("a bad allergy") == replies.rules[0].reply


def test_scripted_llm_takes_its_own_replies() -> None:
    mine = defaults.ScriptedReplies(
        rules=(defaults.ReplyRule(keywords=("pizza",), reply="Pizza is on its way."),),
        default="Say pizza.",
    )
    assert scripted_reply("I want pizza", mine) == "Pizza is on its way."
    llm = ScriptedLLMService(replies=mine)
    words = llm.stream_reply([{"role": "user", "content": "hello"}], threading.Event())
    assert "".join(words) == "Say pizza."


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("rules: [{keywords: [Cold], reply: x}]\ndefault: y\n", "rules.0.keywords"),
        ("rules: []\n", "default"),
        ("rules: []\ndefault: y\ntone: warm\n", "tone"),
        ("- just a list\n", "mapping"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_a_bad_replies_file_names_the_file_and_field(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "replies.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"replies\.yaml") as caught:
        defaults.load_scripted_replies(path)
    assert needle in str(caught.value)


# --- quality rules -----------------------------------------------------------------------


def _greeting(text: str) -> pd.DataFrame:
    row = {"call_sid": "CAx", "turn": 0, "bot_text": text, "caller_text": None}
    return pd.DataFrame([{**row, "stt_text": None, "bot_speech_s": 2.0}])


def _passed(scores: pd.DataFrame, check: str) -> list[object]:
    return list(scores.loc[scores["check"] == check, "passed"])


def test_rule_config_is_the_packaged_rules_with_overrides() -> None:
    packaged = defaults.load_quality_rules()
    assert RuleConfig() == packaged
    assert RuleConfig(max_words=5).company == packaged.company == "Compass Group"
    assert RuleConfig(max_words=5).max_words == 5


def test_an_edited_rules_file_changes_the_checks(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("company: Acme Pizza\napology: [oops]\n")  # the rest stays packaged
    mine = RuleConfig.from_file(path)
    hello = _greeting("Hello, Acme Pizza here.")
    assert _passed(rule_checks(hello, mine), "greeting_names_company") == [True]
    assert _passed(rule_checks(hello), "greeting_names_company") == [False]
    complaint = pd.DataFrame(
        [{**_greeting("Oops, sorry.").iloc[0].to_dict(), "turn": 1, "caller_text": "It was cold"}]
    )
    assert _passed(rule_checks(complaint, mine), "apology") == [True]  # "oops" counts
    complaint.loc[0, "bot_text"] = "Sorry about that."
    assert _passed(rule_checks(complaint, mine), "apology") == [False]
    assert _passed(rule_checks(complaint), "apology") == [True]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("complaint: ['cold(']\n", "complaint"),
        ("tts_unsafe: {bad: '[a-'}\n", "tts_unsafe"),
        ("max_words: 0\n", "max_words"),
        ("colour: red\n", "colour"),
    ],
)
def test_a_bad_rules_file_names_the_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"rules\.yaml") as caught:
        defaults.load_quality_rules(path)
    assert needle in str(caught.value)


# --- judge rubric ------------------------------------------------------------------------


def test_the_judge_rubric_is_the_packaged_one() -> None:
    rubric = defaults.load_judge_rubric()
    assert (rubric.version, rubric.text) == (RUBRIC_VERSION, RUBRIC)
    assert RUBRIC.startswith("You are grading a phone call") and "{transcript}" in RUBRIC


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("no front matter\n", "front matter"),
        ("---\nversion: v 1\n---\nGrade it.\n", "version"),
        ("---\nname: x\n---\nGrade it.\n", "version"),
        ("---\nversion: v2\n---\n", "text"),
    ],
)
def test_a_bad_rubric_file_names_the_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "rubric.md"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"rubric\.md") as caught:
        defaults.load_judge_rubric(path)
    assert needle in str(caught.value)
