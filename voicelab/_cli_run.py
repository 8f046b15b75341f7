"""Commands that run voicelab's parts on their own: the call server, the carrier, and an
outbound call."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from voicelab._cli_app import (
    Verbose,
    app,
    fail,
    settings_or_exit,
    verbosity,
)
from voicelab.config import secret_value
from voicelab.errors import CarrierError, VoicelabError

__all__ = ["call", "carrier", "serve"]


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(help="Interface to bind (0.0.0.0 for every interface, e.g. in a container)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    verbose: Verbose = False,
    test: Annotated[bool, typer.Option("--test", hidden=True)] = False,  # the old --verbose
) -> None:
    """Run the call server: Twilio webhooks, /outbound, /call-status, /health, /ws.

    The console shows a line per call and every warning; --verbose shows everything.
    """
    from voicelab.server.app import create_app
    from voicelab.server.logging import configure_logging
    from voicelab.server.runner import listen_socket, run_server

    settings = settings_or_exit(port=port)
    configure_logging(
        settings.log_dir,
        verbose=verbose or test or settings.log_level == "DEBUG",
        mask_numbers=settings.mask_phone_numbers,
    )
    try:
        sock = listen_socket(host, port)  # a taken port: one line now, not after the models
        server_app = create_app(settings, port=port)
    except VoicelabError as exc:  # e.g. a VOICELAB_AGENT that does not import
        fail(str(exc))
    # uvicorn.run with the server's limits (server/_http.py), but live calls end (reason
    # "shutdown", complete records) before uvicorn closes their websockets on SIGTERM/SIGINT.
    run_server(server_app, settings, sock, log_level="info")


@app.command()
def carrier(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8766,
    verbose: Verbose = False,
) -> None:
    """Run the Twilio REST emulator; point a server at it with VOICELAB_TWILIO_API_BASE."""
    from voicelab.simulator.carrier import run
    from voicelab.simulator.simulator import ScenarioAnswerer

    verbosity(verbose)
    settings = settings_or_exit()
    if not settings.twilio_configured:
        fail("the carrier needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (any test values)")
    account, token = settings.twilio_account_sid, secret_value(settings.twilio_auth_token)
    assert account and token
    try:
        run(
            host,
            port,
            account_sid=account,
            auth_token=token,
            answerer=ScenarioAnswerer(settings.recordings_dir),
            recordings_root=settings.recordings_dir,
        )
    except CarrierError as exc:  # the port is taken
        fail(f"{exc} (--port)")


@app.command()
def call(
    number: Annotated[str, typer.Argument(help="E.164 number to call, e.g. +15551234567.")],
    server: Annotated[
        str | None, typer.Option(help="Server URL (default: an in-process one).")
    ] = None,
    from_number: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Caller ID, E.164 (default: the server's TWILIO_PHONE_NUMBER).",
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Place an outbound call through the server's /outbound.

    With real Twilio credentials and --server, a real phone rings. Without
    credentials, the call goes through the carrier and a simulated callee answers.
    The server's API key is read from VOICELAB_API_KEY (environment or .env).
    """
    from voicelab._cli_simulate import place_call
    from voicelab.telephony.ids import is_e164

    verbosity(verbose)
    for value in (number, from_number):
        if value is not None and not is_e164(value):
            fail(f"{value!r} is not an E.164 number like +15551234567")
    settings = settings_or_exit()
    if server is None and settings.twilio_configured and not settings.twilio_api_base:
        fail(
            "real Twilio credentials are configured: run `voicelab serve` where Twilio can "
            "reach it (VOICELAB_PUBLIC_URL) and pass --server URL; unset them to call through "
            "the emulator"
        )
    asyncio.run(place_call(settings, number, server, from_number=from_number))
