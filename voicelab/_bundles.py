"""The provider bundles' table: every name ``VOICELAB_PROVIDERS`` accepts, and what it costs.

The one home of the bundle names: the settings validate against it, the CLI's help and the
pytest plugin's choices are made from it, and :mod:`voicelab.bot.providers` builds one
bundle's services by its row. It imports nothing of voicelab but :mod:`voicelab.errors`, so
``config`` can read it (the settings sit below ``bot``, which the import contracts keep out of
``telephony``, ``simulator`` and ``analysis``).
"""

from __future__ import annotations

from dataclasses import dataclass

from voicelab.errors import InvalidArgumentError

__all__ = ["BUNDLES", "Bundle", "bundle", "calls_per_cpu", "pool_models"]


@dataclass(frozen=True)
class Bundle:
    """What voicelab knows about a provider bundle beyond its services.

    Attributes:
        name: Its name (``VOICELAB_PROVIDERS``, ``--providers``).
        gives: Its services, for people (help texts).
        models: The model pool's models its calls use: what a server's pool loads and warms
            before its first call.
        calls_per_cpu: The calls one CPU holds at once with the bundle's models on it: a Ray
            sweep worker's default (``--concurrency`` overrides it).
        extra: The voicelab extra it needs (``None``: the core install).
    """

    name: str
    gives: str
    models: frozenset[str]
    calls_per_cpu: int
    extra: str | None


# Every bundle's calls run Silero VAD and the smart-turn model (one session each, shared:
# bot/vad.py), so no bundle's pool is empty.
_TURNS = frozenset({"vad", "smart_turn"})
# Calls per CPU (bench/RESULTS.md): an instant call costs 1.4 s of CPU in 6.2 s, and a cloud
# one about as much here (the models run remotely); a scripted call runs Whisper (3 on 2 cores
# queue it: stt_s doubles); the offline stack holds 2-3 calls on 2 cores.
BUNDLES: dict[str, Bundle] = {
    b.name: b
    for b in (
        Bundle(
            "cloud",
            "Deepgram + OpenAI (or any OpenAI-compatible server) + Cartesia",
            _TURNS,
            calls_per_cpu=4,
            extra="cloud",
        ),
        Bundle(
            "offline",
            "Whisper tiny.en + SmolLM2 (llama.cpp) + Hibari, all in-process",
            frozenset({"whisper", "tts", "llm"}) | _TURNS,
            calls_per_cpu=1,
            extra="offline",
        ),
        Bundle(
            "scripted",
            "the offline STT/TTS with a deterministic LLM, for repeatable tests",
            frozenset({"whisper", "tts"}) | _TURNS,
            calls_per_cpu=2,
            extra="scripted",
        ),
        Bundle(
            "instant",
            "model-free STT/TTS that answer at once + the scripted LLM, for load tests",
            _TURNS,
            calls_per_cpu=4,
            extra=None,
        ),
    )
}
"""Every provider bundle, by name."""

# What the settings choose when no bundle is named and the cloud keys are missing.
_DEFAULT = "offline"


def bundle(name: str | None) -> Bundle:
    """The row of the bundle ``name`` (``None``: the default without cloud keys, offline).

    Raises:
        InvalidArgumentError: No bundle has that name (the message lists them); also a
            ``ValueError``, so a settings validator reports it as the variable's error.
    """
    row = BUNDLES.get(name or _DEFAULT)
    if row is None:
        raise InvalidArgumentError(
            f"unknown provider bundle {name!r}: choose one of {', '.join(BUNDLES)}"
        )
    return row


def pool_models(providers: str | None) -> frozenset[str]:
    """The pool's models (``whisper``, ``llm``, ``tts``, ...) the bundle ``providers`` needs.

    Raises:
        InvalidArgumentError: No bundle has that name.
    """
    return bundle(providers).models


def calls_per_cpu(providers: str | None) -> int:
    """How many calls of the bundle ``providers`` one CPU holds at once (at least 1).

    Raises:
        InvalidArgumentError: No bundle has that name.
    """
    return bundle(providers).calls_per_cpu
