"""Silero VAD for every call of a pool over one ONNX session.

pipecat's ``SileroVADAnalyzer`` creates an onnxruntime session per instance: 80-120 ms of
CPU on the event loop at every call's start (measured here), which stalls every other
call's audio (the playout gaps P3 counts "in greetings"). The session holds no call state
(Silero's recurrent state lives in the Python wrapper, per call), and ``run`` is
thread-safe, so one session serves all calls.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams

__all__ = ["PooledSileroVADAnalyzer", "load_silero_session"]


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


class _SessionSileroModel(SileroOnnxModel):
    """pipecat's Silero wrapper (per-call state) over a session loaded already."""

    def __init__(self, session: Any) -> None:  # pipecat's __init__ would load another
        self.session = session
        self.reset_states()
        self.sample_rates = [8000, 16000]


class PooledSileroVADAnalyzer(SileroVADAnalyzer):
    """``SileroVADAnalyzer`` over a shared session (``ModelPool.vad()``).

    Args:
        session: The pool's Silero session.
        sample_rate: As :class:`SileroVADAnalyzer`.
        params: As :class:`SileroVADAnalyzer`.
    """

    def __init__(
        self, *, session: Any, sample_rate: int | None = None, params: VADParams | None = None
    ) -> None:
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _SessionSileroModel(session)
        # The rest of SileroVADAnalyzer.__init__ (tests/unit check these match pipecat's).
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
