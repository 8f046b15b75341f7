"""``<Say>`` and ``<Play>``: what the party hears from the agent's TwiML itself.

With a :class:`~voicelab.simulator._carrier_line.Line` the party really hears them (the
line speaks ``<Say>`` text with the callers' voice, as Twilio's text-to-speech would) and
they take as long as the audio does. Without one (a plain answerer), they still take
their time: ``<Say>`` at :data:`SAY_CHARS_PER_S`, ``<Play>`` its file's length. A
``<Play>`` whose URL cannot be fetched or decoded is skipped with a warning (an ``error``
event, not fatal), and the next verb runs.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from urllib.parse import urljoin

import numpy as np
import soundfile as sf
import soxr

from voicelab.simulator._carrier_line import Line
from voicelab.simulator._carrier_twilio import CarrierCall, is_http_url
from voicelab.simulator._carrier_twiml import Play, Say
from voicelab.simulator._carrier_webhooks import WebhookClient, WebhookError
from voicelab.simulator._tones import RATE, dtmf_tones

__all__ = ["SAY_CHARS_PER_S", "play", "say"]

SAY_CHARS_PER_S = 14.0
"""Speaking rate of an unheard ``<Say>``: about Twilio's voices' pace."""

Report = Callable[[CarrierCall, str, bool], None]


async def say(verb: Say, line: Line | None) -> None:
    """Run ``<Say>``: ``loop`` times its text (cancel to cut it short)."""
    if not verb.text:
        return
    for _ in range(verb.loop):
        if line is not None:
            await line.say(verb.text)
        else:
            await asyncio.sleep(len(verb.text) / SAY_CHARS_PER_S)


async def play(
    verb: Play,
    call: CarrierCall,
    line: Line | None,
    webhooks: WebhookClient,
    report: Report,
    base_url: str | None,
) -> None:
    """Run ``<Play>``: a file (fetched here) or DTMF digits, ``loop`` times."""
    audio = await _audio(verb, call, webhooks, report, base_url)
    if audio is None or not audio.size:
        return
    for _ in range(verb.loop):
        if line is not None:
            await line.play(audio)
        else:
            await asyncio.sleep(audio.size / RATE)


async def _audio(
    verb: Play, call: CarrierCall, webhooks: WebhookClient, report: Report, base: str | None
) -> np.ndarray | None:
    if verb.digits is not None:
        return dtmf_tones(verb.digits)
    assert verb.url is not None  # the parser requires a URL or digits
    url = urljoin(base, verb.url) if base else verb.url
    if not is_http_url(url):
        report(call, f"<Play> skipped: {verb.url!r} is not an http(s) URL", False)
        return None
    try:
        body = await webhooks.fetch_media(url)
        return await asyncio.to_thread(_decode, body)
    except (WebhookError, sf.LibsndfileError, RuntimeError, ValueError) as exc:
        report(call, f"<Play> skipped: {url} could not be played: {exc}", False)
        return None


def _decode(body: bytes) -> np.ndarray:
    """An audio file's bytes (WAV, MP3, FLAC, OGG) as 8 kHz mono float32."""
    audio, rate = sf.read(io.BytesIO(body), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    return np.asarray(soxr.resample(mono, rate, RATE), dtype=np.float32)
