"""Analytics over the store: timelines, latency breakdowns, lineage and SQL.

Owns: one execution's timeline (spans, overhead, critical path: timeline.py, intervals.py),
lineage along previous_execution_id (lineage.py), the fleet snapshot DuckDB queries, refreshed by
the store's change cursor (fleet.py) and kept as Parquet in the cache folder (snapshot_files.py),
every DuckDB statement (sql.py, filters.py), and `Analytics`, the entry point the Recorder and
the CLI project (analytics.py).
May import: recorder.store (its reads for analytics and its Arrow pulls) and recorder.model.
DuckDB, polars and pyarrow are loaded only by the fleet questions, so a timeline or a lineage
starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.lazy import lazy_attributes

if TYPE_CHECKING:
    from recorder.analytics.analytics import Analytics
    from recorder.analytics.fleet import CacheInfo, RefreshReport
    from recorder.analytics.latency import UnknownGrouping
    from recorder.analytics.lineage import Descendant, Lineage
    from recorder.analytics.timeline import Span, Timeline

__all__ = ["Analytics", "CacheInfo", "Descendant", "Lineage", "RefreshReport", "Span", "Timeline", "UnknownGrouping"]

# Loaded on first use, so the CLI can read the groupings in recorder.analytics.latency without the
# store (SQLAlchemy) that `Analytics` brings.
_LAZY = {
    "Analytics": "recorder.analytics.analytics",
    "CacheInfo": "recorder.analytics.fleet",
    "RefreshReport": "recorder.analytics.fleet",
    "UnknownGrouping": "recorder.analytics.latency",
    "Descendant": "recorder.analytics.lineage",
    "Lineage": "recorder.analytics.lineage",
    "Span": "recorder.analytics.timeline",
    "Timeline": "recorder.analytics.timeline",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
