"""Every secret setting is a SecretStr, and what leaves out secrets reads them off that type."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from voicelab.config import SECRET_SETTINGS, Settings, load_settings, secret_value
from voicelab.sweeps._file import SweepFile, Variant, public_overrides
from voicelab.sweeps._grid import build_grid
from voicelab.telephony.rest import create_twilio_client

# Each secret's variable, and a value no other setting could print by chance.
VARIABLES = {
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "openai_api_key": "OPENAI_API_KEY",
    "deepgram_api_key": "DEEPGRAM_API_KEY",
    "cartesia_api_key": "CARTESIA_API_KEY",
    "api_key": "VOICELAB_API_KEY",
    "judge_api_key": "VOICELAB_JUDGE_API_KEY",
}
MARKERS = {name: f"marker-{name}-{i:02d}-0123456789" for i, name in enumerate(VARIABLES)}


@pytest.fixture
def secret_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no .env
    for name, variable in VARIABLES.items():
        monkeypatch.setenv(variable, MARKERS[name])
    return load_settings(twilio_account_sid="AC" + "a" * 32)


def test_the_secrets_are_the_settings_typed_secretstr():
    assert set(VARIABLES) == SECRET_SETTINGS
    # A setting named like a credential that is a plain str would print in repr: a tripwire.
    named = {n for n in Settings.model_fields if re.search(r"(key|token|secret|password)$", n)}
    assert named <= SECRET_SETTINGS


def test_no_secret_shows_in_repr_str_dumps_or_the_fingerprint(secret_settings: Settings):
    shown = [
        repr(secret_settings),
        str(secret_settings),
        secret_settings.model_dump_json(),
        json.dumps(secret_settings.model_dump(mode="json")),
    ]
    for marker in MARKERS.values():
        assert not [text for text in shown if marker in text], marker
    # Every secret is set, and each reads back whole where its value is needed.
    for name, marker in MARKERS.items():
        assert secret_value(getattr(secret_settings, name)) == marker
    # The fingerprint is the same with and without them: they are not hashed at all.
    bare = secret_settings.model_copy(update=dict.fromkeys(SECRET_SETTINGS))
    assert bare.fingerprint() == secret_settings.fingerprint()


def test_a_settings_error_never_quotes_the_value_given():
    with pytest.raises(ValidationError) as info:
        Settings(api_key="short-marker")  # under 16 characters
    assert "short-marker" not in str(info.value)


def test_empty_secrets_are_unset():
    settings = Settings(**dict.fromkeys(SECRET_SETTINGS, ""))
    assert [getattr(settings, name) for name in sorted(SECRET_SETTINGS)] == [None] * 6
    assert not settings.twilio_configured and settings.providers == "offline"


def test_a_sweep_manifest_redacts_every_secret_by_field_or_variable_name(tmp_path: Path):
    overrides = {**MARKERS, **{VARIABLES[n].lower(): m for n, m in MARKERS.items()}}
    overrides |= {"VOICELAB_VAD_STOP_SECS": 0.5, "not_a_setting": "marker-unknown"}
    sweep = SweepFile(
        name="secrets",
        scenarios=[tmp_path],
        variants=[Variant(name="with-keys", overrides=overrides)],
    )
    manifest = build_grid(sweep, ["one"])[0].manifest(sweep, attempt=1)
    text = json.dumps(manifest)
    assert "marker" not in text
    assert manifest["overrides"]["VOICELAB_VAD_STOP_SECS"] == 0.5  # the rest is kept
    assert public_overrides({"vad_stop_secs": 0.3}) == {"vad_stop_secs": 0.3}
    # The variant's settings still carry the real keys (a sweep's calls use them).
    settings = sweep.variant_settings("with-keys")
    assert secret_value(settings.openai_api_key) in MARKERS.values()


@pytest.mark.asyncio
async def test_the_twilio_client_gets_the_token_itself(secret_settings: Settings):
    client = create_twilio_client(secret_settings)  # its aiohttp session needs a loop
    assert client.password == MARKERS["twilio_auth_token"]
    assert isinstance(secret_settings.twilio_auth_token, SecretStr)
