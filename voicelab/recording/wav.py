"""WAV files written while the call goes on, valid on disk after every chunk.

A recording kept in memory until the call ends is lost with the process. A
:class:`WavStreamWriter` appends each chunk as it comes and, through stdlib
:mod:`wave` (which patches the RIFF header after every ``writeframes`` when the
length was not known up front), leaves a file whose header matches what is
written so far; each chunk is flushed to the OS, so a process killed mid-call
(even SIGKILL) leaves a WAV that opens with everything but the chunks still
queued. The writes run on the process's record writer thread
(:mod:`voicelab.recording._disk`), in order, never on the event loop.
"""

from __future__ import annotations

import os
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from voicelab.errors import CallRecordError
from voicelab.recording._disk import DISK

__all__ = ["WavStreamWriter", "pcm16"]


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] (any shape; frames by rows) as 16-bit PCM bytes."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


class WavStreamWriter:
    """A 16-bit PCM WAV file that grows chunk by chunk.

    The file (with an empty but valid header) is created when the writer is; each
    :meth:`write` queues one chunk; :meth:`close` / :meth:`aclose` queue the close
    and wait for every chunk before it. Calls return at once except the waits.

    Args:
        path: The WAV file; if it exists, a free name beside it is used instead
            (``name-2.wav``...: a recording never replaces another), see :attr:`path`.
        sample_rate: Frames per second.
        channels: Interleaved channels per frame (2: caller left, bot right).
        on_error: Called (on the record writer thread) with what a failed write raised.
    """

    SAMPLE_WIDTH = 2

    def __init__(
        self,
        path: Path,
        sample_rate: int,
        channels: int,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        if sample_rate <= 0 or channels <= 0:
            raise CallRecordError(f"bad WAV format for {path}: {sample_rate} Hz x {channels}")
        self.path = path
        self.sample_rate = sample_rate
        self.channels = channels
        self._frame_bytes = channels * self.SAMPLE_WIDTH
        self._queued_frames = 0
        self._closed = False
        self._file: BinaryIO | None = None
        self._wave: wave.Wave_write | None = None
        self._on_error = on_error
        DISK.submit(self._open, on_error=on_error)

    @property
    def queued_seconds(self) -> float:
        """Audio handed to the writer so far (written or still queued), in seconds."""
        return self._queued_frames / self.sample_rate

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, pcm: bytes) -> None:
        """Queue interleaved 16-bit little-endian frames for the file.

        Raises:
            CallRecordError: The writer is closed, or ``pcm`` is not whole frames.
        """
        if self._closed:
            raise CallRecordError(f"{self.path.name}: write after close")
        if len(pcm) % self._frame_bytes:
            raise CallRecordError(
                f"{self.path.name}: {len(pcm)} bytes is not a whole number of "
                f"{self.channels}-channel 16-bit frames"
            )
        if pcm:
            self._queued_frames += len(pcm) // self._frame_bytes
            DISK.submit(self._append, bytes(pcm), on_error=self._on_error)

    def close(self, timeout: float | None = None) -> None:
        """Queue the close (idempotent) and block until the file is complete."""
        self._queue_close()
        DISK.flush(timeout)

    async def aclose(self) -> None:
        """Queue the close (idempotent) and wait, off the event loop, until the file is complete."""
        self._queue_close()
        await DISK.aflush()

    def _queue_close(self) -> None:
        if not self._closed:
            self._closed = True
            DISK.submit(self._finish, on_error=self._on_error)

    # On the writer thread, in submission order:

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Every write of this process runs on this one thread, so no other writer can
        # take the free name between this check and the rename below.
        self.path = _free_name(self.path)
        # Both stay open across chunks and are closed in _finish (no context manager).
        # The header is written under a temporary name and the file renamed into place, so
        # the path never shows a WAV without its header (a reader or a kill in between).
        fd, staging = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        handle = os.fdopen(fd, "wb")
        out = wave.open(handle, "wb")  # noqa: SIM115
        out.setnchannels(self.channels)
        out.setsampwidth(self.SAMPLE_WIDTH)
        out.setframerate(self.sample_rate)
        out.writeframes(b"")  # the header, for a file that is valid from the start
        handle.flush()
        os.replace(staging, self.path)  # the open handle follows the file
        self._file, self._wave = handle, out

    def _append(self, pcm: bytes) -> None:
        if self._wave is None or self._file is None:
            return  # the open failed (and was logged): nothing to append to
        self._wave.writeframes(pcm)  # data, then the patched header
        self._file.flush()  # to the OS: survives the process being killed

    def _finish(self) -> None:
        if self._wave is None or self._file is None:
            return
        try:
            self._wave.close()  # flushes; does not close a file it did not open
        finally:
            self._file.close()
            self._wave = self._file = None


def _free_name(path: Path) -> Path:
    """``path``, or the first of ``name-2.wav``, ``name-3.wav``... that does not exist."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
