"""Scenarios' callees and parties: what a file may say, and the steps it compiles to."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import numpy as np
import pytest

from voicelab.errors import ScenarioError
from voicelab.simulator._script import AnsweringMachine, PhoneMenu, Say
from voicelab.simulator.scenario import load_scenario
from voicelab.simulator.voices import CallerVoice

# (what is wrong, the file, the field named, part of the message, the line named)
BAD_FILES = [
    (
        "a machine's field on a menu",
        """
        direction: outbound
        callee:
          kind: phone_menu
          greeting: Hello
          menu: {main: {say: Hi}}
        """,
        "callee.greeting",
        "greeting goes with kind: answering_machine",
        4,
    ),
    (
        "an option to no node",
        """
        direction: outbound
        callee:
          kind: phone_menu
          menu:
            main:
              say: Press one.
              options: {"1": billing}
        """,
        "callee.menu.main.options.1",
        "no node named 'billing' in menu",
        7,
    ),
    (
        "an option of two keys",
        """
        direction: outbound
        callee:
          kind: phone_menu
          menu:
            main: {say: Press one., options: {"12": main}}
        """,
        "callee.menu.main.options",
        "an option is one key",
        5,
    ),
    (
        "a misspelt node field",
        """
        direction: outbound
        callee:
          kind: phone_menu
          menu:
            main: {say: Hold on., hold: 3}
        """,
        "callee.menu.main.hold",
        "did you mean hold_s?",
        5,
    ),
    (
        "a menu without nodes",
        """
        direction: outbound
        callee: {kind: phone_menu}
        """,
        "callee.kind",
        "a phone_menu needs menu",
        2,
    ),
    (
        "a machine on an inbound call",
        """
        direction: inbound
        callee: {kind: answering_machine}
        """,
        "callee.kind",
        "an inbound caller is a person",
        2,
    ),
    (
        "turns for an answering machine",
        """
        direction: outbound
        callee: {kind: answering_machine}
        turns:
          - say: Hello?
        """,
        "turns",
        "an answering machine only greets and records",
        3,
    ),
    (
        "a party that is no number",
        """
        parties:
          duty-manager: {turns: [{say: Hello.}]}
        """,
        "parties.duty-manager",
        "not an E.164 number",
        2,
    ),
    (
        "a busy party with turns",
        """
        parties:
          "+15550100200":
            outcome: busy
            turns:
              - say: Hello.
        """,
        "parties.+15550100200.turns",
        "a busy number is never answered",
        4,
    ),
    (
        "a misspelt party field",
        """
        parties:
          "+15550100200":
            ring: 2
        """,
        "parties.+15550100200.ring",
        "did you mean ring_s?",
        3,
    ),
    (
        "a hang-up before the end of after_transfer",
        """
        after_transfer:
          - hang_up: true
          - say: Hello?
        """,
        "after_transfer[0].hang_up",
        "the turns after a hang-up never run",
        2,
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


class FakeVoice(CallerVoice):
    """A tone per line, without loading Piper."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def speak(self, text: str) -> np.ndarray:
        self.calls.append(text)
        return np.full(800, 0.2, dtype=np.float32)


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "case.yaml"
    path.write_text(dedent(text).lstrip(), encoding="utf-8")
    return load_scenario(path)


def test_an_answering_machine_is_one_step_with_its_greeting(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
        direction: outbound
        callee: {kind: answering_machine, beep: false, max_message_s: 12}
        """,
    )
    voice = FakeVoice()
    (machine,) = scenario.actions(voice)  # type: ignore[attr-defined]
    assert isinstance(machine, AnsweringMachine)
    assert machine.beep_s == 0 and machine.max_message_s == 12
    assert voice.calls == [
        "Hi, you've reached my voicemail. Please leave a message after the beep."
    ]
    assert scenario.manifest()["callee"] == {"kind": "answering_machine"}  # type: ignore[attr-defined]


def test_a_phone_menu_connects_to_the_scenarios_person(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
        direction: outbound
        callee:
          kind: phone_menu
          start: welcome
          menu:
            welcome: {say: Press two for billing., options: {"2": billing}}
            billing: {say: Please hold., hold_s: 2, connect: true}
        turns:
          - say: Billing, Dana speaking.
        """,
    )
    (menu,) = scenario.actions(FakeVoice())  # type: ignore[attr-defined]
    assert isinstance(menu, PhoneMenu) and menu.start == "welcome"
    assert (
        menu.nodes["welcome"].options == {"2": "billing"} and menu.nodes["welcome"].person is None
    )
    (line,) = menu.nodes["billing"].person or []
    assert isinstance(line, Say) and line.text == "Billing, Dana speaking." and line.wait


def test_a_party_speaks_first_and_the_caller_has_after_transfer_lines(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
        turns:
          - say: Get me a manager.
        parties:
          "+15550100200":
            name: Duty manager
            ring_s: 2
            turns:
              - say: Duty manager speaking.
              - say: I will sort it out.
          "+15550100300": {outcome: no-answer}
        after_transfer:
          - say: My lunch was cold.
        """,
    )
    after, parties = scenario.transfer_script(FakeVoice())  # type: ignore[attr-defined]
    assert [step.text for step in after] == ["My lunch was cold."]
    manager = parties["+15550100200"]
    assert (manager.outcome, manager.ring_s, manager.name) == ("answer", 2.0, "Duty manager")
    first, second = manager.actions
    assert not first.wait and second.wait  # a person picking up speaks at once
    assert parties["+15550100300"].outcome == "no-answer" and parties["+15550100300"].actions == []
    assert scenario.manifest()["parties"] == {  # type: ignore[attr-defined]
        "+15550100200": {"name": "Duty manager", "kind": "person", "outcome": "answer"},
        "+15550100300": {"name": None, "kind": "person", "outcome": "no-answer"},
    }


def test_the_example_scenarios_load(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3] / "evals" / "scenarios"
    voicemail = load_scenario(root / "outbound_voicemail.yaml")
    menu = load_scenario(root / "outbound_menu.yaml")
    transfer = load_scenario(root / "angry_transfer.yaml")
    assert voicemail.callee.kind == "answering_machine" and menu.callee.kind == "phone_menu"
    assert "+15550100101" in transfer.parties and transfer.after_transfer
