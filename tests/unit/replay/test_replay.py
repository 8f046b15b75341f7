"""``voicelab.replay``: a recorded caller read into timed lines, and the table of a replay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from voicelab.analysis import replay_table
from voicelab.recording.contract import CallManifest
from voicelab.replay import read_call, write_scenario
from voicelab.replay._original import original_lines
from voicelab.simulator.voices import PHONE_RATE, CallerVoice

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "calls"
INBOUND = FIXTURES / "20250301-101500_CAa1b2c3d4e5f60718293a4b5c6d7e8f90"
SID = "CAa1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def inbound(tmp_path: Path) -> Path:
    """The simulated fixture call, copied (the loaders write a cache beside it)."""
    return Path(shutil.copytree(INBOUND, tmp_path / INBOUND.name))


def test_a_simulated_record_gives_its_lines_their_words_and_the_replies_timing(inbound):
    call = read_call(inbound)
    assert (call.kind, call.call_sid, call.sample_rate) == ("simulated", SID, 8000)
    # caller.utterance_started/ended on the caller's clock, which is caller.wav's.
    spans = [(u.start_s, u.end_s, u.turn) for u in call.utterances]
    assert spans == [(1.2, 2.0, 1), (3.8, 4.4, 2)]
    assert call.utterances[1].text == "The soup was cold and I waited 10 minutes."
    assert call.utterances[0].audio.size == round(0.8 * 8000)
    # The tones the bot played on caller.wav's right channel (make_wavs.py).
    assert [a for a, _ in call.agent_speech] == pytest.approx([0.3, 2.95, 5.1], abs=0.02)


def test_lines_keep_their_pauses_and_a_barge_in_its_delay(inbound, tmp_path):
    call = read_call(inbound)
    scenario = write_scenario(call, tmp_path / "kept", scenario_id="replay_x")
    kinds = [(t.kind, t.pause, t.text, t.barge_in_after) for t in scenario.turns]
    assert kinds == [
        ("pause", 1.2, None, None),
        ("wav", None, call.utterances[0].text, None),
        ("pause", 1.8, None, None),
        ("wav", None, call.utterances[1].text, None),
    ]
    clip, rate = sf.read(tmp_path / "kept" / "clips" / "line_02.wav")
    assert rate == 8000 and clip.size == call.utterances[1].audio.size
    # The same line said 0.3 s into a reply that is still playing is a barge-in.
    cut_in = call.utterances[1].__class__(3.25, 4.0, call.utterances[1].audio, "x", 2)
    barging = call.__class__(
        call.source, call.kind, 8000, [call.utterances[0], cut_in], [(2.95, 3.6)], SID
    )
    turns = write_scenario(barging, tmp_path / "b", scenario_id="b").turns
    assert [(t.kind, t.barge_in_after) for t in turns][-1] == ("wav", 0.3)


def test_a_server_record_is_cut_by_voice_and_takes_the_words_of_its_server_turn(
    inbound, caller_models
):
    # A real call: no caller.wav; the server WAV has speech where the server heard turns
    # 1 (1.45-2.25 s) and 2 (4.05-4.65 s), and a tone for the bot.
    (inbound / "caller.wav").unlink()
    events = [json.loads(line) for line in (inbound / "events.jsonl").read_text().splitlines()]
    server = [e for e in events if e["source"] != "caller"]
    (inbound / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in server))
    wav = next(inbound.glob("server_*.wav"))
    voice = CallerVoice(models=caller_models)
    caller, bot = np.zeros(8 * PHONE_RATE, np.float32), np.zeros(8 * PHONE_RATE, np.float32)
    for start, line in ((1.3, "Hi there."), (3.9, "The soup was cold.")):
        audio = voice.speak(line)
        at = round(start * PHONE_RATE)
        caller[at : at + audio.size] = audio
    bot[round(2.9 * PHONE_RATE) : round(3.6 * PHONE_RATE)] = 0.3
    sf.write(wav, np.stack([caller, bot], axis=1), PHONE_RATE, subtype="PCM_16")

    call = read_call(inbound)
    assert call.kind == "server" and [u.turn for u in call.utterances] == [1, 2]
    assert [u.start_s for u in call.utterances] == pytest.approx([1.3, 3.9], abs=0.15)
    assert call.utterances[1].text == "The soup was cold and I waited ten minutes."
    # The original's side of the table: its server turns, renumbered as the replay's lines.
    lines = original_lines(call)
    assert lines["line"].tolist() == [0, 1, 2]
    assert lines["reply"].notna().all()


def test_a_stereo_wav_is_cut_by_silero_on_the_callers_channel(tmp_path, caller_models):
    voice = CallerVoice(models=caller_models)
    first, second = voice.speak("Hello, I am calling about my order."), voice.speak("Thanks.")
    total = np.zeros(9 * PHONE_RATE, np.float32)
    caller, bot = total.copy(), total.copy()
    caller[PHONE_RATE : PHONE_RATE + first.size] = first
    end_1 = 1.0 + first.size / PHONE_RATE
    bot[round((end_1 + 0.7) * PHONE_RATE) : round((end_1 + 3.5) * PHONE_RATE)] = 0.2
    start_2 = end_1 + 1.5  # while the bot is still talking: a barge-in 0.8 s into its reply
    caller[round(start_2 * PHONE_RATE) : round(start_2 * PHONE_RATE) + second.size] = second
    path = tmp_path / "call.wav"
    sf.write(path, np.stack([bot, caller], axis=1), PHONE_RATE)  # the caller on the right

    call = read_call(path, caller_channel=1)
    assert call.kind == "wav" and call.call_sid is None and len(call.utterances) == 2
    assert call.utterances[0].start_s == pytest.approx(1.0, abs=0.1)
    assert call.utterances[1].start_s == pytest.approx(start_2, abs=0.1)
    turns = write_scenario(call, tmp_path / "s", scenario_id="wav").turns
    assert turns[-1].barge_in_after == pytest.approx(0.8, abs=0.15)
    # No record: the original's latency is measured on the WAV itself.
    lines = original_lines(call)
    assert lines.loc[1, "v2v_s"] == pytest.approx(0.7, abs=0.1)


def test_the_table_lines_up_each_caller_line_and_keeps_lines_one_side_lacks(inbound, tmp_path):
    table = replay_table(inbound, inbound)
    assert table["line"].tolist() == [0, 1, 2]
    assert table["caller_text"].iloc[1].startswith("Hi, I had lunch")
    assert (table["v2v_change_s"].iloc[1:] == 0).all()
    assert table.loc[0, ["original_v2v_s", "new_v2v_s"]].isna().all()  # the greeting
    # An original with a third line the replay never reached keeps its row.
    original = pd.DataFrame(
        {"line": [1, 2, 3], "caller_text": ["a", "b", "c"], "reply": ["x", "y", "z"]}
    )
    original["v2v_s"] = [1.0, 1.0, 2.0]
    table = replay_table(original, inbound)
    assert table["line"].tolist() == [0, 1, 2, 3]
    assert table["caller_text"].iloc[1:].tolist() == ["a", "b", "c"]
    assert pd.isna(table.loc[3, "new_v2v_s"]) and table.loc[3, "original_reply"] == "z"


def test_a_replay_mark_meets_the_record_contract():
    manifest = CallManifest.model_validate(
        {"replay": {"of": SID, "source": "recordings/x", "kind": "simulated"}}
    )
    assert manifest.replay is not None and manifest.replay.of == SID
    with pytest.raises(ValueError):
        CallManifest.model_validate({"replay": {"of": SID}})  # where it came from is required
