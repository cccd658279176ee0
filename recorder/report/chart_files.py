"""The one-chart files a command writes beside its table: `--html`, `--png`, `--svg`.

The chart is drawn from the same answer the command prints (a timeline's waterfall, the latency
per node), so a file and a table never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recorder.report.answers import RecorderAnswers


def save_chart_files(chart: Any, paths: Sequence[Path | None], *, title: str | None = None) -> list[Path]:
    """Save `chart` to each path given (its extension picks the format); returns the paths written."""
    from recorder.report.files import save_chart

    return [save_chart(chart, path, title=title) for path in paths if path is not None]


def timeline_chart_files(recorder: RecorderAnswers, execution_id: str, paths: Sequence[Path | None]) -> list[Path]:
    """The execution's waterfall, saved to each path given."""
    from recorder.report.charts import waterfall_chart

    timeline = recorder.timeline(execution_id)
    return save_chart_files(waterfall_chart(timeline), paths, title=f"timeline {timeline.execution_id}")


def latency_chart_files(recorder: RecorderAnswers, paths: Sequence[Path | None], *, metric: str = "duration",
                        filters: dict[str, Any] | None = None) -> list[Path]:
    """The per-node latency distribution under `filters`, saved to each path given."""
    from recorder.report.charts import latency_chart

    return save_chart_files(latency_chart(recorder, metric=metric, **(filters or {})), paths, title=f"{metric} per node")
