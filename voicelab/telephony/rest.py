"""The twilio SDK's REST client, optionally pointed at another API base (the emulator).

The server always talks to Twilio through the official SDK. For simulations,
``VOICELAB_TWILIO_API_BASE`` names another base URL; :class:`RebasedAsyncHttpClient`
rewrites the SDK's ``https://*.twilio.com`` URLs onto it, so there is no second
code path in the server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from voicelab.config import Settings, secret_value
from voicelab.errors import ConfigError

__all__ = ["RebasedAsyncHttpClient", "create_twilio_client", "rebase_url"]


def rebase_url(url: str, base: str) -> str:
    """Move ``url``'s path and query onto ``base`` (scheme + host [+ prefix])."""
    target = urlsplit(base)
    source = urlsplit(url)
    path = target.path.rstrip("/") + source.path
    return urlunsplit((target.scheme, target.netloc, path, source.query, source.fragment))


class RebasedAsyncHttpClient(AsyncTwilioHttpClient):
    """The SDK's asyncio HTTP client, sending every request to ``base_url``.

    Args:
        base_url: Where Twilio's REST API really is (``None``: Twilio itself).
    """

    def __init__(self, base_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self.base_url:
            url = rebase_url(url, self.base_url)
        return await super().request(method, url, *args, **kwargs)


def create_twilio_client(settings: Settings) -> Client:
    """An asyncio-capable twilio ``Client`` (use the ``*_async`` methods).

    Raises:
        ConfigError: Twilio credentials are missing.
    """
    if not settings.twilio_configured:
        raise ConfigError(
            "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
            "(or run a simulation, which configures the emulator)"
        )
    http_client = RebasedAsyncHttpClient(settings.twilio_api_base)
    return Client(
        settings.twilio_account_sid,
        secret_value(settings.twilio_auth_token),
        http_client=http_client,
    )
