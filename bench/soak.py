"""Load test and soak: many simulated calls at once on the instant stack, real Silero VAD.

    .venv/bin/python bench/soak.py [--simultaneous 64] [--sequential 500] [--batch 8]
                                   [--results bench/RESULTS.md]

Everything runs in this process on 127.0.0.1 (``LocalNetwork``: the real server and the
carrier, real HTTP, signed webhooks and Media Streams websockets). The providers are
``instant`` (no models; the pipeline, Silero VAD, turn-taking, transport and recorder are
real), so the load is the framework's own.

Every caller says the same line of Piper speech mixed with a quiet pilot tone at a
frequency of its own. Afterwards every call's record is checked (valid WAVs, ``call.json``
with an end reason, ``events.jsonl`` ending in ``call.ended``, server and caller events),
and the caller channel of every server recording must hold its own pilot tone and no
other call's (an FFT): audio crossed between calls shows up as a foreign pilot.

Phase 1 places ``--simultaneous`` calls at once. Phase 2 places ``--sequential`` calls one
after another, ``--batch`` at a time, sampling the process's RSS after each batch, and
checks that memory stays flat (within 10 % from after the warm-up to the end). The
figures are appended to ``--results`` as Markdown. ``tests/load/test_load.py`` runs a
small version of the same harness in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np
import soundfile as sf

from voicelab.config import Settings, load_settings
from voicelab.network import LocalNetwork
from voicelab.simulator.scenario import Scenario, ScenarioTurn
from voicelab.simulator.simulator import SimulatedCall
from voicelab.simulator.voices import PHONE_RATE, CallerVoice

__all__ = [
    "LINE",
    "CallCheck",
    "LoadHarness",
    "Phase",
    "line_is_clean",
    "pilot_hz",
    "pilot_levels",
    "pilot_prominence_db",
    "record_problems",
    "rss_mb",
]

ROOT = Path(__file__).resolve().parents[1]
LINE = "Hi, I have some feedback about the lunch I had today."
# Pilot tones: 10 Hz apart above most of the speech's energy and inside the phone band,
# far apart for an FFT over seconds of audio. 160 of them: calls that share one are never
# on the line at the same time.
PILOT_BASE_HZ = 1800.0
PILOT_STEP_HZ = 10.0
PILOT_COUNT = 160
PILOT_AMPLITUDE = 0.03  # about -33 dBFS RMS: quiet under the speech (about -20 dBFS)
# A line is judged by each pilot's prominence (see pilot_prominence_db) minus that
# pilot's median prominence over the phase's other recordings: the callers all say the
# same line, so whatever the shared speech puts near a pilot frequency cancels out.
# Measured on this harness: a caller's own pilot stands 16-27 dB above that baseline;
# pilots of calls on the line at the same time reach at most 5 dB on a machine that keeps
# up (chance), and another caller's audio for one second adds about 20 dB. The pilots
# of calls that were not on the line at the same time are the control: what chance alone
# gives on these recordings (an overloaded server's recordings reach ~12 dB there).
OWN_PILOT_MIN_DB = 10.0
FOREIGN_PILOT_MAX_DB = 10.0
MEMORY_TOLERANCE = 0.10


def pilot_hz(index: int) -> float:
    """The pilot tone of call ``index``."""
    return PILOT_BASE_HZ + PILOT_STEP_HZ * (index % PILOT_COUNT)


def pilot_prominence_db(samples: np.ndarray, rate: int, freqs: Sequence[float]) -> np.ndarray:
    """How far each frequency in ``freqs`` stands out as a steady tone in ``samples``, in dB.

    Welch's method: power spectra of 1 s Hann windows (1 Hz bins), overlapping by half,
    averaged. Averaging power rather than one long FFT keeps a tone visible when the
    recording has gaps or jumps (a loaded server's recorder fills late audio with
    silence). The prominence is the power at the frequency (the strongest bin within
    1 Hz) over the median of the bins 3-5 Hz away on either side: a few dB where there
    is no tone, well above 10 dB where a tone ran for seconds.
    """
    n = rate  # 1 s: 1 Hz bins
    x = samples.astype(np.float64)
    if x.size < n:
        x = np.pad(x, (0, n - x.size))
    window = np.hanning(n)
    starts = range(0, x.size - n + 1, n // 2)
    power = np.mean([np.abs(np.fft.rfft(x[s : s + n] * window)) ** 2 for s in starts], axis=0)
    out = np.empty(len(freqs))
    for k, freq in enumerate(freqs):
        centre = round(freq)
        peak = power[centre - 1 : centre + 2].max()
        side = np.concatenate([power[centre - 5 : centre - 2], power[centre + 3 : centre + 6]])
        out[k] = 10 * np.log10((peak + 1e-20) / (float(np.median(side)) + 1e-20))
    return out


def pilot_levels(
    samples: np.ndarray, rate: int, own_hz: float, other_hz: Sequence[float]
) -> tuple[float, float]:
    """Prominence of the own pilot and of the strongest other one, in dB (no baseline)."""
    scores = pilot_prominence_db(samples, rate, [own_hz, *other_hz])
    return float(scores[0]), float(scores[1:].max()) if len(other_hz) else 0.0


def line_is_clean(own_db: float, foreign_db: float) -> bool:
    """Whether a line holds its own caller's pilot and no other call's."""
    return own_db >= OWN_PILOT_MIN_DB and foreign_db < FOREIGN_PILOT_MAX_DB


def judge_lines(checks: Sequence[CallCheck]) -> None:
    """Set each check's ``pilots_db`` and ``control_db`` against the phase's baseline.

    ``pilots_db`` is (own pilot, strongest pilot of a call in the same batch), each over
    its baseline (its median prominence in the phase's other recordings that do not
    carry it; 0 dB when there are none);
    ``control_db`` the strongest pilot of no call in the same batch (chance).
    """
    measured = [c for c in checks if c.prominence is not None]
    if len(measured) < 2:
        return
    levels = np.array([c.prominence for c in measured])
    owns = np.array([c.index % PILOT_COUNT for c in measured])
    carriers = owns[:, None] == np.arange(PILOT_COUNT)[None, :]
    batches: dict[int, set[int]] = {}
    for c in measured:
        batches.setdefault(c.batch, set()).add(c.index % PILOT_COUNT)
    for i, c in enumerate(measured):
        # Leave this line out of its own baseline, and every line that carries the pilot.
        others = np.ones(len(measured), dtype=bool)
        others[i] = False
        usable = others[:, None] & ~carriers
        baseline = np.array(
            [
                np.median(levels[usable[:, k], k]) if usable[:, k].any() else 0.0
                for k in range(PILOT_COUNT)
            ]
        )
        row = levels[i] - baseline
        own = c.index % PILOT_COUNT
        neighbours = sorted(batches[c.batch] - {own})
        control = sorted(set(range(PILOT_COUNT)) - batches[c.batch])
        foreign = float(row[neighbours].max()) if neighbours else 0.0
        c.pilots_db = (float(row[own]), foreign)
        c.control_db = float(row[control].max()) if control else None


def record_problems(directory: Path | None) -> list[str]:
    """What is missing or broken in a call's record; empty when it is complete.

    Complete: ``call.json`` with an ``end_reason`` and its recording, a readable stereo
    server WAV and ``caller.wav``, and ``events.jsonl`` of valid lines with server and
    caller events, the server's ``call.started`` and ``call.ended``, ending in ``call.ended``
    (only Twilio's status callbacks may come after it).
    """
    if directory is None or not directory.is_dir():
        return ["no call directory"]
    problems: list[str] = []
    try:
        manifest = json.loads((directory / "call.json").read_text())
    except (OSError, ValueError) as exc:
        return [f"call.json unreadable: {exc}"]
    if not manifest.get("end_reason"):
        problems.append("call.json has no end_reason")
    recording = manifest.get("recording")
    wavs = [directory / recording] if recording else []
    if not recording:
        problems.append("call.json names no recording")
    for path in [*wavs, directory / "caller.wav"]:
        try:
            info = sf.info(path)
        except (OSError, RuntimeError) as exc:
            problems.append(f"{path.name} is not a valid WAV: {exc}")
            continue
        if info.channels != 2 or info.frames == 0:
            problems.append(f"{path.name}: {info.channels} channels, {info.frames} frames")
    try:
        events = [
            json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()
        ]
    except (OSError, ValueError) as exc:
        return [*problems, f"events.jsonl unreadable: {exc}"]
    kinds = {(e["source"], e["type"]) for e in events}
    for needed in [("server", "call.started"), ("server", "call.ended"), ("caller", "call.ended")]:
        if needed not in kinds:
            problems.append(f"events.jsonl has no {needed[0]} {needed[1]}")
    # Twilio's final status callback ("completed") is sent after the media stream has
    # closed, so it may land after call.ended; anything else after it is a lost write.
    lifecycle = [e for e in events if e["type"] != "twilio.status"]
    if not lifecycle or lifecycle[-1]["type"] != "call.ended":
        problems.append("events.jsonl does not end with call.ended")
    return problems


def rss_mb() -> float:
    """This process's resident memory now, in MiB (Linux ``/proc``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's highest resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class CallCheck:
    """One call of a load run, checked.

    Attributes:
        index: The call's number in the run (picks its pilot tone).
        call: What the simulator observed.
        problems: What its record lacks (empty: complete).
        batch: Which batch of simultaneous calls it was in.
        prominence: Every pilot's prominence in the caller channel of its server
            recording (``None``: no recording).
        v2v_s: Caller-side voice-to-voice of the reply to its line.
        pilots_db: Own pilot and strongest same-batch pilot over their baselines
            (set by :func:`judge_lines`).
        control_db: Strongest pilot of no same-batch call over its baseline (chance).
    """

    index: int
    call: SimulatedCall
    problems: list[str]
    batch: int
    prominence: np.ndarray | None
    v2v_s: float | None
    pilots_db: tuple[float, float] | None = None
    control_db: float | None = None

    @property
    def ok(self) -> bool:
        """Completed, record complete, no foreign audio on its line."""
        return (
            self.call.status == "completed"
            and self.call.error is None
            and not self.problems
            and self.pilots_db is not None
            and line_is_clean(*self.pilots_db)
        )


@dataclass
class Phase:
    """The checked calls of one phase, with its memory samples and wall time."""

    name: str
    checks: list[CallCheck] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def completed(self) -> int:
        return sum(check.ok for check in self.checks)

    @property
    def latencies(self) -> list[float]:
        return [c.v2v_s for c in self.checks if c.v2v_s is not None]

    def failures(self) -> list[str]:
        """One line per call that is not :attr:`CallCheck.ok`."""
        return [
            f"call {c.index} ({c.call.call_sid}): status={c.call.status} error={c.call.error} "
            f"pilots_db={c.pilots_db} control_db={c.control_db} problems={c.problems}"
            for c in self.checks
            if not c.ok
        ]


class LoadHarness:
    """Plays pilot-tagged calls through a :class:`LocalNetwork` and checks what they left.

    Args:
        workdir: Holds the callers' WAV files and the recordings (``recordings/``).
        settings: Overrides for the server's settings (providers are ``instant``).
    """

    def __init__(self, workdir: Path, **settings: object) -> None:
        self.workdir = workdir
        self.audio_dir = workdir / "callers"
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self.settings: Settings = load_settings(
            **{
                "providers": "instant",
                "recordings_dir": workdir / "recordings",
                "log_dir": workdir / "logs",
                "max_calls": 1000,
                **settings,
            }
        )
        self._speech: np.ndarray | None = None
        self._next = 0
        self.progress = False

    def speech(self) -> np.ndarray:
        """The callers' line, synthesised once (Piper joe voice, 8 kHz)."""
        if self._speech is None:
            self._speech = CallerVoice().speak(LINE)
        return self._speech

    def scenario(self, index: int) -> Scenario:
        """Call ``index``: the line with its pilot tone mixed in, from a WAV file."""
        speech = self.speech()
        t = np.arange(speech.size) / PHONE_RATE
        tone = PILOT_AMPLITUDE * np.sin(2 * np.pi * pilot_hz(index) * t)
        wav = self.audio_dir / f"caller_{index:04d}.wav"
        sf.write(wav, np.clip(speech + tone, -1, 1).astype(np.float32), PHONE_RATE)
        return Scenario(
            id=f"load_{index:04d}",
            description="load test caller with a pilot tone of its own",
            turns=[ScenarioTurn(wav=wav.name, text=LINE)],
            path=self.audio_dir / "load.yaml",
        )

    async def run_phase(self, network: LocalNetwork, name: str, calls: int, at_once: int) -> Phase:
        """Place ``calls`` calls, ``at_once`` at a time, sampling RSS after every batch."""
        phase = Phase(name)
        started = time.perf_counter()
        remaining = calls
        while remaining > 0:
            size = min(at_once, remaining)
            indices = list(range(self._next, self._next + size))
            self._next += size
            remaining -= size
            scenarios = [self.scenario(i) for i in indices]
            results = await asyncio.gather(*(network.simulate(s) for s in scenarios))
            batch = indices[0]
            for index, call in zip(indices, results, strict=True):
                phase.checks.append(await asyncio.to_thread(self.check, index, call, batch))
            gc.collect()
            phase.rss_mb.append(rss_mb())
            if self.progress:
                done = len(phase.checks)
                print(f"  {name}: {done}/{calls} calls, RSS {phase.rss_mb[-1]:.0f} MiB", flush=True)
        phase.seconds = time.perf_counter() - started
        judge_lines(phase.checks)
        return phase

    def check(self, index: int, call: SimulatedCall, batch: int) -> CallCheck:
        """Check one call's record and measure the pilots on its line."""
        v2v = call.caller.v2v().get(1) if call.caller is not None else None
        return CallCheck(
            index,
            call,
            record_problems(call.directory),
            batch,
            line_prominence(call.directory),
            v2v,
        )


def line_prominence(directory: Path | None) -> np.ndarray | None:
    """Every pilot's prominence in the caller channel of a call's server recording."""
    manifest = directory / "call.json" if directory else None
    if manifest is None or not manifest.exists():
        return None
    recording = json.loads(manifest.read_text()).get("recording")
    if not recording or not (manifest.parent / recording).exists():
        return None
    audio, rate = sf.read(manifest.parent / recording, always_2d=True)
    return pilot_prominence_db(audio[:, 0], rate, [pilot_hz(i) for i in range(PILOT_COUNT)])


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (linear), ``None`` for no values."""
    if not values:
        return None
    return float(np.quantile(np.asarray(values), q))


def markdown(simultaneous: Phase, sequential: Phase, batch: int, load: str) -> str:
    """The soak's figures as a ``bench/RESULTS.md`` section."""
    rss = sequential.rss_mb
    warm = rss[min(len(rss) - 1, max(0, len(rss) // 10))] if rss else float("nan")
    growth = (rss[-1] - warm) / warm if rss else float("nan")
    lines = [
        f"### Soak, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} CPU cores, {platform.platform()}, CPython "
        f"{platform.python_version()}; load average before the run {load}. Server, carrier",
        "and callers in one process (`LocalNetwork`), `instant` providers, real Silero VAD.",
        "",
        "| phase | calls | completed | record complete | own caller on the line | "
        "no other caller on the line | wall s | v2v_caller_s p50 | p95 | max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase in (simultaneous, sequential):
        lat = phase.latencies
        cells = [quantile(lat, 0.5), quantile(lat, 0.95), max(lat) if lat else None]
        shown = " | ".join("n/a" if v is None else f"{v:.2f}" for v in cells)
        levels = [c.pilots_db for c in phase.checks if c.pilots_db is not None]
        lines.append(
            f"| {phase.name} | {len(phase.checks)} "
            f"| {sum(c.call.status == 'completed' for c in phase.checks)} "
            f"| {sum(not c.problems for c in phase.checks)} "
            f"| {sum(own >= OWN_PILOT_MIN_DB for own, _ in levels)} "
            f"| {sum(foreign < FOREIGN_PILOT_MAX_DB for _, foreign in levels)} "
            f"| {phase.seconds:.0f} | {shown} |"
        )
    lines.append("")
    for phase in (simultaneous, sequential):
        levels = [c.pilots_db for c in phase.checks if c.pilots_db is not None]
        control = [c.control_db for c in phase.checks if c.control_db is not None]
        if not levels:
            lines.append(f"{phase.name}: no recordings to check for cross-talk.")
            continue
        owns = [own for own, _ in levels]
        lines.append(
            f"{phase.name}, pilots over their baselines (dB): own min {min(owns):.1f}, "
            f"median {statistics.median(owns):.1f} (pass >= {OWN_PILOT_MIN_DB:.0f}); "
            f"strongest pilot of a simultaneous call max {max(f for _, f in levels):.1f} "
            f"(pass < {FOREIGN_PILOT_MAX_DB:.0f})"
            + (
                f"; control (pilots of no simultaneous call) max {max(control):.1f}."
                if control
                else "."
            )
        )
    lines.append(
        f"Memory (RSS of the process, sequential phase, {batch} calls at a time, sampled "
        f"after each batch): start {rss[0]:.0f} MiB, after warm-up {warm:.0f} MiB, end "
        f"{rss[-1]:.0f} MiB, max {max(rss):.0f} MiB (peak RSS of the run "
        f"{peak_rss_mb():.0f} MiB); growth after warm-up {growth:+.1%} "
        f"({'flat' if abs(growth) <= MEMORY_TOLERANCE else 'NOT flat'} within 10 %)."
        if rss
        else "Memory: not measured in this run."
    )
    return "\n".join(lines) + "\n"


def recheck(recordings: Path, simultaneous: int, batch: int) -> tuple[Phase, Phase]:
    """Rebuild both phases' checks from a finished run's call directories (no memory
    figures): call ``i`` of the run is ``load_<i>``; the first ``simultaneous`` calls
    were one batch, the rest batches of ``batch``."""
    first, second = Phase(f"{simultaneous} at once"), Phase(f"in a row, {batch} at a time")
    for directory in sorted(p for p in recordings.iterdir() if (p / "call.json").is_file()):
        scenario = json.loads((directory / "call.json").read_text()).get("scenario") or {}
        if not str(scenario.get("id", "")).startswith("load_"):
            continue
        index = int(scenario["id"].removeprefix("load_"))
        events = [
            json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()
        ]
        statuses = [e["data"]["status"] for e in events if e["type"] == "twilio.status"]
        call = SimulatedCall(scenario["id"], status=statuses[-1] if statuses else "unknown")
        call.directory = directory
        ended = [e["t"] for e in events if e["type"] == "caller.utterance_ended"]
        heard = [
            e["t"] for e in events if e["type"] == "caller.heard_started" and e["data"]["turn"] == 1
        ]
        v2v = round(heard[0] - ended[0], 4) if ended and heard and heard[0] >= ended[0] else None
        phase = first if index < simultaneous else second
        group = (
            0 if index < simultaneous else simultaneous + (index - simultaneous) // batch * batch
        )
        phase.checks.append(
            CallCheck(
                index, call, record_problems(directory), group, line_prominence(directory), v2v
            )
        )
    for phase in (first, second):
        judge_lines(phase.checks)
    second.name = f"{len(second.checks)} in a row, {batch} at a time"
    return first, second


async def soak(
    workdir: Path, simultaneous: int, sequential: int, batch: int
) -> tuple[Phase, Phase]:
    """Run both phases on one local network."""
    harness = LoadHarness(workdir)
    harness.progress = True
    harness.speech()
    async with LocalNetwork(harness.settings) as network:
        first = await harness.run_phase(
            network, f"{simultaneous} at once", simultaneous, simultaneous
        )
        print(f"{first.name}: {first.completed}/{len(first.checks)} ok in {first.seconds:.0f} s")
        for line in first.failures():
            print("  ", line)
        second = await harness.run_phase(
            network, f"{sequential} sequential, {batch} at a time", sequential, batch
        )
        print(
            f"{second.name}: {second.completed}/{len(second.checks)} ok in {second.seconds:.0f} s"
        )
        for line in second.failures():
            print("  ", line)
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simultaneous", type=int, default=64)
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--batch", type=int, default=8, help="sequential calls at a time")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--workdir", type=Path, help="keep the recordings here")
    parser.add_argument(
        "--recheck", type=Path, help="only re-judge a finished run's recordings (this workdir)"
    )
    args = parser.parse_args()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    if args.recheck:
        first, second = recheck(args.recheck / "recordings", args.simultaneous, args.batch)
        print(markdown(first, second, args.batch, load))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="voicelab-soak-"))
    first, second = asyncio.run(soak(workdir, args.simultaneous, args.sequential, args.batch))
    section = markdown(first, second, args.batch, load)
    print(section)
    with args.results.open("a") as results:
        results.write("\n" + section)
    print(f"appended to {args.results}; recordings in {workdir / 'recordings'}")


if __name__ == "__main__":
    main()
