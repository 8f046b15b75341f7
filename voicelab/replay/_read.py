"""The caller's side of a recorded call: each utterance, its audio and its timing.

Three kinds of recording, best first:

- a simulated call's record: ``caller.wav`` is on the caller's clock (left: what it said,
  right: what it heard), and its ``caller.utterance_started/ended`` events say exactly
  where each line is and what it said (read through ``turns_df``);
- a call recorded by voicelab's server (a real Twilio call): the server WAV (caller left,
  bot right); utterances are found with Silero VAD on the caller's channel and take the
  words of the server turn they fall in (its ``stt.transcript``). The WAV starts with the
  call's stream, so its sample 0 is taken to be the server's ``call.started``;
- any stereo WAV with the caller on one channel (``caller_channel``) and the agent on the
  other: Silero VAD, no words.

The agent's speech (the other channel) is found with the one audible rule
(:mod:`voicelab.recording.audible`): the timing of each line relative to the reply it
followed (or cut into) comes from it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import soundfile as sf

from voicelab.analysis import load_audio, turns_df
from voicelab.errors import CallRecordError, InvalidArgumentError
from voicelab.recording.audible import WINDOW_S, audible, window_samples
from voicelab.replay._vad import speech_spans

__all__ = ["RecordedCall", "Utterance", "read_call"]

_MERGE_S = 0.5  # the agent's pauses between sentences are part of one reply


@dataclass(frozen=True)
class Utterance:
    """One thing the caller said in the original call.

    Attributes:
        start_s: When it started, seconds on the recording's clock.
        end_s: When it ended.
        audio: What was said, mono float32.
        text: The words, when the record knows them (ground truth or the server's STT).
        turn: The original call's turn this line led to (its ``caller_turn`` in a simulated
            record, the server's ``turn`` in a real one; ``None`` from a bare WAV).
    """

    start_s: float
    end_s: float
    audio: np.ndarray = field(repr=False)
    text: str | None = None
    turn: int | None = None


@dataclass(frozen=True)
class RecordedCall:
    """The caller's side of a recorded call, ready to be played again.

    Attributes:
        source: The call directory or WAV file.
        kind: ``simulated`` (a simulated call's record), ``server`` (a call voicelab's
            server recorded) or ``wav`` (a bare stereo WAV).
        sample_rate: The rate of every utterance's audio.
        utterances: What the caller said, in order.
        agent_speech: Where the agent was audible, ``(start_s, end_s)`` on the same clock.
        call_sid: The original call's SID (records only).
        caller_channel: The WAV channel the caller is on.
    """

    source: Path
    kind: Literal["simulated", "server", "wav"]
    sample_rate: int
    utterances: list[Utterance]
    agent_speech: list[tuple[float, float]]
    call_sid: str | None = None
    caller_channel: int = 0


def read_call(source: str | Path, *, caller_channel: int | None = None) -> RecordedCall:
    """Read the caller's side of a call directory or of a stereo WAV.

    Args:
        source: A voicelab call directory (``call.json``), or a stereo WAV file.
        caller_channel: The caller's channel of a bare WAV (0 left, 1 right; default 0).
            Not with a call directory, whose channels are known.

    Raises:
        CallRecordError: No such directory or file, not a call record, a recording that
            cannot be read, or a WAV that is not stereo.
        InvalidArgumentError: A ``caller_channel`` other than 0 or 1, or given with a record.
    """
    path = Path(source)
    if caller_channel not in (None, 0, 1):
        raise InvalidArgumentError(f"the caller's channel is 0 or 1, not {caller_channel}")
    if path.is_dir():
        if caller_channel is not None:
            raise InvalidArgumentError("a call record knows its channels: no caller channel")
        return _read_record(path)
    if not path.is_file():
        raise CallRecordError(f"{path}: no such call directory or WAV file")
    samples, rate = _read_wav(path)
    channel = caller_channel or 0
    caller, agent = samples[:, channel], samples[:, 1 - channel]
    utterances = [
        Utterance(start, end, _cut(caller, rate, start, end))
        for start, end in speech_spans(caller, rate)
    ]
    return RecordedCall(path, "wav", rate, utterances, _agent_speech(agent, rate), None, channel)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:
        reason = str(getattr(exc, "error_string", "") or exc).rstrip(".")
        raise CallRecordError(f"{path}: not a readable WAV: {reason}") from None
    if samples.shape[1] != 2:
        raise CallRecordError(
            f"{path}: a replay needs a stereo WAV (the caller on one channel, the agent on"
            f" the other), this one has {samples.shape[1]} channel(s)"
        )
    return samples, int(rate)


def _read_record(directory: Path) -> RecordedCall:
    manifest_path = directory / "call.json"
    if not manifest_path.is_file():
        raise CallRecordError(f"{directory}: not a call record (no call.json)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CallRecordError(f"{manifest_path}: unreadable: {exc}") from None
    sid = manifest.get("call_sid") if isinstance(manifest, dict) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a record cut short still replays what it has
        turns = turns_df(directory, recording=False, cache=False)
    if (directory / "caller.wav").is_file():
        return _read_simulated(directory, turns, sid)
    audio = load_audio(directory, "server")
    if "caller" not in audio.channels:
        raise CallRecordError(f"{audio.path}: the server recording is not stereo")
    rate, caller = audio.sample_rate, audio.channels["caller"]
    offset = _stream_start(directory)
    windows = _server_windows(turns, offset)
    utterances = _grouped(speech_spans(caller, rate), windows, caller, rate)
    agent = _agent_speech(audio.channels["bot"], rate)
    return RecordedCall(directory, "server", rate, utterances, agent, sid)


def _read_simulated(directory: Path, turns: pd.DataFrame, sid: str | None) -> RecordedCall:
    audio = load_audio(directory, "caller")
    if "caller" not in audio.channels:
        raise CallRecordError(f"{audio.path}: caller.wav is not stereo")
    rate, said = audio.sample_rate, audio.channels["caller"]
    lines = turns[turns["caller_turn"].fillna(0) > 0].drop_duplicates("caller_turn")
    lines = lines.dropna(subset=["utterance_started_t", "utterance_ended_t"])
    utterances = [
        Utterance(
            float(row.utterance_started_t),
            float(row.utterance_ended_t),
            _cut(said, rate, row.utterance_started_t, row.utterance_ended_t),
            row.caller_text if isinstance(row.caller_text, str) else None,
            int(row.caller_turn),
        )
        for row in lines.sort_values("caller_turn").itertuples()
    ]
    agent = _agent_speech(audio.channels["bot"], rate)
    return RecordedCall(directory, "simulated", rate, utterances, agent, sid)


def _stream_start(directory: Path) -> float:
    """The server's ``t`` of ``call.started``: where its WAV's sample 0 is."""
    for line in (directory / "events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("source") == "server" and event.get("type") == "call.started":
            return float(event.get("t") or 0.0)
    return 0.0


def _server_windows(turns: pd.DataFrame, offset: float) -> list[tuple[float, float, int, str]]:
    """Each server turn's speech, on the WAV's clock: (start, stop, turn, its words)."""
    rows = turns.dropna(subset=["turn", "user_started_t", "user_stopped_t"])
    return [
        (
            float(row.user_started_t) - offset,
            float(row.user_stopped_t) - offset,
            int(row.turn),
            row.stt_text if isinstance(row.stt_text, str) else "",
        )
        for row in rows[rows["turn"] > 0].itertuples()
    ]


def _grouped(
    spans: list[tuple[float, float]],
    windows: list[tuple[float, float, int, str]],
    caller: np.ndarray,
    rate: int,
) -> list[Utterance]:
    """VAD spans as utterances: the spans that fall in one server turn are one line."""
    merged: list[tuple[float, float, int | None, str | None]] = []
    for start, end in spans:
        # The turn whose window the span overlaps (the server stops a turn after it ends).
        turn = next((w for w in windows if start < w[1] and end > w[0] - _MERGE_S), None)
        if turn is not None and merged and merged[-1][2] == turn[2]:
            merged[-1] = (merged[-1][0], end, turn[2], turn[3])
        else:
            merged.append((start, end, *(turn[2:] if turn else (None, None))))
    return [
        Utterance(a, b, _cut(caller, rate, a, b), text or None, turn) for a, b, turn, text in merged
    ]


def _cut(samples: np.ndarray, rate: int, start: float, end: float) -> np.ndarray:
    return samples[max(0, round(start * rate)) : round(end * rate)].copy()


def _agent_speech(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """Stretches where the agent is audible; pauses under half a second are inside one."""
    loud = np.flatnonzero(audible(samples, window_samples(rate)))
    stretches: list[list[float]] = []
    for index in loud:
        start = float(index) * WINDOW_S
        if stretches and start - stretches[-1][1] < _MERGE_S:
            stretches[-1][1] = start + WINDOW_S
        else:
            stretches.append([start, start + WINDOW_S])
    return [(round(a, 3), round(b, 3)) for a, b in stretches]
