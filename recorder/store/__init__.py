"""The event store: one SQLAlchemy schema on SQLite (default) or PostgreSQL, owned by Alembic.

Owns: every table and every statement against them. `Store` (database.py) is the contract the
rest of the package uses: writes (writer.py, bulk.py, executions.py), point reads (queries.py),
reconciliation facts, the reads analytics and replay need (analytics_reads.py,
recording_lines.py), Arrow pulls and `wipe()`. Every SQLite/PostgreSQL difference lives in
dialects.py, one class per engine; opening and migrating a database in engine.py.
May import: recorder.model only.

The names below load on first use, so `import recorder.store.urls` or `recorder.store.errors` (the
CLI's `--help` does) costs no SQLAlchemy import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.lazy import lazy_attributes

from recorder.store.errors import ForeignDatabase, NoStore, SchemaOutOfDate, StoreError, StoreUnavailable
from recorder.store.urls import DEFAULT_URL, URL_ENV

if TYPE_CHECKING:
    from recorder.store.analytics_reads import EventRow, ExecutionRow, LinkRow
    from recorder.store.database import Store
    from recorder.store.dialects import Dialect
    from recorder.store.queries import ExecutionFilter
    from recorder.store.schema import Event, Execution, Recording, Reject
    from recorder.store.writer import FlushPolicy, Outcome, RecordingResult, RecordingWriter

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "Dialect",
    "Event",
    "EventRow",
    "Execution",
    "ExecutionFilter",
    "ExecutionRow",
    "FlushPolicy",
    "ForeignDatabase",
    "LinkRow",
    "NoStore",
    "Outcome",
    "Recording",
    "RecordingResult",
    "RecordingWriter",
    "Reject",
    "SchemaOutOfDate",
    "Store",
    "StoreError",
    "StoreUnavailable",
]

_LAZY = {
    "Store": "recorder.store.database",
    "Dialect": "recorder.store.dialects",
    "EventRow": "recorder.store.analytics_reads",
    "ExecutionRow": "recorder.store.analytics_reads",
    "LinkRow": "recorder.store.analytics_reads",
    "ExecutionFilter": "recorder.store.queries",
    "Event": "recorder.store.schema",
    "Execution": "recorder.store.schema",
    "Recording": "recorder.store.schema",
    "Reject": "recorder.store.schema",
    "FlushPolicy": "recorder.store.writer",
    "Outcome": "recorder.store.writer",
    "RecordingResult": "recorder.store.writer",
    "RecordingWriter": "recorder.store.writer",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
