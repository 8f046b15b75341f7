"""Process-wide switches voicelab sets, each in one function, called where it matters.

Importing voicelab changes nothing about the process. What must be set for a library
voicelab uses is set right before that library can load, by the code that loads it.
"""

from __future__ import annotations

import os

__all__ = ["quiet_onnxruntime"]


def quiet_onnxruntime() -> None:
    """Tell onnxruntime not to send telemetry; call right before it may load.

    onnxruntime reads ``ORT_DISABLE_TELEMETRY`` when it starts, so this runs before the
    models that use it (Silero VAD, Piper, Whisper's VAD, Hibari) are imported or built.
    A value the user set already is left as it is.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
