"""Process-wide switches voicelab sets, each in one function, called where it matters.

Importing voicelab changes nothing about the process. What must be set for a library
voicelab uses is set right before that library can load, by the code that loads it.
"""

from __future__ import annotations

import os

__all__ = ["calm_openmp", "quiet_onnxruntime"]


def quiet_onnxruntime() -> None:
    """Tell onnxruntime not to send telemetry; call right before it may load.

    onnxruntime reads ``ORT_DISABLE_TELEMETRY`` when it starts, so this runs before the
    models that use it (Silero VAD, Piper, Whisper's VAD, Hibari) are imported or built.
    A value the user set already is left as it is.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def calm_openmp() -> None:
    """Make OpenMP worker threads sleep when idle; call right before Whisper or llama.cpp load.

    ctranslate2 (faster-whisper) and llama.cpp each bring their own libgomp, and each pool
    spins its threads after every parallel region by default. On 2 cores the two pools
    spinning against each other made SmolLM2's first token take 2-8 s instead of 0.02-0.5 s
    after a Whisper pass (``bench/RESULTS.md``). libgomp reads ``OMP_WAIT_POLICY`` when it
    loads, so this must run first. A value the user set already is left as it is.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
