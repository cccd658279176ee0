"""Analytics over the store: timelines, latency breakdowns, lineage and SQL.

Owns: one execution's timeline (spans, overhead, critical path: timeline.py, intervals.py),
lineage along previous_execution_id (lineage.py), the fleet snapshot DuckDB queries (fleet.py),
every DuckDB statement (sql.py, filters.py), and `Analytics`, the entry point the Recorder and
the CLI project (analytics.py).
May import: recorder.store (its reads for analytics and its Arrow pulls) and recorder.model.
DuckDB, polars and pyarrow are loaded only by the fleet questions, so a timeline or a lineage
starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.analytics.latency import UnknownGrouping
from recorder.analytics.lineage import Descendant, Lineage
from recorder.analytics.analytics import Analytics
from recorder.analytics.timeline import Span, Timeline

if TYPE_CHECKING:
    from recorder.analytics.fleet import RefreshReport

__all__ = ["Analytics", "Descendant", "Lineage", "RefreshReport", "Span", "Timeline", "UnknownGrouping"]


def __getattr__(name: str):
    if name == "RefreshReport":
        from recorder.analytics.fleet import RefreshReport

        return RefreshReport
    raise AttributeError(name)
