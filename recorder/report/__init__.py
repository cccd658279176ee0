"""Pictures and the audit report: altair charts of timelines, latency and lineage, the
files they are saved to (offline HTML, PNG, SVG via vl-convert), and one self-contained HTML
report of a time range.

Owns: the charts (charts.py), writing them to files (files.py, chart_files.py), the audit report
(audit_report.py) and the answers it needs, as a Protocol the Recorder satisfies (answers.py).
May import: recorder.analytics (the results it draws) and recorder.model. Never recorder.api: the
report sits below the API and takes its answers.

Charts are plain `altair.Chart` objects, so a notebook shows them inline and `save_chart` writes
them for the CLI; both draw from the same Recorder answers the tables print.
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
