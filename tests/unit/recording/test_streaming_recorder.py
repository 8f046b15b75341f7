"""StreamingRecorder in a real pipeline: each sample where it belongs in time, streamed to disk.

The audio's stamps (when the caller said it, when the caller hears the bot) decide where it
goes, whatever order and bursts it arrives in; pipecat's AudioBufferProcessor, which this
replaced, padded whichever track was behind the other at each frame and each chunk, so
every reply shifted the rest of the recording (a 30 s call came out 2.8 s long).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
import soundfile as sf
from pipecat.frames.frames import (
    AudioBufferStartRecordingFrame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.workers.runner import WorkerRunner

from voicelab.recording.recorder import CALLER_AT, PLAYOUT_AT, StreamingRecorder

RATE = 8000
FRAME_S = 0.02
FRAME = int(RATE * FRAME_S)
LOUD = 8000


def caller_frame(
    level: int, at: float | None = None, seconds: float = FRAME_S
) -> InputAudioRawFrame:
    frame = InputAudioRawFrame(
        audio=np.full(int(RATE * seconds), level, dtype=np.int16).tobytes(),
        sample_rate=RATE,
        num_channels=1,
    )
    if at is not None:
        frame.metadata[CALLER_AT] = at
    return frame


def bot_frame(level: int, at: float) -> OutputAudioRawFrame:
    frame = OutputAudioRawFrame(
        audio=np.full(FRAME, level, dtype=np.int16).tobytes(), sample_rate=RATE, num_channels=1
    )
    frame.metadata[PLAYOUT_AT] = at
    return frame


async def until(predicate: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def frames_on_disk(path: Path) -> int:
    return sf.info(path).frames if path.exists() else 0


class Running:
    """A pipeline of one recorder, started; ``t0`` is the recording's sample 0."""

    def __init__(self, recorder: StreamingRecorder, worker: PipelineWorker) -> None:
        self.recorder, self.worker = recorder, worker
        self.t0 = 0.0

    async def start(self) -> None:
        await self.worker.queue_frame(AudioBufferStartRecordingFrame())
        # Audio frames are system frames: they would overtake the queued start frame.
        await until(lambda: self.recorder.path.exists())
        self.t0 = self.recorder._t0 or 0.0

    async def send(self, *frames: object) -> None:
        for frame in frames:
            await self.worker.queue_frame(frame)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    recorder = StreamingRecorder(tmp_path / "server.wav", sample_rate=RATE, chunk_s=0.5)
    worker = PipelineWorker(
        Pipeline([recorder]),
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.3)  # the pipeline starts
    try:
        yield Running(recorder, worker)
    finally:
        await worker.cancel()
        await asyncio.wait_for(task, 10)


def loud_spans(channel: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) sample of each run of loud samples."""
    loud = np.concatenate(([0], (np.abs(channel) >= LOUD // 2).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(loud))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@pytest.mark.asyncio
async def test_chunks_reach_the_disk_mid_call_and_finish_keeps_the_rest(running: Running) -> None:
    path = running.recorder.path
    await running.start()
    assert frames_on_disk(path) == 0  # a valid, empty WAV from the start
    start = time.monotonic()
    for k in range(100):  # 2 s of caller audio, in real time
        await running.send(caller_frame(LOUD, at=running.t0 + k * FRAME_S))
        await asyncio.sleep(max(0.0, start + (k + 1) * FRAME_S - time.monotonic()))
    # Written as the call goes (up to the settle time and one open chunk behind).
    await until(lambda: frames_on_disk(path) >= RATE // 2)
    assert frames_on_disk(path) % (RATE // 2) == 0
    assert await running.recorder.finish() == path
    audio, rate = sf.read(path, dtype="int16", always_2d=True)
    assert rate == RATE and audio.shape == (100 * FRAME, 2)
    assert (audio[:, 0] == LOUD).all()  # every sample of the caller, on the left
    assert (audio[:, 1] == 0).all()


@pytest.mark.asyncio
async def test_each_track_s_audio_goes_where_its_stamp_says_whatever_order_it_arrives_in(
    running: Running,
) -> None:
    await running.start()
    t0 = running.t0
    # The bot's reply (1.2-2.2 s) reaches the recorder before the caller's audio of that
    # time, in a burst (sent ahead), and the caller's 3 s come after it, in one go.
    await running.send(*(bot_frame(LOUD, t0 + 1.2 + k * FRAME_S) for k in range(50)))
    await running.send(*(caller_frame(LOUD if k < 50 else 0, t0 + k * FRAME_S) for k in range(150)))
    await asyncio.sleep(0.2)
    await running.recorder.finish()
    audio, _ = sf.read(running.recorder.path, dtype="int16", always_2d=True)
    assert len(audio) == 150 * FRAME  # 3 s: nothing padded in
    assert loud_spans(audio[:, 0]) == [(0, RATE)]  # the caller's first second, in place
    assert loud_spans(audio[:, 1]) == [(int(1.2 * RATE), int(2.2 * RATE))]


@pytest.mark.asyncio
async def test_late_audio_replaces_the_silence_put_in_while_waiting_for_it(
    running: Running,
) -> None:
    await running.start()
    t0 = running.t0
    # The bot speaks on time (0.0-0.8 s) while the caller's audio is held up.
    for k in range(40):
        await running.send(bot_frame(LOUD, t0 + k * FRAME_S))
        await asyncio.sleep(FRAME_S)
    # Then the caller's first half second arrives at once (a stalled loop's backlog).
    await running.send(*(caller_frame(LOUD, t0 + k * FRAME_S) for k in range(25)))
    await asyncio.sleep(0.2)
    await running.recorder.finish()
    audio, _ = sf.read(running.recorder.path, dtype="int16", always_2d=True)
    assert loud_spans(audio[:, 0]) == [(0, RATE // 2)]  # in its place, not after the silence
    assert loud_spans(audio[:, 1]) == [(0, 40 * FRAME)]


@pytest.mark.asyncio
async def test_audio_without_a_stamp_goes_where_it_arrives(running: Running) -> None:
    await running.start()
    await running.send(caller_frame(LOUD, seconds=0.5))
    await asyncio.sleep(1.0)
    await running.send(caller_frame(LOUD, seconds=0.5))  # a second later: a gap between
    await asyncio.sleep(0.2)
    await running.recorder.finish()
    audio, _ = sf.read(running.recorder.path, dtype="int16", always_2d=True)
    (a0, a1), (b0, b1) = loud_spans(audio[:, 0])
    assert a1 - a0 == b1 - b0 == RATE // 2  # nothing lost
    assert 0.9 * RATE <= b0 - a0 <= 1.3 * RATE  # the second half second, about a second on
