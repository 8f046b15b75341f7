"""Who may act on the server: the API key, and the one case where no key is needed.

``POST /outbound``, ``GET /call-status/{sid}``, the API docs and the detailed
``/health`` need ``Authorization: Bearer <VOICELAB_API_KEY>``. A server without a
key is closed to them, except when its Twilio REST API is a loopback address: that
is the emulator (the carrier), where no real call can be placed, so local
simulations, notebooks and tests need no key. A tunnel (ngrok) makes a
loopback-*listening* server public, so what decides is where calls would go, never
where the server listens.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from loguru import logger

from voicelab.config import Settings, secret_value

__all__ = [
    "AUTH_RESPONSES",
    "ApiKeyGuard",
    "BearerCredentials",
    "Client",
    "bearer_scheme",
    "is_loopback_host",
    "is_loopback_url",
    "security_warnings",
]

# auto_error=False: a missing header is ours to answer (401 + how to fix it), not a bare 403.
bearer_scheme = HTTPBearer(
    auto_error=False,
    description="VOICELAB_API_KEY, sent as `Authorization: Bearer <key>`",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or the wrong one (`Authorization: Bearer <key>`)"}
}
"""OpenAPI ``responses=`` of a guarded route."""

NO_KEY_MESSAGE = (
    "this server has no API key, so {what} is closed: set one, e.g. "
    "VOICELAB_API_KEY=$(openssl rand -hex 24), restart the server and send it as "
    "'Authorization: Bearer <key>'"
)
MISSING_KEY_MESSAGE = "missing API key: send 'Authorization: Bearer <VOICELAB_API_KEY>'"
WRONG_KEY_MESSAGE = "invalid API key"
NO_SIGNATURES_WARNING = "TWILIO_AUTH_TOKEN is not set: Twilio signatures are NOT checked"
NO_KEY_WARNING = "VOICELAB_API_KEY is not set: /outbound, /call-status and the API docs are closed"


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` (a name or an address) is this machine: 127.0.0.0/8, ::1, localhost."""
    if not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_url(url: str | None) -> bool:
    """Whether ``url`` points at this machine (see :func:`is_loopback_host`)."""
    if not url:
        return False
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:  # an unparsable URL is not the emulator
        return False


def security_warnings(settings: Settings) -> list[str]:
    """What is unprotected with these settings, worded for a log line and ``/health``."""
    warnings = []
    if not settings.twilio_auth_token:
        warnings.append(NO_SIGNATURES_WARNING)
    if settings.api_key is None and not is_loopback_url(settings.twilio_api_base):
        warnings.append(NO_KEY_WARNING)
    return warnings


@dataclass(frozen=True)
class Client:
    """Who made an authorised request.

    Attributes:
        identity: What rate limits count against: ``"key"`` for the API key (one key,
            one budget), ``"ip:<address>"`` on an open emulator server.
        authenticated: Whether the request carried the right API key.
    """

    identity: str
    authenticated: bool


class ApiKeyGuard:
    """The server's API key: who may see guarded things, and the 401 for who may not.

    One per server (:attr:`~voicelab.server.state.ServerState.api_key`); each guarded route
    reaches it through :class:`~voicelab.server._deps.RequireApiKey`.

    Args:
        settings: ``api_key`` (the key) and ``twilio_api_base`` (the emulator rule).
    """

    def __init__(self, settings: Settings) -> None:
        key = secret_value(settings.api_key)
        self._key = key.encode() if key else None
        self.open = self._key is None and is_loopback_url(settings.twilio_api_base)

    def allows(self, credentials: HTTPAuthorizationCredentials | None) -> bool:
        """Whether these credentials (or their absence) may see guarded things."""
        if self.open:
            return True
        if self._key is None or credentials is None:
            return False
        # compare_digest: the comparison takes the same time wherever the keys differ.
        return secrets.compare_digest(credentials.credentials.encode(), self._key)

    def client(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None,
        what: str = "this endpoint",
    ) -> Client:
        """The request's :class:`Client`.

        Args:
            request: The request (its peer is the identity on an open emulator server).
            credentials: Its ``Authorization: Bearer`` header, if any.
            what: Names the guarded thing in the no-key message (``/outbound``...).

        Raises:
            HTTPException: 401 with ``WWW-Authenticate: Bearer``, saying what to send.
        """
        if self.allows(credentials):
            if self.open:
                peer = request.client.host if request.client else "unknown"
                return Client(identity=f"ip:{peer}", authenticated=False)
            return Client(identity="key", authenticated=True)
        if self._key is None:
            reason, message = "no key configured", NO_KEY_MESSAGE.format(what=what)
        elif credentials is None:
            reason, message = "no key sent", MISSING_KEY_MESSAGE
        else:
            reason, message = "wrong key", WRONG_KEY_MESSAGE
        logger.warning(f"{request.method} {request.url.path} refused (401): {reason}")
        raise HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
