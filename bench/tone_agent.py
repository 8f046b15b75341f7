"""A minimal Twilio-protocol agent for ``bench/bench_load.py``: the generator's own ceiling.

    .venv/bin/python bench/tone_agent.py --port 8790

``POST /`` answers ``<Connect><Stream url="ws://HOST/ws">``; on the stream it greets with
a 0.5 s tone, then answers each caller line (frames of speech followed by 0.5 s of
silence) with a 1 s tone sent as 20 ms ``media`` frames in real time. It hears as cheaply
as it can: a load caller sends exact digital silence (mu-law 0xFF) while it listens, so
any other payload is speech; this agent is for ``voicelab load``, not for a phone. No VAD,
no pipeline, no record: next to voicelab's server it costs little, so what ``voicelab
load`` reports against it is mostly the generator itself.
Listens on 127.0.0.1 only and stops after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import threading

import numpy as np
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from voicelab.telephony import mulaw
from voicelab.telephony.twiml import stream_twiml

FRAME = 160
QUIET_FRAMES = 25  # 0.5 s of silence ends a caller line


def tone_frames(seconds: float) -> list[str]:
    n = int(seconds * 8000) // FRAME * FRAME
    wave = (0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / 8000) * 32767).astype(np.int16)
    ulaw = mulaw.encode(wave)
    return [base64.b64encode(ulaw[i : i + FRAME]).decode() for i in range(0, n, FRAME)]


GREETING, REPLY = tone_frames(0.5), tone_frames(1.0)
SILENCE = base64.b64encode(b"\xff" * FRAME).decode()
app = FastAPI()


@app.post("/")
async def answer(request: Request) -> Response:
    form = await request.form()
    twiml = stream_twiml(
        f"ws://{request.headers['host']}/ws",
        direction="inbound",
        from_number=str(form.get("From", "")),
        to_number=str(form.get("To", "")),
    )
    return Response(twiml, media_type="application/xml")


@app.websocket("/ws")
async def stream(ws: WebSocket) -> None:
    await ws.accept()
    stream_sid: str | None = None
    speaking = asyncio.Lock()

    async def say(frames: list[str]) -> None:
        async with speaking:
            loop = asyncio.get_running_loop()
            start = loop.time()
            for k, payload in enumerate(frames):
                await asyncio.sleep(max(0.0, start + k * 0.02 - loop.time()))
                media = {"event": "media", "streamSid": stream_sid, "media": {"payload": payload}}
                await ws.send_text(json.dumps(media))

    heard, quiet, tasks = False, 0, set()
    try:
        while True:
            message = json.loads(await ws.receive_text())
            if message["event"] == "start":
                stream_sid = message["start"]["streamSid"]
                tasks.add(asyncio.create_task(say(GREETING)))
            elif message["event"] == "media":
                if message["media"]["payload"] != SILENCE:
                    heard, quiet = True, 0
                elif heard:
                    quiet += 1
                    if quiet == QUIET_FRAMES:
                        heard = False
                        tasks.add(asyncio.create_task(say(REPLY)))
            elif message["event"] == "stop":
                break
    except WebSocketDisconnect:
        pass
    for task in tasks:
        task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--lifetime", type=float, default=1800.0)
    args = parser.parse_args()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets")
    )
    threading.Timer(args.lifetime, lambda: setattr(server, "should_exit", True)).start()
    server.run()


if __name__ == "__main__":
    main()
