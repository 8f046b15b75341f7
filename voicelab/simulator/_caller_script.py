"""A simulated party playing its steps on a :class:`CallerSession`.

A person speaks each line once the other side has answered the last one (or barges in),
presses keys, pauses, hangs up, or improvises toward a goal. When the agent transfers the
call, a caller with ``after_transfer`` steps drops what it had left to say to the agent and
plays those to whoever picked up. Machines and menus are in :mod:`._callees`.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
from loguru import logger

from voicelab.errors import VoicelabError
from voicelab.simulator._callees import answering_machine, phone_menu
from voicelab.simulator._caller_session import FRAME_S, CallerSession
from voicelab.simulator._script import (
    Action,
    AnsweringMachine,
    Dtmf,
    HangUp,
    Improvise,
    Pause,
    PhoneMenu,
    Say,
)
from voicelab.simulator.ears import CallerEars

__all__ = ["TRANSFER_WAIT_S", "perform", "run_steps", "transcribe_heard"]

TRANSFER_WAIT_S = 30.0
"""How long a caller whose turns are done waits for the transfer it expects, then hangs up."""


async def perform(
    session: CallerSession, actions: list[Action], after_transfer: list[Action] | None = None
) -> None:
    """Play ``actions``; with ``after_transfer``, play those instead once the call is bridged.

    Returns when the party is done (it then hangs up), or never if the call ends first.
    """
    if after_transfer is None:
        await run_steps(session, actions)
        return
    main = asyncio.create_task(run_steps(session, actions))
    bridged = asyncio.create_task(session.transferred.wait())
    try:
        await asyncio.wait({main, bridged}, return_when=asyncio.FIRST_COMPLETED)
        if not bridged.done():
            # The turns for the agent are said: wait for the transfer they lead to.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(bridged), TRANSFER_WAIT_S)
        if not bridged.done():
            logger.info("caller: no transfer came within {:g} s; hanging up", TRANSFER_WAIT_S)
            return
    finally:
        for task in (main, bridged):
            task.cancel()
        await asyncio.gather(main, bridged, return_exceptions=True)
    session.mouth = session.mouth[:0]  # whatever was left for the agent goes unsaid
    session.speaking = False
    await _hear_out(session, since=session.now())  # whoever picked up speaks first
    await run_steps(session, after_transfer)


async def run_steps(session: CallerSession, actions: list[Action]) -> None:
    """Play a person's steps, a machine or a menu; then let the other side answer."""
    for action in actions:
        if session.closed.is_set():
            return
        if isinstance(action, Say):
            if action.wait:  # let the other side answer the last turn (or greet) first
                await wait_for_reply(session, action.barge_in_after)
            await _say(session, action)
        elif isinstance(action, Dtmf):
            await session.press(action.digit)
        elif isinstance(action, Pause):
            await asyncio.sleep(action.seconds)
        elif isinstance(action, HangUp):
            await asyncio.sleep(action.after)
            return
        elif isinstance(action, Improvise):
            await _improvise(session, action)
        elif isinstance(action, AnsweringMachine):
            await answering_machine(session, action)
            return
        elif isinstance(action, PhoneMenu):
            await phone_menu(session, action, run_steps)
            return
    await wait_for_reply(session)


async def wait_for_reply(session: CallerSession, barge_in_after: float | None = None) -> None:
    """Wait for the reply to the current turn to start, then to end (or barge in)."""
    turn = session.turn
    deadline = asyncio.get_running_loop().time() + session.config.reply_timeout_s
    ear = session.ear
    while not ear.heard_for(turn) and ear.start is None:
        if not await ear.wait_change(deadline):
            return  # no reply came; the party carries on
    if barge_in_after is not None:
        await asyncio.sleep(barge_in_after)
        return
    await ear.wait_end()


async def _hear_out(session: CallerSession, since: float) -> None:
    """Wait for speech that starts after ``since`` (a new voice on the line), then its end."""
    deadline = asyncio.get_running_loop().time() + session.config.reply_timeout_s
    while not session.ear.started_since(since):
        if not await session.ear.wait_change(deadline):
            return
    await session.ear.wait_end()


async def _say(session: CallerSession, say: Say) -> None:
    session.ear.finish()  # whatever was heard so far belonged to the last turn
    session.turn += 1
    session.speaking = True
    start = session.now()
    session.mouth = say.audio.astype(np.float32)
    end = session.utterance_end(start)
    session.emit("caller.utterance_started", t=start, turn=session.turn, text=say.text)
    while session.mouth.size and not session.closed.is_set():
        await asyncio.sleep(FRAME_S)
    session.speaking = False
    session.ear.finish()  # the reply to this turn starts a fresh stretch of audio
    session.emit("caller.utterance_ended", t=end, turn=session.turn, text=say.text)
    session.result.utterances.append((session.turn, say.text, start, end))
    session.history.append({"speaker": "caller", "text": say.text})


async def _improvise(session: CallerSession, action: Improvise) -> None:
    """Listen to each reply, then say what the goal-driven caller comes up with."""
    ears = CallerEars(session.config.models)
    while not session.closed.is_set():
        await wait_for_reply(session)
        heard = _last_heard_audio(session)
        reply = await asyncio.to_thread(ears.transcribe, heard) if heard.size else ""
        if session.result.heard:
            _transcribed(session, len(session.result.heard) - 1, reply)
        if reply:
            session.history.append({"speaker": "bot", "text": reply})
        line = await asyncio.to_thread(action.next_line, list(session.history))
        if line is None or session.closed.is_set():
            return
        audio = await asyncio.to_thread(action.speak, line)
        await _say(session, Say(line, audio))


def _last_heard_audio(session: CallerSession) -> np.ndarray:
    if not session.result.heard:
        return session.heard_audio(0, 0)
    _, start, end = session.result.heard[-1]
    return session.heard_audio(start, end)


def _transcribed(session: CallerSession, index: int, text: str) -> None:
    """Keep and record what the party's ears made of heard stretch ``index``."""
    turn, _, end = session.result.heard[index]
    session.result.transcripts[index] = text
    session.emit("caller.transcript", t=end, turn=turn, text=text)


async def transcribe_heard(session: CallerSession) -> None:
    """Transcribe each heard stretch not transcribed yet (after the call: off its clock)."""
    pending = [i for i in range(len(session.result.heard)) if i not in session.result.transcripts]
    if not pending:
        return
    ears = CallerEars(session.config.models)
    try:
        for index in pending:
            _, start, end = session.result.heard[index]
            audio = session.heard_audio(start, end)
            _transcribed(session, index, await asyncio.to_thread(ears.transcribe, audio))
    except VoicelabError as exc:  # no ears installed: the record stays whole
        logger.warning(f"caller: cannot transcribe what it heard: {exc}")
        session.emit("error", message=f"caller transcription: {exc}", fatal=False)
