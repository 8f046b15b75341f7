"""WavStreamWriter: a WAV that is valid on disk while it grows, and after a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicelab.errors import CallRecordError
from voicelab.recording._disk import DISK
from voicelab.recording.wav import WavStreamWriter, pcm16

RATE = 8000


def tone(seconds: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    mono = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([mono] * channels, axis=1)


def test_the_file_is_a_valid_wav_before_during_and_after_writing(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    writer = WavStreamWriter(path, RATE, channels=2)
    DISK.flush()
    assert sf.info(path).frames == 0 and sf.info(path).channels == 2  # valid from the start

    for i in range(1, 4):
        writer.write(pcm16(tone(0.5)))
        DISK.flush()
        # Not closed yet: the header already says how much audio there is.
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames) == (RATE, 2, i * RATE // 2)

    writer.close()
    audio, rate = sf.read(path, dtype="float32")
    assert rate == RATE and audio.shape == (3 * RATE // 2, 2)
    assert np.abs(audio - tone(1.5)).max() < 1e-3  # the samples themselves, not only the length


def test_writes_return_before_the_disk_is_touched(tmp_path: Path) -> None:
    import threading

    gate = threading.Event()
    DISK.submit(gate.wait, 10)  # the writer thread is busy until the gate opens
    path = tmp_path / "rec.wav"
    writer = WavStreamWriter(path, RATE, channels=2)
    writer.write(pcm16(tone(0.5)))
    assert not path.exists()  # queued, not written: the caller did no I/O
    assert writer.queued_seconds == pytest.approx(0.5)
    gate.set()
    writer.close()
    assert sf.info(path).frames == RATE // 2


@pytest.mark.asyncio
async def test_aclose_waits_for_every_queued_chunk(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    writer = WavStreamWriter(path, RATE, channels=1)
    for _ in range(20):
        writer.write(pcm16(tone(0.1, channels=1)))
    await writer.aclose()
    await writer.aclose()  # idempotent
    assert sf.info(path).frames == 20 * RATE // 10


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CallRecordError, match="bad WAV format"):
        WavStreamWriter(tmp_path / "x.wav", 0, channels=2)
    writer = WavStreamWriter(tmp_path / "y.wav", RATE, channels=2)
    with pytest.raises(CallRecordError, match="whole number"):
        writer.write(b"\x00" * 6)  # one and a half stereo frames
    writer.close()
    with pytest.raises(CallRecordError, match="after close"):
        writer.write(b"\x00" * 4)


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from voicelab.recording.wav import WavStreamWriter, pcm16

    writer = WavStreamWriter(Path(sys.argv[1]), 8000, channels=2)
    chunk = pcm16(np.full((4000, 2), 0.25))  # 0.5 s a chunk, like the server's recorder
    while True:  # until killed
        writer.write(chunk)
        print(writer.queued_seconds, flush=True)
        time.sleep(0.1)  # 5x real time: the writer must keep up with more than a call's pace
    """
)


def test_a_process_killed_mid_recording_leaves_a_wav_with_all_but_the_last_moments(
    tmp_path: Path,
) -> None:
    path = tmp_path / "killed.wav"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert child.stdout is not None
        handed = 0.0
        deadline = time.monotonic() + 60
        while handed < 4.0 and time.monotonic() < deadline:  # 4 s of audio handed over
            line = child.stdout.readline()
            if not line:
                break
            handed = float(line)
        assert handed >= 4.0, "the child never recorded 4 s"
        child.send_signal(signal.SIGKILL)  # no atexit, no finally, no close
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    audio, rate = sf.read(path, dtype="float32")
    assert rate == RATE and audio.shape[1] == 2
    # Everything handed over but the last ~2 s is in a file that opens cleanly.
    assert audio.shape[0] / RATE >= handed - 2.0
    assert np.allclose(audio, 0.25, atol=1e-3)  # whole frames of what was written, no garbage
