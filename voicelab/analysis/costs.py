"""What calls cost: the usage the records hold, priced with a table the user sets.

voicelab records what each call used (``llm.usage`` tokens, ``tts.usage`` characters, the
call's length); prices change by provider, plan and month, so they are the user's to give::

    prices = Prices(llm_prompt_per_million=0.15, llm_completion_per_million=0.60,
                    tts_per_million_characters=15.0, phone_per_minute=0.014)
    call_costs(calls_df("recordings"), prices)[["call_sid", "cost"]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["COST_COLUMNS", "Prices", "call_costs"]

COST_COLUMNS = ("llm_cost", "tts_cost", "stt_cost", "phone_cost", "cost")
"""What :func:`call_costs` adds: each part, and their sum."""

_Price = Field(default=0.0, ge=0)


class Prices(BaseModel):
    """Unit prices, in one currency (0: free, or not counted).

    Attributes:
        llm_prompt_per_million: Per million prompt (input) tokens.
        llm_completion_per_million: Per million completion (output) tokens.
        tts_per_million_characters: Per million characters spoken.
        stt_per_minute: Per minute of call audio transcribed (the call's length).
        phone_per_minute: Per started minute of the call (Twilio bills whole minutes).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    llm_prompt_per_million: float = _Price
    llm_completion_per_million: float = _Price
    tts_per_million_characters: float = _Price
    stt_per_minute: float = _Price
    phone_per_minute: float = _Price


def call_costs(calls: pd.DataFrame, prices: Prices | Mapping[str, Any]) -> pd.DataFrame:
    """``calls`` (a ``calls_df``) with each call's cost by part and in all (:data:`COST_COLUMNS`).

    A part whose usage a call's services did not report (NaN tokens) costs NaN, so an
    unknown cost never passes for a free one; the total is NaN then too.

    Raises:
        pydantic.ValidationError: ``prices`` names an unknown price or a negative one.
    """
    table = prices if isinstance(prices, Prices) else Prices.model_validate(dict(prices))
    out = calls.copy()

    def used(column: str) -> pd.Series:
        return pd.to_numeric(out[column], errors="coerce").astype("float64")

    minutes = used("duration_s") / 60.0
    out["llm_cost"] = (
        used("llm_prompt_tokens") * table.llm_prompt_per_million
        + used("llm_completion_tokens") * table.llm_completion_per_million
    ) / 1e6
    out["tts_cost"] = used("tts_characters") * table.tts_per_million_characters / 1e6
    out["stt_cost"] = minutes * table.stt_per_minute
    out["phone_cost"] = np.ceil(minutes) * table.phone_per_minute
    out["cost"] = out[list(COST_COLUMNS[:-1])].sum(axis=1, min_count=len(COST_COLUMNS) - 1)
    return out
