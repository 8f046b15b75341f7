"""voicelab as a user gets it: the wheel, installed outside the repository, run from an empty
directory.

The wheel is built from a copy of the sources (the build leaves nothing in the checkout) and
installed with ``--no-deps`` into a new venv: installing its dependencies afresh would take
many minutes, so that venv sees this one's third-party packages through a ``.pth`` line. A
directory added by a ``.pth`` line does not run the ``.pth`` files inside it, so the editable
voicelab's import hook is not loaded there: ``import voicelab`` finds the installed copy, and
the tests check it does. Then ``voicelab demo --providers scripted`` places its call, and the
starter project of ``voicelab init`` passes its own tests through the installed pytest plugin.

Building needs setuptools from PyPI (build isolation; pip caches it after the first run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.wheel, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    """A venv holding the built wheel."""

    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        code = "import sysconfig; print(sysconfig.get_path('purelib'))"
        out = _checked(self.run([str(self.python), "-c", code], cwd=self.venv), "sysconfig")
        return Path(out.stdout.strip())

    def run(
        self, args: list[str], cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            cwd=cwd,
            env=_user_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _user_env() -> dict[str, str]:
    """The environment of a user's shell: none of voicelab's settings, no PYTHONPATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VOICELAB_", "PYTHON", "PYTEST_")) and k != "VIRTUAL_ENV"
    }
    return {**env, "ORT_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}


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
    (wheel,) = dist.glob("voicelab-*.whl")

    venv = base / "venv"
    _checked(
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)],
            capture_output=True,
            text=True,
            timeout=120,
        ),
        "python -m venv",
    )
    env = Installed(venv)
    # This venv's third-party packages (and pip), after the new venv's own site-packages.
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (env.site_packages / "_project_packages.pth").write_text("\n".join(sorted(ours)) + "\n")
    install = [
        str(env.python),
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--ignore-installed",
        "--no-index",
        "-q",
        str(wheel),
    ]
    _checked(env.run(install, cwd=base, timeout=300), "pip install the wheel")
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


def test_demo_runs_from_an_empty_directory(installed: Installed, tmp_path: Path) -> None:
    demo = [str(installed.venv / "bin" / "voicelab"), "demo", "--providers", "scripted"]
    result = _checked(installed.run(demo, tmp_path, timeout=600), "voicelab demo")
    assert "scenario=cold_food" in result.stdout
    assert "completed" in result.stdout
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


def test_the_starter_project_passes_its_tests_with_the_installed_plugin(
    installed: Installed, tmp_path: Path
) -> None:
    voicelab = str(installed.venv / "bin" / "voicelab")
    _checked(installed.run([voicelab, "init", "agent"], tmp_path), "voicelab init")
    project = tmp_path / "agent"
    (project / "tests" / "test_installed.py").write_text(PROBE)
    pytest_run = [str(installed.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = _checked(installed.run(pytest_run, project, timeout=600), "the starter's pytest")
    assert "3 passed" in result.stdout, result.stdout
