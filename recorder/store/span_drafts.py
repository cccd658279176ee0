"""Span rows drafted while a stream is parsed, before the store says which of its lines were new.

Folding events into spans is per-event Python, as costly as the insert itself; drafted where the
lines are parsed (in the parse stage's process, for a large body), it overlaps the writes. A draft
is the fold of this stream's own events of an execution, from its first: it is what the store must
hold exactly when every one of those events was stored by this stream. The writer checks that per
execution and batch (recorder.store.writer): where it does not hold (the execution was stored
before, by an earlier recording of a body that overlaps, or a line conflicted), the store folds
the execution itself from what it holds (recorder.store.span_upkeep), as it always could.

The rules are the span upkeep's: a run keeps what its payload adds only where `needs_details`
says so, and a v2 run its node's name until it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recorder.model.events import ParsedEvent
from recorder.model.spans import ExecutionFold, RunDetails, SpanTotals, needs_details, run_details
from recorder.model.vocabulary import StreamShape
from recorder.store.event_rows import RECEIVED_AT_US, SEQ
from recorder.store.span_rows import span_row

# At most this many unfinished executions' folds are drafted; past it, the oldest are left to the store.
MAX_DRAFTED = 20_000


@dataclass(slots=True)
class SpanDraft:
    """An execution's span rows changed by a batch, drafted from this stream's events alone."""

    count_before: int  # this stream's events of the execution folded before the batch
    rows: dict[str, tuple[Any, ...]]  # node_spans rows by node_result_id, without change_seq
    totals: SpanTotals

    def then(self, later: SpanDraft) -> None:
        """Take in the draft of the next batch (the writer commits several parsed batches as one)."""
        self.rows.update(later.rows)
        self.totals = later.totals


class SpanDrafts:
    """The folds of one stream's executions, from each execution's first event in the stream."""

    def __init__(self) -> None:
        self._folds: dict[str, ExecutionFold] = {}
        # What each run's drafted row said about nesting when last drafted: (parent, depth).
        self._nesting: dict[str, dict[str, tuple[str | None, int]]] = {}
        # Executions with events since the last `take`: the count folded before them, the runs changed.
        self._touched: dict[str, tuple[int, set[str]]] = {}

    def add(self, event: ParsedEvent, row: tuple[Any, ...]) -> None:
        """Fold one event (its events row gives seq and arrival) into its execution's draft."""
        execution_id = event.execution_id
        fold = self._folds.get(execution_id)
        if fold is None:
            if row[SEQ] != 0:
                return  # its fold was dropped (ended, or too many held): the store folds it
            fold = self._folds[execution_id] = ExecutionFold(execution_id)
            self._nesting[execution_id] = {}
        touched = self._touched.get(execution_id)
        if touched is None:
            touched = self._touched[execution_id] = (fold.folded, set())
        node_result_id = event.node_result_id
        details = None
        if event.type == "NODE" and node_result_id is not None:
            held = fold.runs.get(node_result_id)
            if needs_details(event.type, event.state, event.node_type, held.node_type if held is not None else None):
                details = run_details(event.body, event.state, event.node_type)
            elif event.shape is StreamShape.SDK and (held is None or held.node_name is None):
                named = run_details(event.body, event.state, event.node_type)
                details = RunDetails(node_name=named.node_name) if named is not None and named.node_name else None
        run = fold.add(
            row[SEQ], event.type, event.state, event.ts_us, row[RECEIVED_AT_US], event.node_id, node_result_id,
            event.node_type, event.source_execution_id, details,
        )
        if run is not None:
            touched[1].add(run.node_result_id)

    def take(self, ended: set[str]) -> dict[str, SpanDraft]:
        """The drafts of the executions touched since the last call; the folds of those in `ended`
        (their workflow ended) are dropped, so a later event of theirs is left to the store."""
        drafts = {}
        for execution_id, (count_before, runs) in self._touched.items():
            fold = self._folds[execution_id]
            written = self._nesting[execution_id]
            rows = {}
            for key, place in fold.nesting().items():
                if key in runs or written.get(key) != place:
                    written[key] = place
                    rows[key] = span_row(execution_id, fold.runs[key], place)
            drafts[execution_id] = SpanDraft(count_before, rows, fold.totals())
            if execution_id in ended:
                self._drop(execution_id)
        self._touched.clear()
        while len(self._folds) > MAX_DRAFTED:
            self._drop(next(iter(self._folds)))
        return drafts

    def _drop(self, execution_id: str) -> None:
        del self._folds[execution_id]
        del self._nesting[execution_id]
