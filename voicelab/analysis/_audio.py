"""Call audio: WAV files as numpy arrays, and latency measured on the caller's recording.

``caller.wav`` (simulated calls) is stereo on the caller's clock: left is what the caller
said, right what it heard, and sample 0 is the caller's ``t = 0``. That makes an
independent check of the caller-side latency possible: find where the caller's speech of
turn ``N`` really ends and where the bot's answer really becomes audible, with an energy
threshold over short windows, and subtract. The caller's events are only used to bracket
the search: turn ``N``'s window runs from ``caller.utterance_started(N)`` to the start of
utterance ``N + 1`` (or the end of the file).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import soundfile as sf

from voicelab.analysis._cache import Built, Entry
from voicelab.analysis._files import CALLER_WAV, SERVER_WAV_RE, CallDir, parse_call
from voicelab.errors import CallRecordError
from voicelab.recording.audible import AUDIBLE_DBFS, WINDOW_S, audible, window_samples

__all__ = ["RECORDING_SCHEMA", "CallAudio", "build_recording", "load_audio", "recording_v2v"]

RECORDING_SCHEMA = pa.schema(
    [("call_sid", pa.string()), ("caller_turn", pa.int64()), ("v2v_recording_s", pa.float64())]
)


@dataclass(frozen=True)
class CallAudio:
    """One call recording, channel by channel.

    Attributes:
        path: The WAV file.
        sample_rate: Samples per second.
        clock: ``server`` (the server's recording) or ``caller`` (``caller.wav``).
        channels: ``caller`` (left: the caller's voice) and ``bot`` (right: the bot's voice,
            as the caller heard it in ``caller.wav``), float32 in [-1, 1]; a mono file has
            a single ``mono`` channel.
    """

    path: Path
    sample_rate: int
    clock: Literal["server", "caller"]
    channels: dict[str, np.ndarray]

    @property
    def duration_s(self) -> float:
        return len(next(iter(self.channels.values()))) / self.sample_rate


def call_directory(call: Any) -> Path:
    """The directory of ``call``: a path, or a mapping / ``calls_df`` row with ``call_dir``."""
    if isinstance(call, (str, os.PathLike)):
        return Path(call)
    if isinstance(call, Mapping) or hasattr(call, "get"):  # a dict or a calls_df row
        value = call.get("call_dir")
        if isinstance(value, str) and value:
            return Path(value)
    raise CallRecordError(f"expected a call directory or a calls_df row, got {type(call)!r}")


def load_audio(call: Any, which: Literal["server", "caller"] = "server") -> CallAudio:
    """Read a call's recording into numpy, one array per channel.

    Args:
        call: A call directory, or a row of ``calls_df`` (anything with ``call_dir``).
        which: ``server`` for ``server_<port>_<direction>_recording_<timestamp>.wav`` (the
            latest if there are several), ``caller`` for ``caller.wav``.

    Raises:
        CallRecordError: The directory has no such recording, or it cannot be decoded.
    """
    directory = call_directory(call)
    if which == "caller":
        path = directory / CALLER_WAV
    else:
        names = sorted(
            p.name for p in directory.glob("server_*.wav") if SERVER_WAV_RE.match(p.name)
        )
        path = directory / (names[-1] if names else "server_<port>_<direction>_recording_*.wav")
    if not path.is_file():
        raise CallRecordError(f"{directory}: no {which} recording ({path.name})")
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise CallRecordError(f"cannot read the {which} recording {path}: {exc}") from None
    if samples.shape[1] == 1:
        channels = {"mono": samples[:, 0]}
    else:
        channels = {"caller": samples[:, 0], "bot": samples[:, 1]}
    return CallAudio(path, int(rate), which, channels)


def _window_at(seconds: float, per_s: float) -> int:
    # The epsilon keeps 0.29 s * 100 from flooring to window 28.
    return max(0, int(seconds * per_s + 1e-9))


def recording_v2v(
    audio: CallAudio,
    starts: Mapping[int, float],
    *,
    window_s: float = WINDOW_S,
    threshold_db: float = AUDIBLE_DBFS,
) -> dict[int, float]:
    """Voice-to-voice per caller turn, measured on ``caller.wav`` (module docstring).

    The caller's speech of turn ``N`` ends at the end of the last audible window of the
    ``caller`` channel inside turn ``N``'s bracket; the answer starts at the first audible
    window of the ``bot`` channel after that, before the bracket closes. Windows are
    ``window_s`` long and aligned on sample 0, so the result is a multiple of ``window_s``.

    Args:
        audio: ``load_audio(call, "caller")``.
        starts: ``caller.utterance_started(turn=N).t`` by ``N`` (caller clock).
        window_s: Analysis window.
        threshold_db: A window is audible when its RMS reaches this many dB below full scale.

    Returns:
        Seconds by caller turn; NaN where no speech end or no answer was found.
    """
    window = window_samples(audio.sample_rate, window_s)
    said = audible(audio.channels["caller"], window, threshold_db)
    heard = audible(audio.channels["bot"], window, threshold_db)
    per_s = audio.sample_rate / window  # windows per second
    order: Sequence[int] = sorted(starts)
    out: dict[int, float] = {}
    for i, turn in enumerate(order):
        lo = _window_at(starts[turn], per_s)
        hi = _window_at(starts[order[i + 1]], per_s) if i + 1 < len(order) else len(said)
        speech = np.flatnonzero(said[lo:hi])
        if not len(speech):
            out[turn] = float("nan")
            continue
        end = lo + int(speech[-1]) + 1  # first window after the speech
        answer = np.flatnonzero(heard[end:hi])
        out[turn] = float(answer[0]) / per_s if len(answer) else float("nan")
    return out


def build_recording(dirs: Sequence[CallDir], taken: set[str]) -> Built:
    """``v2v_recording_s`` of every caller turn of the simulated calls among ``dirs``.

    Duplicates of a call_sid in ``taken`` or earlier in ``dirs`` are skipped silently: the
    records load has already warned about them.
    """
    rows: dict[str, list[Any]] = {name: [] for name in RECORDING_SCHEMA.names}
    entries: dict[str, Entry] = {}
    for directory in dirs:
        entries[directory.name] = Entry()
        if CALLER_WAV not in directory.stats:
            continue
        try:
            call = parse_call(directory)
            audio = load_audio(directory.path, "caller")
        except CallRecordError:  # MalformedCall is reported by the records load
            continue
        starts = {
            e["data"]["turn"]: e["t"]
            for e in reversed(call.events)  # reversed: the first start of a turn wins
            if e["type"] == "caller.utterance_started" and type(e["data"].get("turn")) is int
        }
        if "caller" not in audio.channels or call.call_sid in taken:
            continue
        taken.add(call.call_sid)
        entries[directory.name].key = call.call_sid
        for turn, seconds in sorted(recording_v2v(audio, starts).items()):
            rows["call_sid"].append(call.call_sid)
            rows["caller_turn"].append(turn)
            rows["v2v_recording_s"].append(seconds)
    return Built({"recording": pa.Table.from_pydict(rows, schema=RECORDING_SCHEMA)}, entries)
