"""voicelab as a user gets it: the wheel, installed outside the repository with its
dependencies, run from an empty directory.

The wheel is built from a copy of the sources (the build leaves nothing in the checkout) and
installed into a new venv the way a user installs it: ``pip install`` resolving the core's
dependencies (from pip's cache after ``make install``: about 75 s, 1.1 GB). The core must
import and run a call without any extra, and say which extra a missing part needs; then the
starter project of ``voicelab init`` passes its tests running exactly the commands it
prints (which install the ``scripted`` extra first). ``PIP_FIND_LINKS`` points pip at the
built wheel, so ``voicelab-phone[scripted]`` resolves to it as it would on PyPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.wheel, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    """A venv holding the built wheel, and the directory pip finds that wheel in."""

    venv: Path
    find_links: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        code = "import sysconfig; print(sysconfig.get_path('purelib'))"
        out = _checked(self.run([str(self.python), "-c", code], cwd=self.venv), "sysconfig")
        return Path(out.stdout.strip())

    def env(self) -> dict[str, str]:
        """A user's shell in this venv: none of voicelab's settings, no PYTHONPATH."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VOICELAB_", "PYTHON", "PYTEST_")) and k != "VIRTUAL_ENV"
        }
        return {
            **env,
            "ORT_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "1",
            "PATH": f"{self.venv / 'bin'}:{env.get('PATH', '')}",
            "PIP_FIND_LINKS": str(self.find_links),
        }

    def run(
        self, args: list[str], cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout
        )

    def shell(
        self, command: str, cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``command`` as a user types it into a shell."""
        return subprocess.run(
            command,
            shell=True,
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _checked(
    result: subprocess.CompletedProcess[str], what: str
) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


def _sources(target: Path) -> Path:
    """What the wheel is built from: the package, pyproject.toml and the README."""
    target.mkdir()
    shutil.copytree(
        ROOT / "voicelab",
        target / "voicelab",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for name in ("pyproject.toml", "README.md", *(p.name for p in ROOT.glob("LICEN[CS]E*"))):
        shutil.copy2(ROOT / name, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    source, dist = _sources(base / "src"), base / "dist"
    build = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(dist)]
    _checked(subprocess.run(build, capture_output=True, text=True, timeout=600), "pip wheel")
    (wheel,) = dist.glob("voicelab_phone-*.whl")

    venv = base / "venv"
    _checked(
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=120
        ),
        "python -m venv",
    )
    env = Installed(venv, find_links=dist)
    install = [str(env.python), "-m", "pip", "install", "-q", str(wheel)]
    _checked(env.run(install, cwd=base, timeout=900), "pip install the wheel")
    return env


def test_the_installed_copy_is_the_one_imported(installed: Installed, tmp_path: Path) -> None:
    code = (
        "import voicelab, voicelab.testing, voicelab.defaults as d; "
        "print(voicelab.__file__); print(voicelab.testing.__file__); print(d.data_dir())"
    )
    out = _checked(installed.run([str(installed.python), "-c", code], tmp_path), "import").stdout
    paths = [Path(line) for line in out.split()]
    assert len(paths) == 3
    assert all(p.is_relative_to(installed.site_packages) for p in paths), out
    assert (paths[2] / "scenarios" / "cold_food.yaml").is_file()


def test_the_core_needs_no_extra_and_names_the_one_a_part_needs(
    installed: Installed, tmp_path: Path
) -> None:
    code = "import llama_cpp"
    assert installed.run([str(installed.python), "-c", code], tmp_path).returncode != 0
    voicelab = str(installed.venv / "bin" / "voicelab")
    refused = installed.run([voicelab, "demo", "--providers", "offline"], tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    (line,) = [line for line in refused.stderr.splitlines() if line.strip()]
    assert "'offline' extra" in line and "pip install 'voicelab-phone[offline]'" in line
    # The instant providers, the server, the emulator and the callers: all core. (The
    # instant STT hears every line as the same words: a scenario that checks the replies'
    # content would fail its checks, rightly; this one checks only that there are replies.)
    scenario = tmp_path / "hello.yaml"
    scenario.write_text(
        "id: hello\ndescription: A guest saying hello.\nturns:\n  - say: Hello there.\n"
        "expect:\n  - turn: 1\n    max_latency_s: 10\n"
    )
    demo = [voicelab, "demo", "--providers", "instant", "--scenario", str(scenario)]
    result = _checked(installed.run(demo, tmp_path, timeout=600), "voicelab demo")
    assert "scenario=hello" in result.stdout and "completed" in result.stdout
    assert "2 of 2 passed" in result.stdout  # the status and the latency bound
    # The call's record lands under the working directory, as for a user.
    (manifest,) = (tmp_path / "recordings").glob("*/call.json")
    assert manifest.stat().st_size > 0


PROBE = """
import sys
from pathlib import Path

import voicelab.testing


def test_the_plugin_is_the_installed_one():
    assert Path(voicelab.testing.__file__).is_relative_to(sys.prefix)
"""


def test_the_starter_passes_its_tests_with_exactly_the_commands_it_prints(
    installed: Installed, tmp_path: Path
) -> None:
    voicelab = str(installed.venv / "bin" / "voicelab")
    out = _checked(installed.run([voicelab, "init", "agent"], tmp_path), "voicelab init").stdout
    commands = [line.strip() for line in out.split("Run its tests:")[1].splitlines() if line]
    assert commands and "voicelab-phone[scripted]" in commands[0], out
    (tmp_path / "agent" / "tests" / "test_installed.py").write_text(PROBE)
    for command in commands:
        result = _checked(installed.shell(command, tmp_path, timeout=900), command)
    assert "3 passed" in result.stdout, result.stdout
    # The installed demo's call is in test_the_core_needs_no_extra_and_names_the_one_a_part_needs.
