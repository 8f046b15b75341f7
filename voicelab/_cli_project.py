"""Commands about the project around voicelab: a starter project, and which extras are installed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voicelab._cli_app import (
    app,
    fail,
)
from voicelab.errors import VoicelabError

__all__ = ["extras", "init"]


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(help="The project's directory (created when missing).")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the starter's files where they exist.")
    ] = False,
) -> None:
    """Write a starter project: personas, two scenarios, plugin tests, .env.example, README.

    It passes its own tests with the commands it prints. Existing files are left alone (exit 2)
    unless --force.
    """
    from voicelab._starter import starter_commands, write_starter

    try:
        written = write_starter(directory, force=force)
    except VoicelabError as exc:
        fail(str(exc))
    typer.echo(f"voicelab init: wrote {len(written)} files in {directory}")
    for path in written:
        typer.echo(f"  {path.relative_to(directory)}")
    typer.echo("\nRun its tests:")
    for command in starter_commands(directory):
        typer.echo(f"  {command}")


@app.command()
def extras(
    cmake_args: Annotated[
        bool, typer.Option("--cmake-args", help="Print only llama.cpp's build flags.")
    ] = False,
) -> None:
    """Which of voicelab's optional parts are installed, and the command for each missing one."""
    from voicelab._extras import EXTRAS, install_command, llama_cmake_args

    if cmake_args:
        typer.echo(llama_cmake_args())
        return
    for name, extra in EXTRAS.items():
        mark = "installed" if extra.installed else "missing  "
        typer.echo(f"{name:<9} {mark}  {extra.gives}")
        if not extra.installed:
            typer.echo(f"{'':<21}{install_command(name)}")
