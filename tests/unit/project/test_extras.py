"""The core without its extras: it imports, serves the instant providers, and names the extra
a missing part needs (the wheel tier proves it in a real fresh venv; this, in a second).

A subprocess makes every extra's modules unimportable (``sys.modules[name] = None``), as a
core-only install would leave them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voicelab._extras import EXTRAS, install_command, llama_cmake_args

ROOT = Path(__file__).resolve().parents[3]

EXTRA_ONLY = [
    "voicelab.bot._otel",  # otel
    "voicelab.bot.providers.cloud",  # cloud
    "voicelab.bot.providers.offline",  # offline
    "voicelab.bot.providers.scripted",  # scripted (Whisper)
    "voicelab.bot.services.pooled_whisper",  # scripted
]

BLOCKED = sorted({module for extra in EXTRAS.values() for module in extra.modules})

CORE = """
import sys, tempfile
from pathlib import Path
for name in {blocked!r}:
    sys.modules[name] = None  # what a core-only install has of them
import voicelab, voicelab.lab, voicelab.network, voicelab.analysis, voicelab.testing
import voicelab.cli, voicelab.sweeps
from voicelab.config import Settings
from voicelab.errors import MissingDependencyError
from voicelab.server.app import create_app
root = Path(tempfile.mkdtemp())
create_app(Settings(providers="instant", recordings_dir=root))  # the core's own providers
from voicelab.bot.providers import build_providers
build_providers(Settings(providers="instant"), None)  # what each of its calls builds
import importlib, pkgutil
broken = []
for module in pkgutil.walk_packages(voicelab.__path__, "voicelab."):
    if module.name == "voicelab.__main__":
        continue  # it runs the CLI
    try:
        importlib.import_module(module.name)
    except ImportError as exc:
        broken.append(module.name)
print("NEEDS AN EXTRA:", sorted(broken))
for providers in ("scripted", "offline"):
    try:
        create_app(Settings(providers=providers, recordings_dir=root))
    except MissingDependencyError as exc:
        print(exc)
    else:
        print("NO ERROR for", providers)
"""


def test_the_core_imports_and_names_the_extra_each_provider_needs() -> None:
    code = CORE.format(blocked=BLOCKED)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    needs = next(line for line in lines if line.startswith("NEEDS AN EXTRA:"))
    # Only the modules that are an extra's own part may fail to import without it (each is
    # imported only when its providers, or traces, are asked for).
    assert needs == "NEEDS AN EXTRA: " + str(EXTRA_ONLY), needs
    scripted, offline = lines[-2:]
    assert "needs voicelab's 'scripted' extra" in scripted
    assert "pip install 'voicelab-phone[scripted]'" in scripted
    assert "needs voicelab's 'scripted' extra" in offline or "'offline' extra" in offline


@pytest.mark.parametrize("extra", list(EXTRAS))
def test_every_extra_is_declared_in_pyproject(extra: str) -> None:
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert extra in declared["optional-dependencies"]
    assert declared["name"] == "voicelab-phone"


def test_every_provider_bundle_names_a_known_extra() -> None:
    from voicelab._bundles import BUNDLES

    assert {b.extra for b in BUNDLES.values() if b.extra} <= set(EXTRAS)


def test_the_offline_command_carries_the_makefiles_llama_flags() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "$(shell cat voicelab/defaults/llama-cmake-args.txt)" in makefile
    flags = llama_cmake_args()
    assert "-DGGML_NATIVE=OFF" in flags and "-DGGML_AMX_INT8=OFF" in flags
    assert f'CMAKE_ARGS="{flags}"' in install_command("offline")
