"""The words of the report: labels, explanations, the glossary, numbers as people write them.

One home for what every column and check is called on the page and in the terminal, so the
HTML and the text output never disagree, and no reader meets a snake_case name unexplained.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "COLUMNS",
    "GLOSSARY",
    "METRICS",
    "PARTS",
    "RULES",
    "call_kinds",
    "check_label",
    "count",
    "explain",
    "in_sentence",
    "label",
    "percent",
    "secs",
]

# column -> (label, explanation). Used for table headers (the explanation becomes a tooltip
# on the page) and for the terminal's headers.
COLUMNS: dict[str, tuple[str, str]] = {
    "group": ("Group", "The value of the column the report is grouped by."),
    "calls": ("Calls", "Calls recorded."),
    "simulated": ("Simulated", "Calls placed by voicelab's simulated caller."),
    "turns": ("Turns", "Caller speech turns the server counted (the greeting is not one)."),
    "median_duration_s": ("Median length", "Median call length, in seconds."),
    "interruptions": ("Barge-ins", "Times the caller talked over the bot and cut it off."),
    "errors": ("Errors", "Error events written during the calls."),
    "metric": ("Measured as", "Which voice-to-voice figure (see the glossary)."),
    "n": ("Replies", "Replies with this figure measured."),
    "p50": ("Median", "Half the replies came faster than this (p50), in seconds."),
    "p50_ci": ("Median 95% CI", "Where the median would likely fall on another run."),
    "p90": ("p90", "9 replies in 10 came faster than this."),
    "p95": ("p95", "19 replies in 20 came faster than this."),
    "max": ("Slowest", "The slowest reply."),
    "check": ("Check", "What was checked."),
    "checked": ("Checked", "Replies (or calls) the check applied to."),
    "passed": ("Passed", "Checks that passed."),
    "failed": ("Failed", "Checks that failed."),
    "undecided": ("Not measured", "Checks that had nothing to measure (no reply, no timing)."),
    "pass_rate": ("Pass rate", "Passed out of checked."),
    "ref_words": ("Words said", "Words the simulated callers said (their scripts)."),
    "wer": ("Word error rate", "Speech recognition errors per word said."),
    "part": ("Stage", "A stage of the reply's way back to the caller."),
    "median": ("Median", "The median of this stage alone, in seconds."),
    "mean": ("Mean", "The average of this stage: the averages add up to the total."),
    "share": ("Share", "The stage's part of the average total."),
    "started_at": ("Started", "When the call started (UTC)."),
    "call_sid": ("Call", "Twilio's call SID."),
    "scenario_id": ("Scenario", "The simulated caller's scenario (none for real calls)."),
    "direction": ("Direction", "Inbound: the agent answered; outbound: the agent called."),
    "duration_s": ("Length", "From the media stream's start to the call's end."),
    "v2v_median_s": ("Median reply", "The call's median voice-to-voice latency."),
    "v2v_max_s": ("Slowest reply", "The call's slowest voice-to-voice latency."),
    "checks": ("Checks", "Scenario expectation checks passed out of decided."),
    "end_reason": ("Ended by", "Why the call ended (stop: the carrier's normal end)."),
    "baseline": ("Baseline", "The group compared against."),
    "persona_id": ("Persona", "The persona (system prompt) the agent ran."),
    "persona_hash": ("Prompt", "The hash of the persona's text: one per prompt version."),
    "stt_model": ("STT model", "The speech-to-text model."),
    "llm_model": ("LLM model", "The language model."),
    "tts_model": ("TTS model", "The text-to-speech voice or model."),
    "variant": ("Variant", "The sweep's variant, or the manifest's variant tag."),
    "sweep": ("Sweep", "The sweep the call belongs to."),
    "providers": ("Providers", "The provider set: offline, scripted, instant or cloud."),
    "median_baseline": ("Baseline median", "The baseline group's median."),
    "diff": ("Difference", "Median minus the baseline's; negative is faster."),
    "diff_ci": ("95% CI", "Likely range of the difference."),
    "significant": ("Real difference?", "Whether the 95% interval excludes zero."),
}

# latency column -> (label, explanation)
METRICS: dict[str, tuple[str, str]] = {
    "v2v_caller_s": (
        "As the caller hears it",
        "From the end of the caller's speech to the first sound of the reply the caller "
        "hears, after the network and playout buffer (simulated calls).",
    ),
    "v2v_recording_s": (
        "On the caller's recording",
        "The same figure measured independently on caller.wav's audio, as a cross-check.",
    ),
    "v2v_server_s": (
        "Server side",
        "Pipecat's own figure: from the estimated end of speech to the first audio frame "
        "sent. It leaves out the network and the playout buffer, so it reads low.",
    ),
}

# breakdown column -> (label, explanation), in pipeline order
PARTS: dict[str, tuple[str, str]] = {
    "vad_stop_s": (
        "End of speech detected",
        "Waiting for the voice activity detector to decide the caller stopped (includes "
        "the audio's trip to the server).",
    ),
    "stt_s": ("Transcription", "From that decision to the final transcript."),
    "turn_end_s": (
        "Turn-end decision",
        "What deciding the caller had finished (the turn model, or its timeout) added after "
        "the transcript was ready, up to the hand-off to the LLM.",
    ),
    "llm_ttft_s": ("LLM first token", "The language model's time to its first token."),
    "tool_s": (
        "Function calls",
        "Time in the agent's own functions (a lookup, a ticket) before the reply's first token.",
    ),
    "tts_ttfa_s": ("TTS first audio", "Text-to-speech's time to its first audio."),
    "transport_s": (
        "Network, playout and the rest",
        "What remains: transit both ways, the playout buffer, queueing, and the LLM's wait "
        "for a whole sentence to speak.",
    ),
}

# rule check -> (label, explanation); expectation checks are described from the scenario
RULES: dict[str, tuple[str, str]] = {
    "greeting_names_company": ("Greeting names the company", "The first line names it."),
    "words": ("Reply short enough (words)", "A reply stays under the word limit."),
    "seconds": ("Reply short enough (seconds)", "A reply is spoken within the time limit."),
    "tts_safe": ("Speakable text", "No markup, URL or emoji the voice would read out."),
    "follow_up_question": ("Asks back after feedback", "Praise or feedback gets a question."),
    "apology": ("Apologises for a complaint", "A complaint gets an apology."),
    "no_refund_promise": ("No refund promised", "The bot cannot grant refunds."),
    "judge": ("LLM judge", "The judge's overall score."),
}

# expectation check -> (what one reply must do, what a check over every reply says)
_EXPECT = {
    "expect.contains": ("mentions", "Some reply mentions"),
    "expect.regex": ("matches", "Some reply matches"),
    "expect.must_not_say": ("does not say", "No reply says"),
    "expect.max_latency_s": ("comes within", "Every reply comes within"),
    "expect.turn": ("happens", "The turn happens"),
}

GLOSSARY: list[tuple[str, str]] = [
    (
        "Voice-to-voice latency",
        "How long the caller waits for a reply: from the end of their speech to the first "
        "sound of the bot's answer. For simulated calls, as the caller hears it (after the "
        "network and the playout buffer).",
    ),
    ("Server side", METRICS["v2v_server_s"][1]),
    (
        "Median (p50), p90, p95",
        "Half the replies came faster than the median, 9 in 10 faster than p90, 19 in 20 "
        "faster than p95.",
    ),
    (
        "95% CI",
        "A bootstrap confidence interval: with few replies it is wide, and a difference "
        "inside it may be chance.",
    ),
    (
        "Scenario checks",
        "What a scenario file expects of the replies (expect:): phrases to say, phrases "
        "never to say, a latency bound. 'Turn N' is the reply to the caller's N-th line.",
    ),
    (
        "Reply rules",
        "Cheap heuristics on every reply (quality_rules.yaml): length, apologies, promises.",
    ),
    ("Word error rate", COLUMNS["wer"][1] + " Lower is better; 0% is perfect."),
    *((f"Stage: {text}", why) for text, why in PARTS.values()),
]


def label(column: str) -> str:
    """The human label of a column (the column itself when it has none)."""
    if column in COLUMNS:
        return COLUMNS[column][0]
    if column in METRICS:
        return METRICS[column][0]
    if column in PARTS:
        return PARTS[column][0]
    return column.replace("_", " ").capitalize()


def in_sentence(column: str) -> str:
    """The label of a column inside a sentence: ``scenario``, but ``LLM model``."""
    text = label(column)
    return text[0].lower() + text[1:] if text[1:2].islower() else text


def explain(column: str) -> str:
    """The explanation of a column ("" when it has none)."""
    for table in (COLUMNS, METRICS, PARTS, RULES):
        if column in table:
            return table[column][1]
    return ""


def check_label(check: str, turn: Any, what: str = "") -> str:
    """A check in words: ``Reply to line 1 mentions 'sorry'``, ``No reply says 'refund'``."""
    if check in RULES:
        return RULES[check][0]
    one, every = _EXPECT.get(check, (check.removeprefix("expect.").replace("_", " "),) * 2)
    if turn is None or (isinstance(turn, float) and math.isnan(turn)):
        said = every
    else:
        said = ("Greeting" if int(turn) == 0 else f"Reply to line {int(turn)}") + f" {one}"
    return f"{said} {what}" if what else said


def call_kinds(calls: int, simulated: int) -> str:
    """``simulated``, ``all real``, ``2 simulated, 1 real``: what kind the calls were."""
    real = calls - simulated
    if real and simulated:
        return f"{simulated:,} simulated, {real:,} real"
    kind = "real" if real else "simulated"
    return kind if calls == 1 else f"all {kind}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 call``, ``2 calls``, ``10,000 calls``."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def secs(value: Any, digits: int = 2) -> str:
    """Seconds as people write them (``0.84 s``); an en dash when unknown."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(number) else f"{number:.{digits}f} s"


def percent(part: float, whole: float) -> str:
    """``92%`` (``99.9%`` rather than a rounded-up ``100%``); an en dash for 0 of 0."""
    if not whole:
        return "–"
    share = 100 * part / whole
    if part != whole and share > 99.5:
        return f"{math.floor(share * 10) / 10:.1f}%"
    return f"{share:.0f}%"
