"""Recordings into numpy, onset detection, and STT word error rate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import INBOUND, INBOUND_DIR, OUTBOUND_DIR

from voicelab.analysis import (
    CallAudio,
    call_wer,
    calls_df,
    load_audio,
    recording_v2v,
    turn_wer,
    turns_df,
)
from voicelab.analysis.wer import normalize_text, number_to_words
from voicelab.errors import CallRecordError


def test_load_audio_from_a_directory_or_a_calls_row(good_root: Path) -> None:
    server = load_audio(good_root / INBOUND_DIR)
    assert server.clock == "server" and server.sample_rate == 8000
    assert server.path.name == "server_8765_inbound_recording_20250301_101500.wav"
    assert list(server.channels) == ["caller", "bot"]
    assert server.duration_s == pytest.approx(5.8)
    row = calls_df(good_root).iloc[0]
    caller = load_audio(row, "caller")
    assert caller.path.name == "caller.wav" and caller.channels["bot"].dtype == np.float32
    # The caller's burst is 1.20-2.00 s on the left channel: loud inside, line noise outside.
    said = caller.channels["caller"]
    assert np.abs(said[round(1.2 * 8000) : round(2.0 * 8000)]).max() > 0.3
    assert np.abs(said[round(2.2 * 8000) : round(3.0 * 8000)]).max() < 0.01


def test_load_audio_without_a_recording_raises(good_root: Path) -> None:
    with pytest.raises(CallRecordError, match="caller recording"):
        load_audio(good_root / OUTBOUND_DIR, "caller")
    with pytest.raises(CallRecordError, match="calls_df row"):
        load_audio(42)


def test_recording_v2v_on_a_synthetic_signal() -> None:
    rate = 1000
    said, heard = np.zeros(6 * rate, np.float32), np.zeros(6 * rate, np.float32)
    said[1000:1500] = 0.5  # turn 1: 1.00-1.50 s
    heard[2230:2600] = 0.5  # answer at 2.23 s -> 0.73 s
    said[3000:3400] = 0.5  # turn 2: 3.00-3.40 s, never answered before the file ends
    audio = CallAudio(Path("x.wav"), rate, "caller", {"caller": said, "bot": heard})
    got = recording_v2v(audio, {1: 0.9, 2: 2.9})
    assert got[1] == pytest.approx(0.73)
    assert math.isnan(got[2])
    # Quieter than the threshold is silence: -40 dBFS is an RMS of 0.01.
    heard[2230:2600] = 0.005
    assert math.isnan(recording_v2v(audio, {1: 0.9, 2: 2.9})[1])


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (10, "ten"),
        (15, "fifteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (100, "one hundred"),
        (115, "one hundred fifteen"),
        (999, "nine hundred ninety nine"),
        (1250, "one thousand two hundred fifty"),
        (2_000_003, "two million three"),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_normalize_text_makes_spelling_irrelevant() -> None:
    assert normalize_text("I waited 10 minutes!") == normalize_text("i waited ten minutes")
    assert normalize_text("Twenty-five, please.") == normalize_text("25 please")
    assert normalize_text("It's 3.5% off") == "its three point five percent off"
    assert normalize_text("Don\u2019t") == normalize_text("dont")
    assert normalize_text("1,250 people") == "one thousand two hundred fifty people"


def test_turn_and_call_wer_on_the_fixture(good_root: Path) -> None:
    turns = turns_df(good_root, recording=False)
    per_turn = turn_wer(turns)
    assert list(per_turn["caller_turn"]) == [1, 2]  # only turns with ground truth
    # Turn 1: 15 reference words, "some" missing from the transcript -> 1 / 15.
    first = per_turn.iloc[0]
    assert (first["ref_words"], first["deletions"], first["substitutions"]) == (15, 1, 0)
    assert first["wer"] == pytest.approx(1 / 15)
    # Turn 2: "10" against "ten" is no error once normalised.
    assert per_turn.iloc[1]["wer"] == 0.0
    per_call = call_wer(turns)
    assert list(per_call["call_sid"]) == [INBOUND]
    # One error over 15 + 9 reference words.
    assert per_call.iloc[0]["wer"] == pytest.approx(1 / 24)
    assert per_call.iloc[0]["ref_words"] == 24
    assert call_wer(good_root).iloc[0]["errors"] == 1  # a root works as well as a frame


def test_an_utterance_the_server_never_heard_counts_as_deleted(good_root: Path) -> None:
    turns = turns_df(good_root, recording=False)
    unheard = turns.iloc[[1]].copy()
    unheard["stt_text"] = None
    assert turn_wer(unheard).iloc[0]["wer"] == 1.0


def test_a_line_the_server_split_is_scored_against_all_it_heard_of_it(good_root: Path) -> None:
    turns = turns_df(good_root, recording=False)
    line = turns[turns["caller_turn"] == 2].iloc[0]
    reference = str(line["caller_text"]).split()
    # The server ended a turn half-way through line 2 (turn 2), then heard the rest (turn 3).
    split = turns[turns["turn"] < 2].copy()
    first, rest = " ".join(reference[:3]), " ".join(reference[3:])
    before = line.copy()
    before["caller_text"], before["caller_turn"], before["stt_text"] = None, pd.NA, first
    after = line.copy()
    after["turn"], after["stt_text"] = 3, rest
    split = pd.concat([split, before.to_frame().T, after.to_frame().T], ignore_index=True)
    scored = turn_wer(split.astype(turns.dtypes.to_dict()))
    assert list(scored["turn"]) == [1, 3]
    assert scored.iloc[1]["hypothesis"] == normalize_text(" ".join(reference))
    assert scored.iloc[1]["wer"] == 0.0
    # Only the split-off turn just before the line is read with it, not the line's own
    # text twice nor turn 1's.
    assert scored.iloc[1]["ref_words"] == len(normalize_text(" ".join(reference)).split())
