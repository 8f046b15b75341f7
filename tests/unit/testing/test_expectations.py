"""One expectation model: the scenario's, analysis' and the plugin's are the same thing."""

from __future__ import annotations

import re
import time

import pytest

from voicelab import analysis
from voicelab.errors import ScenarioError
from voicelab.expectations import REGEX_BUDGET_S, Expectation, regex_search
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


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"sorry|apologi[sz]e", "We APOLOGISE for that."),  # case-insensitive
        (r"\brefund\b", "no refunds"),
        (r"(?<!no )refund", "a refund, no refund"),  # lookbehind
        (r"(\w+) \1", "so so sorry"),  # backreference
        (r"^thanks$", "hello\nthanks"),  # ^ and $ are the text's ends, as in re
        (r"[0-9]{2,}", "table 7"),
    ],
)
def test_regex_search_keeps_re_search_semantics(pattern: str, text: str) -> None:
    assert regex_search(pattern, text) is (re.search(pattern, text, re.IGNORECASE) is not None)


@pytest.mark.timeout(10)
def test_a_backtracking_pattern_runs_out_of_time_instead_of_hanging() -> None:
    # Exponential in re: ^(a|aa)+$ on 48 characters takes hours.
    started = time.monotonic()
    assert regex_search("^(a|aa)+$", "a" * 47 + "!") is None
    assert time.monotonic() - started < REGEX_BUDGET_S + 1
