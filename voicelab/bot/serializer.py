"""pipecat's Twilio serializer, made to validate what arrives and to end sessions that abuse it.

Every websocket message is checked (:func:`voicelab.telephony.media.parse_message`)
before pipecat sees it: a malformed one is logged and dropped and the call goes on.
A session that keeps misbehaving is closed: too many malformed messages, or
messages arriving far faster than Twilio's real time (50 media frames a second),
which would otherwise make this call's pipeline, and the event loop every other
call shares, chew through audio no phone could have sent.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket, status
from loguru import logger
from pipecat.audio.utils import ulaw_to_pcm
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from voicelab.recording.recorder import CALLER_AT
from voicelab.recording.store import CallRecord
from voicelab.telephony.media import (
    FRAME_BYTES,
    MediaMessage,
    MediaMessageError,
    StartMessage,
    StopMessage,
    UnknownMessage,
    parse_message,
)

__all__ = [
    "MisbehaviourHandler",
    "MisbehaviourPolicy",
    "SessionCloser",
    "TolerantTwilioFrameSerializer",
]

MisbehaviourHandler = Callable[[str], Awaitable[None]]
"""Called once, with the reason, when a session crosses the policy's line."""


@dataclass(frozen=True)
class MisbehaviourPolicy:
    """Where a session's bad input stops being tolerated.

    Attributes:
        max_malformed: Malformed messages dropped before the session is closed
            (Twilio sends none; a few are tolerated so one glitch costs nothing).
        frames_per_second: Sustained input rate allowed, in 20 ms media frames (a
            media message costs one frame per 160 payload bytes, any other message
            one frame). Twilio's real time is 50.
        burst_frames: Frames that may arrive at once above that rate (a network stall
            catching up delivers a backlog in one go). Beyond it, input is still taken
            while the session's total is within real time since its start plus this
            burst (the server's own stall reads a backlog of any size).
    """

    max_malformed: int = 20
    frames_per_second: float = 150.0
    burst_frames: float = 500.0


# A stamped chunk may belong this long before it arrived (a stalled loop's backlog).
_MAX_LATE_S = 5.0

_REAL_TIME_FRAMES_PER_SECOND = 50.0  # Twilio's: one 20 ms frame (FRAME_BYTES) at a time


class _FrameBudget:
    """A token bucket of media frames: refills at the allowed rate, up to the burst.

    Input over the bucket is still allowed while the session's total stays within real
    time since the stream began (plus the burst): a server whose loop stalled reads what
    an honest caller sent meanwhile as a backlog of any size, and the stall is the
    server's own fault, not the caller's abuse. Only a caller ahead of real time loses
    its stream.
    """

    def __init__(self, policy: MisbehaviourPolicy, clock: Callable[[], float]) -> None:
        self._rate, self._capacity, self._clock = (
            policy.frames_per_second,
            policy.burst_frames,
            clock,
        )
        self._level, self._at = policy.burst_frames, clock()
        self._started, self._total = self._at, 0.0

    def take(self, frames: float) -> bool:
        now = self._clock()
        self._level = min(self._capacity, self._level + (now - self._at) * self._rate)
        self._at = now
        self._level -= frames
        self._total += frames
        if self._level >= 0:
            return True
        real_time = self._capacity + (now - self._started) * _REAL_TIME_FRAMES_PER_SECOND
        if self._total <= real_time:
            self._level = 0.0  # a backlog caught up: the bucket starts again from empty
            return True
        return False


class TolerantTwilioFrameSerializer(TwilioFrameSerializer):
    """``TwilioFrameSerializer`` that survives bad input and ends abusive sessions.

    Args:
        stream_sid: The stream's SID.
        call_sid: The call's SID (hang-ups over REST, log lines).
        *args: ``TwilioFrameSerializer``'s other arguments.
        policy: When a session is closed for misbehaving.
        on_misbehaviour: Awaited once with the reason when the policy is crossed
            (e.g. a :class:`SessionCloser`); every later message is dropped.
        on_stop: Awaited when Twilio's ``stop`` arrives (pipecat ignores it, and a peer
            that kept the socket open would hold the call): the call should end.
        clock: Monotonic seconds (injectable for tests).
        **kwargs: ``TwilioFrameSerializer``'s keyword arguments.
    """

    def __init__(
        self,
        stream_sid: str,
        call_sid: str | None = None,
        *args: Any,
        policy: MisbehaviourPolicy | None = None,
        on_misbehaviour: MisbehaviourHandler | None = None,
        on_stop: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(stream_sid, call_sid, *args, **kwargs)
        self.call_sid = call_sid
        self.policy = policy or MisbehaviourPolicy()
        self.dropped = 0
        self.closed_reason: str | None = None
        self._on_misbehaviour = on_misbehaviour
        self._on_stop = on_stop
        self._budget = _FrameBudget(self.policy, clock)
        self._clock = clock
        self._twilio_epoch: float | None = None  # our clock's time at Twilio's timestamp 0

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if self.closed_reason is not None:
            return None  # the session is being closed: nothing more reaches the pipeline
        cost = 1.0
        try:
            message = parse_message(data)
        except MediaMessageError as exc:
            message = None
            self.dropped += 1
            size = len(data) if isinstance(data, str | bytes) else 0
            logger.warning(f"dropped a malformed Media Streams message ({exc}; {size} bytes)")
        else:
            if isinstance(message, MediaMessage):
                cost = max(1.0, math.ceil(len(message.media.payload) / FRAME_BYTES))
        if not self._budget.take(cost):
            await self._misbehaved(
                f"input far above real time (over {self.policy.frames_per_second:g} frames/s)"
            )
            return None
        if message is None:
            if self.dropped > self.policy.max_malformed:
                await self._misbehaved(f"more than {self.policy.max_malformed} malformed messages")
            return None
        if isinstance(message, StopMessage):
            self.closed_reason = "stop"  # nothing after Twilio's stop is the call's
            if self._on_stop is not None:
                await self._on_stop()
            return None
        if isinstance(message, UnknownMessage | StartMessage):
            # A second `start` mid-call, or an event Twilio does not document: ignored.
            logger.debug(f"ignored Media Streams event {message.event[:32]!r}")
            return None
        if isinstance(message, MediaMessage):
            # pipecat's media branch, on the payload parsed and decoded above (its own
            # would parse the JSON and decode the base64 a second time).
            audio = await ulaw_to_pcm(
                message.media.payload,
                self._twilio_sample_rate,
                self._sample_rate,
                self._input_resampler,
            )
            if not audio:
                return None
            frame = InputAudioRawFrame(audio=audio, num_channels=1, sample_rate=self._sample_rate)
            # Where the audio belongs in the recording (recording/recorder.py).
            frame.metadata[CALLER_AT] = self._said_at(message.media.timestamp)
            return frame
        return await super().deserialize(data)

    def _said_at(self, timestamp_ms: int | None) -> float:
        """When the caller said a chunk: Twilio's timestamp on our clock, never ahead of now.

        The clocks are tied at the first stamped chunk. A chunk is never placed later than
        it arrived nor more than :data:`_MAX_LATE_S` earlier, whatever its stamp says.
        """
        now = self._clock()
        if timestamp_ms is None:
            return now
        if self._twilio_epoch is None:
            self._twilio_epoch = now - timestamp_ms / 1000
        return min(now, max(now - _MAX_LATE_S, self._twilio_epoch + timestamp_ms / 1000))

    async def _misbehaved(self, reason: str) -> None:
        self.closed_reason = reason
        logger.warning(f"call {self.call_sid}: closing a misbehaving media session: {reason}")
        if self._on_misbehaviour is not None:
            await self._on_misbehaviour(reason)


@dataclass(frozen=True)
class SessionCloser:
    """The usual :data:`MisbehaviourHandler`: note the reason in the record, close the socket.

    The ``error`` event says why the call ended; closing the websocket ends the
    pipeline the way any hang-up does, so the record is finished as usual.

    Args:
        websocket: The call's media websocket.
        record: The call's record.
    """

    websocket: WebSocket
    record: CallRecord

    async def __call__(self, reason: str) -> None:
        self.record.emit("error", message=f"media session closed: {reason}", fatal=True)
        with contextlib.suppress(RuntimeError):  # already closed
            await self.websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason[:120])
