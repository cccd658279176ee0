"""A text Gantt chart of a timeline, for the terminal (rich markup, no terminal size assumed).

One row per span in timeline order, indented by nesting depth; the bar covers the span's share
of the execution's time, so overlap (parallel branches) is visible at a glance. The critical path
is drawn in a heavy bar, failures in red, spans still open at a cut in yellow and ending in `>`.
"""

from __future__ import annotations

from rich.text import Text

from recorder.analytics.timeline import Span, Timeline

_STATE_STYLES = {"FULFILLED": "green", "REJECTED": "red"}


def render_gantt(timeline: Timeline, *, width: int = 60, label_width: int = 28) -> Text:
    """The chart as rich Text: a scale line, then one line per span."""
    chart = Text()
    start = timeline.started_at_us
    end = timeline.horizon_us
    if start is None or end is None or not timeline.spans:
        chart.append("(no node spans recorded)", style="dim")
        return chart
    start = min(start, *(span.start_us for span in timeline.spans))
    total = max(end - start, 1)
    scale = f"0 ms{' ' * max(width - 4 - len(_ms(total)), 1)}{_ms(total)}"
    chart.append(" " * (label_width + 1) + scale + "\n", style="dim")
    critical = set(timeline.critical_path)
    for span in timeline.spans:
        chart.append(_label(span, label_width) + " ")
        chart.append_text(_bar(span, start, total, end, width, span.node_result_id in critical))
        chart.append(f" {_duration(span)}\n", style="dim")
    chart.rstrip()
    return chart


def _label(span: Span, width: int) -> str:
    text = "  " * span.depth + (span.node_name or (span.node_type or "?") + " " + (span.node_id or "")[:8])
    return text[:width].ljust(width)


def _bar(span: Span, start: int, total: int, horizon: int, width: int, critical: bool) -> Text:
    begin = _column(span.start_us - start, total, width)
    finish_us = span.end_us if span.end_us is not None else horizon
    finish = max(_column(finish_us - start, total, width), begin + 1)
    style = "yellow" if span.open else _STATE_STYLES.get(span.state or "", "magenta")
    glyph = "█" if critical else "▒"
    bar = Text(" " * begin)
    body = glyph * (finish - begin)
    if span.open:
        body = body[:-1] + ">"
    bar.append(body, style=f"bold {style}" if critical else style)
    bar.append(" " * (width - finish))
    return bar


def _column(offset_us: int, total_us: int, width: int) -> int:
    return max(0, min(width - 1, round(offset_us * (width - 1) / total_us)))


def _duration(span: Span) -> str:
    if span.open:
        return "open"
    return _ms(span.end_us - span.start_us)


def _ms(us: int) -> str:
    return f"{us / 1000:.1f} ms" if us < 10_000_000 else f"{us / 1_000_000:.2f} s"
