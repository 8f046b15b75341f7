"""A bot voicelab did not write, tested as a black box: its calls leave a record the loaders read.

The bot is plain Pipecat, built here as a team would build a stock Twilio bot: a FastAPI
app whose ``/`` webhook answers ``<Connect><Stream>`` and whose ``/ws`` runs a pipeline of
``FastAPIWebsocketTransport`` + ``TwilioFrameSerializer`` (``auto_hang_up=False``), Silero
VAD in the user aggregator, and a reply per user turn: a short spoken sentence (rendered
once with Piper) pushed as audio. No stream token, no signature check, no status-callback
route, no voicelab server code. voicelab's carrier rings it over HTTP and websockets and
the simulated caller plays a scenario; nothing is recorded on the bot's side.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _doubles import SERVER_COLUMNS
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from helpers import read_events, serve_app
from twilio.twiml.voice_response import Connect, VoiceResponse

from voicelab.analysis import calls_df, turn_wer, turns_df
from voicelab.config import load_settings
from voicelab.network import LabModels, LocalNetwork
from voicelab.simulator.models import CallerModels
from voicelab.simulator.scenario import load_scenario
from voicelab.simulator.voices import CallerVoice

pytestmark = pytest.mark.slow

RATE = 8000
GREETING = "Hello, you are through to the test kitchen."
REPLY = "Thank you, I have noted that down."
SCENARIO = """\
description: A caller reports a cold meal to a bot voicelab knows nothing about.
direction: inbound
caller:
  name: Sam Black
turns:
  - say: My soup was cold when it arrived.
  - say: It was the tomato soup at lunch.
"""


def _pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def stock_bot(greeting: bytes, reply: bytes) -> FastAPI:
    """A minimal Twilio bot from plain Pipecat: greets, then answers each user turn."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams
    from pipecat.frames.frames import OutputAudioRawFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
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
    from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
        SpeechTimeoutUserTurnStopStrategy,
    )
    from pipecat.turns.user_turn_strategies import UserTurnStrategies
    from pipecat.workers.runner import WorkerRunner

    app = FastAPI()

    @app.post("/")
    async def twiml(request: Request) -> Response:
        response = VoiceResponse()
        connect = Connect()
        connect.stream(url=f"ws://{request.url.netloc}/ws")
        response.append(connect)
        return Response(str(response), media_type="application/xml")

    def speech(pcm: bytes) -> list[OutputAudioRawFrame]:
        step = RATE // 50 * 2  # 20 ms of 16-bit audio
        return [
            OutputAudioRawFrame(pcm[i : i + step], sample_rate=RATE, num_channels=1)
            for i in range(0, len(pcm), step)
        ]

    @app.websocket("/ws")
    async def media(websocket: WebSocket) -> None:
        await websocket.accept()
        _, call = await parse_telephony_websocket(websocket)
        serializer = TwilioFrameSerializer(
            stream_sid=call["stream_id"],
            call_sid=call["call_id"],
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                serializer=serializer,
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
            ),
        )
        # No STT: the turn ends on the VAD's stop alone.
        stop = SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.3, wait_for_transcript=False)
        aggregators = LLMContextAggregatorPair(
            LLMContext(),
            user_params=LLMUserAggregatorParams(
                vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=0.3)),
                user_turn_strategies=UserTurnStrategies(stop=[stop]),
            ),
        )
        user = aggregators.user()
        worker = PipelineWorker(
            Pipeline([transport.input(), user, transport.output()]),
            params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
            idle_timeout_secs=None,
            enable_rtvi=False,
        )

        @transport.event_handler("on_client_connected")
        async def _connected(_: Any, __: Any) -> None:
            await worker.queue_frames(speech(greeting))

        @user.event_handler("on_user_turn_stopped")
        async def _answer(_: Any, __: Any, ___: Any) -> None:
            await worker.queue_frames(speech(reply))

        @transport.event_handler("on_client_disconnected")
        async def _disconnected(_: Any, __: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await asyncio.wait_for(runner.run(), timeout=120)

    return app


@pytest.fixture(scope="module")
def bot_url(caller_models: CallerModels) -> Any:
    voice = CallerVoice(models=caller_models)
    with serve_app(stock_bot(_pcm(voice.speak(GREETING)), _pcm(voice.speak(REPLY)))) as url:
        yield url


async def _simulate(url: str, recordings: Path, scenario_path: Path, models: LabModels) -> Any:
    settings = load_settings(recordings_dir=recordings)
    # The stock bot has no status-callback route: send it none.
    network = LocalNetwork(settings, server_url=url, status_callback_path=None, models=models)
    async with network:
        return await network.simulate(load_scenario(scenario_path))


def test_a_stock_pipecat_bots_call_loads(
    bot_url: str, tmp_path: Path, lab_models: LabModels
) -> None:
    scenario_path = tmp_path / "cold_soup.yaml"
    scenario_path.write_text(SCENARIO)
    recordings = tmp_path / "recordings"
    call = asyncio.run(_simulate(bot_url, recordings, scenario_path, lab_models))
    assert call.error is None and call.status == "completed", call
    assert call.directory is not None and (call.directory / "caller.wav").is_file()
    # The caller's side, and the carrier's word on who hung up: nothing from a server.
    assert {e["source"] for e in read_events(call.directory)} == {"caller", "carrier"}

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "manifest has no call_sid; call skipped"
        calls = calls_df(recordings)
        turns = turns_df(recordings)

    assert list(calls["call_sid"]) == [call.call_sid]
    row = calls.iloc[0]
    assert row["agent"] == "black-box" and row["agent_url"] == bot_url
    assert row["direction"] == "inbound" and row["scenario_id"] == "cold_soup"
    assert row["status"] == "completed" and row["end_reason"] in ("hangup", "stop")
    assert row["ended_by"] == "caller"  # its turns done, the caller hung up
    assert row["n_turns"] == 2 and row["n_errors"] == 0
    assert pd.isna(row["providers"]) and pd.isna(row["server_wav"])

    assert set(turns["call_sid"]) == {call.call_sid}
    replies = turns[turns["turn"] > 0]
    assert list(replies["caller_turn"]) == [1, 2]
    assert (replies["v2v_caller_s"] > 0).all(), replies["v2v_caller_s"]
    assert (replies["v2v_recording_s"] > 0).all(), replies["v2v_recording_s"]
    # The caller's own and the recording's measure of the same gap agree to a few windows.
    gap = (replies["v2v_caller_s"] - replies["v2v_recording_s"]).abs()
    assert (gap < 0.1).all(), replies[["v2v_caller_s", "v2v_recording_s"]]
    assert list(replies["caller_text"]) == [
        "My soup was cold when it arrived.",
        "It was the tomato soup at lunch.",
    ]
    # What the caller heard, by its own Whisper: the bot's sentences.
    heard = turns.set_index("turn")["heard_text"].str.lower()
    assert any(word in heard[0] for word in ("hello", "kitchen")), heard
    assert all(any(w in heard[n] for w in ("thank", "noted")) for n in (1, 2)), heard
    # Server-side columns are there and empty; WER is not defined without the bot's STT.
    assert turns[SERVER_COLUMNS].isna().all().all(), turns[SERVER_COLUMNS]
    assert turn_wer(turns).empty


def test_voicelab_simulate_server_leaves_a_record_the_loaders_read(
    bot_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from voicelab.cli import app

    scenario_path = tmp_path / "cold_soup.yaml"
    scenario_path.write_text(SCENARIO)
    recordings = tmp_path / "recordings"
    monkeypatch.setenv("VOICELAB_RECORDINGS_DIR", str(recordings))
    args = ["simulate", str(scenario_path), "--server", bot_url, "--carrier-port", "0"]
    result = CliRunner().invoke(app, [*args, "--no-status-callbacks"])
    assert result.exit_code == 0, result.output

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calls = calls_df(recordings)
        turns = turns_df(recordings)
    assert len(calls) == 1 and calls.iloc[0]["agent"] == "black-box"
    assert calls.iloc[0]["n_errors"] == 0  # no status callback sent to a route it lacks
    replies = turns[turns["turn"] > 0]
    assert len(replies) == 2 and (replies["v2v_caller_s"] > 0).all(), replies


# A pipecat eval file, written from pipecat's documentation: the same file a team runs with
# `pipecat eval` against the bot, here over the phone line. On a black box the replies are
# what the caller heard (its Whisper); pipecat's text_contains is case-sensitive, voicelab's not.
PIPECAT_EVAL = """\
name: stock
scenarios:
  - name: cold_soup
    turns:
      - expect:
          - event: response
            text_contains: "kitchen"
      - user: "My soup was cold when it arrived."
        expect:
          - event: bot_started_speaking
            within_ms: 5000
          - event: response
            text_contains: "noted"
"""


def test_a_pipecat_eval_file_runs_unchanged_against_a_black_box_bot(
    bot_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from voicelab.cli import app

    path = tmp_path / "stock.yaml"
    path.write_text(PIPECAT_EVAL)
    monkeypatch.setenv("VOICELAB_RECORDINGS_DIR", str(tmp_path / "recordings"))
    args = ["simulate", str(path), "--server", bot_url, "--carrier-port", "0"]
    result = CliRunner().invoke(app, [*args, "--no-status-callbacks"])
    assert result.exit_code == 0, result.output
    # turn 0 contains, turn 1 latency and contains, and the call's outcome
    assert "stock.cold_soup" in result.stdout and "4 of 4 passed" in result.stdout, result.stdout
