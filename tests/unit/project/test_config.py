from pathlib import Path

import pytest

from voicelab.config import Settings, load_settings
from voicelab.errors import ConfigError

CLOUD = {"OPENAI_API_KEY": "sk-x", "DEEPGRAM_API_KEY": "dg", "CARTESIA_API_KEY": "ca"}


def test_providers_default_to_offline_without_cloud_keys(monkeypatch):
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    assert load_settings().providers == "offline"


def test_providers_default_to_cloud_when_all_three_keys_are_set(monkeypatch):
    for key, value in CLOUD.items():
        monkeypatch.setenv(key, value)
    assert load_settings().providers == "cloud"
    monkeypatch.delenv("CARTESIA_API_KEY")
    assert load_settings().providers == "offline"


def test_guide_variable_names_are_read(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "a" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret")
    monkeypatch.setenv("TWILIO_PHONE_NUMBER", "+15550001111")
    monkeypatch.setenv("VOICELAB_RECORDINGS_DIR", "/tmp/somewhere")
    settings = load_settings()
    assert settings.twilio_configured
    assert settings.twilio_phone_number == "+15550001111"
    assert settings.recordings_dir == Path("/tmp/somewhere")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VOICELAB_PROVIDERS", "magic"),
        ("TWILIO_PHONE_NUMBER", "555-1234"),
        ("VOICELAB_PUBLIC_URL", "example.com"),
        ("VOICELAB_PORT", "70000"),
        ("TWILIO_ACCOUNT_SID", "not-a-sid"),
        # Unicode digits are not phone-number digits (issue 15): the fullwidth "５５５".
        ("TWILIO_PHONE_NUMBER", "+1５５５0001111"),
        ("VOICELAB_OUTBOUND_DENIED_PREFIXES", '["+1９００"]'),
        ("VOICELAB_OUTBOUND_ALLOWED_PREFIXES", '["+٤٤"]'),
    ],
)
def test_invalid_settings_fail_with_one_line_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert variable in message
    assert "\n" not in message


def test_fingerprint_ignores_secrets_but_not_settings():
    a = Settings(openai_api_key="one")
    b = Settings(openai_api_key="two")
    c = Settings(openai_model="other-model")
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()
