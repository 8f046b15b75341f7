"""Callees that are not people: an answering machine and a phone menu.

Both speak the moment they pick up, whoever is listening: the carrier's answering machine
detection (run before any TwiML, when synchronous) hears the greeting, as Twilio's does.
The machine records what it hears after its beep and transcribes it with the callers'
Whisper when the call ends (``voicemail.message``, ``call.json`` ``voicemail``). The menu
hears the agent's keys as touch tones (see :mod:`._dtmf`), each one a ``dtmf.received``
event, and routes by them: a prompt may be cut short by a key, a node without options
plays music on hold and hands the call to a person, or says goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import numpy as np
from loguru import logger

from voicelab.errors import VoicelabError
from voicelab.simulator._caller_session import FRAME_S, CallerSession
from voicelab.simulator._script import Action, AnsweringMachine, PhoneMenu
from voicelab.simulator._tones import beep, hold_music
from voicelab.simulator.ears import CallerEars

__all__ = ["answering_machine", "phone_menu"]

Steps = Callable[[CallerSession, list[Action]], Awaitable[None]]


async def answering_machine(session: CallerSession, machine: AnsweringMachine) -> None:
    """Greet, beep, record until the caller hangs up or the message is too long."""
    await session.speak(machine.greeting.audio)
    if machine.beep_s > 0:
        await session.speak(beep(machine.beep_s))
    if session.closed.is_set():
        return
    _greeting_over(session, "beep" if machine.beep_s > 0 else "silence")
    recording_from = session.now()

    async def note_message() -> None:
        await _note_message(session, recording_from)

    session.on_save.append(note_message)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(session.closed.wait(), machine.max_message_s)


async def _note_message(session: CallerSession, start: float) -> None:
    """The message: from the beep to the last audible sample heard, transcribed."""
    ends = [end for _, _, end in session.result.heard if end > start]
    end = max(ends) if ends else start
    text = ""
    if ends:
        try:
            ears = CallerEars(session.config.models)
            text = await asyncio.to_thread(ears.transcribe, session.heard_audio(start, end))
        except VoicelabError as exc:  # no ears installed: the message's length still counts
            logger.warning(f"answering machine: cannot transcribe the message: {exc}")
            session.emit("error", message=f"voicemail transcription: {exc}", fatal=False)
    duration = round(end - start, 3)
    session.result.voicemail = (text, duration)
    session.emit("voicemail.message", t=start, text=text, duration_s=duration)
    if session.record is not None:
        session.record.update_manifest(voicemail={"text": text, "duration_s": duration})


async def phone_menu(session: CallerSession, menu: PhoneMenu, steps: Steps) -> None:
    """Prompt, route by key, hold, then a person or a goodbye (then the menu hangs up)."""
    node_id, replays, first = menu.start, 0, True
    while not session.closed.is_set():
        node = menu.nodes[node_id]
        session.menu_node = node_id
        if node.prompt is not None and (session.digits.empty() or not node.options):
            await _prompt(session, node.prompt.audio, interruptible=bool(node.options))
        if first:
            first = False
            _greeting_over(session, "silence")  # a menu never beeps: it waits for a key
        if not node.options:
            if node.hold_s > 0:
                await session.speak(hold_music(node.hold_s))
            if node.person is None or session.closed.is_set():
                return
            # A person took the call: keys are no menu's business any more.
            session.keys, session.menu_node = None, None
            await steps(session, node.person)
            return
        key = await _next_key(session, node.timeout_s)
        if key is not None and key in node.options:
            node_id, replays = node.options[key], 0
            continue
        replays += 1
        if replays > node.repeats:
            logger.info("phone menu: no usable key at {!r}; hanging up", node_id)
            return


async def _prompt(session: CallerSession, audio: np.ndarray, *, interruptible: bool) -> None:
    """Say a prompt; a key pressed meanwhile cuts it short (callers type ahead)."""
    session.mouth = audio.astype(np.float32)
    while session.mouth.size and not session.closed.is_set():
        if interruptible and not session.digits.empty():
            session.mouth = session.mouth[:0]
            return
        await asyncio.sleep(FRAME_S)


async def _next_key(session: CallerSession, timeout_s: float) -> str | None:
    try:
        return await asyncio.wait_for(session.digits.get(), timeout_s)
    except TimeoutError:
        return None


def _greeting_over(session: CallerSession, how: str) -> None:
    if not session.greeting_end.done():
        session.greeting_end.set_result(how)
