"""``voicelab``: a thin command line over the library.

    voicelab serve      run the call server (the guide's API) for Twilio or the carrier
    voicelab demo       one simulated inbound call on the embedded offline stack
    voicelab simulate   many simulated calls from scenario files
    voicelab replay     a recorded call's caller played again; old and new replies side by side
    voicelab sweep      scenarios × variants × repeats from a sweep file, here or on Ray
    voicelab load       hundreds of light simulated callers on any Twilio agent: a load test
    voicelab call       an outbound call through the server's /outbound
    voicelab carrier    run the Twilio emulator on its own
    voicelab report     summary tables and an HTML report of recorded calls
    voicelab compare    a regression gate: NEW's latency and pass rates against BASE's
    voicelab init       a starter project: personas, scenarios, plugin tests, .env.example
    voicelab extras     which optional parts are installed, and how to add the others

Bad input is a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

# Each command module registers its commands on the one app as it is imported: this order is
# the order of `voicelab --help` (hence the isort splits).
from voicelab import _cli_run  # noqa: F401

# isort: split
from voicelab import _cli_play  # noqa: F401

# isort: split
from voicelab import _cli_records  # noqa: F401

# isort: split
from voicelab import _cli_project  # noqa: F401
from voicelab._cli_app import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
