"""The carrier's view of a simulated party's phone, for the whole of an answered call.

A plain :class:`~voicelab.simulator._carrier_answerer.Answerer` only plays the far end of
each media stream. An answerer that also has ``pick_up`` (a :class:`LineAnswerer`, such as
the simulator's) gives the carrier a :class:`Line` when the call is answered: the party
is then on the line from pickup to hang-up, and the carrier plays it what Twilio would:
``<Say>`` and ``<Play>`` before and after a stream, the agent's stream itself, a ``<Dial>``'s
ringing and the dialled party, and it learns from the line when the party hangs up and
what picked up (a person, an answering machine, a phone menu: its AMD answer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from voicelab.simulator._carrier_answerer import StreamSession

__all__ = ["DialTarget", "Line", "LineAnswerer", "PickUp"]


@dataclass(frozen=True)
class PickUp:
    """An answered call, as the party that picked up learns of it.

    Attributes:
        call_sid: The call.
        account_sid: Its account.
        from_: Calling number.
        to: Called number.
        direction: ``inbound`` or ``outbound-api``.
        scenario: The opaque object attached to the call (``Carrier.ring``,
            ``Carrier.script_destination``, ``Carrier.place_hint``).
    """

    call_sid: str
    account_sid: str
    from_: str
    to: str
    direction: str
    scenario: Any = None


@dataclass(frozen=True)
class DialTarget:
    """Who answers a number a ``<Dial>`` rings, as the party's scenario says.

    Attributes:
        outcome: ``answer``, ``busy``, ``no-answer`` or ``failed``.
        ring_s: How long it rings before that outcome.
        party: Opaque: what :meth:`Line.bridge` connects the caller to.
    """

    outcome: str = "answer"
    ring_s: float = 1.0
    party: Any = None


@runtime_checkable
class Line(Protocol):
    """A party on an answered call.

    Attributes:
        kind: What picked up: ``person``, ``answering_machine`` or ``phone_menu``.
        hung_up: Set when the party hangs up.
    """

    kind: str
    hung_up: asyncio.Event

    async def greeting_end(self) -> str:
        """Wait for a machine's greeting to end: ``beep`` or ``silence`` (a person's never
        does: the carrier does not wait for it)."""

    async def say(self, text: str) -> None:
        """``<Say>``: the party hears ``text``; returns when it has (cancel to cut it)."""

    async def play(self, audio: np.ndarray) -> None:
        """``<Play>``: the party hears ``audio`` (8 kHz float32); returns when it has."""

    async def stream(self, session: StreamSession) -> str:
        """``<Connect><Stream>``: connect the party to the agent until the stream ends.

        Returns who ended it: ``bot`` (closed its socket), ``caller`` (hung up) or
        ``carrier`` (``session.hangup`` was set: Twilio sent ``stop`` and closed it).
        """

    def dial_target(self, number: str) -> DialTarget | None:
        """Who answers ``number`` in this party's world (``None``: nobody it knows)."""

    async def bridge(self, target: DialTarget) -> str:
        """A ``<Dial>`` answered: talk until ``party`` or ``caller`` hangs up (cancel to end)."""

    async def close(self) -> None:
        """The call is over: the party hears the line drop; its record is complete on return."""


@runtime_checkable
class LineAnswerer(Protocol):
    """An answerer that stays on the line for the whole call."""

    async def pick_up(self, call: PickUp) -> Line | None:
        """The call was answered: the party's line (``None``: play streams only)."""
