"""``GET /health``: readiness for anyone; providers, models and calls for the key holder."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from voicelab.bot.providers import pool_models
from voicelab.server._deps import State
from voicelab.server.access import BearerCredentials

__all__ = ["router"]

router = APIRouter()


@router.get("/health", summary="Readiness; with the API key also providers, models, calls")
async def health(credentials: BearerCredentials, state: State) -> dict[str, Any]:
    settings = state.settings
    loaded = state.pool.loaded if state.pool else {}
    ready = all(loaded.get(name) for name in pool_models(settings.providers))
    problem = state.registry.health.problem
    public = {
        "status": "degraded" if problem else "ready" if ready else "starting",
        "timestamp": datetime.now(UTC).isoformat(),
        "signature_validation": state.signatures.enabled,
        "warnings": [*state.warnings, *([f"RECORDS: {problem}"] if problem else [])],
    }
    if not state.api_key.allows(credentials):
        # What is configured (phone number, API base, load) is for the key holder only.
        return public
    return {
        **public,
        "providers": settings.providers,
        "cloud_keys_missing": settings.cloud_keys_missing(),
        "offline_models": loaded,
        "model_load_seconds": state.pool.load_seconds if state.pool else {},
        "twilio": {
            "credentials": settings.twilio_configured,
            "phone_number": settings.twilio_phone_number,
            "api_base": settings.twilio_api_base or "https://api.twilio.com",
        },
        "active_calls": state.registry.active_count,
        # Waiting for their stream or live, plus /outbound placements: what the cap counts.
        "reserved_calls": state.registry.reserved_count,
    }
