"""Keeping `node_spans` and the executions' span aggregates in step with the events, at ingest.

Most spans are drafted where the lines are parsed (recorder.store.span_drafts) and written as they
are; this is the store's own fold, for the executions whose draft does not fit what is stored (an
execution stored before by another recording, a conflicting line, a fold the drafts dropped).
Each flush folds the event rows it newly stored into their executions' spans with the timeline's
own rules (recorder.model.spans) and upserts the runs that changed, in the flush's transaction.
A fold resumes where the stored rows left it: an execution's stored events are always a prefix of
its stream (seq 0..n-1: a body stores its events from seq 0, and a line already stored at a seq is
skipped), and its spans hold the fold of exactly those n events, so the new rows must start at
seq n. That is checked, never assumed: where it does not hold (a conflicting line left a gap, a
concurrent writer got there first), the execution's spans are folded again from all its stored
events. The same happens when nothing is held for the execution in memory, except that reading
its span rows back is enough when the check holds.

The writer keeps the folds of executions still streaming in memory (a live stream's next flush
costs no read), and drops those whose workflow ended. Payloads are parsed again from the stored
text, only for the events whose run keeps a part of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from recorder.model.spans import ExecutionFold, RunFold, SpanTotals, fold_events, is_sdk_text
from recorder.store.event_rows import (
    EXECUTION_ID,
    NODE_ID,
    NODE_RESULT_ID,
    NODE_TYPE,
    RAW,
    RECEIVED_AT_US,
    SEQ,
    SOURCE_EXECUTION_ID,
    STATE,
    TS_US,
    TYPE,
)
from recorder.store.schema import Event, NodeSpan
from recorder.store.span_rows import span_row

if TYPE_CHECKING:
    from recorder.store.dialects import Dialect

# What a stored row gives a resumed run beyond its key (the children are a JSON list there).
_RESUMED_FIELDS = tuple(name for name in RunFold.__slots__ if name not in ("node_result_id", "first_seq", "child_execution_ids"))
# A writer keeps at most this many unfinished executions' folds; past it, the oldest are read back.
_MAX_HELD = 20_000

_spans = NodeSpan.__table__


class SpanUpkeep:
    """The store's own span folds of one writer's executions, and the upsert of what each flush
    changed, for the executions whose drafted spans do not fit (recorder.store.span_drafts)."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._folds: dict[str, ExecutionFold] = {}
        # What each held run's row said about nesting when last written: (parent, depth).
        self._nesting: dict[str, dict[str, tuple[str | None, int]]] = {}

    def fold(
        self,
        connection: Connection,
        rows: Sequence[tuple[Any, ...]],
        stored: Mapping[str, Any],
        change_seq: int,
    ) -> dict[str, SpanTotals]:
        """Fold the event rows just stored (`rows`, in stream order per execution) into their
        executions' spans and write the runs that changed. `stored` holds the executions rows as
        they were before this transaction (none for a new execution). Returns each execution's
        totals, for its row."""
        by_execution: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_execution.setdefault(row[EXECUTION_ID], []).append(row)
        totals: dict[str, SpanTotals] = {}
        changed: list[tuple[Any, ...]] = []
        for execution_id, new_rows in by_execution.items():
            before = stored.get(execution_id)
            count = before.event_count if before is not None else 0
            fold = self._folds.get(execution_id)
            if fold is None or fold.folded != count:
                fold = self._resume(connection, execution_id, count, before)
            if _continues(fold, new_rows):
                sdk = is_sdk_text(new_rows[0][RAW])
                touched = {self._add(fold, row, sdk) for row in new_rows}
                touched.discard(None)
            else:
                fold = self._refold(connection, execution_id)
                touched = set(fold.runs)
            changed.extend(self._rows(fold, touched, change_seq))
            totals[execution_id] = fold.totals()
            self._hold(fold)
        self._dialect.upsert_spans(connection, changed)
        return totals

    def _add(self, fold: ExecutionFold, row: tuple[Any, ...], sdk: bool) -> str | None:
        # The payload is parsed again from the stored text, and only where the run keeps a part of it.
        details = fold.details_from_text(row[TYPE], row[STATE], row[NODE_RESULT_ID], row[NODE_TYPE], row[RAW], sdk)
        run = fold.add(
            row[SEQ], row[TYPE], row[STATE], row[TS_US], row[RECEIVED_AT_US], row[NODE_ID], row[NODE_RESULT_ID],
            row[NODE_TYPE], row[SOURCE_EXECUTION_ID], details,
        )
        return None if run is None else run.node_result_id

    def forget(self, execution_ids: Sequence[str]) -> None:
        """Drop the folds of executions that ended (their next event, if any, reads them back)."""
        for execution_id in execution_ids:
            self._folds.pop(execution_id, None)
            self._nesting.pop(execution_id, None)

    def _hold(self, fold: ExecutionFold) -> None:
        self._folds.pop(fold.execution_id, None)
        self._folds[fold.execution_id] = fold
        while len(self._folds) > _MAX_HELD:
            self.forget([next(iter(self._folds))])

    def _resume(self, connection: Connection, execution_id: str, count: int, before: Any) -> ExecutionFold:
        """The fold of the execution's `count` stored events, from its stored span rows."""
        if count == 0:
            self._nesting[execution_id] = {}
            return ExecutionFold(execution_id)
        runs, nesting = [], {}
        for row in connection.execute(select(_spans).where(_spans.c.execution_id == execution_id)):
            run = RunFold(row.node_result_id, row.first_seq)
            for name in _RESUMED_FIELDS:
                setattr(run, name, getattr(row, name))
            run.child_execution_ids = tuple(row.child_execution_ids or ())
            runs.append(run)
            nesting[row.node_result_id] = (row.parent_node_result_id, row.depth)
        self._nesting[execution_id] = nesting
        return ExecutionFold.resumed(execution_id, runs, count, before.first_output_us, before.paused_us, before.paused_since_us)

    def _refold(self, connection: Connection, execution_id: str) -> ExecutionFold:
        """The execution's spans folded again from every stored event (this transaction's included)."""
        query = (
            select(Event.seq, Event.type, Event.state, Event.ts_us, Event.received_at_us, Event.node_id,
                   Event.node_result_id, Event.node_type, Event.source_execution_id, Event.raw)
            .where(Event.execution_id == execution_id)
            .order_by(Event.seq)
        )
        fold = fold_events(execution_id, connection.execute(query))
        # Every run is rewritten: forget what the rows said, so nesting is compared afresh.
        self._nesting[execution_id] = {}
        return fold

    def _rows(self, fold: ExecutionFold, touched: set[str], change_seq: int) -> list[tuple[Any, ...]]:
        """node_spans rows of the runs folded just now, and of any run whose container or depth
        changed (a container naming its child can arrive after the child's runs)."""
        written = self._nesting.setdefault(fold.execution_id, {})
        rows = []
        for key, place in fold.nesting().items():
            if key in touched or written.get(key) != place:
                written[key] = place
                rows.append(span_row(fold.execution_id, fold.runs[key], place) + (change_seq,))
        return rows


def _continues(fold: ExecutionFold, rows: Sequence[tuple[Any, ...]]) -> bool:
    """Whether `rows` are exactly the events after those the fold holds (seq n, n+1, ...)."""
    first = fold.folded
    return all(row[SEQ] == first + offset for offset, row in enumerate(rows))
