"""A bad scenario file is a ScenarioError naming the file, the field and the line."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest

from voicelab.errors import ScenarioError
from voicelab.simulator.scenario import Scenario, load_scenario

# (what is wrong, the file, the field named, part of the message, the line named)
BAD_FILES = [
    (
        "say is not a string",
        """
        description: three turns
        turns:
          - say: Hello there, is this the right line?
          - pause: 1
          - say: 12345
        """,
        "turns[2].say",
        "Input should be a valid string",
        5,
    ),
    (
        "misspelt field",
        """
        turns:
          - say: The soup was cold today.
            barge_in_afer: 1.5
        """,
        "turns[0].barge_in_afer",
        "unknown field (did you mean barge_in_after?)",
        3,
    ),
    (
        "two actions in one turn",
        """
        turns:
          - pause: 1
          - say: Press one for billing
            dtmf: "1"
        """,
        "turns[1]",
        "a turn does exactly one of say, wav, dtmf, pause, hang_up; found say and dtmf",
        3,
    ),
    (
        "regex does not compile",
        """
        turns:
          - say: I was charged twice for lunch.
        expect:
          - {turn: 1, contains: sorry}
          - turn: 1
            regex: "refund(ed"
        """,
        "expect[1].regex",
        "the pattern does not compile",
        6,
    ),
    (
        "caller number not E.164",
        """
        direction: inbound
        caller:
          name: Sam
          number: "555-0100"
        """,
        "caller.number",
        "String should match pattern",
        4,
    ),
    (
        "speaking rate out of range",
        """
        caller:
          speaking_rate: 3
        """,
        "caller.speaking_rate",
        "less than or equal to 2",
        2,
    ),
    (
        "direction misspelt",
        """
        description: x
        direction: inbond
        """,
        "direction",
        "Input should be 'inbound' or 'outbound'",
        2,
    ),
    (
        "expectation of a turn the caller never reaches",
        """
        turns:
          - say: The chef was amazing tonight.
        expect:
          - turn: 0
            contains: Compass Group
          - turn: 2
            contains: thank
        """,
        "expect[1].turn",
        "the caller speaks at most 1 line(s)",
        6,
    ),
    (
        "busy outcome on an inbound call",
        """
        direction: inbound
        outcome: busy
        """,
        "outcome",
        "only an outbound call can be busy, unanswered or failed",
        2,
    ),
    (
        "turns on a call that is never answered",
        """
        direction: outbound
        outcome: no-answer
        turns:
          - say: Hello, who is this please?
        """,
        "turns",
        "a no-answer call is never answered: remove it",
        3,
    ),
    (
        "unquoted dtmf",
        """
        turns:
          - dtmf: 0123
        """,
        "turns[0].dtmf",
        'quote the keys, e.g. dtmf: "83"',
        2,
    ),
    (
        "bad dtmf key",
        """
        turns:
          - dtmf: "12a"
        """,
        "turns[0].dtmf",
        "keys are 0-9, * and #",
        2,
    ),
    (
        "pause given as a boolean",
        """
        turns:
          - pause: true
        """,
        "turns[0].pause",
        "Input should be a valid number",
        2,
    ),
    (
        "turns after a hang-up",
        """
        turns:
          - hang_up: 1
          - say: Are you still there?
        """,
        "turns[0].hang_up",
        "the turns after a hang-up never run",
        2,
    ),
    (
        "goal without an objective",
        """
        turns: []
        goal:
          max_turns: 2
        """,
        "goal.objective",
        "Field required",
        2,
    ),
    (
        "missing wav file",
        """
        turns:
          - say: First a spoken line.
          - wav: clips/missing.wav
        """,
        "turns[1].wav",
        "no such audio file 'clips/missing.wav'",
        3,
    ),
    (
        "duplicate key",
        """
        turns:
          - say: The soup was cold.
        expect: []
        turns: []
        """,
        "turns",
        "the key appears twice",
        4,
    ),
    (
        "contains is a number",
        """
        expect:
          - contains: 42
        """,
        "expect[0].contains",
        "Input should be a valid list",
        2,
    ),
    (
        "empty expectation",
        """
        expect:
          - turn: 0
        """,
        "expect[0]",
        "an expectation needs contains, regex, must_not_say or max_latency_s",
        2,
    ),
    (
        "the loader's own field",
        """
        path: elsewhere.yaml
        """,
        "path",
        "set by the loader",
        1,
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "message", "line"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_file_names_file_field_and_line(
    tmp_path: Path, text: str, field: str, message: str, line: int
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(dedent(text).lstrip(), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    first = str(caught.value).splitlines()[0]
    assert first.startswith(f"{path}: {field}: "), first
    assert message in first, first
    assert first.endswith(f"(line {line})"), first


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("direction: sideways\ncaller:\n  speaking_rate: 9\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).splitlines() == [
        f"{path}: direction: Input should be 'inbound' or 'outbound' (line 1)",
        f"{path}: caller.speaking_rate: Input should be less than or equal to 2 (line 3)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("turns:\n  - say: hi\n   pause: 1\n", "invalid YAML"),
        ("turns: [say: hi\n\nexpect: []\n", "invalid YAML"),
        ("description: 'unterminated\n", "invalid YAML"),
    ],
)
def test_yaml_syntax_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "(line " in str(caught.value)


def test_syntax_error_line_is_right(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("description: ok\nturns:\n  - say: hi\n   pause: 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"broken.yaml: invalid YAML: .*\(line 4\)$"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the file is empty (line 1)"), ("- say: hi\n", "a scenario is a mapping of fields")],
)
def test_empty_or_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError, match=re.escape(f"odd.yaml: {message}")):
        load_scenario(path)


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope.yaml: cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_built_in_code_is_checked_too() -> None:
    with pytest.raises(ValueError, match="only an outbound call"):
        Scenario(id="x", outcome="busy")


def test_id_from_an_unusable_file_name(tmp_path: Path) -> None:
    path = tmp_path / "cold food.yaml"
    path.write_text("turns: []\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"cold food.yaml: id: the id comes from the file name"):
        load_scenario(path)
    path.write_text("id: cold-food\n", encoding="utf-8")
    assert load_scenario(path).id == "cold-food"
