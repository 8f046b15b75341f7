"""The reference agent's tools: tickets, the site directory, the transfer's TwiML, hanging up."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _doubles import ACCOUNT, TOKEN, not_found_twilio, updating_twilio
from helpers import serve_app
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndWorkerFrame,
    FunctionCallResultProperties,
)
from pipecat.tests.utils import SleepFrame, run_test

from voicelab.bot.agent import AgentContext
from voicelab.bot.call import CallInfo
from voicelab.bot.persona import load_persona
from voicelab.bot.tools import TRANSFER_LINE, GuestRelationsTools, SpeechWatch
from voicelab.config import Settings, load_settings
from voicelab.defaults import load_sites
from voicelab.errors import ConfigError
from voicelab.recording.store import CallRecord

SID = "CA" + "7" * 32


def context(tmp_path: Path, call_sid: str = SID, **settings: Any) -> AgentContext:
    call = CallInfo(call_sid, "MZ" + "7" * 32, ACCOUNT, "inbound", "+15557770000", "+15550001111")
    record = CallRecord.open(tmp_path, call_sid, "server")
    return AgentContext(
        call, Settings(recordings_dir=tmp_path, **settings), None, load_persona("inbound"), record
    )


class Call:
    """A function call as pipecat hands it to a handler: arguments in, one result out."""

    def __init__(self, **arguments: Any) -> None:
        self.results: list[tuple[Any, FunctionCallResultProperties | None]] = []
        self.pushed: list[Any] = []
        self.params: Any = SimpleNamespace(
            arguments=arguments,
            result_callback=self._result,
            llm=SimpleNamespace(push_frame=self._push),
        )

    async def _result(self, result: Any, *, properties: Any = None) -> None:
        self.results.append((result, properties))

    async def _push(self, frame: Any, direction: Any = None) -> None:
        self.pushed.append(frame)

    @property
    def result(self) -> Any:
        ((only, _),) = self.results  # exactly one result per call
        return only


def run(handler: Any, call: Call) -> Call:
    asyncio.run(handler(call.params))
    return call


def manifest(ctx: AgentContext) -> dict[str, Any]:
    return ctx.record.read_manifest()


# --- log_feedback ------------------------------------------------------------------------


def test_tickets_are_deterministic_per_call_and_count(tmp_path: Path) -> None:
    tools = GuestRelationsTools(context(tmp_path))
    again = GuestRelationsTools(context(tmp_path))
    other = GuestRelationsTools(context(tmp_path / "b", "CA" + "8" * 32))
    assert re.fullmatch(r"FB-\d{6}", tools.ticket(1))
    assert tools.ticket(1) == again.ticket(1)  # the same call, the same ticket: replayable
    assert len({tools.ticket(1), tools.ticket(2), other.ticket(1)}) == 3


def test_logged_feedback_gets_its_ticket_and_lands_in_call_json(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    tools = GuestRelationsTools(ctx)
    first = run(
        tools.log_feedback,
        Call(site="Manchester", item="salad", issue="nuts in it", severity="HIGH"),
    )
    second = run(tools.log_feedback, Call(site="", item="curry", issue="cold", severity="medium"))
    assert first.result == {"ticket": tools.ticket(1)}
    assert second.result == {"ticket": tools.ticket(2)}
    assert manifest(ctx)["feedback"] == [
        {
            "ticket": tools.ticket(1),
            "site": "Manchester",
            "item": "salad",
            "issue": "nuts in it",
            "severity": "high",
        },
        {
            "ticket": tools.ticket(2),
            "site": None,
            "item": "curry",
            "issue": "cold",
            "severity": "medium",
        },
    ]


def test_feedback_of_no_known_severity_is_an_error_the_llm_can_say(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    call = run(GuestRelationsTools(ctx).log_feedback, Call(issue="cold", severity="urgent"))
    assert call.result == {"error": "severity must be low, medium or high, not urgent"}
    assert "feedback" not in manifest(ctx)


# --- lookup_site ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["manchester", "the Manchester site", "MANCHESTER STAFF RESTAURANT"]
)
def test_a_site_is_found_by_any_of_its_names(name: str) -> None:
    site = load_sites().find(name)
    assert site is not None and site.name == "Manchester Staff Restaurant"


@pytest.mark.parametrize("name", ["Paris", "", "the site", "university hospital"])
def test_no_site_or_two_sites_alike_is_no_site(name: str) -> None:
    # "university hospital": one word each of two sites, so neither.
    assert load_sites().find(name) is None


def test_lookup_site_answers_the_site_or_an_error_naming_the_sites(tmp_path: Path) -> None:
    tools = GuestRelationsTools(context(tmp_path))
    found = run(tools.lookup_site, Call(name="Leeds")).result
    assert found["name"] == "Leeds General Hospital Cafe"
    assert found["address"] and found["hours"] and found["duty_manager"].startswith("+1555")
    missing = run(tools.lookup_site, Call(name="Paris")).result
    assert "no single site matches 'Paris'" in missing["error"]
    assert "London Office Cafeteria" in missing["error"]


def test_the_default_duty_manager_is_in_the_directory_and_the_setting_is_checked() -> None:
    numbers = [site.duty_manager for site in load_sites().sites]
    assert Settings().duty_manager_number in numbers
    with pytest.raises(ConfigError, match="VOICELAB_DUTY_MANAGER_NUMBER"):
        load_settings(duty_manager_number="0161 496 0000")


# --- transfer_to_duty_manager -----------------------------------------------------------


def twilio(base: str, **settings: Any) -> dict[str, Any]:
    return {
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_api_base": base,
        **settings,
    }


def test_the_transfer_updates_the_call_with_say_and_dial_twiml(tmp_path: Path) -> None:
    app, updates = updating_twilio()
    with serve_app(app) as base:
        ctx = context(tmp_path, **twilio(base, duty_manager_number="+15550100105"))
        tools = GuestRelationsTools(ctx)
        call = run(tools.transfer_to_duty_manager, Call(reason="allergy"))
    assert [u["call_sid"] for u in updates] == [SID]
    twiml = ET.fromstring(updates[0]["Twiml"])
    assert [(verb.tag, verb.text) for verb in twiml] == [
        ("Say", TRANSFER_LINE),
        ("Dial", "+15550100105"),
    ]
    assert "Status" not in updates[0]  # a transfer, never a hang-up
    ((result, properties),) = call.results
    assert result == {"transferred_to": "+15550100105"}
    assert properties is not None and properties.run_llm is False  # Twilio has the caller now
    assert manifest(ctx)["transferred_to"] == "+15550100105"


def test_without_twilio_credentials_the_transfer_is_an_error_result(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    call = run(GuestRelationsTools(ctx).transfer_to_duty_manager, Call(reason="upset"))
    assert "no Twilio credentials" in call.result["error"]
    assert "transferred_to" not in manifest(ctx)


def test_a_transfer_twilio_refuses_is_an_error_result_and_no_transfer(tmp_path: Path) -> None:
    app, updates = not_found_twilio()
    with serve_app(app) as base:
        ctx = context(tmp_path, **twilio(base))
        call = run(GuestRelationsTools(ctx).transfer_to_duty_manager, Call(reason="upset"))
    assert len(updates) == 1  # it was asked, and said no
    assert call.result["error"].startswith("the transfer failed: ")
    assert "transferred_to" not in manifest(ctx)


def test_the_transfer_waits_until_the_bot_has_said_its_sentence(tmp_path: Path) -> None:
    # Updating the call ends the bot's stream at once: "I am putting you through..." must
    # have been played first. The bot speaks from 0.3 s to 0.9 s; the transfer is asked for
    # at 0.1 s, while that sentence is still on its way to the TTS.
    app, updates = updating_twilio()

    async def scenario(base: str) -> float:
        speech = SpeechWatch()
        tools = GuestRelationsTools(context(tmp_path, **twilio(base)), speech)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def transfer() -> float:
            await asyncio.sleep(0.1)
            await tools.transfer_to_duty_manager(Call(reason="upset").params)
            return loop.time() - started

        task = asyncio.create_task(transfer())
        frames = [SleepFrame(0.3), BotStartedSpeakingFrame(), SleepFrame(0.6)]
        await run_test(speech, frames_to_send=[*frames, BotStoppedSpeakingFrame()])
        return await task

    with serve_app(app) as base:
        transferred_at = asyncio.run(scenario(base))
    assert len(updates) == 1
    assert transferred_at >= 0.85, transferred_at


# --- end_call ----------------------------------------------------------------------------


def test_end_call_asks_for_no_more_llm_and_ends_the_worker_behind_the_goodbye(
    tmp_path: Path,
) -> None:
    call = run(GuestRelationsTools(context(tmp_path)).end_call, Call())
    ((result, properties),) = call.results
    assert result == {"ended": True}
    assert properties is not None and properties.run_llm is False
    assert [type(frame) for frame in call.pushed] == [EndWorkerFrame]
