"""Analytics over the store: timelines, latency breakdowns, lineage and SQL (issue 4).

Dependencies point one way: analytics -> store -> model. `Analytics` is the entry point; the
`Recorder` methods and the CLI commands are thin projections of it.
"""

from recorder.analytics.filters import AnalyticsFilter
from recorder.analytics.fleet import RefreshReport
from recorder.analytics.latency import UnknownGrouping
from recorder.analytics.lineage import Descendant, Lineage
from recorder.analytics.service import Analytics
from recorder.analytics.timeline import Span, Timeline

__all__ = ["Analytics", "AnalyticsFilter", "Descendant", "Lineage", "RefreshReport", "Span", "Timeline", "UnknownGrouping"]
