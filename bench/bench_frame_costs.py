"""What one 20 ms caller frame costs the server, part by part: CPU µs per frame per call.

    .venv/bin/python bench/bench_frame_costs.py [--calls 32] [--seconds 10] [--markdown FILE]

Each part runs alone in this process over ``--calls`` calls' worth of Twilio frames (a Piper
line and silence, as the load callers send), all calls at once on one event loop as in the
server, and its process CPU time (all threads) is divided by the frames: a figure a busy box
disturbs far less than a latency. Parts, as the server runs them per inbound frame:

- ``serializer``: voicelab's (one validated parse, the frame built from it) against pipecat's
  ``TwilioFrameSerializer`` (``json.loads`` + ``b64decode``, no validation), both resampling
  8 → 16 kHz with pipecat's soxr stream;
- ``VAD``: pipecat's ``SileroVADAnalyzer.analyze_audio`` (a thread hop per frame, a session
  and a thread per call) against voicelab's ``PooledSileroVADAnalyzer`` (buffered on the loop,
  every call's windows batched on one thread over one session);
- ``recorder resample``: the recorder's 16 → 8 kHz of each caller frame (pipecat's soxr stream,
  what is left of the double resampling).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _bench import add_output_args, emit, loadavg

from voicelab.load import caller_line

FRAME_S = 0.02


def frames(seconds: float) -> list[str]:
    """Twilio media messages: the load line, then silence, ``seconds`` long."""
    line = caller_line()
    silence = base64.b64encode(b"\xff" * 160).decode()
    payloads = list(line.payloads)
    payloads += [silence] * max(0, int(seconds / FRAME_S) - len(payloads))
    return [
        json.dumps({"event": "media", "streamSid": "MZ" + "0" * 32, "media": {"payload": p}})
        for p in payloads
    ]


def cpu_per_frame(run: Callable[[], Awaitable[tuple[float, int]]]) -> float:
    """µs of process CPU per frame for ``run`` (which returns its CPU seconds and frames)."""
    seconds, count = asyncio.run(run())
    return seconds / count * 1e6


async def timed(calls: list[Awaitable[None]], frames: int) -> tuple[float, int]:
    """Process CPU while ``calls`` run at once (after their parts were built)."""
    start = time.process_time()
    await asyncio.gather(*calls)
    return time.process_time() - start, frames


async def serializers(stock: bool, calls: int, messages: list[str]) -> tuple[float, int]:
    from pipecat.serializers.twilio import TwilioFrameSerializer

    from voicelab.bot.serializer import TolerantTwilioFrameSerializer

    kind = TwilioFrameSerializer if stock else TolerantTwilioFrameSerializer
    made = [
        kind("MZ" + "0" * 32, "CA" + "0" * 32, params=kind.InputParams(auto_hang_up=False))
        for _ in range(calls)
    ]
    for serializer in made:
        await serializer.setup(SimpleNamespace(audio_in_sample_rate=16000))  # type: ignore[arg-type]

    async def one(serializer: Any) -> None:
        for message in messages:
            await serializer.deserialize(message)
            await asyncio.sleep(0)

    return await timed([one(s) for s in made], calls * len(messages))


async def vads(stock: bool, calls: int, audio: list[bytes]) -> tuple[float, int]:
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from voicelab.bot.models import ModelPool
    from voicelab.bot.vad import PooledSileroVADAnalyzer

    pool = ModelPool()
    made = [
        SileroVADAnalyzer() if stock else PooledSileroVADAnalyzer(session=pool.vad())
        for _ in range(calls)
    ]
    for analyzer in made:
        analyzer.set_sample_rate(16000)

    async def one(analyzer: Any) -> None:
        for chunk in audio:
            await analyzer.analyze_audio(chunk)
            await asyncio.sleep(0)

    return await timed([one(a) for a in made], calls * len(audio))


async def recorder_resample(calls: int, audio: list[bytes]) -> tuple[float, int]:
    from pipecat.audio.resamplers.soxr_stream_resampler import SOXRStreamAudioResampler

    made = [SOXRStreamAudioResampler() for _ in range(calls)]

    async def one(resampler: SOXRStreamAudioResampler) -> None:
        for chunk in audio:
            await resampler.resample(chunk, 16000, 8000)
            await asyncio.sleep(0)

    return await timed([one(r) for r in made], calls * len(audio))


async def pcm16k(messages: list[str]) -> list[bytes]:
    from voicelab.bot.serializer import TolerantTwilioFrameSerializer

    serializer = TolerantTwilioFrameSerializer(
        "MZ" + "0" * 32, params=TolerantTwilioFrameSerializer.InputParams(auto_hang_up=False)
    )
    await serializer.setup(SimpleNamespace(audio_in_sample_rate=16000))  # type: ignore[arg-type]
    out = [await serializer.deserialize(m) for m in messages]
    return [f.audio for f in out if f is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    add_output_args(parser)
    args = parser.parse_args()
    messages = frames(args.seconds)
    audio = asyncio.run(pcm16k(messages))
    before = loadavg()
    parts: dict[str, Callable[[], Awaitable[tuple[float, int]]]] = {
        "serializer, pipecat's": lambda: serializers(True, args.calls, messages),
        "serializer, voicelab's": lambda: serializers(False, args.calls, messages),
        "VAD, pipecat's SileroVADAnalyzer": lambda: vads(True, args.calls, audio),
        "VAD, voicelab's batched analyzer": lambda: vads(False, args.calls, audio),
        "recorder's 16 → 8 kHz resample": lambda: recorder_resample(args.calls, audio),
    }
    results = {
        name: [cpu_per_frame(run) for _ in range(args.repeats)] for name, run in parts.items()
    }
    rows = [
        f"| {name} | {np.median(v):.0f} | {min(v):.0f}-{max(v):.0f} |"
        for name, v in results.items()
    ]
    print("\n".join(rows))
    emit(
        args,
        "\n".join(
            [
                f"### CPU per 20 ms caller frame, {args.calls} calls at once"
                f" (`bench/bench_frame_costs.py --calls {args.calls} --seconds {args.seconds:g}`)",
                "",
                f"Each part alone, {args.repeats} runs (median, range), process CPU of all"
                f" threads per frame; load average {before} → {loadavg()}.",
                "",
                "| part | µs per frame (median) | range |",
                "| --- | --- | --- |",
                *rows,
            ]
        ),
    )


if __name__ == "__main__":
    main()
