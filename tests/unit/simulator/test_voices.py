"""The caller's Piper voice: repeatable by default, variable on request."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from voicelab.errors import ScenarioError
from voicelab.simulator.models import CallerModels
from voicelab.simulator.voices import PHONE_RATE, CallerVoice

LINE = "Hi, the soup was cold today at lunch."


def test_the_same_line_is_the_same_audio_on_every_run(caller_models: CallerModels) -> None:
    voice = CallerVoice(models=caller_models)
    first, second = voice.speak(LINE), CallerVoice(models=caller_models).speak(LINE)
    assert first.dtype == np.float32 and 1.0 < first.size / PHONE_RATE < 5.0
    assert np.array_equal(first, second)


def test_variation_lets_piper_vary_the_line(caller_models: CallerModels) -> None:
    voice = CallerVoice(variation=1.0, models=caller_models)
    takes = [voice.speak(LINE) for _ in range(3)]
    assert any(not np.array_equal(a, b) for a, b in pairwise(takes))


def test_a_faster_caller_speaks_the_line_in_less_time(caller_models: CallerModels) -> None:
    fast = CallerVoice(speaking_rate=1.5, models=caller_models).speak(LINE)
    assert fast.size < 0.8 * CallerVoice(models=caller_models).speak(LINE).size


@pytest.mark.parametrize("kwargs", [{"speaking_rate": 3.0}, {"variation": 1.5}])
def test_out_of_range_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ScenarioError, match="must be between"):
        CallerVoice(**kwargs)
