"""Fuzz the HTTP API: schemathesis over the server's own OpenAPI schema, hypothesis over webhooks.

The real server and carrier over real HTTP (``LocalNetwork``, instant fake services), with
an API key configured and sent as ``Authorization: Bearer``. No response may be a 500, and
every error answer is JSON with a ``detail`` (502/503 are the documented answers when
Twilio refuses or the server is full). Twilio's webhooks take a signed form the schema does
not describe, so hypothesis generates those forms and signs them as Twilio would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_fuzzer import BackgroundNetwork
from schemathesis import GenerationMode
from twilio.request_validator import RequestValidator

from voicelab.config import Settings

pytestmark = pytest.mark.slow

API_KEY = "fuzz-api-key-" + "k" * 16
AUTH = {"Authorization": f"Bearer {API_KEY}"}
DELIBERATE_5XX = {502, 503}  # Twilio refused the request; the server is at its call cap


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Iterator[BackgroundNetwork]:
    settings = Settings(
        providers="instant",
        recordings_dir=tmp_path_factory.mktemp("recordings"),
        api_key=API_KEY,
        outbound_per_minute=3,  # a few fuzzed numbers may really be dialled (the emulator)
    )
    with BackgroundNetwork(settings) as running:
        yield running


def check_answer(status: int, content_type: str, body: bytes, what: str) -> None:
    assert status != 500, f"{what}: 500 {body[:300]!r}"
    if status >= 400:
        assert content_type.startswith("application/json"), (what, status, content_type)
        detail = json.loads(body).get("detail")
        assert detail, f"{what}: {status} without a detail"
    if status >= 500:
        assert status in DELIBERATE_5XX, f"{what}: {status} {body[:300]!r}"


def test_no_endpoint_answers_a_server_error(net: BackgroundNetwork) -> None:
    # The schema is the server's own, fetched with the key (the docs are behind it).
    api = schemathesis.openapi.from_url(net.server_url + "/openapi.json", headers=AUTH)
    cases = api.as_strategy(GenerationMode.POSITIVE) | api.as_strategy(GenerationMode.NEGATIVE)

    @given(case=cases)
    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def fuzz(case: Any) -> None:
        for headers in (AUTH, {}):  # with the key, and as a stranger
            response = case.call(base_url=net.server_url, headers=headers, timeout=30)
            what = f"{case.method} {case.formatted_path}"
            content_type = (response.headers.get("content-type") or [""])[0]
            check_answer(response.status_code, content_type, response.content, what)

    fuzz()


_form_values = st.text(max_size=80) | st.sampled_from(
    ["", "CA" + "a" * 32, "CA" + "a" * 32 + "\n", "../../etc", "+15550001111", "completed"]
)
_forms = st.dictionaries(
    st.sampled_from(["CallSid", "From", "To", "CallStatus", "SequenceNumber", "Direction"])
    | st.text(min_size=1, max_size=12),
    _form_values,
    max_size=7,
)


@given(path=st.sampled_from(["/", "/outbound-twiml", "/status-callback"]), form=_forms)
@settings(max_examples=60, deadline=None, database=None)
def test_signed_webhooks_with_any_form_never_fail(net: BackgroundNetwork, path: str, form):
    url = net.server_url + path
    signature = RequestValidator(net.auth_token).compute_signature(url, form)
    response = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=30)
    content_type = response.headers.get("content-type", "")
    check_answer(response.status_code, content_type, response.content, f"POST {path}")
    assert response.status_code != 403, "the signature was right"
