"""Callees that are not people: touch tones heard, a phone menu followed, a voicemail taken.

No models: the "speech" is tones, and the answering machine's Whisper is a stub that says
what it was given. The sessions run on their real 20 ms clock, for a few seconds.
"""

from __future__ import annotations

import asyncio
import glob
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from voicelab.recording.store import CallRecord
from voicelab.recording.wav import pcm16
from voicelab.simulator._caller_script import perform
from voicelab.simulator._caller_session import CallerConfig, CallerSession
from voicelab.simulator._dtmf import DtmfDetector
from voicelab.simulator._script import AnsweringMachine, MenuNode, PhoneMenu, Say
from voicelab.simulator._tones import beep, dtmf_tones, hold_music, ringback, tone
from voicelab.telephony import mulaw

PIPECAT_TONES = "/work/main/.venv/lib/python3.11/site-packages/pipecat/audio/dtmf/dtmf-*.wav"


def heard_keys(audio: np.ndarray) -> str:
    """The keys a detector hears in ``audio``, sent through a phone line's mu-law."""
    line = mulaw.decode(mulaw.encode(pcm16(audio))).astype(np.float32) / 32768
    detector, keys = DtmfDetector(), ""
    for start in range(0, line.size - 159, 160):
        keys += detector.feed(line[start : start + 160]) or ""
    return keys


def test_keys_are_heard_once_each_through_the_line() -> None:
    assert heard_keys(dtmf_tones("0123456789*#")) == "0123456789*#"
    # A key held (one long tone) is one press; the same key again after a gap is another.
    held = np.concatenate([dtmf_tones("5", tone_s=1.5), dtmf_tones("55")])
    assert heard_keys(held) == "555"


def test_pipecats_own_dtmf_audio_is_heard() -> None:
    # A pipecat bot's OutputDTMFFrame goes out as these tones (there is no DTMF message
    # from a bot to Twilio), so a phone menu must hear exactly these.
    import pipecat

    pattern = str(Path(pipecat.__file__).parent / "audio" / "dtmf" / "dtmf-*.wav")
    files = sorted(glob.glob(pattern))
    assert len(files) == 12
    names = {"star": "*", "pound": "#"}
    expected = "".join(names.get(Path(f).stem[5:], Path(f).stem[5:]) for f in files)
    audio = np.concatenate([sf.read(f, dtype="float32")[0] for f in files])
    assert heard_keys(audio) == expected


@pytest.mark.parametrize("sound", [hold_music(6), ringback(6), beep(), tone((440.0,), 2)])
def test_other_sounds_of_the_network_are_no_keys(sound: np.ndarray) -> None:
    assert heard_keys(sound) == ""


class Spy:
    """A link that keeps what its party said."""

    def __init__(self) -> None:
        self.said: list[np.ndarray] = []

    async def deliver(self, said: np.ndarray, marks: list[str]) -> None:
        self.said.append(said)

    async def press(self, digit: str) -> None:
        return None


class Ears:
    """CallerModels' Whisper, stubbed: the "text" is how many seconds of audio it was given."""

    whisper_lock = threading.Lock()

    def whisper(self) -> Any:
        class Model:
            def transcribe(self, audio: np.ndarray, language: str) -> tuple[list[Any], None]:
                text = f"{audio.size / 16000:.2f}"  # Whisper hears 16 kHz
                return [type("Segment", (), {"text": text})()], None

        return Model()


def words(seconds: float, pitch: float = 300.0) -> np.ndarray:
    return tone((pitch,), seconds)


async def run_party(session: CallerSession, steps: list[Any], until: float) -> None:
    clock = asyncio.create_task(session.run_clock())
    script = asyncio.create_task(perform(session, steps))
    try:
        await asyncio.wait({script}, timeout=until)
    finally:
        session.far_end_hung_up()
        for task in (clock, script):
            task.cancel()
        await asyncio.gather(clock, script, return_exceptions=True)
        await session.save()


def events(session: CallerSession) -> list[dict[str, Any]]:
    assert session.record is not None
    lines = session.record.events_path.read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow  # a real-time call: 4 s
@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_a_phone_menu_routes_by_the_keys_it_hears_then_a_person_answers(
    tmp_path: Path,
) -> None:
    record = CallRecord.open(tmp_path, "CA" + "4" * 32, "caller")
    session = CallerSession(CallerConfig(reply_timeout_s=1.0), record, listen_for_keys=True)
    session.open_wav()
    session.link = Spy()
    person = [Say("Billing, Dana speaking.", words(0.4, 500.0))]
    menu = PhoneMenu(
        nodes={
            "main": MenuNode(Say("press", words(1.0)), {"1": "bookings", "2": "billing"}, 3.0),
            "bookings": MenuNode(Say("closed", words(0.3))),
            "billing": MenuNode(Say("hold", words(0.3)), hold_s=0.5, person=person),
        },
        start="main",
    )

    async def agent() -> None:  # presses 3 (no such option), then 2, mid-prompt
        await asyncio.sleep(0.4)
        session.playout.push_audio(dtmf_tones("3"))
        await asyncio.sleep(0.8)
        session.playout.push_audio(dtmf_tones("2"))

    pressing = asyncio.create_task(agent())
    await run_party(session, [menu], until=8.0)
    await pressing
    received = [
        (e["data"]["digit"], e["data"]["node"])
        for e in events(session)
        if e["type"] == "dtmf.received"
    ]
    assert received == [("3", "main"), ("2", "main")]
    said = [e["data"]["text"] for e in events(session) if e["type"] == "caller.utterance_ended"]
    assert said == ["Billing, Dana speaking."]
    assert record.read_manifest()["dtmf_received"] == "32"
    assert session.greeting_end.result() == "silence"  # what AMD's DetectMessageEnd waits for


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_a_menu_nobody_answers_repeats_its_prompt_then_hangs_up(tmp_path: Path) -> None:
    session = CallerSession(CallerConfig(), None, listen_for_keys=True)
    spy = Spy()
    session.link = spy
    prompt = Say("press one", words(0.2))
    menu = PhoneMenu({"main": MenuNode(prompt, {"1": "main"}, timeout_s=0.3, repeats=2)}, "main")
    clock = asyncio.create_task(session.run_clock())
    await asyncio.wait_for(perform(session, [menu]), 5)  # it gives up on its own
    clock.cancel()
    spoken = np.concatenate(spy.said)
    starts = np.flatnonzero(np.diff((np.abs(spoken) > 0.05).astype(int)) == 1)
    assert len(starts) >= 3  # the prompt, and two repeats (one tone: onsets by cycles)


@pytest.mark.slow  # a real-time call: 3.5 s
@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_an_answering_machine_greets_beeps_and_keeps_the_message(tmp_path: Path) -> None:
    record = CallRecord.open(tmp_path, "CA" + "5" * 32, "caller")
    session = CallerSession(CallerConfig(models=Ears()), record)  # type: ignore[arg-type]
    session.open_wav()
    session.link = Spy()
    machine = AnsweringMachine(Say("greeting", words(0.6)), beep_s=0.5, max_message_s=10)

    async def agent() -> None:  # speaks over the greeting (lost), then after the beep
        session.playout.push_audio(words(0.3, 600.0))
        await session.greeting_end
        session.playout.push_audio(words(1.5, 600.0))
        await asyncio.sleep(2.0)

    speaking = asyncio.create_task(agent())
    await run_party(session, [machine], until=3.5)
    await speaking
    assert session.greeting_end.result() == "beep"
    (message,) = [e for e in events(session) if e["type"] == "voicemail.message"]
    # Only what came after the beep, up to its last audible sample, was kept and heard.
    assert 1.4 < float(message["data"]["text"]) < 1.7
    assert 1.4 < message["data"]["duration_s"] < 1.7
    assert 1.0 < message["t"] < 1.3  # stamped at the beep's end: greeting 0.6 s + beep 0.5 s
    assert record.read_manifest()["voicemail"]["text"] == message["data"]["text"]
    # caller.wav: the machine's greeting and beep on the left, the message on the right.
    audio, rate = sf.read(record.directory / "caller.wav")
    assert rate == 8000 and np.abs(audio[int(0.7 * rate) : int(1.0 * rate), 0]).max() > 0.1
    assert np.abs(audio[int(1.3 * rate) : int(2.5 * rate), 1]).max() > 0.1


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_an_answering_machine_hangs_up_at_its_longest_message() -> None:
    session = CallerSession(CallerConfig(), None)
    session.link = Spy()
    machine = AnsweringMachine(Say("greeting", words(0.2)), beep_s=0.0, max_message_s=0.5)
    clock = asyncio.create_task(session.run_clock())
    await asyncio.wait_for(perform(session, [machine]), 3)
    clock.cancel()
    assert session.greeting_end.result() == "silence"  # no beep: AMD sees the silence
