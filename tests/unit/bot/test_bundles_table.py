"""The provider bundles are one table: the settings, the CLI and the plugin read their names
from it, and a name it does not have is an error everywhere, never the offline stack."""

from __future__ import annotations

import pytest
from helpers import assert_exit_2, run_cli
from pydantic import ValidationError

from voicelab._bundles import BUNDLES, bundle, calls_per_cpu, pool_models
from voicelab._extras import EXTRAS
from voicelab.bot.providers import _base
from voicelab.config import Settings, load_settings
from voicelab.errors import ConfigError, InvalidArgumentError


def test_the_table_has_the_four_bundles_each_built_and_each_with_a_pool():
    assert list(BUNDLES) == ["cloud", "offline", "scripted", "instant"]
    assert set(_base._BUILDERS) == set(BUNDLES)  # every row has a builder, and only rows
    for name, row in BUNDLES.items():
        assert row.name == name and row.gives
        # Every bundle's calls need the pool (VAD, smart-turn): there is no pool-less server.
        assert {"vad", "smart_turn"} <= pool_models(name)
        assert row.extra is None or row.extra in EXTRAS


@pytest.mark.parametrize("name", ["magic", "Cloud", "offline "])
def test_an_unknown_bundle_is_an_error_not_the_offline_stack(name):
    with pytest.raises(ValidationError):
        Settings(providers=name)
    with pytest.raises(ConfigError, match=r"VOICELAB_PROVIDERS: .*choose one of cloud, offline"):
        load_settings(providers=name)
    for lookup in (bundle, pool_models, calls_per_cpu):
        with pytest.raises(InvalidArgumentError, match=repr(name)):
            lookup(name)
    settings = Settings.model_construct(providers=name)  # one built without validation
    with pytest.raises(InvalidArgumentError):
        _base.build_providers(settings)


def test_no_bundle_named_is_the_offline_default():
    assert bundle(None) is BUNDLES["offline"]
    assert Settings(_env_file=None, openai_api_key=None).providers == "offline"


def test_the_cli_help_and_the_plugins_choices_come_from_the_table(pytestconfig):
    help_text = run_cli("demo", "--help", env={"COLUMNS": "200"}).stdout
    assert " | ".join(BUNDLES) in help_text
    from voicelab import testing

    parser = pytest.Parser(processopt=lambda opt: None)
    testing.pytest_addoption(parser)
    option = next(
        o for g in parser._groups for o in g.options if "--voicelab-providers" in o.names()
    )
    assert option.attrs()["choices"] == list(BUNDLES)


def test_demo_with_an_unknown_bundle_is_one_line_and_exit_2():
    result = run_cli("demo", "--providers", "magic")
    assert_exit_2(result)
    assert "unknown provider bundle 'magic'" in result.stderr
    assert result.stderr.count("\n") == 1
