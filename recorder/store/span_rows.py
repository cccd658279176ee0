"""The layout of a node_spans row as the span upkeep writes it: a plain tuple in the table's column order.

Spelled here, like the events row (recorder.store.event_rows), so the engine code
(recorder.store.dialects) can build its upsert statements without importing the schema; the store's
contract tests check that it matches the table.
"""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

from recorder.model.spans import RunFold

SPAN_COLUMNS: tuple[str, ...] = (
    "execution_id",
    "node_result_id",
    "node_id",
    "node_type",
    "source_execution_id",
    "parent_node_result_id",
    "depth",
    "state",
    "first_seq",
    "initiated",
    "start_us",
    "start_pos",
    "start_ts_less",
    "end_us",
    "end_pos",
    "end_ts_less",
    "first_output_us",
    "first_output_ts_less",
    "streaming_events",
    "error_code",
    "child_execution_ids",
    "model_name",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "paused_us",
    "paused_since_us",
    "node_name",
    "change_seq",
)


def span_row(execution_id: str, run: RunFold, place: tuple[str | None, int]) -> tuple[Any, ...]:
    """The node_spans row of a folded run at its `place` (container, depth), all but the last
    column: the change cursor is known only in the transaction that stores it."""
    children = json.dumps(list(run.child_execution_ids)) if run.child_execution_ids else None
    return (execution_id, *_IDS(run), *place, *_TIMES(run), children, *_USAGE(run))


# The run's fields in SPAN_COLUMNS order, around the columns that do not come from the run.
_IDS = attrgetter("node_result_id", "node_id", "node_type", "source_execution_id")
_TIMES = attrgetter(*SPAN_COLUMNS[SPAN_COLUMNS.index("state") : SPAN_COLUMNS.index("child_execution_ids")])
_USAGE = attrgetter(*SPAN_COLUMNS[SPAN_COLUMNS.index("model_name") : SPAN_COLUMNS.index("change_seq")])
