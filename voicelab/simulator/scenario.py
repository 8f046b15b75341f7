"""Scenarios: a simulated caller and what the bot must do, as YAML files in ``evals/scenarios``.

A scenario file::

    description: A guest complains that lunch was cold.
    direction: inbound            # or outbound
    caller: {name: Sam Patel, speaking_rate: 1.1, noise_snr_db: 25, voice_variation: 0}
    turns:
      - say: Hi, the chicken curry I had for lunch today was cold.
        barge_in_after: 1.5       # optional: talk over the bot's reply after 1.5 s
      - wav: clips/complaint.wav  # relative to this file; text: is its ground truth
      - dtmf: "1#"
      - pause: 2
      - hang_up: true             # or seconds from now
    goal: {objective: Get an apology for the cold food., max_turns: 2}
    parties:                      # who a <Dial> reaches (a transfer)
      "+15550100200": {name: Duty manager, turns: [{say: Duty manager, Chris speaking.}]}
    after_transfer:               # what the caller says once transferred
      - say: Hi Chris, my lunch was cold.
    expect:
      - {turn: 0, contains: Compass Group}
      - {turn: 1, contains: [sorry, apolog], max_latency_s: 4}

A file that does not validate raises :class:`~voicelab.errors.ScenarioError` naming
the file, the field and the line, e.g. ``x.yaml: turns[2].say: Input should be a
valid string (line 14)``. :meth:`Scenario.actions` compiles the turns into the
:mod:`~voicelab.simulator._script` actions a :class:`MediaStreamsCaller` plays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, model_validator

from voicelab.errors import InvalidArgumentError, ScenarioError
from voicelab.mocks import ToolMock, ToolMocks
from voicelab.simulator._scenario_callee import (
    CalleeSpec,
    PartySpec,
    callee_problems,
    nested_fields,
)
from voicelab.simulator._scenario_goal import Completer, GoalDrivenCaller, default_completer
from voicelab.simulator._scenario_models import (
    CallerGoal,
    CallerPersona,
    JudgedMetric,
    ScenarioExpectation,
    ScenarioTurn,
    _Model,
)
from voicelab.simulator._scenario_pipecat import included_files, load_pipecat_file
from voicelab.simulator._scenario_script import Party, callee_actions, party_script, turn_actions
from voicelab.simulator._scenario_yaml import Loc, ScenarioFile, format_loc, top_level_keys
from voicelab.simulator._script import Action, Improvise
from voicelab.simulator.models import CallerModels
from voicelab.simulator.voices import CallerVoice
from voicelab.telephony.ids import DialOutcome

__all__ = [
    "CalleeSpec",
    "CallerGoal",
    "CallerPersona",
    "Completer",
    "GoalDrivenCaller",
    "JudgedMetric",
    "Party",
    "PartySpec",
    "Scenario",
    "ScenarioExpectation",
    "ScenarioTurn",
    "default_completer",
    "is_pipecat_file",
    "load_file",
    "load_scenario",
    "load_scenarios",
]

_ID = r"^[A-Za-z0-9_.-]+$"  # ids end up in file names and report columns


class Scenario(_Model):
    """One validated scenario.

    Attributes:
        id: Stable name (the file's stem unless the file says otherwise).
        description: What the scenario tests, for people.
        direction: ``inbound`` (the caller phones the bot) or ``outbound`` (the bot
            phones the caller).
        caller: Who the caller is and how they sound.
        outcome: What the dialled number does at the carrier (outbound calls):
            ``answer``, ``busy``, ``no-answer`` or ``failed``.
        turns: What the caller does, in order (an outbound call's: the person who
            answers, or whom a phone menu connects to).
        goal: Lines improvised by an LLM after the scripted turns (or instead of them).
        callee: Who picks up an outbound call: a ``person`` (default), an
            ``answering_machine`` or a ``phone_menu``.
        parties: Who answers the numbers the agent may ``<Dial>`` (a transfer), by number.
        after_transfer: What the caller says once the agent has transferred the call
            and someone answered (who speaks first): it drops what it had left of
            ``turns``; a caller whose ``turns`` are done waits up to 30 s for the transfer,
            then hangs up. Without it, the ``turns`` go on with whoever is on the line.
        expect: What the bot's replies must do.
        metrics: Criteria judged on every bot reply (pipecat eval's judged ``metrics:``).
        tools: Canned results of the agent's functions, by name (:mod:`voicelab.mocks`):
            a mock, or a list of them tried in order (``when_args`` picks one).
        strict_tools: A function the agent calls without a matching mock fails the call
            (else the agent's own function runs).
        path: The file it was loaded from (``None`` if built in code).
    """

    id: str = Field(min_length=1, pattern=_ID)
    description: str = ""
    direction: Literal["inbound", "outbound"] = "inbound"
    caller: CallerPersona = Field(default_factory=CallerPersona)
    outcome: DialOutcome = "answer"
    turns: list[ScenarioTurn] = Field(default_factory=list)
    goal: CallerGoal | None = None
    callee: CalleeSpec = Field(default_factory=CalleeSpec)
    parties: dict[str, PartySpec] = Field(default_factory=dict)
    after_transfer: list[ScenarioTurn] | None = None
    expect: list[ScenarioExpectation] = Field(default_factory=list)
    metrics: list[JudgedMetric] = Field(default_factory=list)
    tools: dict[str, ToolMock | list[ToolMock]] = Field(default_factory=dict)
    strict_tools: bool = False
    path: Path | None = Field(default=None, exclude=True)

    @property
    def tool_mocks(self) -> ToolMocks | None:
        """The scenario's mocks, or ``None`` when it has none (the agent's functions run)."""
        if not self.tools and not self.strict_tools:
            return None
        return ToolMocks.model_validate({"tools": self.tools, "strict": self.strict_tools})

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Scenario:
        # load_scenario reports these itself, each with its own field and line.
        if not (info.context or {}).get("defer_consistency"):
            problems = "; ".join(f"{format_loc(loc)}: {why}" for loc, why in self.problems())
            if problems:
                raise ValueError(problems)
        return self

    def problems(self) -> list[tuple[Loc, str]]:
        """Contradictions between fields, as ``(loc, message)``; empty when consistent."""
        found: list[tuple[Loc, str]] = []
        if self.outcome != "answer":
            if self.direction == "inbound":
                found.append(
                    (("outcome",), "only an outbound call can be busy, unanswered or failed")
                )
            for name in ("turns", "goal", "expect"):
                if getattr(self, name):
                    found.append(((name,), f"a {self.outcome} call is never answered: remove it"))
        for name, turns in (("turns", self.turns), ("after_transfer", self.after_transfer or [])):
            for index, turn in enumerate(turns[:-1]):
                if turn.hang_up is not None:
                    found.append(((name, index, "hang_up"), "the turns after a hang-up never run"))
        found += callee_problems(self)
        if self.goal is not None and self.turns and self.turns[-1].hang_up is not None:
            found.append((("goal",), "the turns hang up before the goal-driven caller speaks"))
        lines = self.spoken_lines + (self.goal.max_turns if self.goal else 0)
        for index, expectation in enumerate(self.expect):
            if expectation.turn is not None and expectation.turn > lines:
                found.append(
                    (("expect", index, "turn"), f"the caller speaks at most {lines} line(s)")
                )
        return found

    @property
    def spoken_lines(self) -> int:
        """How many scripted lines the caller speaks (the bot's turns 1..N answer them)."""
        return sum(turn.spoken for turn in self.turns)

    def audio_path(self, turn: ScenarioTurn) -> Path:
        """Where a ``wav`` turn's file is: relative to the scenario file."""
        if turn.wav is None:
            raise InvalidArgumentError("not a wav turn")
        base = self.path.parent if self.path is not None else Path()
        return base / turn.wav

    def actions(
        self,
        voice: CallerVoice | None = None,
        complete: Completer | None = None,
        *,
        models: CallerModels | None = None,
    ) -> list[Action]:
        """The turns as the caller's actions, with every line synthesised or loaded.

        An answering machine or a phone menu callee is one step (a menu's person plays
        the turns once a node connects to it).

        Args:
            voice: Speaks the ``say`` lines; default the caller's Piper voice at its
                ``speaking_rate``. The persona's noise is added to every line.
            complete: The LLM of the goal-driven caller, if the scenario has a goal
                (default :func:`default_completer`: SmolLM2 in-process).
            models: The caller's models (a lab's), for the default voice and LLM;
                default ones of this call's own, loaded as needed.

        Raises:
            ScenarioError: A line gave no audio, or a WAV file cannot be read.
        """
        models = models if models is not None else CallerModels()
        voice = voice or self.voice(models)
        where = str(self.path or self.id)
        person = turn_actions(self.turns, voice, self.caller, base=self._base, where=where)
        goal = self.goal_caller(complete, models=models) if self.goal is not None else None
        if goal is not None:
            person.append(Improvise(goal.next_line, voice.speak))
        return callee_actions(self.callee, person, voice)

    def transfer_script(
        self, voice: CallerVoice | None = None, *, models: CallerModels | None = None
    ) -> tuple[list[Action] | None, dict[str, Party]]:
        """The caller's ``after_transfer`` steps and the parties, every line synthesised.

        Raises:
            ScenarioError: A line gave no audio, or a WAV file cannot be read.
        """
        models = models if models is not None else CallerModels()
        voice = voice or self.voice(models)
        where = str(self.path or self.id)
        after = None
        if self.after_transfer is not None:
            after = turn_actions(
                self.after_transfer,
                voice,
                self.caller,
                base=self._base,
                where=where,
                loc=("after_transfer",),
            )
        parties = {
            number: party_script(number, spec, voice, self.caller, self._base, where)
            for number, spec in self.parties.items()
        }
        return after, parties

    def voice(self, models: CallerModels) -> CallerVoice:
        """The caller's Piper voice at its ``speaking_rate`` (the machines' and parties' too)."""
        return CallerVoice(self.caller.speaking_rate, self.caller.voice_variation, models=models)

    @property
    def _base(self) -> Path:
        return self.path.parent if self.path is not None else Path()

    def goal_caller(
        self, complete: Completer | None = None, *, models: CallerModels | None = None
    ) -> GoalDrivenCaller | None:
        """The goal-driven caller of this scenario (``None`` without a goal).

        Args:
            complete: The LLM; default :func:`default_completer` with no settings (SmolLM2
                of ``models``).
            models: Whose SmolLM2 the default LLM runs (default: its own).
        """
        if self.goal is None:
            return None
        return GoalDrivenCaller(
            self.goal.objective,
            complete or default_completer(models=models),
            max_turns=self.goal.max_turns,
            name=self.caller.name,
            direction=self.direction,
            persona=self.goal.persona,
        )

    def manifest(self) -> dict[str, Any]:
        """What a call record keeps of the scenario (``call.json`` under ``scenario``).

        Expectations are plain dicts without unset checks; ``contains`` and
        ``must_not_say`` are always lists (``contains``: any of them must appear).
        """
        return {
            "id": self.id,
            "file": None if self.path is None else str(self.path),
            "description": self.description,
            "direction": self.direction,
            "outcome": self.outcome,
            "caller": self.caller.model_dump(mode="json"),
            "goal": None
            if self.goal is None
            else self.goal.model_dump(mode="json", exclude_none=True),
            "callee": self.callee.model_dump(mode="json", include={"kind"}),
            "parties": {
                number: spec.model_dump(mode="json", include={"name", "kind", "outcome"})
                for number, spec in self.parties.items()
            }
            or None,
            "expectations": [e.model_dump(mode="json", exclude_none=True) for e in self.expect],
            **(
                {"metrics": [m.model_dump(mode="json") for m in self.metrics]}
                if self.metrics
                else {}
            ),
            **({"tools": mocks.manifest()} if (mocks := self.tool_mocks) is not None else {}),
        }


# Field names of each nested model, keyed by the loc's names: for "did you mean ...?".
_ALLOWED: dict[tuple[str, ...], Iterable[str]] = {
    (): [name for name in Scenario.model_fields if name != "path"],
    ("caller",): list(CallerPersona.model_fields),
    ("turns",): list(ScenarioTurn.model_fields),
    ("goal",): list(CallerGoal.model_fields),
    ("expect",): list(ScenarioExpectation.model_fields),
    ("callee",): list(CalleeSpec.model_fields),
    ("after_transfer",): list(ScenarioTurn.model_fields),
}


def is_pipecat_file(path: str | Path) -> bool:
    """Whether ``path`` is a pipecat eval scenario file (its top level has ``scenarios:``)."""
    return "scenarios" in top_level_keys(Path(path))


def load_file(path: str | Path) -> list[Scenario]:
    """Every scenario of one file: a voicelab scenario file holds one, a pipecat eval file
    (:func:`is_pipecat_file`) one per entry of its ``scenarios:``.

    Raises:
        ScenarioError: As :func:`load_scenario`; for a pipecat file, also anything a phone
            line cannot do (the message names file, scenario, turn, expectation, event).
    """
    path = Path(path)
    if not is_pipecat_file(path):
        return [load_scenario(path)]

    def build(fields: dict[str, Any]) -> Scenario:
        return Scenario.model_validate({**fields, "path": path}, context={"base_dir": path.parent})

    return load_pipecat_file(path, build)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file.

    A pipecat eval file (:func:`is_pipecat_file`) is read too, if it holds one scenario;
    :func:`load_scenarios` reads any number.

    Raises:
        ScenarioError: The file is unreadable, not YAML or invalid; the message names
            the file, the field and the line (one line per problem).
    """
    path = Path(path)
    if is_pipecat_file(path):
        found = load_file(path)
        if len(found) != 1:
            names = ", ".join(s.id for s in found)
            raise ScenarioError(
                f"{path}: holds {len(found)} pipecat eval scenarios ({names}): load them with"
                " load_scenarios (or Lab.simulate_many)"
            )
        return found[0]
    source = ScenarioFile(path)
    data = dict(source.data)
    if "path" in data:
        raise source.error([(("path",), "set by the loader (where the file is), not in the file")])
    if "id" not in data:
        if not re.match(_ID, path.stem):
            message = f"the id comes from the file name, {path.stem!r}: use only A-Z a-z 0-9 _ . -"
            raise source.error([(("id",), f"{message}, or set id:")])
        data["id"] = path.stem
    try:
        scenario = Scenario.model_validate(
            {**data, "path": path}, context={"base_dir": path.parent, "defer_consistency": True}
        )
    except ValidationError as exc:
        raise source.validation_error(exc, {**_ALLOWED, **nested_fields(data)}) from None
    problems = scenario.problems()
    if problems:
        raise source.error(problems)
    return scenario


def load_scenarios(paths: str | Path | Iterable[str | Path]) -> list[Scenario]:
    """Load scenario files; a directory stands for all its ``*.yaml`` files, sorted.

    pipecat eval files give all their scenarios (:func:`load_file`); in a directory, a file
    one of them splices in with ``!include`` is a fragment, not a scenario, and is skipped.

    Raises:
        ScenarioError: A file is invalid, a path does not exist, or two scenarios share an id.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    scenarios: list[Scenario] = []
    for item in map(Path, items):
        if item.is_dir():
            files = sorted(item.glob("*.yaml"))
            fragments = set().union(*(included_files(f) for f in files if is_pipecat_file(f)))
            for file in files:
                if file.resolve() not in fragments:
                    scenarios.extend(load_file(file))
        elif item.exists():
            scenarios.extend(load_file(item))
        else:
            raise ScenarioError(f"{item}: no such scenario file or directory")
    seen: dict[str, Path | None] = {}
    for scenario in scenarios:
        if scenario.id in seen:
            raise ScenarioError(
                f"{scenario.path}: id {scenario.id!r} is already used by {seen[scenario.id]}"
            )
        seen[scenario.id] = scenario.path
    return scenarios
