"""``voicelab replay`` end to end: a call made by the simulator, played again by the CLI.

The providers are ``instant`` (a fixed transcript, the scripted LLM, a tone for speech;
real Silero VAD) with a short greeting: what is tested is the replay's caller, not the
models. The original caller barges in on its second reply, and the replay must too.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import read_events, short_greeting_prompts
from typer.testing import CliRunner

from voicelab.analysis import calls_df, replay_table, turns_df
from voicelab.cli import app
from voicelab.config import Settings
from voicelab.network import LocalNetwork
from voicelab.simulator.scenario import Scenario

pytestmark = pytest.mark.slow

LINES = ["Hi, my soup was cold today.", "Sorry, one more thing, the bread was stale."]


def test_a_replay_says_the_same_lines_and_lines_up_both_calls_latency(tmp_path, lab_models):
    prompts = short_greeting_prompts(tmp_path / "prompts")
    store = tmp_path / "recordings"
    settings = Settings(providers="instant", recordings_dir=store, prompts_dir=prompts)
    scenario = Scenario.model_validate(
        {
            "id": "replay_me",
            "turns": [{"say": LINES[0]}, {"say": LINES[1], "barge_in_after": 0.5}],
        }
    )

    async def original() -> Any:
        async with LocalNetwork(settings, models=lab_models) as network:
            return await network.simulate(scenario)

    call = asyncio.run(original())
    assert call.status == "completed" and call.directory is not None

    started = time.perf_counter()
    result = CliRunner().invoke(
        app,
        [
            "replay",
            str(call.directory),
            "--providers",
            "instant",
            "--keep-scenario",
            str(tmp_path / "kept"),
        ],
        env={"VOICELAB_RECORDINGS_DIR": str(store), "VOICELAB_PROMPTS_DIR": str(prompts)},
    )
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    print(f"replay took {seconds:.1f} s")

    # The kept scenario is the original caller: its clips, its pause, its barge-in.
    kept = yaml.safe_load(next((tmp_path / "kept").glob("*.yaml")).read_text())
    said = [turn for turn in kept["turns"] if "wav" in turn]
    assert [turn["text"] for turn in said] == LINES
    assert "barge_in_after" not in said[0] and 0.3 <= said[1]["barge_in_after"] <= 0.8

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calls = calls_df(store, cache=False).set_index("call_sid")
        turns = turns_df(store, cache=False)
    new_sid = next(sid for sid in calls.index if sid != call.call_sid)
    assert calls.loc[new_sid, "replay_of"] == call.call_sid
    new = turns[(turns["call_sid"] == new_sid) & (turns["caller_turn"] > 0)]
    assert new.sort_values("caller_turn")["caller_text"].tolist() == LINES
    # The server stamps an interruption with the turn it counts, which is not always the
    # replayed line's row: the call's events say it.
    for directory in (call.directory, Path(calls.loc[new_sid, "call_dir"])):
        kinds = [e["type"] for e in read_events(directory) if e["source"] == "server"]
        assert "interruption" in kinds, f"{directory.name}: the caller cut into a reply"

    # The table: the greeting, then one row per line with both calls' latency (printed,
    # and the same from the library).
    table = replay_table(call.directory, calls.loc[new_sid, "call_dir"])
    assert table["line"].tolist() == [0, 1, 2]
    assert table["caller_text"].tolist()[1:] == LINES
    replies = table[table["line"] > 0]
    assert replies[["original_v2v_s", "new_v2v_s", "v2v_change_s"]].notna().all().all(), table
    assert replies["new_reply"].str.len().gt(0).all()
    for line in LINES:
        assert line[:20] in result.output
    print(result.output)
