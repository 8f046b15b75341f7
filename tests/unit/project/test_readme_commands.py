"""The README's commands exist as written: every ``voicelab ...`` line parses with the CLI,
every ``make`` target is in the Makefile, every script and scenario it runs is in the
repository, every pytest option it passes is the plugin's.

A README command that drifted (``--test`` renamed, ``--by scenario`` not a column, a script
moved) is the first thing a newcomer types and the first thing that fails.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from voicelab.cli import app

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _code_lines() -> list[str]:
    """Every command line of the README: in ```bash blocks and in `inline code`."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()  # the README's comments follow two spaces
            if line and not line.startswith("#"):
                lines.append(line)
    # Inline commands with arguments (`voicelab init` alone names the command, in prose).
    lines += re.findall(r"`((?:voicelab|make|pytest) [^`]* [^`]*)`", README)
    return lines


def _commands(program: str) -> list[list[str]]:
    found = []
    for line in _code_lines():
        for part in re.split(r"\s*(?:&&|;)\s*", line):
            words = shlex.split(part.replace("$(", "(").replace("<", "").replace(">", ""))
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value before the command
            if words and Path(words[0]).name == program:
                found.append(words[1:])
    return found


VOICELAB = _commands("voicelab")


def test_the_readme_has_voicelab_commands() -> None:
    assert len(VOICELAB) >= 15


@pytest.mark.parametrize("args", VOICELAB, ids=[" ".join(a)[:60] for a in VOICELAB])
def test_every_voicelab_command_in_the_readme_parses(args: list[str]) -> None:
    group = typer.main.get_command(app)  # typer's own (vendored) click Group
    context = group.make_context("voicelab", [args[0]])
    name, *rest = args
    command = group.get_command(context, name)  # type: ignore[attr-defined]
    assert command is not None, f"voicelab {name}: no such command"
    # Parses options and arguments as the command would (types, choices, unknown options);
    # [--host 0.0.0.0]-style optional parts in the README are written without brackets.
    command.make_context(name, [word.strip("[]") for word in rest], parent=context)


def test_every_make_target_in_the_readme_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    for args in _commands("make"):
        target = next(a for a in args if "=" not in a)
        assert target in targets, f"make {target}: not in the Makefile"


def test_every_script_and_path_the_readme_runs_is_there() -> None:
    for line in _code_lines():
        for word in shlex.split(line.replace("$(", "(")):
            # (tests/... in the README is the reader's own project, in the plugin's examples.)
            if re.match(r"^(bench|evals|notebooks)/[\w./-]+$", word):
                assert (ROOT / word).exists(), f"the README names {word}, which is not there"


def test_every_pytest_option_in_the_readme_is_the_plugins() -> None:
    plugin = (ROOT / "voicelab" / "testing" / "__init__.py").read_text()
    for args in _commands("pytest"):
        for word in args:
            if word.startswith("--voicelab"):
                option = word.split("=")[0]
                assert f'"{option}"' in plugin, f"pytest {option}: the plugin has no such option"
