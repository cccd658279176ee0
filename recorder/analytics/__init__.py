"""Analytics over the store: timelines, latency breakdowns, lineage and SQL.

Dependencies point one way: analytics -> store -> model. `Analytics` is the entry point; the
`Recorder` methods and the CLI commands are thin projections of it. DuckDB, polars and pyarrow are
loaded only by the fleet questions, so a timeline or a lineage starts fast.
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
