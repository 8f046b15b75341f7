"""pipecat eval scenario files: read with pipecat's loader, played as voicelab scenarios.

The files here are written from pipecat's documentation of its eval format (pipecat 1.14):
scripted turns with ``user``, ``dtmf``, ``send_after``, ``function_call`` and ``response``
expectations, and simulations with ``persona``, ``goal``, ``success`` and ``metrics``.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import numpy as np
import pytest
import soundfile as sf

from voicelab.errors import ScenarioError
from voicelab.expectations import Expectation, ToolCallSpec
from voicelab.simulator.scenario import (
    CallerGoal,
    JudgedMetric,
    ScenarioTurn,
    is_pipecat_file,
    load_scenario,
    load_scenarios,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "evals" / "pipecat"

SCRIPT = """\
name: travel
scenarios:
  - name: greeting
    turns:
      - expect:
          - {event: response, eval: "greets the caller and offers help", within_ms: 10000}
  - name: weather_tool
    turns:
      - user: "What's the weather in San Francisco?"
        expect:
          - event: function_call
            calls:
              - {name: get_current_weather, args: {location: San Francisco}}
          - event: response
            text_contains: "degrees"
            text_excludes: "●"
            within_ms: 4000
            check_from: turn_start
  - name: barge_in
    turns:
      - user: "Tell me a long story about Paris."
        expect: [{event: bot_started_speaking, within_ms: 3000}]
      - user: "Actually, what's the capital of Japan?"
        send_after: {event: bot_started_speaking, delay_ms: 2000}
        expect:
          - {event: response, eval: "says Tokyo instead of continuing the story"}
  - name: keypad
    stop_on_failure: false
    turns:
      - user: "I'd like to book."
        expect: [{event: function_call, name: book, args: {party_size: 2}}]
      - dtmf: "12"
      - dtmf: "3#"
        send_after: {delay_ms: 500}
      - user: "Thanks, bye."
        expect: [{event: llm_response}, {event: bot_stopped_speaking}]
"""

SIMULATION = """\
name: restaurant
scenarios:
  - name: book
    persona: "Jamie, calling a restaurant. Friendly and to the point."
    goal: "Book a table for two at 6 PM tonight, then end the call."
    success: "the bot booked a table for two at 6 PM and confirmed it"
    max_turns: 8
    runs: 3
    metrics:
      - {name: politeness, criterion: "the reply is courteous", min_score: 0.8}
      - {measure: latency, max_value: 2.5}
      - {measure: function_calls, calls: [{name: book_table, args: {party_size: 2}}]}
"""


def write(tmp_path: Path, text: str, name: str = "evals.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def by_id(path: Path) -> dict:
    return {s.id: s for s in load_scenarios(path)}


def test_a_script_becomes_turns_and_expectations_on_the_replies(tmp_path: Path) -> None:
    scenarios = by_id(write(tmp_path, SCRIPT))
    assert list(scenarios) == [
        "travel.greeting",
        "travel.weather_tool",
        "travel.barge_in",
        "travel.keypad",
    ]
    greeting = scenarios["travel.greeting"]
    assert greeting.turns == []
    # The greeting answers no caller line: its within_ms has no voice-to-voice to bound.
    assert greeting.expect == [Expectation(turn=0, eval="greets the caller and offers help")]

    weather = scenarios["travel.weather_tool"]
    assert weather.turns == [ScenarioTurn(say="What's the weather in San Francisco?")]
    assert weather.expect == [
        Expectation(
            turn=1,
            calls=[ToolCallSpec(name="get_current_weather", args={"location": "San Francisco"})],
        ),
        Expectation(turn=1, contains=["degrees"], must_not_say=["●"], max_latency_s=4.0),
    ]
    assert weather.path == tmp_path / "evals.yaml"

    barge = scenarios["travel.barge_in"]
    assert barge.turns == [
        ScenarioTurn(say="Tell me a long story about Paris."),
        ScenarioTurn(say="Actually, what's the capital of Japan?", barge_in_after=2.0),
    ]
    assert barge.expect == [
        Expectation(turn=1, max_latency_s=3.0),
        Expectation(turn=2, eval="says Tokyo instead of continuing the story"),
    ]

    keypad = scenarios["travel.keypad"]
    assert keypad.turns == [
        ScenarioTurn(say="I'd like to book."),
        ScenarioTurn(dtmf="12"),
        ScenarioTurn(pause=0.5),
        ScenarioTurn(dtmf="3#"),
        ScenarioTurn(say="Thanks, bye."),
    ]
    # Replies are numbered by the caller's spoken lines: the keys speak none.
    assert keypad.expect == [
        Expectation(turn=1, calls=[ToolCallSpec(name="book", args={"party_size": 2})]),
        Expectation(turn=2, regex=r"\S"),
        Expectation(turn=2, regex=r"\S"),
    ]


def test_a_simulation_is_played_by_the_goal_driven_caller(tmp_path: Path) -> None:
    (scenario,) = load_scenarios(write(tmp_path, SIMULATION))
    assert scenario.id == "restaurant.book"
    assert scenario.turns == []
    assert scenario.goal == CallerGoal(
        objective="Book a table for two at 6 PM tonight, then end the call.",
        persona="Jamie, calling a restaurant. Friendly and to the point.",
        max_turns=8,
    )
    assert scenario.expect == [
        Expectation(eval="the bot booked a table for two at 6 PM and confirmed it"),
        Expectation(max_latency_s=2.5),
        Expectation(calls=[ToolCallSpec(name="book_table", args={"party_size": 2})]),
    ]
    assert scenario.metrics == [
        JudgedMetric(name="politeness", criterion="the reply is courteous", min_score=0.8)
    ]
    assert scenario.manifest()["metrics"][0]["name"] == "politeness"


def test_pipecats_default_max_turns_fits_voicelabs_cap(tmp_path: Path) -> None:
    text = SIMULATION.replace("    max_turns: 8\n", "")
    (scenario,) = load_scenarios(write(tmp_path, text))
    assert scenario.goal is not None and scenario.goal.max_turns == 20


def test_an_audio_turn_plays_the_recording_with_its_text(tmp_path: Path) -> None:
    sf.write(tmp_path / "hello.wav", np.zeros(8000, dtype=np.float32), 8000)
    path = write(
        tmp_path,
        """\
        name: clips
        user: {modality: audio}
        scenarios:
          - name: recorded
            turns:
              - {user: "Hello there.", audio: hello.wav}
        """,
    )
    scenario = load_scenario(path)
    assert scenario.turns == [ScenarioTurn(wav=str(tmp_path / "hello.wav"), text="Hello there.")]
    assert scenario.audio_path(scenario.turns[0]) == tmp_path / "hello.wav"


def _one_turn(expect: str, turn: str = 'user: "Hello."', extra: str = "") -> str:
    return (
        f"name: x\n{extra}scenarios:\n  - name: s\n    turns:\n"
        f"      - {turn}\n        expect:\n          - {expect}\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _one_turn("{event: llm_marker, marker: complete}"),
            "event 'llm_marker' cannot be observed over a phone line",
        ),
        (_one_turn("{event: image}"), "event 'image' cannot be observed over a phone line"),
        (
            _one_turn("{event: bot_backchannel}"),
            "event 'bot_backchannel' cannot be observed over a phone line",
        ),
        (
            _one_turn("{event: user_transcription, text_contains: Hello}"),
            "event 'user_transcription' is the bot's internal state",
        ),
        (_one_turn("{event: bot_interrupted}"), "event 'bot_interrupted' is the bot's internal"),
        (_one_turn("{event: llm_started}"), "event 'llm_started' is the bot's internal state"),
        (_one_turn("{event: no_such_event}"), "unknown event 'no_such_event'"),
        (
            _one_turn("{event: function_call, absent: true, within_ms: 3000}"),
            "event 'function_call' with absent: true has no phone-line check",
        ),
        (
            _one_turn("{event: response, absent: true, within_ms: 3000}"),
            # pipecat's loader reads `response` as `llm_response` in text modality
            "event 'llm_response' with absent: true has no phone-line check (voicelab checks",
        ),
        (_one_turn("{event: function_call}"), "a function call without a name"),
        (
            _one_turn("{event: function_call, name: book, eval: books for two}"),
            "voicelab judges the bot's replies, not its calls",
        ),
        (_one_turn("{event: function_call_stopped, name: book}"), "'function_call_stopped'"),
        (
            _one_turn("{event: bot_stopped_speaking, within_ms: 5000}"),
            "not when it ends",
        ),
        (_one_turn("{event: response, within_ms: 90000}"), "within_ms 90000 is over"),
    ],
)
def test_an_event_a_phone_line_cannot_observe_is_refused_by_name(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(path)
    assert str(caught.value).startswith(f"{path}: scenario 'x/s' turn #0 expectation #0: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'name: x\ncontext: [{role: system, content: "Be brief."}]\n'
            'scenarios:\n  - name: s\n    turns: [{user: "Hi."}]\n',
            "scenario 'x/s': context: cannot be set over a phone line",
        ),
        (
            'name: x\nscenarios:\n  - name: s\n    turns: [{user: "Look.", image: pic.png}]\n',
            "scenario 'x/s' turn #0: image: a phone line carries no images",
        ),
        (
            "name: x\nscenarios:\n  - name: s\n    turns:\n"
            '      - {user: "Hi."}\n      - {user: "Stop.", send_after: {event: llm_started,'
            " delay_ms: 200}}\n",
            "scenario 'x/s' turn #1: send_after event 'llm_started'",
        ),
        (
            _one_turn("{event: response, text_contains: ok}", turn='dtmf: "1"'),
            "scenario 'x/s' turn #0: expectations on a dtmf turn cannot be placed",
        ),
        (
            SIMULATION.replace(
                "{measure: latency, max_value: 2.5}", "{measure: turns, max_value: 4}"
            ),
            "scenario 'restaurant/book' metric #1 (turns): measure 'turns' has no phone-line check",
        ),
        (
            SIMULATION.replace("calls: [{name: book_table, args: {party_size: 2}}]", "calls: []"),
            "metric #2 (function_calls): 'calls: []' (no function calls at all)",
        ),
    ],
)
def test_what_a_phone_line_cannot_do_is_refused_with_where_it_is(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError, match="^" + str(path).replace("\\", "\\\\")) as caught:
        load_scenarios(path)
    assert message in str(caught.value)


def test_pipecats_own_errors_name_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\nscenarios:\n  - name: s\n    persona: p\n    goal: g\n    success: s\n"
        '    turns: [{user: "Hi."}]\n',
    )
    with pytest.raises(ScenarioError, match="not a valid pipecat eval file") as caught:
        load_scenarios(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_one_scenario_loads_alone_several_need_load_scenarios(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, SIMULATION)).id == "restaurant.book"
    with pytest.raises(ScenarioError, match=r"holds 4 pipecat eval scenarios .*load_scenarios"):
        load_scenario(write(tmp_path, SCRIPT, "many.yaml"))


def test_a_directory_mixes_both_formats_and_skips_included_fragments(tmp_path: Path) -> None:
    write(tmp_path, "eval: {service: ollama, model: gemma4:12b}\n", "judge_text.yaml")
    write(
        tmp_path,
        "name: inc\njudge: !include judge_text.yaml\nscenarios:\n"
        '  - name: hi\n    turns: [{user: "Hello."}]\n',
        "inc.yaml",
    )
    write(tmp_path, "turns: [{say: Hello.}]\n", "own.yaml")
    assert is_pipecat_file(tmp_path / "inc.yaml")
    assert not is_pipecat_file(tmp_path / "own.yaml")
    assert [s.id for s in load_scenarios(tmp_path)] == ["inc.hi", "own"]


def test_names_become_ids(tmp_path: Path) -> None:
    text = SIMULATION.replace("name: restaurant", "name: my evals").replace(
        "- name: book", "- name: book a table"
    )
    assert load_scenario(write(tmp_path, text)).id == "my_evals.book_a_table"


def test_the_shipped_examples_load_and_the_refused_one_says_why() -> None:
    scenarios = load_scenarios(
        [EXAMPLES / "feedback_script.yaml", EXAMPLES / "feedback_simulation.yaml"]
    )
    assert {s.id for s in scenarios} >= {
        "feedback_script.goodbye",
        "feedback_simulation.lukewarm_coffee",
    }
    with pytest.raises(ScenarioError, match="event 'llm_marker' cannot be observed"):
        load_scenarios(EXAMPLES / "not_on_a_phone.yaml")


@pytest.mark.timeout(60)  # in-process, but `simulate` imports pipecat first (a few seconds)
def test_simulate_exits_2_naming_the_refused_event() -> None:
    from typer.testing import CliRunner

    from voicelab.cli import app

    path = EXAMPLES / "not_on_a_phone.yaml"
    result = CliRunner().invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2, result.output
    assert (
        f"voicelab: {path}: scenario 'not_on_a_phone/turn_marker' turn #0 expectation #0:"
        " event 'llm_marker' cannot be observed over a phone line"
    ) in result.stderr
    assert "Traceback" not in result.stderr
