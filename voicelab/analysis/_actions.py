"""What a call *did*, read from its record, and the expectations on it.

An agent is judged by its actions as much as by its words: the functions it called (with
which arguments), a transfer, who hung up, a voicemail it left, the keys it pressed. This
module reads them from a call directory (:class:`CallActions`) and scores a scenario's
action expectations (``calls``, ``must_not_call``, ``transferred_to``, ``ended_by``,
``voicemail_left``, ``dtmf_sent``; :mod:`voicelab.expectations`) as rows of the scores.

Where each comes from: function calls from the server's ``function_call.started`` events
(a voicelab server records every call through pipecat's ``FunctionCallObserver``; a
black-box agent reports none unless it writes such events into the call's record, so its
``calls`` checks are undecided); a transfer from ``call.json``'s ``transferred_to`` or any
``call.transferred`` event (the server's tool, or the carrier that dialled); who ended the
call from ``ended_by``; voicemail from a ``voicemail.*`` event with ``text`` (the answering
machine's recording, or the server's message); keys from the server's ``dtmf.sent``, else
what the caller's phone menu received (``dtmf.received``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicelab.analysis._files import EVENTS, CallDir, MalformedCall, parse_call
from voicelab.analysis._scores import score_row
from voicelab.expectations import Expectation

__all__ = ["CallActions", "ToolCallSeen", "action_rows", "read_actions"]


@dataclass(frozen=True)
class ToolCallSeen:
    """One function call the agent made."""

    name: str
    arguments: dict[str, Any]
    turn: int | None


@dataclass
class CallActions:
    """A call's actions, as its record shows them.

    Attributes:
        reports_calls: The record has the agent's server events, so function calls
            would show (a black-box agent's record has none).
        tool_calls: Every function call, in order.
        transferred_to: The numbers the call was transferred to.
        ended_by: ``bot`` or ``caller``, when the record says.
        voicemail: The voicemail messages left (what was recorded or said).
        dtmf: The keys the agent pressed, in order.
    """

    reports_calls: bool = False
    tool_calls: list[ToolCallSeen] = field(default_factory=list)
    transferred_to: list[str] = field(default_factory=list)
    ended_by: str | None = None
    voicemail: list[str] = field(default_factory=list)
    dtmf: str = ""


def read_actions(directory: Path) -> CallActions:
    """The actions of the call in ``directory`` (empty when its record cannot be read)."""
    try:
        call = parse_call(CallDir(str(directory), directory.name, {EVENTS: (0, 0)}))
    except MalformedCall:
        return CallActions()
    manifest, actions = call.manifest, CallActions()
    sent: list[str] = []
    received: list[str] = []
    hung_up_by: str | None = None
    for event in call.events:
        kind, data, source = event["type"], event["data"], event["source"]
        if source == "server":
            actions.reports_calls = True
        if kind == "function_call.started" and isinstance(data.get("name"), str):
            arguments = data.get("arguments")
            turn = data.get("turn") if type(data.get("turn")) is int else None
            args = dict(arguments) if isinstance(arguments, dict) else {}
            actions.tool_calls.append(ToolCallSeen(data["name"], args, turn))
        elif kind == "call.transferred" and isinstance(data.get("to"), str):
            actions.transferred_to.append(data["to"])
        elif kind.startswith("voicemail.") and isinstance(data.get("text"), str) and data["text"]:
            actions.voicemail.append(data["text"])
        elif kind == "dtmf.sent" and isinstance(data.get("digit"), str):
            sent.append(data["digit"])
        elif kind == "dtmf.received" and isinstance(data.get("digit"), str):
            received.append(data["digit"])
        elif kind == "call.hangup" and data.get("by") in ("bot", "caller"):
            hung_up_by = data["by"]  # the carrier's view, for records with no ended_by
    if isinstance(manifest.get("transferred_to"), str):
        actions.transferred_to.insert(0, manifest["transferred_to"])
    actions.transferred_to = list(dict.fromkeys(actions.transferred_to))
    ended_by = manifest.get("ended_by")
    actions.ended_by = ended_by if isinstance(ended_by, str) else hung_up_by
    actions.dtmf = "".join(sent or received)
    return actions


def action_rows(
    sid: Any, exp: Expectation, actions: CallActions | None, turns: Iterable[int] | None
) -> list[dict[str, Any]]:
    """Score rows of ``exp``'s action checks on one call.

    Args:
        sid: The call.
        exp: The expectation (its action fields; the others are scored elsewhere).
        actions: What the call did (``None``: not loaded: every check undecided).
        turns: The server turns ``exp.turn`` selects (``None``: the whole call).
    """
    out: list[dict[str, Any]] = []
    turn = exp.turn

    def row(check: str, passed: bool | None, detail: str) -> None:
        out.append(score_row(sid, f"expect.{check}", turn, passed, detail))

    if actions is None:
        for check in ("calls", "must_not_call", "transferred_to", "ended_by"):
            if getattr(exp, check) is not None:
                row(check, None, "the call's record was not read")
        return out
    wanted_turns = None if turns is None else set(turns)
    made = [c for c in actions.tool_calls if wanted_turns is None or c.turn in wanted_turns]
    made_text = ", ".join(c.name for c in made) or "none"
    for spec in exp.calls or ():
        if not actions.reports_calls:
            row("calls", None, f"{spec.describe()}: the agent reports no function calls")
            continue
        found = next((c for c in made if spec.matches(c.name, c.arguments)), None)
        same_name = [c for c in made if c.name == spec.name]
        if found is not None:
            detail = f"called {spec.describe()}"
        elif same_name:
            detail = f"called {spec.name} with {same_name[0].arguments}, not {spec.args}"
        else:
            detail = f"never called {spec.name} (calls: {made_text})"
        row("calls", found is not None, detail)
    for name in exp.must_not_call or ():
        if not actions.reports_calls:
            row("must_not_call", None, f"{name}: the agent reports no function calls")
            continue
        called = any(c.name == name for c in made)
        row("must_not_call", not called, f"{'called' if called else 'never called'} {name}")
    if exp.transferred_to is not None:
        to = actions.transferred_to
        if exp.transferred_to is True:
            ok, detail = bool(to), f"transferred to {', '.join(to)}" if to else "no transfer"
        elif exp.transferred_to is False:
            ok, detail = not to, "no transfer" if not to else f"transferred to {', '.join(to)}"
        else:
            ok = exp.transferred_to in to
            detail = f"transferred to {', '.join(to) or 'no one'}, wanted {exp.transferred_to}"
        row("transferred_to", ok, detail)
    if exp.ended_by is not None:
        by = actions.ended_by
        detail = f"ended by {by}" if by else "the record does not say who ended the call"
        row("ended_by", None if by is None else by == exp.ended_by, detail)
    if exp.voicemail_left is not None:
        left = actions.voicemail
        detail = f"left {left[0]!r}" if left else "no voicemail message"
        row("voicemail_left", bool(left) == exp.voicemail_left, detail)
    if exp.dtmf_sent is not None:
        pressed = actions.dtmf
        detail = f"pressed {pressed!r}, wanted {exp.dtmf_sent!r}" if pressed else "pressed no key"
        row("dtmf_sent", pressed == exp.dtmf_sent, detail)
    return out
