"""Small HTML pieces the report's sections share: cells, tables, a plot as a data URI.

Every value goes through ``html.escape``: the report's texts come from call records, and
records come from CI artifacts and colleagues.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from voicelab.analysis._report_words import explain, label

__all__ = ["html_table", "png", "td", "th"]


def png(draw: Callable[[Axes], object], size: tuple[float, float] = (8, 3)) -> str:
    """A matplotlib drawing as a base64 PNG, for an ``<img src='data:...'>``."""
    figure = Figure(figsize=size, layout="constrained")
    draw(figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def th(column: str, numeric: bool = False, text: str | None = None) -> str:
    """A header cell in words, its explanation as a tooltip."""
    tip = explain(column)
    title = f" title='{escape(tip)}'" if tip else ""
    return f"<th{' class=num' if numeric else ''}{title}>{escape(text or label(column))}</th>"


def td(value: Any, numeric: bool = False) -> str:
    """A cell; numbers are right-aligned."""
    return f"<td{' class=num' if numeric else ''}>{escape(str(value))}</td>"


def html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of ready-made cells."""
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table><tr>{''.join(head)}</tr>{body}</table>"
