"""The playout lead: the far end's buffer on our clock, and frames released as they are heard.

``PlayoutClock`` is checked on hand-computed timelines; ``PlayoutLine`` with a real event
loop (its releases are timed, its order and what a ``clear`` drops are not).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    OutputAudioRawFrame,
    TextFrame,
)
from pipecat.processors.frame_processor import FrameDirection

from voicelab.bot.playout import PlayoutClock, PlayoutLine

CHUNK_S = 0.02
DOWN = FrameDirection.DOWNSTREAM


def test_a_reply_s_first_lead_leaves_at_once_then_one_chunk_per_chunk_played() -> None:
    clock = PlayoutClock(lead_s=0.2)
    waits, starts = [], []
    for _ in range(12):  # all sent at t=0: nothing is played yet
        starts.append(clock.sent(0.0, CHUNK_S))
        waits.append(clock.wait(0.0))
    assert starts == pytest.approx([CHUNK_S * k for k in range(12)])
    # 10 chunks (0.2 s) queued: the 11th waits one chunk, the 12th two
    assert waits[:9] == [0.0] * 9
    assert waits[9:] == pytest.approx([0.0, 0.02, 0.04])


def test_pipecat_s_pace_is_a_lead_of_zero() -> None:
    clock = PlayoutClock(lead_s=0.0)
    assert clock.sent(5.0, CHUNK_S) == 5.0
    assert clock.wait(5.0) == pytest.approx(CHUNK_S)  # send, then sleep one chunk


def test_after_a_stall_the_gap_was_heard_and_the_late_audio_goes_at_once() -> None:
    clock = PlayoutClock(lead_s=0.2)
    for _ in range(10):
        clock.sent(0.0, CHUNK_S)  # 0.2 s queued, playing until t=0.2
    # The loop stalls until t=0.5: the far end ran dry at 0.2 (a 0.3 s gap, heard).
    assert clock.sent(0.5, CHUNK_S) == 0.5  # plays on arrival, not "at 0.2"
    assert clock.wait(0.5) == 0.0  # the lead is refilled without waiting


def test_a_clear_empties_the_far_end() -> None:
    clock = PlayoutClock(lead_s=0.2)
    for _ in range(10):
        clock.sent(1.0, CHUNK_S)
    clock.clear()
    assert clock.sent(1.05, CHUNK_S) == 1.05  # the next reply plays at once


def audio() -> OutputAudioRawFrame:
    return OutputAudioRawFrame(b"\x01\x00" * 160, sample_rate=8000, num_channels=1)


class Released:
    """What leaves the line, and when."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, Frame]] = []

    async def push(self, frame: Frame, direction: FrameDirection) -> None:
        self.frames.append((time.monotonic(), frame))


def line_for(released: Released) -> PlayoutLine:
    return PlayoutLine(
        released.push, lambda coro, name: asyncio.get_running_loop().create_task(coro)
    )


@pytest.mark.asyncio
async def test_frames_leave_in_order_none_before_it_is_heard() -> None:
    released = Released()
    line = line_for(released)
    now = time.monotonic()
    first, second, stopped = audio(), audio(), BotStoppedSpeakingFrame()
    line.put(now + 0.05, first, DOWN)
    line.put(now + 0.10, second, DOWN)
    line.put(0.0, stopped, DOWN)  # "after the audio ahead of it"
    await asyncio.sleep(0.2)
    assert [f for _, f in released.frames] == [first, second, stopped]
    times = [t for t, _ in released.frames]
    assert times[0] >= now + 0.05 and times[1] >= now + 0.10 and times[2] >= times[1]
    await line.stop()


@pytest.mark.asyncio
async def test_a_clear_drops_what_was_not_heard_and_releases_the_rest_at_once() -> None:
    released = Released()
    line = line_for(released)
    now = time.monotonic()
    end, stopped = EndFrame(), BotStoppedSpeakingFrame()
    line.put(now + 5, audio(), DOWN)
    line.put(0.0, TextFrame("words never heard"), DOWN)
    line.put(now + 6, audio(), DOWN)
    line.put(0.0, stopped, DOWN)
    line.put(0.0, end, DOWN)
    await line.clear()
    # As pipecat's queues on an interruption: the interruptible audio and words are gone,
    # the bot's speaking state and the uninterruptible end go on, in order.
    assert [f for _, f in released.frames] == [stopped, end]
    assert line.pending == 0
    await line.stop()
