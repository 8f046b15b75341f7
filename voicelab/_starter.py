"""``voicelab init DIR``: a starter project for a team's own agent, from the packaged defaults.

The project it writes passes its own tests (``python -m pytest`` in ``DIR``, with the Python
that has voicelab and its ``scripted`` extra: :func:`starter_commands`)::

    personas/inbound.md, outbound.md     the reference personas, to edit
    scenarios/cold_food.yaml             an inbound complaint
    scenarios/outbound_followup.yaml     an outbound follow-up call
    tests/test_agent.py                  plays both through the voicelab pytest plugin
    tests/conftest.py                    the tests' defaults: scripted providers, ./personas
    .env.example                         every setting, commented
    README.md                            how to run it and make it one's own

Every file is a copy of package data (:mod:`voicelab.defaults`), so the starter always
matches the installed voicelab; audio files a scenario's ``wav:`` turns name are copied
beside it. Existing files are never overwritten unless asked (``force``).
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import yaml

from voicelab._extras import EXTRAS, install_command
from voicelab.defaults import personas_dir, scenario_path, starter_dir
from voicelab.errors import VoicelabError

__all__ = ["STARTER_SCENARIOS", "starter_commands", "starter_files", "write_starter"]

# One per call direction, both passed by the scripted providers.
STARTER_SCENARIOS = ("cold_food", "outbound_followup")


def _scenario_assets(scenario: Path) -> Iterator[str]:
    """The files a packaged scenario's ``wav:`` turns name (relative to the scenario)."""
    data = yaml.safe_load(scenario.read_text(encoding="utf-8")) or {}
    for turn in data.get("turns") or []:
        if isinstance(turn, dict) and isinstance(turn.get("wav"), str):
            yield turn["wav"]


def starter_files() -> dict[str, Path]:
    """What :func:`write_starter` writes: by path in the project, the packaged file it copies."""
    templates = starter_dir()
    files = {
        f"personas/{direction}.md": personas_dir() / f"{direction}.md"
        for direction in ("inbound", "outbound")
    }
    for name in STARTER_SCENARIOS:
        source = scenario_path(name)
        files[f"scenarios/{source.name}"] = source
        for asset in _scenario_assets(source):
            files[str(PurePosixPath("scenarios", asset))] = source.parent / asset
    files["tests/test_agent.py"] = templates / "test_agent.py.tmpl"
    files["tests/conftest.py"] = templates / "conftest.py.tmpl"
    files[".env.example"] = templates / "env.example"
    files["README.md"] = templates / "README.md"
    return files


def starter_commands(directory: str | Path) -> list[str]:
    """The commands that run the starter's tests from here, exactly as they work.

    The Python that runs voicelab runs pytest too (``python -m pytest``): a bare ``pytest``
    may be another environment's, which cannot import voicelab. The starter plays its
    calls on the scripted providers: when their extra is missing, installing it comes first.
    """
    python = shlex.quote(sys.executable)
    commands = []
    if not EXTRAS["scripted"].installed:
        commands.append(f"{python} -m {install_command('scripted')}")
    commands.append(f"cd {shlex.quote(str(directory))} && {python} -m pytest")
    return commands


def write_starter(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the starter project into ``directory`` (created when missing).

    Args:
        directory: The project's root; other files in it are left alone.
        force: Overwrite the starter's files where they already exist.

    Returns:
        The files written, in order.

    Raises:
        VoicelabError: ``directory`` is not a directory, or (without ``force``) some of the
            starter's files exist already (the message names them; nothing is written), or
            a file cannot be written.
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise VoicelabError(f"{root} exists and is not a directory")
    files = {root / target: source for target, source in starter_files().items()}
    existing = [path for path in files if path.exists() or path.is_symlink()]
    if existing and not force:
        names = ", ".join(str(path.relative_to(root)) for path in existing)
        raise VoicelabError(f"{root} already has {names}: pass --force to overwrite them")
    for target, source in files.items():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # A symlink is replaced, not written through (--force must not reach outside root).
            target.unlink(missing_ok=True)
            shutil.copyfile(source, target)
        except OSError as exc:  # e.g. a directory where a starter file goes
            raise VoicelabError(f"cannot write {target}: {exc.strerror or exc}") from None
    return list(files)
