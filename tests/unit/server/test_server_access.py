"""Who may use the server: the API key, the emulator exception, /health, docs, proxies.

Every server here is the real app over real HTTP (``helpers.serve_app``); only Twilio's
REST API is faked (``_doubles.fake_twilio``, the ``twilio_api`` fixture), and it records every call
creation, so a test can assert that a refused request never reached it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from _doubles import ACCOUNT, KNOWN_CALL, TOKEN, WEBHOOK_FORM, signed
from fastapi import FastAPI
from helpers import serve_app
from loguru import logger
from starlette.requests import Request

from voicelab.config import Settings
from voicelab.server.access import is_loopback_host, is_loopback_url
from voicelab.server.app import create_app
from voicelab.server.runner import CallServer
from voicelab.telephony.signature import PublicURL, trusted_networks

KEY = "k3y-" + "7" * 28
PHONE = "+15550001111"
CALL = {"to_number": "+15550002222"}
NOT_LOOPBACK = "https://api.twilio.invalid"  # .invalid never resolves: nothing can leave


def settings(tmp_path: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "providers": "instant",  # no models but the turn ones: these tests are about HTTP
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_phone_number": PHONE,
        "recordings_dir": tmp_path,
        **overrides,
    }
    return Settings(**values)


@contextmanager
def server(config: Settings) -> Iterator[tuple[str, FastAPI]]:
    app = create_app(config, port=0)
    with serve_app(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def keyed(twilio_api, tmp_path_factory) -> Iterator[str]:
    """A key is configured: required even though Twilio is the loopback emulator."""
    config = settings(tmp_path_factory.mktemp("rec"), twilio_api_base=twilio_api[0], api_key=KEY)
    with server(config) as (url, _):
        yield url


@pytest.fixture(scope="module")
def closed(tmp_path_factory) -> Iterator[str]:
    """No key and a real (non-loopback) Twilio: closed."""
    config = settings(tmp_path_factory.mktemp("rec"), twilio_api_base=NOT_LOOPBACK)
    with server(config) as (url, _):
        yield url


def bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


PUBLIC_HEALTH = {"status", "timestamp", "signature_validation", "warnings"}


# --- the key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, detail",
    [
        ({}, "missing API key"),
        (bearer("wrong-key-" + "0" * 20), "invalid API key"),
        (bearer(KEY + "x"), "invalid API key"),
        ({"Authorization": f"Basic {KEY}"}, "missing API key"),  # not a bearer token
        ({"Authorization": "Bearer"}, "missing API key"),
    ],
)
def test_outbound_without_the_right_key_is_401_and_never_reaches_twilio(
    keyed, twilio_api, headers, detail
):
    created = twilio_api[1]
    before = len(created)
    response = httpx.post(keyed + "/outbound", json=CALL, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert detail in response.json()["detail"]
    assert len(created) == before


def test_outbound_with_the_key_places_the_call(keyed, twilio_api):
    created = twilio_api[1]
    before = len(created)
    response = httpx.post(keyed + "/outbound", json=CALL, headers=bearer())
    assert response.status_code == 200, response.text
    assert response.json()["call_sid"] == created[-1]["Sid"][0]
    assert len(created) == before + 1


def test_call_status_needs_the_key(keyed):
    url = f"{keyed}/call-status/{KNOWN_CALL}"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=bearer("nope-" + "1" * 20)).status_code == 401
    response = httpx.get(url, headers=bearer())
    assert response.status_code == 200 and response.json()["status"] == "completed"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_need_the_key(keyed, path):
    refused = httpx.get(keyed + path)
    assert refused.status_code == 401 and refused.json()["detail"]
    assert httpx.get(keyed + path, headers=bearer()).status_code == 200


def test_openapi_declares_the_bearer_scheme_and_docs_embed_it(keyed):
    schema = httpx.get(keyed + "/openapi.json", headers=bearer()).json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())
    assert {"401", "403", "429", "503"} <= set(schema["paths"]["/outbound"]["post"]["responses"])
    # The page carries the schema itself: it works with the key sent only once.
    assert '"/outbound"' in httpx.get(keyed + "/docs", headers=bearer()).text


def test_every_router_is_mounted(keyed):
    # One router per concern (server/app.py ROUTERS): a router left out loses its routes.
    schema = httpx.get(keyed + "/openapi.json", headers=bearer()).json()
    operations = {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    }
    assert operations == {
        ("POST", "/"),
        ("POST", "/outbound-twiml"),
        ("POST", "/status-callback"),
        ("POST", "/outbound"),
        ("GET", "/call-status/{call_sid}"),
        ("GET", "/health"),
    }
    # Outside the schema: the docs (test_api_docs_need_the_key), /ws (the media tests).


def test_health_without_the_key_reveals_no_configuration(keyed):
    response = httpx.get(keyed + "/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_HEALTH
    assert body["signature_validation"] is True and body["warnings"] == []
    assert PHONE not in response.text and "127.0.0.1" not in response.text
    wrong = httpx.get(keyed + "/health", headers=bearer("wrong-" + "2" * 20)).json()
    assert set(wrong) == PUBLIC_HEALTH


def test_health_with_the_key_is_detailed(keyed):
    body = httpx.get(keyed + "/health", headers=bearer()).json()
    assert set(body) > PUBLIC_HEALTH
    assert body["twilio"]["phone_number"] == PHONE
    assert body["active_calls"] == 0 and body["providers"] == "instant"
    assert KEY not in json.dumps(body)


# --- no key --------------------------------------------------------------------------------


def test_without_a_key_outbound_is_closed_and_says_how_to_set_one(closed):
    response = httpx.post(closed + "/outbound", json=CALL)
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "VOICELAB_API_KEY=" in detail and "openssl rand -hex 24" in detail
    # A key sent to a server that has none opens nothing.
    assert httpx.post(closed + "/outbound", json=CALL, headers=bearer()).status_code == 401


@pytest.mark.parametrize("path", [f"/call-status/{KNOWN_CALL}", "/docs", "/openapi.json"])
def test_without_a_key_status_and_docs_are_closed(closed, path):
    response = httpx.get(closed + path)
    assert response.status_code == 401
    assert "VOICELAB_API_KEY=" in response.json()["detail"]


def test_without_a_key_health_is_public_only_and_warns(closed):
    body = httpx.get(closed + "/health").json()
    assert set(body) == PUBLIC_HEALTH
    assert any("VOICELAB_API_KEY is not set" in w for w in body["warnings"])


def test_the_loopback_emulator_without_a_key_stays_open(twilio_api, tmp_path):
    created = twilio_api[1]
    with server(settings(tmp_path, twilio_api_base=twilio_api[0])) as (url, _):
        before = len(created)
        assert httpx.post(url + "/outbound", json=CALL).status_code == 200
        assert len(created) == before + 1
        assert httpx.get(url + "/docs").status_code == 200
        assert httpx.get(f"{url}/call-status/{KNOWN_CALL}").status_code == 200
        body = httpx.get(url + "/health").json()
        assert body["warnings"] == [] and body["active_calls"] == 0


@pytest.mark.parametrize(
    "url, loopback",
    [
        ("http://127.0.0.1:8766", True),
        ("http://127.9.8.7", True),
        ("http://localhost:8766", True),
        ("http://LOCALHOST./x", True),
        ("http://[::1]:8766", True),
        ("http://[::ffff:127.0.0.1]:1", True),
        ("https://api.twilio.com", False),
        ("http://128.0.0.1", False),
        ("http://localhost.example.com", False),
        ("http://127.0.0.1.nip.io", False),
        ("http://10.0.0.1", False),
        ("http://[::2]", False),
        ("http://[bad", False),
        (None, False),
        ("", False),
    ],
)
def test_the_loopback_rule(url, loopback):
    assert is_loopback_url(url) is loopback


def test_loopback_host_names():
    assert is_loopback_host("127.0.0.1") and is_loopback_host("::1")
    assert not is_loopback_host("0.0.0.0") and not is_loopback_host(None)


# --- unsigned webhooks are said loudly -------------------------------------------------------


def test_no_auth_token_is_a_loud_warning_at_start_and_in_health(tmp_path):
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")
    try:
        config = settings(tmp_path, twilio_auth_token=None, twilio_api_base="http://127.0.0.1:1")
        with server(config) as (url, _):
            body = httpx.get(url + "/health").json()
    finally:
        logger.remove(sink)
    assert any("TWILIO_AUTH_TOKEN is not set" in line for line in warnings)
    assert body["signature_validation"] is False
    assert body["warnings"] == ["TWILIO_AUTH_TOKEN is not set: Twilio signatures are NOT checked"]


# --- trusted proxies -----------------------------------------------------------------------


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path):
    # The peer is 127.0.0.1, and only 10.0.0.0/8 is a trusted proxy here. CallServer, not
    # serve_app: uvicorn's own proxy-header handling must be off, as the server runs it.
    config = settings(tmp_path, trusted_proxies=["10.0.0.0/8"])
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    with CallServer(config) as running:
        local = running.url + "/"
        as_forged = signed("https://evil.example/", WEBHOOK_FORM)
        response = httpx.post(local, data=WEBHOOK_FORM, headers={**forged, **as_forged})
        assert response.status_code == 403
        response = httpx.post(
            local, data=WEBHOOK_FORM, headers={**forged, **signed(local, WEBHOOK_FORM)}
        )
        assert response.status_code == 200
        stream = ET.fromstring(response.text).find("./Connect/Stream")
        assert stream is not None
        assert stream.get("url") == running.url.replace("http", "ws") + "/ws"


def _request(peer: str | None, headers: dict[str, str]) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": "http",
        "server": ("10.9.9.9", 8765),
        "path": "/",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (peer, 4711) if peer is not None else None,
    }
    return Request(scope)


FORWARDED = {"host": "10.9.9.9:8765", "x-forwarded-proto": "https", "x-forwarded-host": "a.io"}


@pytest.mark.parametrize(
    "peer, proxies, expected",
    [
        ("10.1.2.3", ["10.0.0.0/8"], "https://a.io"),
        ("127.0.0.1", ["127.0.0.1", "::1"], "https://a.io"),
        ("::1", ["127.0.0.1", "::1"], "https://a.io"),
        ("::ffff:127.0.0.1", ["127.0.0.1"], "https://a.io"),
        ("fd00::5", ["fd00::/8"], "https://a.io"),
        ("10.1.2.3", ["127.0.0.1", "::1"], "http://10.9.9.9:8765"),
        ("11.0.0.1", ["10.0.0.0/8"], "http://10.9.9.9:8765"),
        ("10.1.2.3", [], "http://10.9.9.9:8765"),
        ("testclient", ["10.0.0.0/8"], "http://10.9.9.9:8765"),
        (None, ["10.0.0.0/8"], "http://10.9.9.9:8765"),
    ],
)
def test_public_url_believes_forwarded_headers_only_from_trusted_proxies(peer, proxies, expected):
    public = PublicURL(trusted_proxies=trusted_networks(proxies))
    assert public.base(_request(peer, FORWARDED)) == expected


def test_public_url_setting_overrides_even_a_trusted_proxy():
    public = PublicURL("https://calls.example.com", trusted_networks(["10.0.0.0/8"]))
    assert public.base(_request("10.1.2.3", FORWARDED)) == "https://calls.example.com"


def test_public_url_from_settings_uses_the_trusted_proxies(tmp_path):
    public = PublicURL.from_settings(settings(tmp_path, trusted_proxies=["192.168.0.0/16"]))
    assert public.base(_request("192.168.4.4", FORWARDED)) == "https://a.io"
    assert public.base(_request("127.0.0.1", FORWARDED)) == "http://10.9.9.9:8765"


# --- the clients send the key they are configured with ---------------------------------------


def test_the_cli_call_command_sends_the_configured_key(keyed, twilio_api):
    from typer.testing import CliRunner

    from voicelab.cli import app

    runner = CliRunner()
    command = ["call", "+15550002222", "--server", keyed, "--from", "+15550003333"]
    placed = runner.invoke(app, command, env={"VOICELAB_API_KEY": KEY})
    assert placed.exit_code == 0, placed.output
    assert twilio_api[1][-1]["From"] == ["+15550003333"]  # --from reached Twilio
    assert f"call {twilio_api[1][-1]['Sid'][0]} to +15550002222: queued" in placed.output
    assert "completed" in placed.output  # /call-status answered too: it got the key as well
    refused = runner.invoke(app, command, env={"VOICELAB_API_KEY": "another-key-" + "3" * 20})
    assert refused.exit_code == 1
    assert "/outbound answered 401: invalid API key" in refused.output


@pytest.mark.slow  # runs the plugin's calls
def test_the_pytest_plugin_option_sets_the_labs_key(tmp_path):
    (tmp_path / "test_key.py").write_text(
        "def test_key(voicelab_settings):\n"
        f"    assert voicelab_settings.api_key.get_secret_value() == {KEY!r}\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--voicelab-api-key", KEY],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "1 passed" in out.stdout, out.stdout + out.stderr
