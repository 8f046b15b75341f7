"""``CallServer``: the real server, in-process, on its own thread and event loop.

Jupyter already runs an event loop, so a server started with ``asyncio.run``
(or patched in with nest_asyncio) breaks on the second run of a cell. Here
uvicorn gets a thread and a loop of its own: ``start()`` returns once the socket
is bound and the models are warm, ``stop()`` is clean and idempotent, and the
model pool outlives the server, so a restart in the same process is instant.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn

from voicelab.bot.models import ModelPool
from voicelab.bot.providers import pool_models
from voicelab.config import Settings, load_settings
from voicelab.errors import VoicelabError
from voicelab.server.app import create_app
from voicelab.server.logging import configure_logging

__all__ = ["CallServer", "shared_model_pool"]

_SHARED_POOL: ModelPool | None = None
_SHARED_POOL_LOCK = threading.Lock()


def shared_model_pool() -> ModelPool:
    """The process-wide model pool (loaded once, reused by every server)."""
    global _SHARED_POOL
    with _SHARED_POOL_LOCK:
        if _SHARED_POOL is None:
            _SHARED_POOL = ModelPool()
        return _SHARED_POOL


class CallServer:
    """The voicelab call server, running in a background thread.

    Args:
        settings: Server settings (default: read from the environment).
        host: Interface to bind.
        port: Port to bind; 0 picks a free one (see :attr:`url`).
        log_level: Console level of uvicorn's and voicelab's logs (the log file in
            ``settings.log_dir`` gets INFO and up regardless).

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
        log_level: str = "warning",
    ) -> None:
        self.settings = settings or load_settings()
        self.host = host
        self.requested_port = port
        self.log_level = log_level
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

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
            VoicelabError: The port is taken, or the server failed to start in ``timeout``.
        """
        if self.running:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise VoicelabError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}"
            ) from None
        self.port = sock.getsockname()[1]
        configure_logging(
            self.settings.log_dir,
            console_level=self.log_level.upper(),
            mask_numbers=self.settings.mask_phone_numbers,
        )
        pool = shared_model_pool() if pool_models(self.settings.providers) else None
        app = create_app(self.settings, pool=pool, port=self.port)
        config = uvicorn.Config(
            app,
            log_level=self.log_level,
            lifespan="on",
            ws_max_size=self.settings.ws_max_message_bytes,
            # X-Forwarded-* are PublicURL's to judge (VOICELAB_TRUSTED_PROXIES), on the real peer.
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
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

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving (idempotent). Live calls get a few seconds to finish."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self._server = None

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
