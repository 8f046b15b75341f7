"""voicelab: a lab for AI phone agents on Twilio + Pipecat.

Run the real call server in-process, place real or simulated calls, and load
every call's recording and timed events into pandas.
"""

from voicelab.config import Settings, load_settings
from voicelab.errors import (
    CallRecordError,
    CarrierError,
    CheckRefused,
    ConfigError,
    InvalidArgumentError,
    MalformedCall,
    MediaMessageError,
    MissingDependencyError,
    NotFoundError,
    OutboundRefused,
    ProviderError,
    ScenarioError,
    ServerRequestError,
    SweepError,
    TelephonyError,
    ToolMockError,
    TwilioApiError,
    TwilioRequestError,
    TwimlError,
    VoicelabError,
    WebhookError,
)

__version__ = "0.1.0"

# Heavy parts (pipecat, models) load on first use, so `import voicelab.analysis`
# stays light wherever the recordings are analysed.
_LAZY = {
    "AgentContext": "voicelab.bot.agent",
    "AgentParts": "voicelab.bot.agent",
    "CallServer": "voicelab.server.runner",
    "LabModels": "voicelab.network",
    "LocalNetwork": "voicelab.network",
    "Lab": "voicelab.lab",
    "CallResult": "voicelab.lab",
    "load_scenario": "voicelab.simulator.scenario",
    "sweep": "voicelab.sweeps",
    "SweepResult": "voicelab.sweeps",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'voicelab' has no attribute {name!r}")


__all__ = [
    "AgentContext",
    "AgentParts",
    "CallRecordError",
    "CallResult",
    "CallServer",
    "CarrierError",
    "CheckRefused",
    "ConfigError",
    "InvalidArgumentError",
    "Lab",
    "LabModels",
    "LocalNetwork",
    "MalformedCall",
    "MediaMessageError",
    "MissingDependencyError",
    "NotFoundError",
    "OutboundRefused",
    "ProviderError",
    "ScenarioError",
    "ServerRequestError",
    "Settings",
    "SweepError",
    "SweepResult",
    "TelephonyError",
    "ToolMockError",
    "TwilioApiError",
    "TwilioRequestError",
    "TwimlError",
    "VoicelabError",
    "WebhookError",
    "__version__",
    "load_scenario",
    "load_settings",
    "sweep",
]
