"""A call's timeline as a small inline SVG, for the report's per-call rows.

The same picture as :func:`voicelab.analysis.plot_timeline` (both draw
:func:`voicelab.analysis.plots.call_timeline`), drawn by hand: a matplotlib figure per call
costs ~70 ms and ~10 KB of PNG, a report shows hundreds of calls, and SVG stays sharp when
zoomed. Only numbers and fixed words go into the markup.
"""

from __future__ import annotations

import math

from voicelab.analysis.plots import Timeline

__all__ = ["timeline_svg"]

_W, _H = 900, 104
_LEFT, _RIGHT = 92, 16
_CALLER_Y, _BOT_Y, _BAR_H = 10, 56, 22
_AXIS_Y = 88
_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


def _step(span: float) -> float:
    """A tick step giving at most about ten ticks over ``span`` seconds."""
    return next((s for s in _STEPS if span / s <= 10), _STEPS[-1])


def timeline_svg(timeline: Timeline) -> str:
    """The SVG of ``timeline`` (``""`` when nothing was timed)."""
    ends = [start + length for start, length in (*timeline.said, *timeline.replies)]
    if not ends:
        return ""
    span = max(max(ends), 0.5) * 1.02
    scale = (_W - _LEFT - _RIGHT) / span

    def x(t: float) -> float:
        return _LEFT + t * scale

    bot = "Bot (heard)" if timeline.clock == "caller" else "Bot"
    parts = [
        f"<svg class='timeline' viewBox='0 0 {_W} {_H}' role='img' "
        f"xmlns='http://www.w3.org/2000/svg'><title>Who spoke when, {timeline.clock} clock"
        "</title>",
        f"<text x='0' y='{_CALLER_Y + 15}' class='lane'>Caller</text>",
        f"<text x='0' y='{_BOT_Y + 15}' class='lane'>{bot}</text>",
        f"<line x1='{_LEFT}' y1='{_AXIS_Y}' x2='{_W - _RIGHT}' y2='{_AXIS_Y}' class='axis'/>",
    ]
    step = _step(span)
    for i in range(math.floor(span / step) + 1):
        t = i * step
        parts.append(
            f"<line x1='{x(t):.1f}' y1='{_AXIS_Y}' x2='{x(t):.1f}' y2='{_AXIS_Y + 4}' "
            f"class='axis'/><text x='{x(t):.1f}' y='{_AXIS_Y + 14}' class='tick'>{t:g} s</text>"
        )
    for spans, y, kind in ((timeline.said, _CALLER_Y, "said"), (timeline.replies, _BOT_Y, "bot")):
        for start, length in spans:
            parts.append(
                f"<rect x='{x(start):.1f}' y='{y}' width='{max(length * scale, 1):.1f}' "
                f"height='{_BAR_H}' rx='3' class='{kind}'/>"
            )
    middle = (_CALLER_Y + _BAR_H + _BOT_Y) / 2
    for end, start in timeline.gaps:
        a, b = x(end), x(start)
        parts.append(
            f"<line x1='{a:.1f}' y1='{middle + 3:.1f}' x2='{b:.1f}' y2='{middle + 3:.1f}' "
            f"class='gap'/><text x='{(a + b) / 2:.1f}' y='{middle:.1f}' class='gap'>"
            f"{start - end:.2f} s</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
