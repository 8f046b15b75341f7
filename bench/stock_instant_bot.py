"""Stock pipecat 1.14's Twilio bot on voicelab's instant services: what voicelab's server is
measured against in ``bench/bench_load.py --agent voicelab,stock``.

    .venv/bin/python bench/stock_instant_bot.py --port 8791 [--lifetime 1800]

Built as ``bench/baseline_bot.py`` builds the stock bot (pipecat's Twilio example,
``pipecat-examples/twilio-chatbot/inbound``), with the example's own rates (8 kHz in and
out: no Whisper here to need 16) and the instant services voicelab's server runs with
``VOICELAB_PROVIDERS=instant``, so both run the same services:

- ``POST /`` answers ``<Connect><Stream>`` TwiML (no signature check, as the example);
  ``/ws`` takes the Media Streams websocket (``parse_telephony_websocket``) and builds per
  call ``FastAPIWebsocketTransport`` + ``TwilioFrameSerializer`` and ``transport.input() ->
  STT -> user aggregator -> LLM -> TTS -> transport.output() -> assistant aggregator`` in a
  ``PipelineTask`` (metrics on), run by a ``PipelineRunner``;
- the user aggregator with ``SileroVADAnalyzer()`` at its defaults and pipecat's default
  turn strategies (stop by the smart-turn v3 model, loaded per call as the example does);
- STT ``InstantSTTService`` (a fixed transcript per segment), LLM ``ScriptedLLMService``
  (keyword rules), TTS ``InstantTTSService`` (a tone lasting like speech);
- the persona's greeting, said first.

Not stock: ``auto_hang_up=False`` (no Twilio REST API here; the caller hangs up). No
recording and no call record: stock pipecat writes neither, voicelab does both.
Listens on 127.0.0.1 only and stops after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from loguru import logger
from twilio.twiml.voice_response import Connect, VoiceResponse

from voicelab.bot.persona import load_persona
from voicelab.config import load_settings

RATE = 8000  # the example's, in and out


def build_app() -> FastAPI:
    persona = load_persona("inbound", load_settings().prompts_dir)
    app = FastAPI()

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.post("/")
    async def twiml(request: Request) -> Response:
        response = VoiceResponse()
        connect = Connect()
        connect.stream(url=f"ws://{request.url.netloc}/ws")
        response.append(connect)
        return Response(str(response), media_type="application/xml")

    @app.websocket("/ws")
    async def media(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await run_bot(websocket)
        except Exception as exc:  # one call's failure must not take the server down
            logger.exception(f"stock call failed: {exc}")

    async def run_bot(websocket: WebSocket) -> None:
        from pipecat.audio.vad.silero import SileroVADAnalyzer
        from pipecat.frames.frames import TTSSpeakFrame
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.runner import PipelineRunner
        from pipecat.pipeline.task import PipelineParams, PipelineTask
        from pipecat.processors.aggregators.llm_context import LLMContext
        from pipecat.processors.aggregators.llm_response_universal import (
            LLMContextAggregatorPair,
            LLMUserAggregatorParams,
        )
        from pipecat.runner.utils import parse_telephony_websocket
        from pipecat.serializers.twilio import TwilioFrameSerializer
        from pipecat.transports.websocket.fastapi import (
            FastAPIWebsocketParams,
            FastAPIWebsocketTransport,
        )

        from voicelab.bot.services import (
            InstantSTTService,
            InstantTTSService,
            ScriptedLLMService,
        )

        _, call = await parse_telephony_websocket(websocket)
        serializer = TwilioFrameSerializer(
            stream_sid=call["stream_id"],
            call_sid=call["call_id"],
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=serializer,
            ),
        )
        context = LLMContext()
        user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
            context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
        )
        pipeline = Pipeline(
            [
                transport.input(),
                InstantSTTService(),
                user_aggregator,
                ScriptedLLMService(),
                InstantTTSService(),
                transport.output(),
                assistant_aggregator,
            ]
        )
        task = PipelineTask(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=RATE,
                audio_out_sample_rate=RATE,
                enable_metrics=True,
                enable_usage_metrics=True,
            ),
        )

        @transport.event_handler("on_client_connected")
        async def on_client_connected(_: Any, __: Any) -> None:
            await task.queue_frames([TTSSpeakFrame(persona.greeting, append_to_context=True)])

        @transport.event_handler("on_client_disconnected")
        async def on_client_disconnected(_: Any, __: Any) -> None:
            await task.cancel()

        await PipelineRunner(handle_sigint=False, force_gc=True).run(task)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--lifetime", type=float, default=1800.0)
    args = parser.parse_args()
    if not 0 < args.port < 65536 or args.lifetime <= 0:
        parser.error("--port must be 1-65535 and --lifetime positive")
    server = uvicorn.Server(
        uvicorn.Config(build_app(), host="127.0.0.1", port=args.port, log_level="warning")
    )
    threading.Timer(args.lifetime, lambda: setattr(server, "should_exit", True)).start()
    server.run()


if __name__ == "__main__":
    main()
