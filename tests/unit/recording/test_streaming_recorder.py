"""StreamingRecorder in a real pipeline: chunks on disk as they fill, none lost at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pipecat.frames.frames import AudioBufferStartRecordingFrame, InputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.workers.runner import WorkerRunner

from voicelab.recording.recorder import StreamingRecorder

RATE = 8000


def caller_audio(seconds: float) -> InputAudioRawFrame:
    samples = np.full(int(RATE * seconds), 8000, dtype=np.int16)  # a loud, flat "caller"
    return InputAudioRawFrame(audio=samples.tobytes(), sample_rate=RATE, num_channels=1)


async def until(predicate: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def frames_on_disk(path: Path) -> int:
    return sf.info(path).frames if path.exists() else 0


@pytest.mark.asyncio
async def test_chunks_reach_the_disk_mid_call_and_finish_keeps_the_last_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "server.wav"
    recorder = StreamingRecorder(path, sample_rate=RATE, chunk_s=0.5)
    worker = PipelineWorker(
        Pipeline([recorder]),
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    try:
        await asyncio.sleep(0.5)  # the pipeline starts
        await worker.queue_frame(AudioBufferStartRecordingFrame())
        # Recording starts with a valid, empty WAV. (Audio frames are system frames: they
        # would overtake the queued start frame, so wait for it.)
        await until(lambda: path.exists() and frames_on_disk(path) == 0)
        for _ in range(12):  # 1.2 s of caller audio, in 0.1 s frames
            await worker.queue_frame(caller_audio(0.1))
        # Two 0.5 s chunks are on disk while the pipeline still runs; 0.2 s is buffered.
        await until(lambda: frames_on_disk(path) >= RATE)
        assert frames_on_disk(path) == RATE

        # The call ends with audio still buffered and the pipeline not yet torn down:
        # finish() must hand that last chunk over (its handler is a task) before closing.
        assert await recorder.finish() == path
        audio, rate = sf.read(path, dtype="int16", always_2d=True)
        assert rate == RATE and audio.shape == (int(1.2 * RATE), 2)
        assert (audio[:, 0] == 8000).all()  # caller on the left, every sample of it
    finally:
        await worker.cancel()
        await asyncio.wait_for(running, 10)
    assert frames_on_disk(path) == int(1.2 * RATE)  # nothing appended after the close
