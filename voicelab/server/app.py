"""The FastAPI call server: Twilio webhooks, the outbound API, status, health, media.

``create_app`` builds the :class:`~voicelab.server.state.ServerState` and mounts one
router per concern; each route reaches the state with ``Depends(get_state)``. Routes say
what they do in ``summary=``, not in a docstring: FastAPI would publish a docstring as the
operation's description in the OpenAPI schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from loguru import logger

from voicelab.bot.agent import AgentSpec, load_agent
from voicelab.bot.models import ModelPool
from voicelab.bot.pipeline import SHUTDOWN_REASON
from voicelab.bot.providers import check_providers, pool_models
from voicelab.bot.tracing import TraceExport
from voicelab.config import Settings
from voicelab.server import _api, _docs, _health, _webhooks, media_ws
from voicelab.server.record_health import check_recordings_dir
from voicelab.server.state import ServerState

__all__ = ["ROUTERS", "SHUTDOWN_GRACE_S", "create_app", "end_live_calls"]

# Seconds live calls get to finish their records when the server shuts down.
SHUTDOWN_GRACE_S = 10.0

ROUTERS: tuple[APIRouter, ...] = (
    _docs.router,  # /openapi.json, /docs, /redoc (behind the API key)
    _webhooks.router,  # Twilio's: /, /outbound-twiml, /status-callback
    _api.router,  # /outbound, /call-status/{sid}
    _health.router,  # /health
    media_ws.router,  # /ws
)
"""Every route of the call server, one router per concern."""


def create_app(
    settings: Settings,
    pool: ModelPool | None = None,
    port: int | None = None,
    agent: AgentSpec | None = None,
) -> FastAPI:
    """Build the call server.

    Args:
        settings: Server settings.
        pool: The offline model pool; built (and warmed at start-up) if the
            providers need one and none is given.
        port: The port the server listens on (names the recordings).
        agent: The calls' agent, or its ``module:factory`` import string (default:
            ``settings.agent``, else the reference agent; see :mod:`voicelab.bot.agent`).

    Raises:
        ConfigError: The agent does not import (the message names ``VOICELAB_AGENT``), or
            ``VOICELAB_OTLP_ENDPOINT`` is set without the ``otel`` extra installed.
    """
    # Imported here, once: a broken agent stops the server, not each call.
    call_agent = load_agent(agent, settings)
    # Calls that could not run stop the server here, not each call after it says ready.
    check_providers(settings, reference_agent=call_agent is load_agent(None))
    # Every call leaves a record: a server that cannot write one does not start.
    check_recordings_dir(settings.recordings_dir)
    # Traces (VOICELAB_OTLP_ENDPOINT): a missing extra stops the server here, not each call.
    tracing = TraceExport.from_settings(settings)
    if pool is None:  # every bundle needs the pool's VAD and smart-turn at least
        pool = ModelPool()
    state = ServerState.create(
        settings,
        pool,
        port if port is not None else settings.port,
        agent=call_agent,
        tracing=tracing,
    )
    for warning in state.warnings:
        logger.warning(f"SECURITY: {warning}")

    # FastAPI's own docs routes are unguarded: _docs.router serves them behind the key.
    app = FastAPI(
        title="voicelab call server",
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.voicelab = state
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    for router in ROUTERS:
        app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServerState = app.state.voicelab
    if state.pool is not None:
        # Warm every model before the first call, off the event loop.
        await asyncio.to_thread(state.pool.warm, pool_models(state.settings.providers))
    if state.tracing is not None:
        state.tracing.start()  # once per server start, not per call
    yield
    # Calls still live (an ASGI server that closes no websockets first): end them
    # with reason `shutdown` and complete records. CallServer/`voicelab serve` have
    # already done so before uvicorn closed the websockets (see runner.GracefulServer).
    try:
        await end_live_calls(app)
        await state.aclose()
    finally:
        if state.tracing is not None:
            # Last: every call's spans have ended. Bounded, and off the event loop.
            await asyncio.to_thread(state.tracing.close)


async def end_live_calls(app: FastAPI) -> None:
    """End every live call of ``app`` with reason ``shutdown``; wait for their records."""
    state: ServerState = app.state.voicelab
    if state.registry.active_count:
        logger.info(f"shutdown: ending {state.registry.active_count} live call(s)")
    await state.registry.end_all(SHUTDOWN_REASON, timeout=SHUTDOWN_GRACE_S)
