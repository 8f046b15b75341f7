"""The benchmark's caller speech: scenario lines with pauses inside sentences.

A scenario's ``say`` line is spoken by Piper in one go, and a ``pause`` turn comes only
after the bot has answered, so a scenario file cannot put silence *inside* a sentence.
The benchmark scenarios (``bench/scenarios/*.yaml``, ordinary voicelab scenarios) mark
such a pause with `` ... `` in a ``say`` line; :func:`with_pauses` speaks the pieces with
the scenario caller's voice, joins them with :data:`PAUSE_S` of line silence and plays the
result as a ``wav`` turn whose ``text`` is the line without the marks (the ground truth for
WER). Played with ``voicelab simulate`` instead, the same files still run: Piper reads
"..." as a short breath.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile as sf

from voicelab.simulator.scenario import Scenario, ScenarioTurn, load_scenario
from voicelab.simulator.voices import PHONE_RATE, CallerVoice

__all__ = ["PAUSE_MARK", "PAUSE_S", "bench_scenarios", "spoken_turns", "with_pauses"]

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
PAUSE_MARK = re.compile(r"\s*\.\.\.\s*")
PAUSE_S = 0.7
"""Silence inside a sentence: longer than a hurried speaker's breath, shorter than the end of
a turn. Above voicelab's 0.2 s VAD stop plus 0.4 s speech timeout, and the stock 0.2 s VAD
stop, so an end-of-turn rule that waits on silence alone answers half a sentence."""


def with_pauses(scenario: Scenario, workdir: Path) -> Scenario:
    """``scenario`` with every ``say`` line that has `` ... `` rendered as a paused WAV turn.

    The WAVs (8 kHz mono) and the scenario's new home are in ``workdir``.
    """
    voice = CallerVoice(scenario.caller.speaking_rate, scenario.caller.voice_variation)
    workdir.mkdir(parents=True, exist_ok=True)
    turns: list[ScenarioTurn] = []
    for index, turn in enumerate(scenario.turns):
        if turn.say is None or not PAUSE_MARK.search(turn.say):
            turns.append(turn)
            continue
        pieces = [p for p in PAUSE_MARK.split(turn.say) if p]
        silence = np.zeros(int(PAUSE_S * PHONE_RATE), dtype=np.float32)
        audio = [voice.speak(pieces[0])]
        for piece in pieces[1:]:
            audio += [silence, voice.speak(piece)]
        name = f"{scenario.id}_{index:02d}.wav"
        sf.write(workdir / name, np.concatenate(audio), PHONE_RATE)
        turns.append(
            ScenarioTurn(wav=name, text=" ".join(pieces), barge_in_after=turn.barge_in_after)
        )
    return scenario.model_copy(update={"turns": turns, "path": workdir / f"{scenario.id}.yaml"})


def bench_scenarios(workdir: Path, directory: Path = SCENARIOS) -> list[Scenario]:
    """Every ``*.yaml`` under ``directory`` (sorted), with its pauses rendered into ``workdir``."""
    return [with_pauses(load_scenario(path), workdir) for path in sorted(directory.glob("*.yaml"))]


def spoken_turns(scenario: Scenario) -> int:
    """How many turns of ``scenario`` the bot answers."""
    return sum(turn.spoken for turn in scenario.turns)
