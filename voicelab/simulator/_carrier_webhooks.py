"""Signed requests from the carrier to the server: TwiML fetches and status callbacks.

Twilio signs every request with ``X-Twilio-Signature``: HMAC-SHA1 over the exact URL it
requests plus the sorted POST parameters, keyed with the auth token. The carrier signs
exactly the URL the server handed it, so the server's own validation (against its public
URL) is what gets tested.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from twilio.request_validator import RequestValidator

from voicelab._tls import tls_context
from voicelab.errors import WebhookError

__all__ = ["SIGNATURE_HEADER", "WebhookClient", "WebhookError"]

SIGNATURE_HEADER = "X-Twilio-Signature"
_USER_AGENT = "TwilioProxy/1.1"
_MAX_BODY_BYTES = 64 * 1024
_MAX_MEDIA_BYTES = 16 * 1024 * 1024  # a <Play> file: minutes of audio, never a whole disk


class WebhookClient:
    """Sends Twilio-signed form requests.

    Args:
        auth_token: Key for ``X-Twilio-Signature``.
        timeout_s: Per-request timeout (Twilio waits 15 s for a webhook).
    """

    def __init__(self, auth_token: str, timeout_s: float = 15.0) -> None:
        self._validator = RequestValidator(auth_token)
        # trust_env=False: a developer's HTTP(S)_PROXY must not swallow requests to 127.0.0.1.
        self._http = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            trust_env=False,
            verify=tls_context(trust_env=False),  # not a CA bundle load per carrier
            headers={"User-Agent": _USER_AGENT},
        )

    def sign(self, url: str, params: dict[str, str] | None = None) -> str:
        """The ``X-Twilio-Signature`` value for ``url`` and POST ``params``."""
        return str(self._validator.compute_signature(url, params or {}))

    def stream_headers(self, url: str) -> dict[str, str]:
        """Headers for a media-stream websocket upgrade: ``url`` signed with no parameters."""
        return {SIGNATURE_HEADER: self.sign(url)}

    async def send(self, url: str, method: str, params: dict[str, str]) -> httpx.Response:
        """Send ``params`` to ``url`` as Twilio does for ``method`` (GET: query, POST: form).

        Raises:
            WebhookError: The request failed or was answered with a non-2xx status.
        """
        if method == "GET":
            url = _with_query(url, params)
            body: dict[str, str] | None = None
            signature = self.sign(url)
        else:
            body = params
            signature = self.sign(url, params)
        try:
            response = await self._http.request(
                method, url, data=body, headers={SIGNATURE_HEADER: signature}
            )
        except httpx.HTTPError as exc:
            raise WebhookError(f"{method} {url} failed: {exc!r}") from exc
        if not 200 <= response.status_code < 300:
            raise WebhookError(
                f"{method} {url} answered HTTP {response.status_code}: {response.text[:200]!r}"
            )
        if len(response.content) > _MAX_BODY_BYTES:
            raise WebhookError(f"{method} {url} answered more than 64 kB")
        return response

    async def fetch_media(self, url: str) -> bytes:
        """GET a ``<Play>`` file, as Twilio fetches one: unsigned, up to 16 MiB.

        Raises:
            WebhookError: Unreachable, non-2xx, or too large.
        """
        try:
            async with self._http.stream("GET", url) as response:
                if not 200 <= response.status_code < 300:
                    raise WebhookError(f"GET {url} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_MEDIA_BYTES:
                        raise WebhookError(f"GET {url} is larger than 16 MiB")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise WebhookError(f"GET {url} failed: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._http.aclose()


def _with_query(url: str, params: dict[str, str]) -> str:
    """Append ``params`` to the query of ``url`` (Twilio keeps the query already there)."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))
