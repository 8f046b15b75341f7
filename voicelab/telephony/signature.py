"""Twilio request signatures, checked with the twilio SDK's ``RequestValidator``.

Twilio signs the URL *it* requested, so a server behind a proxy or tunnel must
rebuild that public URL: ``VOICELAB_PUBLIC_URL`` when set, else the
``X-Forwarded-Proto`` / ``X-Forwarded-Host`` headers when the peer is a trusted proxy
(``VOICELAB_TRUSTED_PROXIES``), else the request's own URL. Anyone else's
``X-Forwarded-*`` headers are ignored: they would let a client choose the URL the
signature is checked against and the URLs the server hands to Twilio.
The websocket upgrade is signed over its ``wss://`` URL with no parameters.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from twilio.request_validator import RequestValidator

from voicelab.config import Settings

__all__ = ["PublicURL", "TwilioSignatureChecker", "trusted_networks", "websocket_url"]

SIGNATURE_HEADER = "X-Twilio-Signature"

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PublicURL:
    """Rebuilds the URL a client used to reach us.

    Args:
        override: ``VOICELAB_PUBLIC_URL`` (scheme + host [+ path prefix]), if set.
        trusted_proxies: The peers whose ``X-Forwarded-Proto``/``-Host`` are believed
            (none by default).
    """

    override: str | None = None
    trusted_proxies: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> PublicURL:
        """``VOICELAB_PUBLIC_URL`` and ``VOICELAB_TRUSTED_PROXIES``."""
        return cls(settings.public_url, trusted_networks(settings.trusted_proxies))

    def trusts(self, conn: HTTPConnection) -> bool:
        """Whether ``conn``'s peer is a trusted proxy (its ``X-Forwarded-*`` count)."""
        if conn.client is None:
            return False
        try:
            peer = ipaddress.ip_address(conn.client.host)
        except ValueError:  # not an IP address (a unix socket, a test transport)
            return False
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
            peer = peer.ipv4_mapped
        return any(peer in network for network in self.trusted_proxies)

    def base(self, conn: HTTPConnection) -> str:
        """``scheme://host`` as the client saw it, for HTTP (``http``/``https``)."""
        if self.override:
            return self.override
        forwarded_proto = forwarded_host = ""
        if self.trusts(conn):
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


def trusted_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse addresses and CIDR networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


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
