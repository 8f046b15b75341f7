"""One expectation model: the scenario's, analysis' and the plugin's are the same thing."""

from __future__ import annotations

import pytest

from voicelab import analysis
from voicelab.errors import ScenarioError
from voicelab.expectations import Expectation
from voicelab.simulator.scenario import ScenarioExpectation


def test_every_layer_uses_the_one_model() -> None:
    assert ScenarioExpectation is Expectation and analysis.Expectation is Expectation


def test_a_manifest_copy_validates_back_to_the_same_expectation() -> None:
    expectation = Expectation(turn=1, contains="sorry", max_latency_s=4)
    written = expectation.manifest()
    assert written == {"turn": 1, "contains": ["sorry"], "max_latency_s": 4.0}
    assert Expectation.from_dict(written) == expectation


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"turn": 1, "contians": "x"}, "unknown keys"),
        ({"turn": 1}, "needs contains, regex"),
        ({"regex": "("}, "does not compile"),
        ({"turn": "1", "contains": "x"}, "turn"),  # strict: a quoted number is a typo
        ({"contains": []}, "contains"),
        ({"max_latency_s": 0}, "max_latency_s"),
    ],
)
def test_invalid_expectations_name_what_is_wrong(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        Expectation.from_dict(raw)
