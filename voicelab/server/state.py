"""What the server's handlers share: settings, models, calls, guards, signatures, Twilio."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicelab.bot.agent import Agent
from voicelab.bot.models import ModelPool
from voicelab.bot.tracing import TraceExport
from voicelab.config import Settings, secret_value
from voicelab.server.access import ApiKeyGuard, security_warnings
from voicelab.server.calls import CallRegistry
from voicelab.server.dialling import OutboundGuard
from voicelab.server.stream_tokens import StreamTokens
from voicelab.telephony import PublicURL, TwilioSignatureChecker, create_twilio_client

__all__ = ["ServerState"]


@dataclass
class ServerState:
    """One per app, built from its settings; routes reach it with ``Depends(get_state)``.

    Attributes:
        settings: The server's settings.
        pool: Offline model pool (``None`` for the cloud providers).
        registry: Live calls and status events.
        signatures: Twilio signature checks (no-op without an auth token).
        api_key: The API key on ``/outbound``, ``/call-status``, the docs, detailed ``/health``.
        dialling: The toll-fraud guard: what ``/outbound`` may dial, how often, how many.
        warnings: What is unprotected with these settings (logged at start, in ``/health``).
        public_url: How to build URLs Twilio can reach.
        port: The listening port, used in recording names.
        stream_tokens: One-time media-stream tokens, issued with each call's TwiML.
        agent: Builds each call's processors (``None``: the reference agent).
        tracing: Where the calls' spans go (``None``: no ``VOICELAB_OTLP_ENDPOINT``); opened
            and closed by the app's lifespan.
    """

    settings: Settings
    pool: ModelPool | None
    registry: CallRegistry
    signatures: TwilioSignatureChecker
    api_key: ApiKeyGuard
    dialling: OutboundGuard
    warnings: list[str]
    public_url: PublicURL
    port: int
    stream_tokens: StreamTokens = field(
        default_factory=lambda: StreamTokens(Settings.model_fields["stream_token_ttl"].default)
    )
    agent: Agent | None = None
    tracing: TraceExport | None = None
    _twilio: Any = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        settings: Settings,
        pool: ModelPool | None,
        port: int,
        agent: Agent | None = None,
        tracing: TraceExport | None = None,
    ) -> ServerState:
        public_url = PublicURL.from_settings(settings)
        return cls(
            settings=settings,
            pool=pool,
            registry=CallRegistry(
                settings.recordings_dir,
                max_calls=settings.max_calls,
                stream_window_s=settings.stream_token_ttl,
            ),
            signatures=TwilioSignatureChecker(secret_value(settings.twilio_auth_token), public_url),
            api_key=ApiKeyGuard(settings),
            dialling=OutboundGuard(settings),
            warnings=security_warnings(settings),
            public_url=public_url,
            port=port,
            stream_tokens=StreamTokens(settings.stream_token_ttl),
            agent=agent,
            tracing=tracing,
        )

    def twilio(self) -> Any:
        """The twilio ``Client`` (created on first use, inside the event loop).

        Raises:
            ConfigError: Twilio credentials are not configured.
        """
        if self._twilio is None:
            self._twilio = create_twilio_client(self.settings)
        return self._twilio

    async def aclose(self) -> None:
        if self._twilio is not None:
            await self._twilio.http_client.close()
            self._twilio = None
