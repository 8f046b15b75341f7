"""Twilio request signatures, checked with the twilio SDK's ``RequestValidator``.

Twilio signs the URL *it* requested, so a server behind a proxy or tunnel must
rebuild that public URL: ``VOICELAB_PUBLIC_URL`` when set, else the
``X-Forwarded-Proto`` / ``X-Forwarded-Host`` headers, else the request's own URL.
The websocket upgrade is signed over its ``wss://`` URL with no parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from twilio.request_validator import RequestValidator

__all__ = ["PublicURL", "TwilioSignatureChecker"]

SIGNATURE_HEADER = "X-Twilio-Signature"


@dataclass(frozen=True)
class PublicURL:
    """Rebuilds the URL a client used to reach us.

    Args:
        override: ``VOICELAB_PUBLIC_URL`` (scheme + host [+ path prefix]), if set.
    """

    override: str | None = None

    def base(self, conn: HTTPConnection) -> str:
        """``scheme://host`` as the client saw it, for HTTP (``http``/``https``)."""
        if self.override:
            return self.override
        forwarded_proto = conn.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        forwarded_host = conn.headers.get("x-forwarded-host", "").split(",")[0].strip()
        scheme = forwarded_proto or conn.url.scheme
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        host = forwarded_host or conn.headers.get("host") or conn.url.netloc
        return f"{scheme}://{host}"

    def url(self, conn: HTTPConnection) -> str:
        """The full public URL of this request (path and query included)."""
        url = self.base(conn) + conn.url.path
        if conn.url.query:
            url += "?" + conn.url.query
        if conn.scope["type"] == "websocket":
            url = websocket_url(url)
        return url


def websocket_url(http_url: str) -> str:
    """Map an ``http(s)://`` URL to its ``ws(s)://`` twin."""
    parts = urlsplit(http_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return parts._replace(scheme=scheme).geturl()


class TwilioSignatureChecker:
    """Checks ``X-Twilio-Signature`` on webhooks and websocket upgrades.

    Args:
        auth_token: The Twilio auth token; ``None`` disables checking (local use
            without credentials).
        public_url: How to rebuild the URL Twilio signed.
    """

    def __init__(self, auth_token: str | None, public_url: PublicURL) -> None:
        self._validator = RequestValidator(auth_token) if auth_token else None
        self.public_url = public_url

    @property
    def enabled(self) -> bool:
        return self._validator is not None

    def is_valid(self, conn: HTTPConnection, params: Mapping[str, Any] | None = None) -> bool:
        """Whether ``conn`` carries a valid signature (always true when disabled).

        Args:
            conn: The HTTP request or websocket.
            params: The POST form (a multi-dict keeps repeated fields, which
                Twilio signs one by one); none for GET and websocket upgrades.
        """
        if self._validator is None:
            return True
        signature = conn.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return False
        url = self.public_url.url(conn)
        return bool(self._validator.validate(url, params if params is not None else {}, signature))
