"""From call records to answers: pandas tables, latency, quality, STT accuracy, plots, reports.

``voicelab.analysis`` reads call directories (DESIGN.md section 3) and nothing else: it
never imports pipecat, the server, the bot or the simulator, so it runs anywhere the
recordings are, a notebook or CI.

    >>> from voicelab.analysis import turns_df, latency_summary
    >>> turns = turns_df("recordings")
    >>> latency_summary(turns, col="v2v_caller_s")
"""

from voicelab.analysis._audio import CallAudio, load_audio, recording_v2v
from voicelab.analysis._files import CallRecordWarning
from voicelab.analysis._replay import replay_table
from voicelab.analysis.costs import Prices, call_costs
from voicelab.analysis.latency import BREAKDOWN, LATENCY_COLUMNS
from voicelab.analysis.load import (
    Records,
    calls_df,
    events_df,
    judgments_df,
    load_records,
    tool_calls_df,
    turns_df,
)
from voicelab.analysis.percentiles import compare, latency_summary
from voicelab.analysis.plots import (
    plot_breakdown,
    plot_latency_cdf,
    plot_latency_hist,
    plot_timeline,
    plot_waveform,
)
from voicelab.analysis.quality import (
    Expectation,
    RuleConfig,
    check_expectations,
    judge_calls,
    rule_checks,
    scores_df,
)
from voicelab.analysis.report import Report, build_report
from voicelab.analysis.wer import call_wer, turn_wer

__all__ = [
    "BREAKDOWN",
    "LATENCY_COLUMNS",
    "CallAudio",
    "CallRecordWarning",
    "Expectation",
    "Prices",
    "Records",
    "Report",
    "RuleConfig",
    "build_report",
    "call_costs",
    "call_wer",
    "calls_df",
    "check_expectations",
    "compare",
    "events_df",
    "judge_calls",
    "judgments_df",
    "latency_summary",
    "load_audio",
    "load_records",
    "plot_breakdown",
    "plot_latency_cdf",
    "plot_latency_hist",
    "plot_timeline",
    "plot_waveform",
    "recording_v2v",
    "replay_table",
    "rule_checks",
    "scores_df",
    "tool_calls_df",
    "turn_wer",
    "turns_df",
]
