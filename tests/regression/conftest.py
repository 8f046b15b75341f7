"""The project's scenario regression suite: the voicelab pytest plugin, scripted by default.

``--voicelab-providers offline`` (or ``cloud``) on the command line still wins: this only
changes the default of the ``voicelab_providers`` fixture of :mod:`voicelab.testing`.
"""

from pathlib import Path

import pytest

import voicelab.testing

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail early and clearly, not with "fixture 'simulate' not found" in every test."""
    ours = any(item.path.is_relative_to(HERE) for item in items)
    if ours and not config.pluginmanager.is_registered(voicelab.testing):
        raise pytest.UsageError(
            "tests/regression needs the voicelab pytest plugin: reinstall the package "
            "(pip install -e .) so its pytest11 entry point registers it, or run pytest "
            "with -p voicelab.testing"
        )


@pytest.fixture(scope="session")
def voicelab_providers(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("voicelab_providers") or "scripted")
