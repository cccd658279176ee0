"""Pictures and the audit report: altair charts of timelines, latency and lineage, the
files they are saved to (offline HTML, PNG, SVG via vl-convert), and one self-contained HTML
report of a time range.

Charts are plain `altair.Chart` objects, so a notebook shows them inline and `save_chart` writes
them for the CLI; both draw from the same Recorder answers the tables print. The report sits below
the API: it takes those answers, or anything with the Recorder's methods (`RecorderAnswers`).
"""

from __future__ import annotations

from recorder.report.charts import latency_chart, lineage_chart, waterfall_chart
from recorder.report.files import save_chart

__all__ = ["latency_chart", "lineage_chart", "save_chart", "waterfall_chart", "write_report"]


def __getattr__(name: str):
    if name == "write_report":
        from recorder.report.audit_report import write_report

        return write_report
    raise AttributeError(name)
