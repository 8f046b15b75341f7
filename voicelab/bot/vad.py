"""Silero VAD and the smart-turn model for every call of a pool, over one ONNX session each.

pipecat's ``SileroVADAnalyzer`` creates an onnxruntime session per instance: 80-120 ms of
CPU on the event loop at every call's start (measured here), which stalls every other
call's audio (the playout gaps P3 counts "in greetings"). The session holds no call state
(Silero's recurrent state lives in the Python wrapper, per call), and ``run`` is
thread-safe, so one session serves all calls. The same holds for pipecat's smart-turn v3.2
analyzer (its per-call state is the audio buffer), which loads its 8.7 MB model per instance.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams

__all__ = [
    "PooledSileroVADAnalyzer",
    "PooledSmartTurnAnalyzer",
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
