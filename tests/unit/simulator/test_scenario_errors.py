"""A bad scenario file is a ScenarioError naming the file, the field and the line."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import numpy as np
import pytest
import soundfile as sf
import yaml

from voicelab.errors import ScenarioError
from voicelab.simulator._scenario_yaml import _first_duplicate_key
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
        "wav is not audio",
        """
        turns:
          - say: First a spoken line.
          - wav: /etc/passwd
        """,
        "turns[1].wav",
        "'/etc/passwd' is not a readable audio file (WAV, FLAC, OGG...): Format not recognised",
        3,
    ),
    (
        "wav is a directory",
        """
        turns:
          - wav: .
        """,
        "turns[0].wav",
        "'.' is not a regular file",
        2,
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
        "an expectation needs contains, regex, must_not_say, max_latency_s, eval or one of calls",
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


# --- files people hand you: aliases, nesting, audio ------------------------------------


def billion_laughs(levels: int = 9) -> str:
    """A few hundred bytes that expand to 9**levels strings: each line 9 aliases of the last."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(10)
def test_an_alias_bomb_is_refused_at_the_alias_that_expands_it_too_far(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs(), encoding="utf-8")
    assert path.stat().st_size < 700
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    # a0..a3 expand to 8,306 nodes; a4's first *a3 takes them past 10,000 (line 5).
    assert str(caught.value) == (
        f"{path}: the alias *a3 takes the file past 10,000 YAML nodes with its aliases"
        " expanded (an alias bomb?) (line 5)"
    )
    # Aliases as people use them still load.
    fine = tmp_path / "fine.yaml"
    fine.write_text(
        dedent(
            """
            turns:
              - say: &line The soup was cold today.
              - say: *line
            expect:
              - &sorry {turn: 1, contains: [sorry, apolog]}
            """
        ).lstrip(),
        encoding="utf-8",
    )
    scenario = load_scenario(fine)
    assert [t.say for t in scenario.turns] == ["The soup was cold today."] * 2


@pytest.mark.parametrize(
    ("text", "alias", "line"),
    [
        ("description: loops\nturns: &turns\n  - say: hi\n  - *turns\n", "turns", 4),
        ("caller: &me\n  name: Sam\n  friend: *me\n", "me", 3),
        ("expect: [&e {turn: 1, contains: [x, *e]}]\n", "e", 1),
    ],
    ids=["sequence", "mapping", "flow"],
)
def test_a_recursive_alias_is_refused_with_its_line(
    tmp_path: Path, text: str, alias: str, line: int
) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:  # was a RecursionError traceback
        load_scenario(path)
    assert str(caught.value) == (
        f"{path}: the alias *{alias} is inside the node it names: a recursive alias never"
        f" ends (write the value out) (line {line})"
    )


def test_nesting_past_the_bound_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("description: deep\nturns: " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(ScenarioError, match=r"deep.yaml: the file nests more than 64 levels deep"):
        load_scenario(path)


@pytest.mark.timeout(10)
def test_the_duplicate_key_check_walks_each_node_once() -> None:
    # Composed without the bound: 9**9 paths through a few dozen nodes.
    bomb = yaml.compose(billion_laughs(), Loader=yaml.SafeLoader)
    assert _first_duplicate_key(bomb) is None
    doubled = billion_laughs().replace('a0: &a0 ["lol", ', "a0: &a0 {x: 1, x: 2}\nz: [")
    assert _first_duplicate_key(yaml.compose(doubled, Loader=yaml.SafeLoader)) == (
        ("a0", "x"),
        0,
    )


def test_wav_audio_is_checked_when_the_file_loads(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "fake.wav").write_bytes(b"RIFF....WAVE")  # a header, no audio
    sf.write(clips / "empty.wav", np.zeros(0, dtype=np.float32), 8000)
    sf.write(clips / "hello.wav", np.zeros(800, dtype=np.float32), 8000)
    suite = tmp_path / "suite"
    suite.mkdir()
    path = suite / "clips.yaml"
    path.write_text(
        "turns:\n  - wav: ../clips/fake.wav\n  - wav: ../clips/empty.wav\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).splitlines() == [
        f"{path}: turns[0].wav: '../clips/fake.wav' is not a readable audio file"
        " (WAV, FLAC, OGG...): Error in WAV file. No 'data' chunk marker (line 2)",
        f"{path}: turns[1].wav: '../clips/empty.wav' holds no audio (0 frames) (line 3)",
    ]
    # Outside the scenario's directory is allowed: a clip library shared by suites.
    path.write_text("turns:\n  - wav: ../clips/hello.wav\n", encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.audio_path(scenario.turns[0]).resolve() == clips / "hello.wav"
