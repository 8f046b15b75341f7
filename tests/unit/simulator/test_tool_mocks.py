"""A scenario's tools: block: validated when the scenario loads, matched by arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from voicelab.errors import ScenarioError
from voicelab.mocks import ToolMock, ToolMocks, mock_for
from voicelab.simulator.scenario import load_scenario


def test_one_mock_or_a_list_tried_in_order_by_arguments() -> None:
    mocks = ToolMocks.model_validate(
        {
            "tools": {
                "lookup_site": [
                    {"when_args": {"name": "London office"}, "returns": {"floor": 3}},
                    {"error": "no such site"},
                ],
                "log_feedback": {"returns": {"ticket": "T-1"}},
            }
        }
    )
    london = mock_for(mocks, "lookup_site", {"name": "London office", "extra": 1})
    assert london is not None and london.returns == {"floor": 3}
    other = mock_for(mocks, "lookup_site", {"name": "Leeds"})
    assert other is not None and other.error == "no such site"
    assert mock_for(mocks, "log_feedback", None) == ToolMock(returns={"ticket": "T-1"})
    assert mock_for(mocks, "transfer", {}) is None


@pytest.mark.parametrize(
    "mock",
    [{}, {"returns": 1, "error": "both"}, {"returns": 1, "raises": "unknown key"}],
)
def test_a_mock_returns_or_fails_not_both_nor_neither(mock: dict) -> None:
    with pytest.raises(ValidationError):
        ToolMock.model_validate(mock)


def test_returns_null_is_a_result_not_a_missing_one() -> None:
    assert ToolMock.model_validate({"returns": None}).returns is None


def test_a_scenario_carries_its_mocks_into_the_manifest(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "turns:\n  - say: Hello.\n"
        "tools:\n  log_feedback:\n    returns: {ticket: T-1}\n"
        "strict_tools: true\n"
    )
    scenario = load_scenario(path)
    assert scenario.manifest()["tools"] == {
        "tools": {"log_feedback": [{"returns": {"ticket": "T-1"}}]},
        "strict": True,
    }


def test_a_bad_mock_names_the_file_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("turns:\n  - say: Hello.\ntools:\n  log_feedback:\n    retruns: 1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "tools" in str(info.value) and "line" in str(info.value)
