"""voicelab: a lab for AI phone agents on Twilio + Pipecat.

Run the real call server in-process, place real or simulated calls, and load
every call's recording and timed events into pandas.
"""

from voicelab.config import Settings, load_settings
from voicelab.errors import (
    CallRecordError,
    ConfigError,
    MissingDependencyError,
    ProviderError,
    ScenarioError,
    TelephonyError,
    TwilioRequestError,
    VoicelabError,
)

__version__ = "0.1.0"

__all__ = [
    "CallRecordError",
    "ConfigError",
    "MissingDependencyError",
    "ProviderError",
    "ScenarioError",
    "Settings",
    "TelephonyError",
    "TwilioRequestError",
    "VoicelabError",
    "__version__",
    "load_settings",
]
