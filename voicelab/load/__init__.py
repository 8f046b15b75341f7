"""``voicelab load``: simulated callers as a load generator for any Twilio-protocol agent.

Each caller is Twilio's side of one inbound call (signed webhook, ``<Connect><Stream>``,
Media Streams websocket) saying a pre-encoded line every turn and listening by energy
only, so hundreds fit on a small box. Callers are split over worker processes (one per
core by default), each driving its share on one event loop and one frame clock; the
report holds the agent's figures (calls held, voice-to-voice, underruns, errors) beside
the generator's own (frame pacing jitter, CPU per caller, saturated workers), so a result
is never the generator's own overload.

    from voicelab.load import LoadPlan, caller_line, run_load
    report = run_load(LoadPlan("http://127.0.0.1:8765/", calls=50, workers=2), caller_line())
    print(report.to_text())

Layout: ``_plan`` (LoadPlan), ``_line`` (the encoded line), ``_pacing`` (frame clock,
jitter), ``_ear`` (playout, replies, underruns), ``_caller`` (one call), ``_worker`` (one
process), ``_report`` (the figures), ``_run`` (the processes).
"""

from voicelab.load._caller import ERROR_KINDS, CallStats
from voicelab.load._ear import REPLY_SILENCE_S, UNDERRUN_S, Ear, Reply
from voicelab.load._line import CallerLine
from voicelab.load._pacing import FrameClock, JitterLog
from voicelab.load._plan import LoadPlan
from voicelab.load._report import LoadReport, WorkerUsage, summarize
from voicelab.load._run import DEFAULT_LINE, caller_line, default_workers, run_load
from voicelab.load._worker import WorkerResult

__all__ = [
    "DEFAULT_LINE",
    "ERROR_KINDS",
    "REPLY_SILENCE_S",
    "UNDERRUN_S",
    "CallStats",
    "CallerLine",
    "Ear",
    "FrameClock",
    "JitterLog",
    "LoadPlan",
    "LoadReport",
    "Reply",
    "WorkerResult",
    "WorkerUsage",
    "caller_line",
    "default_workers",
    "run_load",
    "summarize",
]
