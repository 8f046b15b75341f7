"""Answering machine detection (AMD), as Twilio runs it on ``calls.create``.

``MachineDetection=Enable`` answers as soon as the called party is identified;
``DetectMessageEnd`` waits, for a machine, until its greeting ends (usually a beep), so a
message can be left. Synchronous AMD holds the call's TwiML until it has decided and
sends ``AnsweredBy`` (and ``MachineDetectionDuration``, in ms) with the TwiML request;
``AsyncAmd=true`` runs the TwiML at once and posts them to ``AsyncAmdStatusCallback``.

The emulator does not listen to audio to decide: it asks the line what picked up (the
scenario's callee) and waits as long as Twilio would take on such a party, using the
tuning parameters: a person is ``human`` once its first words end (``SpeechEndThreshold``
after them); an answering machine is ``machine_start`` after ``SpeechThreshold`` of
greeting (Enable) or ``machine_end_beep`` / ``machine_end_silence`` when its greeting
ends (DetectMessageEnd); a phone menu is ``machine_start`` (Enable) or
``machine_end_silence`` once its first prompt ends; a party that says nothing is
``unknown`` after ``SilenceTimeout``; nothing decided within ``MachineDetectionTimeout``
is ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from voicelab.simulator._carrier_line import Line
from voicelab.simulator._carrier_twilio import TwilioApiError, is_http_url

__all__ = ["AmdSettings", "amd_from_form", "detect"]

_INVALID_AMD = 21234  # Twilio: invalid Machine Detection configuration value
_HUMAN_WORDS_S = 0.5  # a person's "Hello?" on picking up


@dataclass(frozen=True)
class AmdSettings:
    """The AMD parameters of one ``calls.create`` (all validated)."""

    mode: str  # Enable | DetectMessageEnd
    async_amd: bool = False
    callback: str | None = None
    callback_method: str = "POST"
    timeout_s: float = 30.0
    speech_threshold_s: float = 2.4
    speech_end_threshold_s: float = 1.2
    silence_timeout_s: float = 5.0


def amd_from_form(get: Callable[[str], str | None]) -> AmdSettings | None:
    """The AMD settings of a create-call form (``get(name)``: a field, stripped, or None).

    Raises:
        TwilioApiError: 21234 for a value or range Twilio refuses, 21200 for a bad URL.
    """
    mode = get("MachineDetection")
    if mode is None:
        return None
    if mode not in ("Enable", "DetectMessageEnd"):
        raise TwilioApiError(
            400, _INVALID_AMD, f"MachineDetection must be Enable or DetectMessageEnd, got {mode!r}"
        )
    async_raw = (get("AsyncAmd") or "false").lower()
    if async_raw not in ("true", "false"):
        raise TwilioApiError(400, 21200, f"AsyncAmd must be true or false, got {async_raw!r}")
    callback = get("AsyncAmdStatusCallback")
    if callback is not None and not is_http_url(callback):
        raise TwilioApiError(400, 21200, f"AsyncAmdStatusCallback is not a valid URL: {callback}")
    method = (get("AsyncAmdStatusCallbackMethod") or "POST").upper()
    if method not in ("GET", "POST"):
        raise TwilioApiError(400, 21200, "AsyncAmdStatusCallbackMethod must be GET or POST")
    return AmdSettings(
        mode=mode,
        async_amd=async_raw == "true",
        callback=callback,
        callback_method=method,
        timeout_s=_ranged(get, "MachineDetectionTimeout", 3, 59, 30),
        speech_threshold_s=_ranged(get, "MachineDetectionSpeechThreshold", 1000, 6000, 2400) / 1000,
        speech_end_threshold_s=_ranged(get, "MachineDetectionSpeechEndThreshold", 500, 5000, 1200)
        / 1000,
        silence_timeout_s=_ranged(get, "MachineDetectionSilenceTimeout", 2000, 10000, 5000) / 1000,
    )


def _ranged(get: Callable[[str], str | None], name: str, low: int, high: int, default: int) -> int:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        message = f"{name} must be a whole number, got {raw!r}"
        raise TwilioApiError(400, _INVALID_AMD, message) from None
    if not low <= value <= high:
        message = f"{name} must be between {low} and {high}, got {value}"
        raise TwilioApiError(400, _INVALID_AMD, message)
    return value


async def detect(settings: AmdSettings, line: Line | None) -> tuple[str, float]:
    """What AMD decides about the party on ``line``, and how long it took (seconds).

    Waits that long; bounded by ``MachineDetectionTimeout`` (then ``unknown``).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        answer = await asyncio.wait_for(_decide(settings, line), settings.timeout_s)
    except TimeoutError:
        answer = "unknown"
    return answer, round(loop.time() - started, 3)


async def _decide(settings: AmdSettings, line: Line | None) -> str:
    kind = line.kind if line is not None else None
    if line is None or kind not in ("person", "answering_machine", "phone_menu"):
        # Nothing speaks on a line-less answerer: Twilio hears only silence.
        await asyncio.sleep(settings.silence_timeout_s)
        return "unknown"
    if kind == "person":
        await asyncio.sleep(_HUMAN_WORDS_S + settings.speech_end_threshold_s)
        return "human"
    greeting = asyncio.ensure_future(line.greeting_end())
    try:
        if settings.mode == "Enable":
            # A machine is known once its greeting has gone on longer than a person's words.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(greeting), settings.speech_threshold_s)
            return "machine_start"
        how = await greeting
    finally:
        greeting.cancel()
    if kind == "answering_machine" and how == "beep":
        return "machine_end_beep"
    # A greeting that ends without a beep is over once silence has lasted long enough.
    await asyncio.sleep(settings.speech_end_threshold_s)
    return "machine_end_silence"
