"""The server's HTTP API over real sockets, with Twilio's REST API faked at the HTTP layer
(``_doubles.fake_twilio``, served by the ``twilio_api`` fixture)."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from _doubles import ACCOUNT, KNOWN_CALL, TOKEN, UNREACHABLE, WEBHOOK_FORM, signed
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from voicelab.config import Settings
from voicelab.errors import ConfigError
from voicelab.recording.store import find_call_dir
from voicelab.server.runner import CallServer


@pytest.fixture(scope="module")
def server(twilio_api, tmp_path_factory) -> Iterator[CallServer]:
    settings = Settings(
        providers="instant",  # no models but the turn ones: this module tests HTTP only
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_phone_number="+15550001111",
        twilio_api_base=twilio_api[0],
        recordings_dir=tmp_path_factory.mktemp("recordings"),
    )
    with CallServer(settings) as running:
        yield running


def test_incoming_webhook_returns_stream_twiml_when_signed(server):
    url = server.url + "/"
    response = httpx.post(url, data=WEBHOOK_FORM, headers=signed(url, WEBHOOK_FORM))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == server.url.replace("http://", "ws://") + "/ws"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert len(params.pop("stream_token") or "") >= 40  # the call's one-time stream token
    assert params == {
        "direction": "inbound",
        "from_number": "+15557770000",
        "to_number": "+15550001111",
    }


def test_outbound_twiml_says_outbound(server):
    url = server.url + "/outbound-twiml"
    response = httpx.post(url, data=WEBHOOK_FORM, headers=signed(url, WEBHOOK_FORM))
    assert response.status_code == 200
    assert '<Parameter name="direction" value="outbound"' in response.text


@pytest.mark.parametrize("path", ["/", "/outbound-twiml", "/status-callback"])
def test_unsigned_or_wrongly_signed_webhooks_are_refused(server, path):
    url = server.url + path
    assert httpx.post(url, data=WEBHOOK_FORM).status_code == 403
    wrong = {"X-Twilio-Signature": RequestValidator("other").compute_signature(url, WEBHOOK_FORM)}
    response = httpx.post(url, data=WEBHOOK_FORM, headers=wrong)
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.json()["detail"]
    tampered = dict(WEBHOOK_FORM, From="+15550000000")
    assert httpx.post(url, data=tampered, headers=signed(url, WEBHOOK_FORM)).status_code == 403


@pytest.fixture(scope="module")
def proxied(twilio_api, tmp_path_factory) -> Iterator[CallServer]:
    """The server behind a reverse proxy on this host, which it was told to trust."""
    settings = Settings(
        providers="instant",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_phone_number="+15550001111",
        twilio_api_base=twilio_api[0],
        recordings_dir=tmp_path_factory.mktemp("proxied"),
        trusted_proxies=["127.0.0.1"],
    )
    with CallServer(settings) as running:
        yield running


PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abc.ngrok.app"}


def test_signature_is_checked_against_the_public_url_behind_a_trusted_proxy(proxied):
    public = "https://abc.ngrok.app/"
    form = {**WEBHOOK_FORM, "CallSid": "CA" + "e" * 32}
    good = httpx.post(proxied.url + "/", data=form, headers={**PROXY, **signed(public, form)})
    assert good.status_code == 200
    stream = ET.fromstring(good.text).find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://abc.ngrok.app/ws"
    # Signed for the local URL but arriving through the proxy: not what Twilio signed.
    local = httpx.post(
        proxied.url + "/", data=form, headers={**PROXY, **signed(proxied.url + "/", form)}
    )
    assert local.status_code == 403


def test_by_default_no_peer_is_a_trusted_proxy_not_even_loopback(server):
    # Issue 15: behind a tunnel every request arrives from 127.0.0.1, and loopback was
    # trusted by default: a request signed for another app's URL on the same Twilio
    # account was accepted by naming that app's host in X-Forwarded-Host.
    other_app = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-app.example"}
    form = {**WEBHOOK_FORM, "CallSid": "CA" + "f" * 32}
    signed_elsewhere = signed("https://other-app.example/", form)
    response = httpx.post(server.url + "/", data=form, headers={**other_app, **signed_elsewhere})
    assert response.status_code == 403


def test_websocket_upgrade_without_signature_is_refused(server):
    async def attempt() -> int:
        try:
            async with connect(server.url.replace("http", "ws") + "/ws"):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt()) == 403


def test_websocket_with_a_non_twilio_handshake_is_closed_with_policy_violation(server):
    ws_url = server.url.replace("http", "ws") + "/ws"

    async def attempt() -> int | None:
        async with connect(ws_url, additional_headers=signed(ws_url)) as ws:
            await ws.send(
                json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            )
            await ws.send(json.dumps({"event": "start", "start": {"callSid": "nope"}}))
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
        return None

    assert asyncio.run(attempt()) == 1008
    assert httpx.get(server.url + "/health").json()["active_calls"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"to_number": "5551234"},
        {"to_number": "+1 555 123"},
        {"to_number": "+15550002222", "from_number": "abc"},
    ],
)
def test_outbound_rejects_invalid_numbers_with_422(server, body):
    response = httpx.post(server.url + "/outbound", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_outbound_places_the_call_through_twilio(proxied, twilio_api):
    _, created = twilio_api
    response = httpx.post(
        proxied.url + "/outbound",
        json={"to_number": "+15550002222"},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abc.ngrok.app"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["call_sid"] == created[-1]["Sid"][0]
    assert body["status"] == "queued" and body["to"] == "+15550002222"
    assert body["webhook_url"] == "https://abc.ngrok.app/outbound-twiml"
    sent = created[-1]
    assert sent["Url"] == ["https://abc.ngrok.app/outbound-twiml"]
    assert sent["StatusCallback"] == ["https://abc.ngrok.app/status-callback"]
    assert sent["From"] == ["+15550001111"]
    assert set(sent["StatusCallbackEvent"]) == {"initiated", "ringing", "answered", "completed"}


def test_outbound_twilio_failure_is_a_502_with_twilios_message(server):
    response = httpx.post(server.url + "/outbound", json={"to_number": UNREACHABLE})
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail.startswith("Failed to initiate call: ")
    assert "Invalid 'To' Phone Number" in detail


def test_call_status_comes_from_twilio(server):
    response = httpx.get(f"{server.url}/call-status/{KNOWN_CALL}")
    assert response.status_code == 200
    assert response.json() == {
        "call_sid": KNOWN_CALL,
        "status": "completed",
        "direction": "outbound-api",
        "to": "+15550002222",
        "from_": "+15550001111",
        "duration": 42,
        "start_time": "2026-06-01T10:30:00+00:00",
        "end_time": "2026-06-01T10:30:42+00:00",
    }


@pytest.mark.parametrize("sid", ["CA" + "c" * 32, "not-a-sid"])
def test_call_status_of_an_unknown_call_is_404(server, sid):
    response = httpx.get(f"{server.url}/call-status/{sid}")
    assert response.status_code == 404
    assert sid in response.json()["detail"]


def test_status_callbacks_are_stored_with_the_call_record(server):
    url = server.url + "/status-callback"
    sid = "CA" + "d" * 32
    # The server learns of the call from its webhook (an unknown call's statuses are ignored).
    hook, form = server.url + "/", {**WEBHOOK_FORM, "CallSid": sid}
    assert httpx.post(hook, data=form, headers=signed(hook, form)).status_code == 200
    for status, seq in [("ringing", "1"), ("completed", "3")]:
        form = {"CallSid": sid, "CallStatus": status, "SequenceNumber": seq, "CallDuration": "7"}
        assert httpx.post(url, data=form, headers=signed(url, form)).status_code == 204
    directory = find_call_dir(server.settings.recordings_dir, sid)
    assert directory is not None
    events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    assert [e["data"]["status"] for e in events if e["type"] == "twilio.status"] == [
        "ringing",
        "completed",
    ]
    manifest = json.loads((directory / "call.json").read_text())
    assert manifest["status"] == "completed"
    assert [h["status"] for h in manifest["status_history"]] == ["ringing", "completed"]


def test_status_callback_without_call_sid_is_a_400(server):
    url = server.url + "/status-callback"
    form = {"CallStatus": "ringing"}
    assert httpx.post(url, data=form, headers=signed(url, form)).status_code == 400


def test_health_reports_real_readiness(server):
    body = httpx.get(server.url + "/health").json()
    assert body["providers"] == "instant"
    assert body["cloud_keys_missing"] == ["OPENAI_API_KEY", "DEEPGRAM_API_KEY", "CARTESIA_API_KEY"]
    assert body["twilio"]["credentials"] is True
    assert body["signature_validation"] is True
    assert body["active_calls"] == 0
    assert body["offline_models"] == {
        "whisper": False,
        "llm": False,
        "tts": False,
        "vad": True,
        "smart_turn": True,
    }


def test_public_url_setting_overrides_the_request(twilio_api, tmp_path):
    settings = Settings(
        providers="instant",
        twilio_auth_token=TOKEN,
        public_url="https://calls.example.com",
        recordings_dir=tmp_path,
    )
    with CallServer(settings) as server:
        url = "https://calls.example.com/"
        response = httpx.post(
            server.url + "/", data=WEBHOOK_FORM, headers=signed(url, WEBHOOK_FORM)
        )
        assert response.status_code == 200
        assert 'url="wss://calls.example.com/ws"' in response.text


def test_outbound_without_twilio_credentials_is_a_clear_503(tmp_path):
    key = "a-key-of-24-characters!!"
    with CallServer(Settings(providers="instant", recordings_dir=tmp_path, api_key=key)) as server:
        response = httpx.post(
            server.url + "/outbound",
            json={"to_number": "+15550002222", "from_number": "+15550001111"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 503
        assert "TWILIO_ACCOUNT_SID" in response.json()["detail"]


# --- hostile and broken input (issue 15) --------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/status-callback"])
def test_a_multipart_webhook_with_a_file_is_a_400_not_a_500(server, path):
    # The signature validator cannot hash a file field: it raised TypeError (a 500).
    url = server.url + path
    response = httpx.post(
        url,
        data={"CallSid": "CA" + "9" * 32, "CallStatus": "ringing"},
        files={"upload": ("x.txt", b"hello", "text/plain")},
        headers={"X-Twilio-Signature": "anything"},
    )
    assert response.status_code == 400, response.text
    assert "text fields" in response.json()["detail"]


def test_a_replayed_webhook_gets_the_same_token_not_a_new_one(server):
    url = server.url + "/"
    form = {**WEBHOOK_FORM, "CallSid": "CA" + "7" * 32}

    def token() -> str | None:
        response = httpx.post(url, data=form, headers=signed(url, form))
        stream = ET.fromstring(response.text).find("./Connect/Stream")
        assert stream is not None, response.text
        return {p.get("name"): p.get("value") for p in stream.findall("Parameter")}["stream_token"]

    first = token()
    assert all(token() == first for _ in range(5))
    health = httpx.get(server.url + "/health").json()
    assert health["active_calls"] == 0


def test_a_server_whose_recordings_cannot_be_written_does_not_start(tmp_path):
    blocked = tmp_path / "recordings"
    blocked.write_text("a file where the directory should be")
    with pytest.raises(ConfigError, match="VOICELAB_RECORDINGS_DIR"):
        CallServer(Settings(providers="instant", recordings_dir=blocked)).start()


@pytest.mark.timeout(60)  # without the check, serve would start and block
def test_the_cli_serve_refuses_an_unwritable_recordings_directory_with_exit_2(tmp_path):
    from typer.testing import CliRunner

    from voicelab.cli import app

    blocked = tmp_path / "recordings"
    blocked.write_text("x")
    result = CliRunner().invoke(
        app,
        ["serve", "--port", "65123"],
        env={"VOICELAB_RECORDINGS_DIR": str(blocked), "VOICELAB_PROVIDERS": "instant"},
    )
    assert result.exit_code == 2, result.output
    assert "cannot write call records" in result.output
    assert "Traceback" not in result.output


def test_recordings_that_become_unwritable_refuse_calls_politely_and_health_degrades(tmp_path):
    root = tmp_path / "recordings"
    with CallServer(Settings(providers="instant", recordings_dir=root)) as running:
        assert httpx.get(running.url + "/health").json()["status"] == "ready"
        root.rename(tmp_path / "moved")
        root.write_text("the disk is gone")  # every directory of a call fails from now
        url = running.url + "/"
        for n in range(3):
            form = {**WEBHOOK_FORM, "CallSid": f"CA{n:032x}"}
            response = httpx.post(url, data=form)
            assert response.status_code == 200  # never a 500
            assert "<Reject" in response.text  # the caller hears busy, never dead air
        health = httpx.get(running.url + "/health").json()
        assert health["status"] == "degraded"
        assert any("cannot create a call directory" in w for w in health["warnings"])
