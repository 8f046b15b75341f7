"""Twilio ids, numbers and statuses: one definition, strict at the edges."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest
from pydantic import BaseModel, Field, ValidationError

from voicelab.telephony import ids


@pytest.mark.parametrize("number", ["+15551234567", "+442071838750", "+1234567", "+" + "9" * 15])
def test_e164_accepts_numbers(number: str) -> None:
    assert ids.is_e164(number)


@pytest.mark.parametrize(
    "number",
    [
        "15551234567",
        "+05551234567",
        "+123456",
        "+" + "9" * 16,
        "+15551234567\n",
        " +15551234567",
        15551234567,
    ],
)
def test_e164_refuses_everything_else(number: object) -> None:
    assert not ids.is_e164(number)


def test_the_pattern_string_and_the_regex_agree_in_pydantic() -> None:
    class Number(BaseModel):
        value: str = Field(pattern=ids.E164_PATTERN)

    assert Number(value="+15551234567").value == "+15551234567"
    for bad in ("+123456", "+15551234567\n", "x+15551234567"):
        with pytest.raises(ValidationError):
            Number(value=bad)


def test_sids_refuse_a_trailing_newline() -> None:
    call_sid, stream_sid = "CA" + "0" * 32, "MZ" + "a" * 32
    assert ids.is_call_sid(call_sid) and ids.is_stream_sid(stream_sid)
    assert not ids.is_call_sid(call_sid + "\n") and not ids.is_stream_sid(stream_sid + "\n")
    assert not ids.is_call_sid(stream_sid) and not ids.is_stream_sid(call_sid)


def test_statuses_nest() -> None:
    assert ids.FINAL_CALL_STATUSES < ids.CALL_STATUSES < ids.CALLBACK_STATUSES
    assert {"initiated"} == (ids.CALLBACK_STATUSES - ids.CALL_STATUSES)
    assert set(get_args(ids.CallStatus)) == ids.CALL_STATUSES


def test_every_dial_outcome_ends_in_one_final_status_and_only_these_are_scripted() -> None:
    from voicelab.errors import InvalidArgumentError, ScenarioError
    from voicelab.simulator.carrier import Carrier
    from voicelab.simulator.scenario import Scenario

    assert set(ids.DIAL_OUTCOME_STATUS) == ids.DIAL_OUTCOMES == set(get_args(ids.DialOutcome))
    assert set(ids.DIAL_OUTCOME_STATUS.values()) <= ids.FINAL_CALL_STATUSES
    assert ids.DIAL_OUTCOME_STATUS["answer"] == "completed"
    # The scenario model and the carrier accept exactly these outcomes.
    for outcome in ids.DIAL_OUTCOMES:
        Carrier("AC" + "0" * 32, "token").script_destination("+15551230000", outcome=outcome)
        assert Scenario(id="x", direction="outbound", outcome=outcome).outcome == outcome
    with pytest.raises(InvalidArgumentError, match="outcome must be one of"):
        Carrier("AC" + "0" * 32, "token").script_destination("+15551230000", outcome="voicemail")
    with pytest.raises((ScenarioError, ValidationError)):
        Scenario(id="x", direction="outbound", outcome="voicemail")  # type: ignore[arg-type]


def test_config_reads_ids_without_loading_the_twilio_sdk() -> None:
    # voicelab.config imports voicelab.telephony.ids: the package must not import its
    # SDK-backed modules (which import config) eagerly, or the import would be a cycle.
    code = "import sys, voicelab.config; print('twilio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- ASCII digits only (issue 15, item 1) -------------------------------------------------------
# \d matches every Unicode decimal digit, in `re` and in pydantic's Rust engine: a fullwidth
# "+1９００5550100" passed as a number, then missed the premium-rate prefix "+1900".

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NON_ASCII_DIGITS = st.characters(categories=["Nd"]).filter(lambda c: c not in "0123456789")


def _number_model() -> type[BaseModel]:
    class Number(BaseModel):
        value: str = Field(pattern=ids.E164_PATTERN)

    return Number


@given(
    prefix=st.text(alphabet="0123456789", min_size=0, max_size=5),
    digit=_NON_ASCII_DIGITS,
    suffix=st.text(alphabet="0123456789", min_size=6, max_size=8),
)
def test_no_unicode_digit_is_a_phone_number_digit(prefix: str, digit: str, suffix: str) -> None:
    number = f"+1{prefix}{digit}{suffix}"
    assert not ids.is_e164(number)
    assert not ids.is_e164_prefix(f"+1{prefix}{digit}")
    with pytest.raises(ValidationError):
        _number_model()(value=number)


@pytest.mark.parametrize(
    "number",
    [
        "+1９００5550100",  # fullwidth
        "+1٩٠٠٥٥٥٠١٠٠",  # Arabic-Indic
        "+1𝟗𝟎𝟎5550100",  # mathematical bold
        "+1९००5550100",  # Devanagari
        "+1２４２5550100",  # a denied Caribbean area, fullwidth
    ],
)
def test_the_reported_numbers_are_refused(number: str) -> None:
    assert not ids.is_e164(number)
    with pytest.raises(ValidationError):
        _number_model()(value=number)
