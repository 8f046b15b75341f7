"""The project's scenario regression suite runs on the scripted bot unless told otherwise.

``--voicelab-providers offline`` (or ``cloud``) on the command line still wins: this only
changes the default of the ``voicelab_providers`` fixture of :mod:`voicelab.testing`.
"""

import pytest


@pytest.fixture(scope="session")
def voicelab_providers(pytestconfig: pytest.Config) -> str:
    return pytestconfig.getoption("voicelab_providers") or "scripted"
