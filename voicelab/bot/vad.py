"""Silero VAD and the smart-turn model for every call of a pool, over one ONNX session each.

pipecat's ``SileroVADAnalyzer`` creates an onnxruntime session per instance: 80-120 ms of
CPU on the event loop at every call's start (measured here), which stalls every other
call's audio (the playout gaps P3 counts "in greetings"). The session holds no call state
(Silero's recurrent state lives in the Python wrapper, per call), and ``run`` is
thread-safe, so one session serves all calls. The same holds for pipecat's smart-turn v3.2
analyzer (its per-call state is the audio buffer), which loads its 8.7 MB model per instance.

pipecat's analyzer also hops to a thread of its own for every 20 ms frame (32 calls: 32
threads, 50 hops a second each, most of them only to append the frame to a buffer). The
pooled analyzer buffers on the event loop and sends each complete Silero window to the
session's :class:`SileroBatch`, which scores the windows of every call waiting at that
moment in one ``run`` (one thread, one hop per batch; the same numbers as one by one).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any, ClassVar

import numpy as np
from loguru import logger
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

__all__ = [
    "PooledSileroVADAnalyzer",
    "PooledSmartTurnAnalyzer",
    "SileroBatch",
    "load_silero_session",
    "load_smart_turn_session",
]


def load_silero_session() -> Any:
    """The Silero model pipecat ships, with pipecat's own session options."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    path = resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx")
    return onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"], sess_options=options
    )


def load_smart_turn_session() -> Any:
    """The smart-turn v3.2 CPU model pipecat ships, with pipecat's own session options."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    path = resources.files("pipecat.audio.turn.smart_turn.data").joinpath(
        "smart-turn-v3.2-cpu.onnx"
    )
    return onnxruntime.InferenceSession(str(path), sess_options=options)


class _SessionSileroModel(SileroOnnxModel):
    """pipecat's Silero wrapper (per-call state) over a session loaded already."""

    def __init__(self, session: Any) -> None:  # pipecat's __init__ would load another
        self.session = session
        self.reset_states()
        self.sample_rates = [8000, 16000]

    def batch_row(self, x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """What ``__call__`` would give the session for one window: (input row, state).

        The same checks and resets as pipecat's ``__call__`` (a window of 512 samples at
        16 kHz, 256 at 8 kHz; a new rate resets the state), for a batch of one.
        """
        x, sr = self._validate_input(x, sr)
        if np.shape(x) != (1, 512 if sr == 16000 else 256):
            raise ValueError(f"a Silero window is 512 samples at 16 kHz, 256 at 8 kHz: {x.shape}")
        if not self._last_batch_size or (self._last_sr and self._last_sr != sr):
            self.reset_states(1)
        if not np.shape(self._context)[1]:
            self._context = np.zeros((1, 64 if sr == 16000 else 32), dtype="float32")
        return np.concatenate((self._context, x), axis=1), self._state

    def scored(self, row: np.ndarray, state: np.ndarray, sr: int) -> None:
        """Keep the state the session returned for :meth:`batch_row`'s window."""
        self._state = state
        self._context = row[..., -(64 if sr == 16000 else 32) :]
        self._last_sr = sr
        self._last_batch_size = 1


class SileroBatch:
    """Scores the Silero windows of many calls together, on one thread.

    A window waits only while the batch before it runs: with few calls every window
    runs alone at once, with many they share one ``run`` (the rows of a batch are scored
    exactly as one by one: Silero's state is per row). Any event loop may ask.

    Args:
        session: The Silero onnxruntime session.
    """

    _batches: ClassVar[weakref.WeakKeyDictionary[Any, SileroBatch]] = weakref.WeakKeyDictionary()
    _batches_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, session: Any) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._waiting: list[tuple[_SessionSileroModel, np.ndarray, int, asyncio.Future[float]]] = []
        self._running = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="silero-batch")

    @classmethod
    def of(cls, session: Any) -> SileroBatch:
        """The one batch of ``session`` (made on first use)."""
        with cls._batches_lock:
            batch = cls._batches.get(session)
            if batch is None:
                batch = cls._batches[session] = cls(session)
            return batch

    async def score(self, model: _SessionSileroModel, window: np.ndarray, sr: int) -> float:
        """Silero's confidence for ``window`` (float32), updating ``model``'s state."""
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiting.append((model, window, sr, future))
            start, self._running = not self._running, True
        if start:
            self._thread.submit(self._drain)
        return await future

    def _drain(self) -> None:
        while True:
            with self._lock:
                waiting, self._waiting = self._waiting, []
                if not waiting:
                    self._running = False
                    return
            for sr in {request[2] for request in waiting}:  # one run per rate
                self._run([request for request in waiting if request[2] == sr], sr)

    def _run(self, requests: list[Any], sr: int) -> None:
        results: list[float | BaseException] = []
        try:
            rows, states = zip(
                *(model.batch_row(window, sr) for model, window, _, _ in requests), strict=True
            )
            batch = np.concatenate(rows)
            out, state = self.session.run(
                None,
                {
                    "input": batch,
                    "state": np.concatenate(states, axis=1),
                    "sr": np.array(sr, dtype="int64"),
                },
            )
            for i, (model, _, _, _) in enumerate(requests):
                model.scored(batch[i : i + 1], state[:, i : i + 1], sr)
                results.append(float(out[i, 0]))
        except Exception as exc:  # every window of the batch fails alike
            results = [exc] * len(requests)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[float], Any]]] = {}
        for (_, _, _, future), result in zip(requests, results, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, result))
        for loop, answers in by_loop.items():  # one wake-up per loop, not per window
            if not loop.is_closed():
                loop.call_soon_threadsafe(_answer, answers)


def _answer(answers: list[tuple[asyncio.Future[float], Any]]) -> None:
    for future, result in answers:
        if future.done():  # its call was cancelled meanwhile
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class PooledSileroVADAnalyzer(SileroVADAnalyzer):
    """``SileroVADAnalyzer`` over a shared session (``ModelPool.vad()``), windows batched.

    The same decisions as pipecat's analyzer (its state machine and model resets run
    unchanged, window by window); the windows are scored by the session's
    :class:`SileroBatch` instead of on a thread of the analyzer's own.

    Args:
        session: The pool's Silero session.
        sample_rate: As :class:`SileroVADAnalyzer`.
        params: As :class:`SileroVADAnalyzer`.
    """

    def __init__(
        self, *, session: Any, sample_rate: int | None = None, params: VADParams | None = None
    ) -> None:
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model: _SessionSileroModel = _SessionSileroModel(session)
        # The rest of SileroVADAnalyzer.__init__ (tests/unit check these match pipecat's).
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._batch = SileroBatch.of(session)
        self._scored: float | None = None  # the batch's score for the window in hand

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """pipecat's ``analyze_audio``, each complete window scored by the batch.

        A frame that completes no window is only buffered, on the loop (no thread hop).
        Twilio's 20 ms frames complete at most one window each; a longer chunk is
        analysed window by window.
        """
        size = self._vad_frames_num_bytes
        pending = self._vad_buffer + buffer
        if len(pending) < size:
            return self._run_analyzer(buffer)  # pipecat's: buffers, returns the state
        state, self._vad_buffer = self._vad_state, b""
        while len(pending) >= size:
            window, pending = pending[:size], pending[size:]
            samples = np.frombuffer(window, np.int16).astype(np.float32) / 32768.0
            try:
                self._scored = await self._batch.score(self._model, samples, self.sample_rate)
            except Exception as exc:  # as pipecat's voice_confidence: logged, scored 0
                logger.error(f"Error analyzing audio with Silero VAD: {exc}")
                self._scored = 0.0
            state = self._run_analyzer(window)  # one window: pipecat's state machine
        self._vad_buffer = pending
        return state

    def voice_confidence(self, buffer: bytes) -> float:
        """The batch's score of the window in hand (else pipecat's own, run here)."""
        scored, self._scored = self._scored, None
        if scored is None:
            return float(super().voice_confidence(buffer))
        self._maybe_reset_model(scored)  # as pipecat's voice_confidence does after scoring
        return scored


class PooledSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    """pipecat's smart-turn v3 analyzer over a shared session (``ModelPool.smart_turn()``).

    Args:
        session: The pool's smart-turn session.
        **kwargs: As :class:`LocalSmartTurnAnalyzerV3` (``params``, ``sample_rate``).
    """

    def __init__(self, *, session: Any, **kwargs: Any) -> None:
        BaseSmartTurn.__init__(self, **kwargs)  # pipecat's own __init__ would load a session
        self._log_data = False  # PIPECAT_SMART_TURN_LOG_DATA writes WAVs of every turn
        self._session = session
