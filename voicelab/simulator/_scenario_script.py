"""A scenario's turns, callee and parties compiled to the steps simulated parties play.

Every line is synthesised (or loaded) here, before the call, so no party ever waits for
its own voice mid-call. A scenario's lines are remembered by its voice's models per
(voice, rate, text): the same line sounds the same every run, and is made once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicelab.errors import ScenarioError
from voicelab.simulator._scenario_callee import DEFAULT_GREETING, CalleeSpec, PartySpec
from voicelab.simulator._scenario_models import CallerPersona, ScenarioTurn
from voicelab.simulator._scenario_yaml import format_loc
from voicelab.simulator._script import (
    Action,
    AnsweringMachine,
    Dtmf,
    HangUp,
    MenuNode,
    Pause,
    PhoneMenu,
    Say,
)
from voicelab.simulator.voices import CallerVoice, add_noise, load_wav

__all__ = ["Party", "callee_actions", "party_script", "speak", "turn_actions"]

_BEEP_S = 0.5


@dataclass
class Party:
    """Someone a ``<Dial>`` can reach, ready to play.

    Attributes:
        outcome: ``answer``, ``busy``, ``no-answer`` or ``failed``.
        ring_s: How long it rings first.
        actions: What it does once it answers.
        name: Who it is.
    """

    outcome: str = "answer"
    ring_s: float = 1.0
    actions: list[Action] = field(default_factory=list)
    name: str | None = None


def turn_actions(
    turns: Sequence[ScenarioTurn],
    voice: CallerVoice,
    persona: CallerPersona,
    *,
    base: Path,
    where: str,
    loc: tuple[str | int, ...] = ("turns",),
    speaks_first: bool = False,
) -> list[Action]:
    """Turns as steps (``speaks_first``: the first line is said on picking up)."""
    actions: list[Action] = []
    for index, turn in enumerate(turns):
        if turn.say is not None or turn.wav is not None:
            if turn.say is not None:
                audio, text = speak(voice, turn.say), turn.say
            else:
                audio, text = load_wav(base / str(turn.wav)), turn.text or ""
            if audio.size == 0:
                field = format_loc((*loc, index, turn.kind))
                raise ScenarioError(f"{where}: {field}: the line has no audio")
            if persona.noise_snr_db is not None:
                # Seeded by position: the same scenario sounds the same on every run.
                audio = add_noise(audio, persona.noise_snr_db, seed=index)
            first = speaks_first and not any(isinstance(a, Say) for a in actions)
            actions.append(Say(text, audio, turn.barge_in_after, wait=not first))
        elif turn.dtmf is not None:
            actions.extend(Dtmf(digit) for digit in turn.dtmf)
        elif turn.pause is not None:
            actions.append(Pause(turn.pause))
        elif turn.hang_up is not None:
            actions.append(HangUp(turn.hang_up))
    return actions


def callee_actions(spec: CalleeSpec, person: list[Action], voice: CallerVoice) -> list[Action]:
    """What a callee of ``spec``'s kind does; ``person`` is who a menu connects to."""
    if spec.kind == "answering_machine":
        greeting = spec.greeting or DEFAULT_GREETING
        return [
            AnsweringMachine(
                greeting=Say(greeting, speak(voice, greeting), wait=False),
                beep_s=_BEEP_S if spec.beep else 0.0,
                max_message_s=spec.max_message_s,
            )
        ]
    if spec.kind == "phone_menu":
        assert spec.menu is not None  # validated
        nodes = {
            name: MenuNode(
                prompt=Say(node.say, speak(voice, node.say), wait=False) if node.say else None,
                options=dict(node.options),
                timeout_s=node.timeout_s,
                repeats=node.repeats,
                hold_s=node.hold_s,
                person=list(person) if node.connect else None,
            )
            for name, node in spec.menu.items()
        }
        return [PhoneMenu(nodes=nodes, start=spec.start_node)]
    return person


def party_script(
    number: str, spec: PartySpec, voice: CallerVoice, persona: CallerPersona, base: Path, where: str
) -> Party:
    """The party at ``number`` ready to play: a person answers with its first line."""
    person = turn_actions(
        spec.turns,
        voice,
        persona,
        base=base,
        where=where,
        loc=("parties", number, "turns"),
        speaks_first=spec.kind == "person",
    )
    return Party(
        outcome=spec.outcome,
        ring_s=spec.ring_s,
        actions=callee_actions(spec, person, voice),
        name=spec.name,
    )


def speak(voice: CallerVoice, text: str) -> np.ndarray:
    """``voice.speak(text)``, remembered by the voice's models per (voice kind, rate, text).
    A varying voice is not remembered: each call should hear a new take."""
    if voice.variation:
        return voice.speak(text)
    return voice.models.speech((type(voice), voice.speaking_rate, text), lambda: voice.speak(text))
