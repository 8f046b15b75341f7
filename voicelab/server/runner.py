"""``CallServer``: the real server, in-process, on its own thread and event loop.

Jupyter already runs an event loop, so a server started with ``asyncio.run``
(or patched in with nest_asyncio) breaks on the second run of a cell. Here
uvicorn gets a thread and a loop of its own: ``start()`` returns once the socket
is bound and the models are warm, ``stop()`` is clean and idempotent, and the
server's model pool outlives it, so a restart is instant (and servers given one
pool, e.g. a test session's, load each model once between them).

Shutting down loses no call: uvicorn closes every websocket before the app's lifespan
ends, so :class:`GracefulServer` first ends the live calls (reason ``shutdown``, complete
records). uvicorn on a side thread installs no signal handlers, so ``CallServer`` started
from the main thread handles SIGTERM itself (:class:`SigtermStop`): it stops gracefully,
then the signal does what it did before (by default, the process exits).
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI
from loguru import logger

from voicelab.bot.agent import AgentSpec
from voicelab.bot.models import ModelPool
from voicelab.config import Settings, load_settings
from voicelab.errors import VoicelabError
from voicelab.server._http import UVICORN_GRACE_S, uvicorn_config
from voicelab.server.app import create_app, end_live_calls
from voicelab.server.logging import LogSinks

__all__ = ["CallServer", "GracefulServer", "SigtermStop", "listen_socket", "run_server"]


class GracefulServer(uvicorn.Server):
    """uvicorn's server, ending the app's live calls before it closes their websockets.

    Args:
        config: uvicorn's configuration (serving ``app``, see :func:`uvicorn_config`).
        app: The call server app (from :func:`create_app`).
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Stop accepting first, so no call starts while the live ones end.
        for server in self.servers:
            server.close()
        await end_live_calls(self.app)
        await super().shutdown(sockets)


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, for uvicorn to serve on.

    Bound before anything else starts, so a port that is taken is one clear error and
    not, after every model has loaded, uvicorn's errno.

    Raises:
        VoicelabError: The port is taken or cannot be bound (the message says what to do).
    """
    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # sockets whose proto says TCP, and a plain socket() says 0. With Nagle on, every
    # response on a kept-alive connection waited ~40 ms for the client's delayed ACK
    # (44 ms a webhook, measured; 0.3 ms without), and so did the media frames.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = " (another server is there: pass --port)" if exc.errno == errno.EADDRINUSE else ""
        raise VoicelabError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    return sock


def run_server(app: FastAPI, settings: Settings, sock: socket.socket, **options: Any) -> None:
    """Serve ``app`` on ``sock`` in this thread until SIGINT/SIGTERM (``voicelab serve``).

    Like ``uvicorn.run(app, **options)`` with the server's limits (:func:`uvicorn_config`),
    and live calls ended (and recorded) first on shutdown; the signal is re-raised
    afterwards, so the process exits as it would have.
    """
    server = GracefulServer(uvicorn_config(app, settings, **options), app)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(3)  # uvicorn's exit code for a failed start-up


class SigtermStop:
    """On SIGTERM: ``stop()`` gracefully, then let the signal do what it did before.

    Only the main thread may install signal handlers; :meth:`install` does nothing
    elsewhere. The previous handler is chained to (a Python handler is called; the
    default action is re-raised, so the process exits as SIGTERM would) and restored
    by :meth:`restore`.

    Args:
        stop: What to stop (blocking until it has).
    """

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self._previous: Any = None
        self._installed = False

    def install(self) -> bool:
        """Handle SIGTERM from now on; ``False`` when not on the main thread."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return False
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        self._installed = True
        return True

    def restore(self) -> None:
        """Give SIGTERM back to its previous handler (if ours is still the one installed)."""
        if not self._installed:
            return
        self._installed = False
        if signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        logger.warning("SIGTERM: stopping the call server (live calls end with 'shutdown')")
        previous = self._previous
        self.restore()
        self._stop()
        if callable(previous):
            previous(signum, frame)
        elif previous in (signal.SIG_DFL, None):
            signal.raise_signal(signum)  # the default action: the process exits by SIGTERM


class CallServer:
    """The voicelab call server, running in a background thread.

    Args:
        settings: Server settings (default: read from the environment).
        host: Interface to bind.
        port: Port to bind; 0 picks a free one (see :attr:`url`).
        log_level: Console level of uvicorn's and voicelab's logs (the log file in
            ``settings.log_dir`` gets INFO and up regardless); ``VOICELAB_LOG_LEVEL``.
        agent: The calls' agent (a factory or a ``module:factory`` string; default:
            ``settings.agent``, else the reference agent). See :mod:`voicelab.bot.agent`.
        pool: The offline models its calls use, if its providers need any: share one
            between servers to load each model once (default: a pool of this server's
            own, made at the first start and kept across restarts).

    Example::

        with CallServer(port=0) as server:
            print(server.url)  # http://127.0.0.1:54321
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str | None = None,
        agent: AgentSpec | None = None,
        pool: ModelPool | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.agent = agent
        self.pool = pool
        self.host = host
        self.requested_port = port
        self.log_level = (log_level or self.settings.log_level).lower()
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._sigterm = SigtermStop(self.stop)
        self._log_sinks = LogSinks(
            self.settings.log_dir,
            console_level=self.log_level.upper(),
            mask_numbers=self.settings.mask_phone_numbers,
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        if self.port is None:
            raise VoicelabError("the server is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 120.0) -> CallServer:
        """Start serving; returns once the server accepts connections and models are warm.

        Raises:
            ConfigError: The agent does not import (``VOICELAB_AGENT``).
            VoicelabError: The port is taken, or the server failed to start in ``timeout``.
        """
        if self.running:
            return self
        sock = listen_socket(self.host, self.requested_port)
        self.port = sock.getsockname()[1]
        # voicelab's own sinks, next to the host's (a notebook's, pytest's): removed on stop.
        self._log_sinks.add()
        # Every bundle's pool has models (Silero's and smart-turn's sessions at least:
        # voicelab._bundles), so every server has one.
        if self.pool is None:
            self.pool = ModelPool()
        try:
            # A broken agent is one ConfigError here, at start, not an error per call.
            app = create_app(self.settings, pool=self.pool, port=self.port, agent=self.agent)
        except VoicelabError:
            sock.close()
            self.port = None
            self._log_sinks.remove()
            raise
        config = uvicorn_config(app, self.settings, log_level=self.log_level, lifespan="on")
        self._server = GracefulServer(config, app)
        self._error = None
        self._thread = threading.Thread(
            target=self._serve, args=(self._server, sock), name="voicelab-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise VoicelabError(f"the call server did not start: {self._error!r}")
            time.sleep(0.02)
        # Off the main thread (e.g. inside Lab) the owner handles SIGTERM instead.
        self._sigterm.install()
        return self

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            sock.close()
            loop.close()

    def stop(self, timeout: float = UVICORN_GRACE_S + 5) -> None:
        """Stop serving (idempotent). Live calls end with reason ``shutdown``, records complete."""
        self._sigterm.restore()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self._server = None
        self._log_sinks.remove()

    def __enter__(self) -> CallServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<CallServer {state} providers={self.settings.providers}>"
