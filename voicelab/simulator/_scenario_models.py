"""The parts of a scenario: the caller's persona, its turns, its goal, and what the bot must do.

Numbers are strict (``pause: true`` or ``pause: "8"`` is an error, not 1 or 8 seconds):
a scenario file is written by hand, and a silent coercion hides the typo.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import soundfile as sf
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from voicelab.expectations import Expectation
from voicelab.telephony.ids import E164_PATTERN

__all__ = [
    "ACTION_KEYS",
    "CallerGoal",
    "CallerPersona",
    "JudgedMetric",
    "ScenarioExpectation",
    "ScenarioTurn",
    "audio_problem",
]

ACTION_KEYS = ("say", "wav", "dtmf", "pause", "hang_up")
_DTMF = re.compile(r"^[0-9*#]+$")

# Seconds: strict so that YAML's ``true`` or a quoted "8" is reported, never coerced.
_Seconds = Annotated[float, Field(strict=True, ge=0, le=120)]


def audio_problem(path: Path, name: str) -> str | None:
    """Why ``path`` (``name`` in the file) cannot be a ``wav`` turn's audio; ``None`` if it can.

    Any path is allowed, inside the scenario's directory or not (``../clips/`` shared by
    several suites, an absolute path on a volume every Ray node mounts): what is read is
    only played into the call the user places, and nothing but a regular file soundfile
    decodes gets that far, so ``/etc/passwd`` or a device is refused here. Only the header
    is read (``soundfile.info``), not the audio.
    """
    if not path.exists():
        return f"no such audio file {name!r} next to the scenario file"
    if not path.is_file():  # a directory, a FIFO or a device would block or never end
        return f"{name!r} is not a regular file"
    try:
        found = sf.info(str(path))
    except (OSError, RuntimeError) as exc:
        # A LibsndfileError's str() repeats the path; its error_string is the reason alone.
        reason = str(getattr(exc, "error_string", "") or exc).rstrip(".")
        return f"{name!r} is not a readable audio file (WAV, FLAC, OGG...): {reason}"
    if found.frames == 0:
        return f"{name!r} holds no audio (0 frames)"
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallerPersona(_Model):
    """Who the simulated caller is.

    Attributes:
        name: Shown in reports; a goal-driven caller plays this person.
        number: The caller's E.164 number (the ``From`` of an inbound call, the ``To``
            of an outbound one).
        speaking_rate: 1.0 is Piper's normal pace; 1.2 speaks 20 % faster.
        noise_snr_db: Background noise, in dB below the speech; ``None`` for a clean line.
        voice_variation: 0 (default) speaks each line the same way on every run; up to 1,
            Piper's own run-to-run variation.
    """

    name: str = Field(default="Alex Morgan", min_length=1)
    number: str = Field(default="+15557770100", pattern=E164_PATTERN)
    speaking_rate: float = Field(default=1.0, strict=True, ge=0.5, le=2.0)
    noise_snr_db: float | None = Field(default=None, strict=True, ge=0, le=60)
    voice_variation: float = Field(default=0.0, strict=True, ge=0.0, le=1.0)


class ScenarioTurn(_Model):
    """One thing the caller does; exactly one of ``say``, ``wav``, ``dtmf``, ``pause``, ``hang_up``.

    Attributes:
        say: A line spoken by the caller's voice.
        wav: An audio file to play, relative to the scenario file.
        text: What ``wav`` says (the ground truth for word error rates).
        barge_in_after: With ``say``/``wav``: speak this many seconds after the bot's
            reply becomes audible instead of waiting for it to finish.
        dtmf: Keys to press, ``0-9*#``; several keys are pressed one after another.
        pause: Seconds of silence.
        hang_up: Hang up this many seconds from now (``true`` means now).
    """

    say: str | None = Field(default=None, min_length=1)
    wav: str | None = Field(default=None, min_length=1)
    text: str | None = None
    barge_in_after: _Seconds | None = None
    dtmf: str | None = None
    pause: Annotated[float, Field(strict=True, gt=0, le=120)] | None = None
    hang_up: _Seconds | None = None

    @field_validator("say")
    @classmethod
    def _spoken(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("a line to say cannot be blank")
        return None if value is None else " ".join(value.split())

    @field_validator("dtmf", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        # YAML reads ``dtmf: 0123`` as the octal number 83: insist on a quoted string.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f'quote the keys, e.g. dtmf: "{value}" (YAML reads them as a number)')
        if isinstance(value, str) and not _DTMF.match(value):
            raise ValueError(f"keys are 0-9, * and #, got {value!r}")
        return value

    @field_validator("hang_up", mode="before")
    @classmethod
    def _now(cls, value: Any) -> Any:
        if value is True:
            return 0.0
        if value is False:
            raise ValueError("hang_up is seconds from now, or true for now; remove the turn")
        return value

    @field_validator("wav")
    @classmethod
    def _readable_audio(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Checked when the file loads (load_scenario gives base_dir), so a path that is
        # no audio is the file's error with its line, not a traceback mid-call.
        base = (info.context or {}).get("base_dir")
        if value is not None and base is not None:
            problem = audio_problem(Path(base) / value, value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_action(self) -> ScenarioTurn:
        present = [key for key in ACTION_KEYS if getattr(self, key) is not None]
        if len(present) != 1:
            found = " and ".join(present) or "none"
            raise ValueError(f"a turn does exactly one of {', '.join(ACTION_KEYS)}; found {found}")
        if self.text is not None and self.wav is None:
            raise ValueError("text goes with wav (a say line is its own text)")
        if self.barge_in_after is not None and self.kind not in ("say", "wav"):
            raise ValueError(f"barge_in_after goes with say or wav, not {self.kind}")
        return self

    @property
    def kind(self) -> str:
        """Which action this is: ``say``, ``wav``, ``dtmf``, ``pause`` or ``hang_up``."""
        return next(key for key in ACTION_KEYS if getattr(self, key) is not None)

    @property
    def spoken(self) -> bool:
        """Whether the caller speaks (a turn the bot answers)."""
        return self.kind in ("say", "wav")


class CallerGoal(_Model):
    """A goal-driven caller: an LLM improvises the caller's lines toward ``objective``.

    Attributes:
        objective: What the caller wants from the call, in plain words.
        max_turns: Most lines the caller improvises before it hangs up.
        persona: Who the caller is, in plain words (pipecat eval's ``persona:``); the
            scenario's ``caller.name`` when unset.
    """

    objective: str = Field(min_length=1)
    persona: str | None = Field(default=None, min_length=1, max_length=2000)
    max_turns: int = Field(default=3, strict=True, ge=1, le=20)


class JudgedMetric(_Model):
    """A criterion judged on every bot reply of a call (pipecat eval's judged ``metrics:``).

    Attributes:
        name: The metric's name (a column in the judgments table).
        criterion: What a good reply does, in plain words.
        min_score: The least share of replies that must meet it (``None``: measured only).
    """

    name: str = Field(min_length=1, max_length=80)
    criterion: str = Field(min_length=1, max_length=2000)
    min_score: float | None = Field(default=None, ge=0, le=1)


# One model for the simulator, analysis and the plugin (voicelab/expectations.py).
ScenarioExpectation = Expectation
