"""An offline Twilio: the Calls REST API, signed webhooks, status callbacks, media streams.

:class:`Carrier` lets the unchanged production server be tested end to end on one machine,
over the same wire Twilio uses: REST -> signed TwiML webhook -> ``<Connect><Stream>`` ->
Media Streams websocket -> status callbacks. It reaches the server only over HTTP and
websockets, never by importing it.

Example (``client`` is a ``twilio.rest.Client`` whose ``http_client`` rewrites
``https://api.twilio.com`` to ``carrier.base_url``)::

    async with Carrier(account_sid, auth_token) as carrier:
        call = await asyncio.to_thread(
            client.calls.create, to="+15550001111", from_="+15550002222", url=twiml_url
        )
        await carrier.wait_for_status(call.sid, "completed", timeout=30)

The far end of each media stream is played by an :class:`Answerer` (by default a silent
caller); an answerer with ``pick_up`` (the simulator's) stays on the line for the whole call
and hears the agent's ``<Say>``, ``<Play>`` and ``<Dial>`` too (:mod:`._carrier_line`).
Scripted destinations make numbers busy, unanswered or failing, for ``calls.create`` and
``<Dial>`` alike. The carrier knows who hung up and records it (``call.hangup``), with the
agent's transfers and answering machine detection, when it has a recordings root.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Collection, Generator, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI
from loguru import logger

from voicelab.errors import CarrierError, ConfigError, InvalidArgumentError
from voicelab.simulator._carrier_answerer import Answerer, SilentAnswerer, StreamSession
from voicelab.simulator._carrier_api import build_app
from voicelab.simulator._carrier_switch import Destination, Switchboard
from voicelab.simulator._carrier_twilio import (
    TERMINAL_STATUSES,
    CarrierCall,
    is_e164,
    is_http_url,
    new_sid,
)
from voicelab.simulator._carrier_webhooks import WebhookClient
from voicelab.telephony.ids import DIAL_OUTCOMES

__all__ = ["TERMINAL_STATUSES", "Answerer", "Carrier", "CarrierCall", "StreamSession", "run"]


_START_TIMEOUT_S = 10.0
_CALLBACK_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


class Carrier:
    """A Twilio REST emulator and phone network on 127.0.0.1.

    Run it in the current event loop with :meth:`start` / :meth:`stop` (or ``async with``),
    or block on it with :func:`run`. A carrier runs once: it cannot be restarted.

    Args:
        account_sid: The account the REST API accepts (HTTP Basic user).
        auth_token: Its auth token: the Basic password and the webhook signing key.
        answerer: Plays the far end of every media stream (default: a silent caller).
        recordings_root: If set, failures are written as ``error`` events (source
            ``carrier``) into the call directories under it.
        ring_s: How long a dialed number rings before it answers (or not).
        webhook_timeout_s: Timeout of each TwiML fetch and status callback.
        answerer_grace_s: How long a hung-up answerer may take to return before it is cancelled.

    Raises:
        ConfigError: Credentials are empty or malformed.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        answerer: Answerer | None = None,
        recordings_root: Path | str | None = None,
        *,
        ring_s: float = 0.0,
        webhook_timeout_s: float = 15.0,
        answerer_grace_s: float = 2.0,
    ) -> None:
        if not account_sid or ":" in account_sid:
            raise ConfigError("Carrier account_sid must be a non-empty sid without ':'")
        if not auth_token:
            raise ConfigError("Carrier auth_token must not be empty")
        if ring_s < 0 or webhook_timeout_s <= 0 or answerer_grace_s < 0:
            raise ConfigError("Carrier ring_s, webhook_timeout_s, answerer_grace_s must be >= 0")
        self.account_sid = account_sid
        self._webhooks = WebhookClient(auth_token, timeout_s=webhook_timeout_s)
        self._switchboard = Switchboard(
            self._webhooks,
            answerer or SilentAnswerer(),
            recordings_root=Path(recordings_root) if recordings_root is not None else None,
            ring_s=ring_s,
            answerer_grace_s=answerer_grace_s,
        )
        self.app: FastAPI = build_app(self._switchboard, account_sid, auth_token)
        self._server: _EmbeddedServer | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._base_url: str | None = None
        self._stopped = False

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started: what replaces ``https://api.twilio.com``."""
        if self._base_url is None:
            raise CarrierError("the carrier is not started")
        return self._base_url

    @property
    def calls(self) -> Mapping[str, CarrierCall]:
        """Every call so far, by sid (read-only view, in creation order)."""
        return MappingProxyType(self._switchboard.calls)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the REST API on ``host:port`` (0: a free port) in the running loop."""
        if self._server_task is not None or self._stopped:
            raise CarrierError("a Carrier can only be started once")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise CarrierError(
                f"the carrier cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
        config = uvicorn.Config(
            self.app,
            log_config=None,  # leave the host application's logging alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = _EmbeddedServer(config)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT_S
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()  # re-raise why it died
                raise CarrierError("the carrier's HTTP server exited while starting")
            if loop.time() > deadline:
                await self.stop()
                raise CarrierError("the carrier's HTTP server did not start in time")
            await asyncio.sleep(0.01)
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
        self._base_url = f"http://{shown}:{bound_port}"
        logger.info("carrier listening on {}", self._base_url)

    async def stop(self) -> None:
        """Hang up live calls (letting them send their final callbacks), then stop serving."""
        if self._stopped:
            return
        self._stopped = True
        await self._switchboard.aclose()
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._server_task), _START_TIMEOUT_S)
            except TimeoutError:
                self._server.force_exit = True
                self._server_task.cancel()
                await asyncio.wait({self._server_task})
        await self._webhooks.aclose()

    async def __aenter__(self) -> Carrier:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def script_destination(
        self,
        number: str,
        outcome: str = "answer",
        *,
        scenario: Any = None,
        ring_s: float | None = None,
    ) -> None:
        """Decide what happens when ``number`` is dialed (until scripted again), by
        ``calls.create`` or by a ``<Dial>`` (answered there by a silent party, unless the
        caller's scenario has a party at that number).

        Args:
            number: E.164 number.
            outcome: ``answer`` (default), ``busy``, ``no-answer`` or ``failed``.
            scenario: Passed to the answerer of calls to this number.
            ring_s: Ringing time before the outcome (None: the carrier's default). Ringing
                for at least the call's ``Timeout`` makes an answering number ``no-answer``.

        Raises:
            InvalidArgumentError: Bad number, outcome or ring time.
        """
        _check_number("number", number)
        if outcome not in DIAL_OUTCOMES:
            raise InvalidArgumentError(
                f"outcome must be one of {sorted(DIAL_OUTCOMES)}, got {outcome!r}"
            )
        if ring_s is not None and ring_s < 0:
            raise InvalidArgumentError(f"ring_s must be >= 0, got {ring_s}")
        self._switchboard.script_destination(number, Destination(outcome, scenario, ring_s))

    def place_hint(self, to_number: str, scenario: Any) -> None:
        """Attach ``scenario`` to the next outbound call to ``to_number`` only.

        Hints queue up per number and take precedence over a scripted destination's scenario.
        """
        _check_number("to_number", to_number)
        self._switchboard.place_hint(to_number, scenario)

    async def ring(
        self,
        webhook_url: str,
        *,
        to: str,
        from_: str,
        method: str = "POST",
        status_callback: str | None = None,
        status_callback_events: Collection[str] = ("completed",),
        status_callback_method: str = "POST",
        scenario: Any = None,
    ) -> str:
        """Place an inbound call, as when someone dials the Twilio number ``to``.

        Twilio's signed incoming-call webhook goes to ``webhook_url`` (CallStatus
        ``ringing``); the returned TwiML then runs as for any call. Returns at once.

        Args:
            webhook_url: The number's voice URL (the server's incoming-call webhook).
            to: The Twilio number dialed (E.164).
            from_: The caller's number (E.164).
            method: ``POST`` or ``GET`` for ``webhook_url``.
            status_callback: The number's status callback URL, if any.
            status_callback_events: Events that trigger it (Twilio's default: completed).
            status_callback_method: ``POST`` or ``GET``.
            scenario: Passed to the answerer of this call's media streams.

        Returns:
            The new call's sid (``CA`` + 32 hex).

        Raises:
            InvalidArgumentError: An argument is malformed.
        """
        _check_number("to", to)
        _check_number("from_", from_)
        for name, url in (("webhook_url", webhook_url), ("status_callback", status_callback)):
            if url is not None and not is_http_url(url):
                raise InvalidArgumentError(f"{name} must be an absolute http(s) URL, got {url!r}")
        methods = {"method": method, "status_callback_method": status_callback_method}
        for name, value in methods.items():
            if value.upper() not in ("GET", "POST"):
                raise InvalidArgumentError(f"{name} must be GET or POST, got {value!r}")
        events = frozenset(status_callback_events)
        if not events <= _CALLBACK_EVENTS:
            raise InvalidArgumentError(
                f"status_callback_events must be among {sorted(_CALLBACK_EVENTS)}"
            )
        call = CarrierCall(
            sid=new_sid("CA"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            direction="inbound",
            status="ringing",
            url=webhook_url,
            method=method.upper(),
            status_callback=status_callback,
            status_callback_method=status_callback_method.upper(),
            status_callback_events=events,
            scenario=scenario,
        )
        self._switchboard.start(call)
        return call.sid

    async def wait_for_status(
        self, call_sid: str, statuses: str | Collection[str], timeout: float = 10.0
    ) -> str:
        """Wait until the call has reached one of ``statuses``; return the one it reached.

        A status counts once its status callback (if any) has been sent, so after
        ``wait_for_status(sid, "completed")`` the server has had its final callback.
        ``initiated`` can be waited for too, though Twilio never shows it as a resource status.

        Raises:
            KeyError: Unknown call.
            TimeoutError: Not reached within ``timeout`` seconds.
            voicelab.errors.TelephonyError: The call ended without reaching any of them.
        """
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        return await self._switchboard.wait_for_status(call_sid, wanted, timeout)


def run(
    host: str = "127.0.0.1",
    port: int = 8766,
    *,
    account_sid: str,
    auth_token: str,
    answerer: Answerer | None = None,
    recordings_root: Path | str | None = None,
    ring_s: float = 0.0,
) -> None:
    """Run a carrier until SIGINT / SIGTERM (for the ``voicelab carrier`` command)."""
    carrier = Carrier(account_sid, auth_token, answerer, recordings_root, ring_s=ring_s)
    asyncio.run(_serve_forever(carrier, host, port))


async def _serve_forever(carrier: Carrier, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await carrier.start(host, port)
    logger.info("voicelab carrier: Twilio REST emulator on {}", carrier.base_url)
    try:
        await stop.wait()
    finally:
        await carrier.stop()


def _check_number(name: str, number: str) -> None:
    if not is_e164(number):
        raise InvalidArgumentError(
            f"{name} must be an E.164 number like +15550001111, got {number!r}"
        )


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (notebook, pytest, CLI)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield
