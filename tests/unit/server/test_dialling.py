"""The toll-fraud guard: prefixes (403), rate (429 + Retry-After), live-call cap (503).

The HTTP tests run the real app over real HTTP with Twilio faked at the HTTP layer;
the fake records every call creation, so "nothing refused reaches Twilio" is checked
on what Twilio received. (The cap on live calls needs live calls: see
``tests/integration/test_no_secrets_leak.py``, which holds a real one.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _doubles import ACCOUNT, TOKEN
from helpers import serve_app

from voicelab._tls import tls_context
from voicelab.config import DEFAULT_DENIED_PREFIXES, Settings
from voicelab.server.app import create_app
from voicelab.server.dialling import (
    DestinationRules,
    OutboundGuard,
    OutboundRefused,
    SlidingWindowLimiter,
)

KEY = "dial-" + "9" * 27


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(**overrides: Any) -> Settings:
    return Settings(providers="instant", **overrides)


# --- destinations ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["+19005550100", "+19765550100", "+18765550100"])
def test_premium_and_special_rate_prefixes_are_refused_inside_the_allow_list(number):
    rules = DestinationRules(["+1"], list(DEFAULT_DENIED_PREFIXES))
    with pytest.raises(OutboundRefused) as refused:
        rules.check(number)
    assert refused.value.status == 403
    assert str(refused.value).startswith(number[:5] + "... is a premium")
    assert "VOICELAB_OUTBOUND_DENIED_PREFIXES" in str(refused.value)


@pytest.mark.parametrize("number", ["+442079460958", "+33612345678", "+8613800138000"])
def test_numbers_outside_the_allow_list_are_refused(number):
    with pytest.raises(OutboundRefused) as refused:
        DestinationRules(["+1"], []).check(number)
    assert refused.value.status == 403
    assert "VOICELAB_OUTBOUND_ALLOWED_PREFIXES (allowed: +1)" in str(refused.value)


def test_allowed_numbers_pass_and_an_empty_allow_list_allows_nothing():
    rules = DestinationRules(["+1", "+44"], ["+1900"])
    rules.check("+15551234567")
    rules.check("+442079460958")
    with pytest.raises(OutboundRefused, match=r"allowed: none"):
        DestinationRules([], []).check("+15551234567")


# --- the sliding window ------------------------------------------------------------------------


def test_sliding_window_allows_the_limit_then_says_when_a_slot_frees():
    clock = Clock()
    limiter = SlidingWindowLimiter(3, 60, clock)
    for _ in range(3):
        assert limiter.acquire("key") is None
        clock.now += 10
    assert limiter.acquire("key") == pytest.approx(30)  # the first call was 30 s ago... of 60
    assert limiter.acquire("other") is None  # budgets are per identity
    clock.now += 30
    assert limiter.acquire("key") is None  # the first call left the window
    assert limiter.acquire("key") == pytest.approx(10)


def test_refused_attempts_do_not_extend_the_window():
    clock = Clock()
    limiter = SlidingWindowLimiter(1, 60, clock)
    assert limiter.acquire("key") is None
    for _ in range(5):
        clock.now += 10
        assert limiter.acquire("key") is not None
    clock.now += 10.5
    assert limiter.acquire("key") is None


def test_zero_per_minute_means_no_limit():
    limiter = SlidingWindowLimiter(0, 60, Clock())
    assert all(limiter.acquire("key") is None for _ in range(1000))


def test_idle_identities_are_forgotten_when_many():
    clock = Clock()
    limiter = SlidingWindowLimiter(1, 60, clock)
    limiter._MAX_IDENTITIES = 10
    for n in range(10):
        limiter.acquire(f"ip:10.0.0.{n}")
    clock.now += 61
    limiter.acquire("ip:10.0.1.1")
    assert len(limiter._seen) == 1


# --- the guard, rule by rule -----------------------------------------------------------------


def test_guard_checks_destination_then_capacity_then_rate():
    clock = Clock()
    guard = OutboundGuard(config(outbound_per_minute=1, max_calls=2), clock)
    with pytest.raises(OutboundRefused) as refused:
        guard.admit("+19005550100", "key", live_calls=5)
    assert refused.value.status == 403  # the destination first, whatever the load
    with pytest.raises(OutboundRefused) as refused:
        guard.admit("+15551234567", "key", live_calls=2)
    assert refused.value.status == 503 and "VOICELAB_MAX_CALLS" in str(refused.value)
    guard.admit("+15551234567", "key", live_calls=1)  # refusals above used no slot
    with pytest.raises(OutboundRefused) as refused:
        guard.admit("+15551234567", "key", live_calls=1)
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "60"}
    clock.now += 59.5
    with pytest.raises(OutboundRefused) as refused:
        guard.admit("+15551234567", "key", live_calls=1)
    assert refused.value.headers == {"Retry-After": "1"}  # whole seconds, never 0


def test_guard_capacity():
    guard = OutboundGuard(config(max_calls=3))
    assert not guard.at_capacity(2) and guard.at_capacity(3) and guard.at_capacity(4)


# --- over HTTP: nothing refused reaches Twilio -------------------------------------------------


@pytest.fixture(scope="module")
def server(twilio_api, tmp_path_factory) -> Iterator[str]:
    settings = config(
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_phone_number="+15550001111",
        twilio_api_base=twilio_api[0],
        recordings_dir=tmp_path_factory.mktemp("recordings"),
        api_key=KEY,
        outbound_allowed_prefixes=["+1", "+44"],
        outbound_per_minute=2,
    )
    with serve_app(create_app(settings, port=0)) as url:
        yield url


def post(server: str, number: str) -> httpx.Response:
    return httpx.post(
        server + "/outbound",
        json={"to_number": number},
        headers={"Authorization": f"Bearer {KEY}"},
        verify=tls_context(),  # http to 127.0.0.1: no CA bundle load per request
    )


@pytest.mark.parametrize(
    "number, rule",
    [
        ("+19005550100", "+1900... is a premium- or special-rate prefix refused by"),
        ("+19765550100", "+1976... is a premium- or special-rate prefix refused by"),
        ("+33612345678", "is outside VOICELAB_OUTBOUND_ALLOWED_PREFIXES"),
    ],
)
def test_refused_destinations_are_403_naming_the_rule_and_never_reach_twilio(
    server, twilio_api, number, rule
):
    created = twilio_api[1]
    before = len(created)
    response = post(server, number)
    assert response.status_code == 403
    assert rule in response.json()["detail"]
    assert len(created) == before


@pytest.mark.parametrize(
    "field, number",
    [
        ("to_number", "+1９００5550100"),
        ("to_number", "+1٩٠٠٥٥٥٠١٠٠"),
        ("to_number", "+1𝟗𝟎𝟎5550100"),
        ("to_number", "+1९००5550100"),
        ("to_number", "+1２４２5550100"),
        ("from_number", "+1５５５0001111"),
    ],
)
def test_non_ascii_digits_are_422_and_never_reach_twilio(server, twilio_api, field, number):
    created = twilio_api[1]
    before = len(created)
    body = {"to_number": "+15550002222", field: number}
    response = httpx.post(
        server + "/outbound",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        verify=tls_context(),  # http to 127.0.0.1: no CA bundle load per request
    )
    assert response.status_code == 422, response.text
    assert len(created) == before


def test_the_destination_rules_refuse_what_is_not_ascii_e164():
    # Defence in depth: whatever reaches the rules, only "+" and 0-9 pass them.
    with pytest.raises(OutboundRefused) as refused:
        DestinationRules(["+1"], ["+1900"]).check("+1９００5550100")
    assert refused.value.status == 403


def test_rate_limit_is_429_with_retry_after_and_never_reaches_twilio(server, twilio_api):
    # Runs after the 403 tests: refused destinations used none of the 2 calls a minute.
    created = twilio_api[1]
    before = len(created)
    assert post(server, "+15550002222").status_code == 200
    assert post(server, "+442079460958").status_code == 200
    assert len(created) == before + 2
    response = post(server, "+15550002222")
    assert response.status_code == 429
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    assert "VOICELAB_OUTBOUND_PER_MINUTE" in response.json()["detail"]
    assert len(created) == before + 2


def test_open_emulator_server_limits_per_client_address(twilio_api, tmp_path):
    settings = config(
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_phone_number="+15550001111",
        twilio_api_base=twilio_api[0],
        recordings_dir=tmp_path,
        outbound_per_minute=1,
    )
    with serve_app(create_app(settings, port=0)) as url:
        first = httpx.post(url + "/outbound", json={"to_number": "+15550002222"})
        second = httpx.post(url + "/outbound", json={"to_number": "+15550002222"})
    assert first.status_code == 200 and second.status_code == 429


def test_concurrent_outbound_requests_reserve_slots_before_twilio_is_asked(twilio_api, tmp_path):
    # Issue 15: with VOICELAB_MAX_CALLS=2, ten /outbound requests at once all reached
    # Twilio (calls placed but not yet streaming were not counted).
    import asyncio

    settings = config(
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_phone_number="+15550001111",
        twilio_api_base=twilio_api[0],
        recordings_dir=tmp_path,
        api_key=KEY,
        max_calls=2,
        outbound_per_minute=100,
    )
    created = twilio_api[1]
    before = len(created)

    async def burst(url: str) -> list[int]:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as client:
            requests = [
                client.post(url + "/outbound", json={"to_number": "+15550002222"})
                for _ in range(10)
            ]
            return sorted(r.status_code for r in await asyncio.gather(*requests))

    with serve_app(create_app(settings, port=0)) as url:
        codes = asyncio.run(burst(url))
        health = httpx.get(url + "/health", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert codes == [200, 200] + [503] * 8
    assert len(created) == before + 2
    assert health["reserved_calls"] == 2  # placed, not streaming yet: still counted
