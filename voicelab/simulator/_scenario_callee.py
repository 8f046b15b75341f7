"""Who picks up: a scenario's callee (outbound calls) and the parties a ``<Dial>`` reaches.

A callee is a ``person`` (the scenario's turns: today's behaviour), an
``answering_machine`` (a greeting, a beep, then it records the agent's message) or a
``phone_menu`` (prompts, routed by the keys the agent presses, music on hold, then a
person or a goodbye). A party is a callee at a number of its own, with its own turns and
a dial outcome::

    callee:
      kind: phone_menu
      menu:
        main: {say: For bookings press 1., options: {"1": bookings}}
        bookings: {say: Please hold., hold_s: 3, connect: true}
    parties:
      "+15550100200": {name: Duty manager, turns: [{say: Duty manager, Chris speaking.}]}

Flat models with ``kind`` (not a pydantic discriminated union), so an error names the
field as the file spells it (``callee.greeting``) and its line.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from voicelab.simulator._scenario_models import ScenarioTurn, _Model
from voicelab.simulator._scenario_yaml import Loc
from voicelab.telephony.ids import DialOutcome, is_e164

__all__ = [
    "DEFAULT_GREETING",
    "CalleeKind",
    "CalleeSpec",
    "MenuNodeSpec",
    "PartySpec",
    "callee_problems",
    "nested_fields",
]

CalleeKind = Literal["person", "answering_machine", "phone_menu"]
DEFAULT_GREETING = "Hi, you've reached my voicemail. Please leave a message after the beep."
_KEYS = frozenset("0123456789*#")
_MACHINE_FIELDS = ("greeting", "beep", "max_message_s")
_MENU_FIELDS = ("menu", "start")


class MenuNodeSpec(_Model):
    """One step of a phone menu.

    Attributes:
        say: Its prompt.
        options: Key (one of ``0-9*#``) -> the node it leads to.
        timeout_s: How long it waits for a key after the prompt.
        repeats: How often it says the prompt again when no key (or an unknown one)
            comes, before it hangs up.
        hold_s: Music on hold after the prompt (a node without options).
        connect: After the prompt (and the hold), a person picks up: the scenario's
            ``turns`` (a party's own ``turns``). Without it, the menu hangs up.
    """

    say: str | None = Field(default=None, min_length=1)
    options: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5.0, strict=True, gt=0, le=60)
    repeats: int = Field(default=2, strict=True, ge=0, le=5)
    hold_s: float = Field(default=0.0, strict=True, ge=0, le=600)
    connect: bool = False

    @field_validator("options")
    @classmethod
    def _one_key_each(cls, options: dict[str, str]) -> dict[str, str]:
        for key in options:
            if key not in _KEYS:
                raise ValueError(f'an option is one key, 0-9, * or # (quote it: "1"), got {key!r}')
        return options

    @model_validator(mode="after")
    def _routes_or_ends(self) -> MenuNodeSpec:
        if self.options and (self.connect or self.hold_s):
            raise ValueError("a node either offers options or holds/connects, not both")
        return self


class CalleeSpec(_Model):
    """Who picks up an outbound call.

    Attributes:
        kind: ``person`` (default), ``answering_machine`` or ``phone_menu``.
        greeting: The machine's greeting (spoken with the callers' voice).
        beep: Whether the machine beeps (1 kHz, 0.5 s) before it records.
        max_message_s: The longest message the machine records before hanging up.
        menu: The menu's nodes by name.
        start: The node it starts at (default: the first).
    """

    kind: CalleeKind = "person"
    greeting: str | None = Field(default=None, min_length=1)
    beep: bool = True
    max_message_s: float = Field(default=30.0, strict=True, gt=0, le=300)
    menu: dict[str, MenuNodeSpec] | None = None
    start: str | None = None

    def problems(self, at: Loc) -> list[tuple[Loc, str]]:
        """What contradicts the callee's kind, as ``(loc, message)`` under ``at``."""
        found: list[tuple[Loc, str]] = []
        # Values, not "fields set": a dumped and reloaded scenario carries every default.
        given = {n for n, f in CalleeSpec.model_fields.items() if getattr(self, n) != f.default}
        for name in _MACHINE_FIELDS if self.kind != "answering_machine" else ():
            if name in given:
                found.append(((*at, name), f"{name} goes with kind: answering_machine"))
        for name in _MENU_FIELDS if self.kind != "phone_menu" else ():
            if name in given:
                found.append(((*at, name), f"{name} goes with kind: phone_menu"))
        if self.kind != "phone_menu":
            return found
        if not self.menu:
            return [*found, ((*at, "kind"), "a phone_menu needs menu: its nodes by name")]
        if self.start is not None and self.start not in self.menu:
            found.append(((*at, "start"), f"no node named {self.start!r} in menu"))
        for name, node in self.menu.items():
            for key, target in node.options.items():
                if target not in self.menu:
                    where = (*at, "menu", name, "options", key)
                    found.append((where, f"no node named {target!r} in menu"))
        return found

    @property
    def start_node(self) -> str:
        assert self.menu
        return self.start or next(iter(self.menu))

    @property
    def unsaid(self) -> str:
        """Why a person's lines are never said by this callee."""
        if self.kind == "answering_machine":
            return "an answering machine only greets and records: it says no turns"
        return "no menu node connects to a person (connect: true): these are never said"

    @property
    def connects(self) -> bool:
        """Whether a person can be reached (a menu node that connects, or a person)."""
        if self.kind == "phone_menu":
            return any(node.connect for node in (self.menu or {}).values())
        return self.kind == "person"


class PartySpec(CalleeSpec):
    """Someone at a number the agent may ``<Dial>`` (a transfer's far end).

    Attributes:
        name: Who it is, for people reading the scenario.
        outcome: What happens when the number is rung: ``answer``, ``busy``,
            ``no-answer`` or ``failed``.
        ring_s: How long it rings first; ringing past the ``<Dial timeout>`` is a
            ``no-answer``.
        turns: What the person says, in order; the first line is said on picking up.
    """

    name: str | None = Field(default=None, min_length=1)
    outcome: DialOutcome = "answer"
    ring_s: float = Field(default=1.0, strict=True, ge=0, le=120)
    turns: list[ScenarioTurn] = Field(default_factory=list)

    def problems(self, at: Loc) -> list[tuple[Loc, str]]:
        found = super().problems(at)
        if self.turns and self.outcome != "answer":
            found.append(((*at, "turns"), f"a {self.outcome} number is never answered"))
        elif self.turns and not self.connects:
            found.append(((*at, "turns"), self.unsaid))
        for index, turn in enumerate(self.turns[:-1]):
            if turn.hang_up is not None:
                found.append(((*at, "turns", index, "hang_up"), "the turns after it never run"))
        return found


def callee_problems(scenario: Any) -> list[tuple[Loc, str]]:
    """A scenario's contradictions about who picks up and who a ``<Dial>`` reaches."""
    callee: CalleeSpec = scenario.callee
    found = callee.problems(("callee",))
    if callee.kind != "person" and scenario.direction == "inbound":
        found.append(
            (("callee", "kind"), "an inbound caller is a person: callee is for outbound calls")
        )
    elif callee.kind != "person" and scenario.outcome != "answer":
        found.append((("callee",), f"a {scenario.outcome} call is never answered: remove it"))
    elif not callee.connects:
        found += [((name,), callee.unsaid) for name in ("turns", "goal") if getattr(scenario, name)]
    for number, spec in scenario.parties.items():
        if not is_e164(number):
            found.append((("parties", number), "not an E.164 number like +15550100200"))
        found += spec.problems(("parties", number))
    return found


def nested_fields(data: dict[str, Any]) -> dict[tuple[str, ...], list[str]]:
    """The field names under this file's own keys (party numbers, menu nodes), by loc, for
    "did you mean ...?" on an unknown field."""
    allowed: dict[tuple[str, ...], list[str]] = {}

    def menu_of(callee: Any, at: tuple[str, ...]) -> None:
        menu = callee.get("menu") if isinstance(callee, dict) else None
        for node in menu if isinstance(menu, dict) else ():
            allowed[(*at, "menu", str(node))] = list(MenuNodeSpec.model_fields)

    menu_of(data.get("callee"), ("callee",))
    parties = data.get("parties")
    for number, spec in parties.items() if isinstance(parties, dict) else ():
        at = ("parties", str(number))
        allowed[at] = list(PartySpec.model_fields)
        allowed[(*at, "turns")] = list(ScenarioTurn.model_fields)
        menu_of(spec, at)
    return allowed
