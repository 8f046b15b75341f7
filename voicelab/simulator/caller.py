"""The simulated caller: Twilio's side of a Media Stream, on its own real-time clock.

It sends ``connected`` and ``start`` with Twilio's fields, then one 20 ms /
160-byte mu-law ``media`` frame every 20 ms (speech or line silence, like a real
call), plays the bot's audio through a :class:`PlayoutBuffer`, honours ``clear``,
echoes each ``mark`` once the audio before it has played, sends ``dtmf``, and
sends ``stop`` when it hangs up. Everything it said and heard goes to
``caller.wav`` as the call goes (every :data:`WAV_CHUNK_FRAMES` frames, so a killed
process keeps all but the last moments) and its timed observations to the call's
``events.jsonl``; both are on disk when :meth:`MediaStreamsCaller.run` returns.

:class:`MediaStreamsCaller` plays one stream on its own (a test against a server, no
carrier). Through the carrier, a party is on the line for the whole call, streams or not
(:mod:`voicelab.simulator._scenario_line`); both are built from the same pieces:
:mod:`._caller_session` (clock, ear, mouth, record), :mod:`._caller_links` (the stream,
a transfer's bridge) and :mod:`._caller_script` (what the party does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from loguru import logger

from voicelab.recording.audible import REPLY_SILENCE_S
from voicelab.recording.store import CallRecord
from voicelab.simulator._caller_links import MAX_MESSAGE_BYTES, StreamLink
from voicelab.simulator._caller_script import perform, transcribe_heard
from voicelab.simulator._caller_session import (
    FRAME,
    FRAME_S,
    RATE,
    WAV_CHUNK_FRAMES,
    CallerConfig,
    CallerResult,
    CallerSession,
)
from voicelab.simulator._script import Action, callee_kind
from voicelab.simulator.models import CallerModels

__all__ = [
    "FRAME",
    "FRAME_S",
    "MAX_MESSAGE_BYTES",
    "RATE",
    "WAV_CHUNK_FRAMES",
    "CallerResult",
    "MediaStreamsCaller",
    "new_session",
]


class MediaStreamsCaller:
    """Plays one scripted caller on one Twilio Media Streams websocket.

    Args:
        actions: What to do, in order (see :mod:`voicelab.simulator._script`).
        recordings_dir: Root of the call directories; ``None`` records nothing.
        reply_silence_s: Bot silence that counts as the end of its turn.
        reply_timeout_s: Longest wait for the bot to start a reply.
        transcribe_heard: After hanging up, transcribe every stretch of bot speech heard
            with the caller's own Whisper (:class:`CallerEars`) into ``caller.transcript``
            events: the only transcript of a black-box agent's replies. Done after the
            call, so it costs the call's timing nothing.
        models: The caller's models (its ears' Whisper); default ones of its own.
    """

    def __init__(
        self,
        actions: Sequence[Action],
        *,
        recordings_dir: Path | None = None,
        reply_silence_s: float = REPLY_SILENCE_S,
        reply_timeout_s: float = 20.0,
        transcribe_heard: bool = False,
        models: CallerModels | None = None,
    ) -> None:
        self.actions = list(actions)
        self.models = models if models is not None else CallerModels()
        self.recordings_dir = recordings_dir
        self.reply_silence_s = reply_silence_s
        self.reply_timeout_s = reply_timeout_s
        self.transcribe_heard = transcribe_heard

    @property
    def config(self) -> CallerConfig:
        return CallerConfig(
            reply_silence_s=self.reply_silence_s,
            reply_timeout_s=self.reply_timeout_s,
            transcribe_heard=self.transcribe_heard,
            models=self.models,
        )

    async def run(
        self,
        url: str,
        *,
        call_sid: str,
        stream_sid: str,
        account_sid: str,
        custom_parameters: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        hangup: asyncio.Event | None = None,
    ) -> CallerResult:
        """Connect to ``url``, play the script, hang up; returns what was observed."""
        session = new_session(self.config, self.recordings_dir, call_sid, self.actions)
        link = await StreamLink.open(
            url,
            call_sid=call_sid,
            stream_sid=stream_sid,
            account_sid=account_sid,
            custom_parameters=custom_parameters,
            headers=headers,
        )
        session.open_wav()
        link.attach(session)
        clock = asyncio.create_task(session.run_clock())
        script = asyncio.create_task(perform(session, self.actions))
        hung_up = asyncio.create_task((hangup or asyncio.Event()).wait())
        ended = asyncio.create_task(link.ended.wait())
        tasks = (clock, script, hung_up, ended)
        try:
            await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
            if script.done() and script.exception():
                logger.error(f"caller script failed: {script.exception()!r}")
                session.emit("error", message=repr(script.exception()), fatal=True)
            if link.ended.is_set() and link.ended_by == "bot":
                session.far_end_hung_up()
            else:
                session.hang_up()
                await link.stop(by="caller")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await link.aclose()
            await session.save()
        return session.result


def new_session(
    config: CallerConfig, recordings_dir: Path | None, call_sid: str, actions: list[Action]
) -> CallerSession:
    """A party's session for ``call_sid``, recording under ``recordings_dir`` if given."""
    record = CallRecord.open(recordings_dir, call_sid, "caller") if recordings_dir else None
    session = CallerSession(config, record, listen_for_keys=callee_kind(actions) == "phone_menu")
    if config.transcribe_heard:

        async def transcribe() -> None:
            await transcribe_heard(session)

        session.on_save.append(transcribe)
    return session
