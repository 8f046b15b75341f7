"""A scenario's party on the line for a whole call: the carrier's :class:`Line`, simulated.

From pickup to hang-up one :class:`CallerSession` runs (one clock, one ``caller.wav``),
playing the scenario's steps (a person's turns, an answering machine, a phone menu)
whatever the carrier connects it to: the agent's streams, the agent's ``<Say>`` and
``<Play>`` (spoken here with the callers' voice), or a party the agent ``<Dial>``\\ s, whom
it hears through a :class:`BridgeLink` (the caller then plays ``after_transfer``). When its
steps are done the party hangs up; when the carrier ends the call first, it hears the line
drop. Either way its record is complete when :meth:`ScenarioLine.close` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
from loguru import logger

from voicelab.simulator._caller_links import BridgeLink, StreamLink
from voicelab.simulator._caller_script import perform
from voicelab.simulator._caller_session import FRAME_S, CallerConfig, CallerResult, CallerSession
from voicelab.simulator._carrier_answerer import StreamSession
from voicelab.simulator._carrier_line import DialTarget
from voicelab.simulator._scenario_script import Party, speak
from voicelab.simulator._script import Action, callee_kind
from voicelab.simulator.voices import CallerVoice

__all__ = ["ScenarioLine"]


class ScenarioLine:
    """One scenario party's phone for one call (see :class:`~._carrier_line.Line`).

    Args:
        session: The party's session (its record opened, its clock not yet started).
        actions: What it does.
        after_transfer: What it does once the call is bridged to a dialled party.
        parties: Who answers the numbers the agent may dial.
        voice: Speaks the agent's ``<Say>`` text.
        done: Given the party's :class:`CallerResult` when the call is over.
    """

    def __init__(
        self,
        session: CallerSession,
        actions: list[Action],
        *,
        after_transfer: list[Action] | None = None,
        parties: dict[str, Party] | None = None,
        voice: CallerVoice,
        done: Callable[[CallerResult], None] = lambda result: None,
    ) -> None:
        self.session = session
        self.kind = callee_kind(actions)
        self.hung_up = session.hung_up
        self._actions, self._after = actions, after_transfer
        self._parties = parties or {}
        self._voice, self._done = voice, done
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Pick up: the clock starts, and the party starts playing its steps."""
        self.session.open_wav()
        self._tasks = [
            asyncio.create_task(self.session.run_clock()),
            asyncio.create_task(self._play()),
        ]

    async def _play(self) -> None:
        try:
            await perform(self.session, self._actions, self._after)
        except Exception as exc:  # a broken step ends the party's call, with a record of why
            logger.error(f"caller script failed: {exc!r}")
            self.session.emit("error", message=repr(exc), fatal=True)
        self.session.hang_up()  # done: the party hangs up

    async def greeting_end(self) -> str:
        return await asyncio.shield(self.session.greeting_end)

    async def say(self, text: str) -> None:
        audio = await asyncio.to_thread(speak, self._voice, text)
        await self.play(audio)

    async def play(self, audio: np.ndarray) -> None:
        session = self.session
        session.playout.push_audio(audio.astype(np.float32))
        try:
            while session.playout.queued_samples > 0 and not session.closed.is_set():
                await asyncio.sleep(FRAME_S)
        finally:
            if session.playout.queued_samples:  # cut short (a hang-up, a redirect)
                session.playout.clear()

    async def stream(self, info: StreamSession) -> str:
        session = self.session
        if session.closed.is_set():
            return "caller"
        link = await StreamLink.open(
            info.url,
            call_sid=info.call_sid,
            stream_sid=info.stream_sid,
            account_sid=info.account_sid,
            custom_parameters=info.custom_parameters,
            headers=info.headers,
        )
        link.attach(session)
        waits = [link.ended.wait(), session.closed.wait(), info.hangup.wait()]
        tasks = [asyncio.ensure_future(wait) for wait in waits]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if link.ended.is_set() and link.ended_by is not None:
                return link.ended_by
            # Twilio ends the stream: `stop`, then the socket closes.
            who = "caller" if session.hung_up.is_set() else "carrier"
            await link.stop(by=who)
            return who
        finally:
            for task in tasks:
                task.cancel()
            await link.aclose()

    def dial_target(self, number: str) -> DialTarget | None:
        party = self._parties.get(number)
        if party is None:
            return None
        return DialTarget(outcome=party.outcome, ring_s=party.ring_s, party=party)

    async def bridge(self, target: DialTarget) -> str:
        caller, party_script = self.session, target.party
        assert isinstance(party_script, Party)
        kind = callee_kind(party_script.actions)
        config = CallerConfig(
            reply_silence_s=caller.config.reply_silence_s,
            reply_timeout_s=caller.config.reply_timeout_s,
            models=caller.config.models,
        )
        party = CallerSession(config, None, listen_for_keys=kind == "phone_menu")
        bridge = BridgeLink(caller, party)
        bridge.attach()
        caller.transferred.set()
        playing = asyncio.create_task(_play_party(party, party_script.actions))
        ended = [
            asyncio.create_task(party.closed.wait()),
            asyncio.create_task(caller.closed.wait()),
        ]
        try:
            await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
            return "party" if party.hung_up.is_set() else "caller"
        finally:
            party.far_end_hung_up()
            for task in (playing, *ended):
                task.cancel()
            await asyncio.gather(playing, *ended, return_exceptions=True)
            bridge.detach()

    async def close(self) -> None:
        """Hang up on the party and finish its record (once, however often it is asked)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        session = self.session
        session.far_end_hung_up()
        try:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            link = session.link
            if isinstance(link, StreamLink):  # only on a carrier shutting down mid-stream
                await link.stop()
            await session.save()
        finally:
            self._done(session.result)


async def _play_party(party: CallerSession, actions: list[Action]) -> None:
    try:
        await perform(party, actions)
    except Exception as exc:  # the dialled party's fault is its own: it hangs up
        logger.error(f"dialled party's script failed: {exc!r}")
    party.hang_up()
