"""pipecat eval scenario files, read with pipecat's own loader, as voicelab :class:`Scenario` s.

A YAML file whose top level has ``scenarios:`` is a pipecat eval file
(``pipecat.evals.scenario.EvalScenarioFile``). Each of its scenarios becomes one voicelab
scenario, so the simulator, the lab, sweeps and the pytest plugin play it like any other:

- a script's turns become the caller's turns: ``user`` is said, ``audio`` played, ``dtmf``
  pressed; ``send_after: {event: bot_started_speaking, delay_ms: N}`` is a barge-in N ms
  after the bot's reply becomes audible, ``send_after: {delay_ms: N}`` a pause first;
  a turn with neither ``user`` nor ``dtmf`` only observes (turn 0: the greeting);
- its ``expect:`` items become expectations on the reply to that turn
  (:mod:`~voicelab.simulator._pipecat_expect`);
- a simulation is played by the goal-driven caller (``persona``, ``goal``, ``max_turns``),
  its ``success`` is judged on the whole call and its ``metrics`` become judged metrics or
  call-wide checks.

Anything a phone line cannot carry is refused when the file loads, naming the file, the
scenario, the turn, the expectation and the event. The ids are pipecat's names with ``/``
as ``.`` (``demo/greeting`` is ``demo.greeting``) and any other character outside
``A-Z a-z 0-9 _ . -`` as ``_``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from loguru import logger
from pydantic import ValidationError

from voicelab.errors import ScenarioError
from voicelab.expectations import Expectation
from voicelab.simulator._scenario_models import JudgedMetric

__all__ = ["included_files", "load_pipecat_file", "pipecat_id"]

_DEFAULT_MAX_TURNS = 20  # voicelab's cap on the goal-driven caller (CallerGoal.max_turns)


def pipecat_id(name: str) -> str:
    """The voicelab id of pipecat scenario ``name`` (``file/scenario`` -> ``file.scenario``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.replace("/", "."))


def load_pipecat_file(path: Path, build: Callable[[dict[str, Any]], Any]) -> list[Any]:
    """Every scenario of a pipecat eval file, as voicelab scenarios.

    Args:
        path: The file.
        build: Validates a voicelab scenario's fields (``Scenario`` with the file's context).

    Raises:
        ScenarioError: pipecat's loader refused the file, or a scenario asks for
            something a phone line cannot do (the message names file, scenario, turn,
            expectation and event).
    """
    from pipecat.evals.scenario import EvalScenarioFile, EvalScriptScenario

    try:
        loaded = EvalScenarioFile.load(path)
    except (ValueError, OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: not a valid pipecat eval file: {exc}") from None
    scenarios = []
    for item in loaded:
        where = f"{path}: scenario {item.name!r}"
        try:
            if isinstance(item, EvalScriptScenario):
                fields = _script(item, where)
            else:
                fields = _simulation(item, where)
            scenarios.append(build({"id": pipecat_id(item.name), **fields}))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = ".".join(str(part) for part in first["loc"])
            raise ScenarioError(f"{where}: {loc}: {first['msg']}") from None
    return scenarios


def _script(item: Any, where: str) -> dict[str, Any]:
    from voicelab.simulator._pipecat_expect import CheckRefused, turn_checks

    if item.context:
        raise ScenarioError(
            f"{where}: context: cannot be set over a phone line (the agent keeps its own"
            " prompt); remove it"
        )
    turns: list[dict[str, Any]] = []
    expect: list[Expectation] = []
    spoken = 0
    for index, turn in enumerate(item.turns):
        here = f"{where} turn #{index}"
        steps = _turn_steps(turn, here)
        turns.extend(steps)
        spoken += sum("say" in step or "wav" in step for step in steps)
        if turn.dtmf is not None and turn.expect:
            raise ScenarioError(
                f"{here}: expectations on a dtmf turn cannot be placed: voicelab numbers the"
                " bot's replies by the caller's spoken lines"
            )
        for number, exp in enumerate(turn.expect):
            try:
                expect.append(turn_checks(exp, spoken))
            except CheckRefused as exc:
                raise ScenarioError(f"{here} expectation #{number}: {exc}") from None
    return {"description": f"pipecat eval script {item.name}", "turns": turns, "expect": expect}


def _turn_steps(turn: Any, here: str) -> list[dict[str, Any]]:
    """A pipecat turn's caller steps (none for an observe-only turn)."""
    if turn.image is not None:
        raise ScenarioError(f"{here}: image: a phone line carries no images")
    if turn.parts is not None and any(not isinstance(part, str) for part in turn.parts):
        raise ScenarioError(
            f"{here}: user: with pause_ms (a pause inside one line) is not supported; use"
            " audio: with the pause recorded"
        )
    if turn.user is None and turn.dtmf is None:
        return []
    if turn.dtmf is not None:
        step: dict[str, Any] = {"dtmf": str(turn.dtmf)}
    elif turn.audio is not None:
        step = {"wav": turn.audio, "text": turn.user}
    else:
        step = {"say": turn.user}
    after = turn.send_after
    if after is None:
        return [step]
    if after.event is None:
        # "N ms after the previous send": here a pause before the caller's next step.
        return [{"pause": after.delay_ms / 1000}, step] if after.delay_ms else [step]
    if after.event != "bot_started_speaking":
        raise ScenarioError(
            f"{here}: send_after event {after.event!r}: on a phone line the caller can only"
            " time a line from when the bot's speech becomes audible (bot_started_speaking)"
        )
    if "dtmf" in step:
        raise ScenarioError(f"{here}: send_after bot_started_speaking goes with user:, not dtmf:")
    return [{**step, "barge_in_after": after.delay_ms / 1000}]


def _simulation(item: Any, where: str) -> dict[str, Any]:
    from voicelab.simulator._pipecat_expect import CheckRefused, metric_checks

    expect = [Expectation(eval=item.success)]
    metrics: list[JudgedMetric] = []
    for number, metric in enumerate(item.metrics):
        try:
            check = metric_checks(metric)
        except CheckRefused as exc:
            raise ScenarioError(f"{where} metric #{number} ({metric.name}): {exc}") from None
        if isinstance(check, JudgedMetric):
            metrics.append(check)
        else:
            expect.append(check)
    if item.max_turns > _DEFAULT_MAX_TURNS:
        logger.info(f"{item.name}: max_turns {item.max_turns} capped at {_DEFAULT_MAX_TURNS}")
    _ignored(
        item.name,
        runs=item.runs > 1,
        max_duration_s=item.max_duration_s != 300,
        max_silence_s=item.max_silence_s != 30,
        simulator=bool(item.simulator),
    )
    return {
        "description": f"pipecat eval simulation {item.name}",
        "goal": {
            "objective": item.goal,
            "persona": item.persona,
            "max_turns": min(item.max_turns, _DEFAULT_MAX_TURNS),
        },
        "expect": expect,
        "metrics": metrics,
    }


def _ignored(name: str, **present: bool) -> None:
    # The caller's and the judge's LLMs are voicelab's settings; repeats are --calls.
    for key, there in present.items():
        if there:
            logger.info(f"{name}: {key} is not used on the phone line (voicelab's settings)")


def included_files(path: Path) -> set[Path]:
    """The files a pipecat file splices in with ``!include`` (fragments, not scenarios).

    Read from the composed node tree (no tag is constructed); nested includes resolve
    against the top-level file's directory, as pipecat's loader does. Unreadable files
    give nothing: loading them reports the problem.
    """
    found: set[Path] = set()
    pending = [path]
    while pending:
        try:
            root = yaml.compose(pending.pop().read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        stack = [root] if root is not None else []
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.ScalarNode) and node.tag == "!include":
                target = (path.parent / str(node.value)).resolve()
                if target not in found:
                    found.add(target)
                    pending.append(target)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                stack.extend(value for pair in node.value for value in pair)
    return found
