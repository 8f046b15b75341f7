"""The ``voicelab`` command line's shared parts: the app, the options several commands take,
and the one-line failure (exit 2) every command reports bad input with."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer

from voicelab._bundles import BUNDLES
from voicelab.config import Settings, load_settings
from voicelab.errors import VoicelabError

__all__ = [
    "PROVIDERS_HELP",
    "AgentOption",
    "CarrierPortOption",
    "ProvidersOption",
    "ServerOption",
    "StatusCallbacksOption",
    "Verbose",
    "agent_settings",
    "app",
    "fail",
    "settings_or_exit",
    "verbosity",
]

app = typer.Typer(
    help="voicelab: a lab for AI phone agents on Twilio + Pipecat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Show every log line (pipecat's DEBUG too) on stderr."),
]

_verbose = {"on": False}

# The agent options of the commands that place calls (simulate, replay).
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Call an agent already running there: any Twilio bot (TwiML webhook at /),"
        " voicelab's or not; a bot that records nothing here gets a black-box record.",
    ),
]
CarrierPortOption = Annotated[int, typer.Option(help="Carrier port with --server.")]
StatusCallbacksOption = Annotated[
    bool,
    typer.Option(
        "--status-callbacks/--no-status-callbacks",
        help="Send Twilio's status callbacks to SERVER/status-callback.",
    ),
]
# The names come from the bundles' table; another one is a one-line error, exit 2 (settings).
PROVIDERS_HELP = " | ".join(BUNDLES)
ProvidersOption = Annotated[str | None, typer.Option("--providers", help=f"{PROVIDERS_HELP}.")]
AgentOption = Annotated[
    str | None,
    typer.Option(
        "--agent",
        help="The in-process server's agent, module:factory (VOICELAB_AGENT; default the"
        " reference agent). Not with --server.",
    ),
]


@app.callback()
def _quiet_console() -> None:
    """Before any command imports pipecat (whose banner and DEBUG lines drowned the output):
    warnings only on the console, everything in the log file (``VOICELAB_LOG_DIR``)."""
    from voicelab.server.logging import use_console

    use_console("WARNING")


def verbosity(verbose: bool) -> None:
    """``--verbose``: the console shows everything from here on."""
    from voicelab.server.logging import use_console

    if verbose:
        _verbose["on"] = True
        use_console("DEBUG")


def fail(message: str) -> NoReturn:
    """Print ``message`` to stderr and exit with status 2."""
    typer.echo(f"voicelab: {message}", err=True)
    raise typer.Exit(2)


def agent_settings(providers: str | None, agent: str | None, server: str | None) -> Settings:
    """The settings of a command with the agent options (exit 2 on a contradiction)."""
    if agent is not None and server is not None:
        fail("--agent runs an agent in-process, --server calls one already running: give one")
    return settings_or_exit(providers=providers, agent=agent)


def settings_or_exit(**overrides: Any) -> Settings:
    if _verbose["on"]:
        overrides["log_level"] = "DEBUG"
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except VoicelabError as exc:
        fail(str(exc))
