"""The layout of an events row as the bulk path writes it: a plain tuple in the table's column order.

Tuples, not dicts: building a dict per row for the driver cost as much as the insert itself. The
order is spelled here rather than read off the SQLAlchemy model so that the engine code
(recorder.store.dialects) can build its COPY and INSERT statements without importing the schema;
the store's contract tests check that it matches the table.
"""

from __future__ import annotations

from typing import Any

from recorder.model.events import ParsedEvent

EVENT_COLUMNS: tuple[str, ...] = (
    "execution_id",
    "position",
    "seq",
    "recording_id",
    "type",
    "state",
    "ts_us",
    "received_at_us",
    "event_id",
    "node_id",
    "node_result_id",
    "node_type",
    "source_execution_id",
    "flags",
    "raw",
    "change_seq",
)
EXECUTION_ID, POSITION, SEQ, RECORDING_ID, TYPE, STATE, TS_US, RECEIVED_AT_US, NODE_ID, NODE_RESULT_ID, NODE_TYPE, SOURCE_EXECUTION_ID, RAW = (
    EVENT_COLUMNS.index(name)
    for name in (
        "execution_id", "position", "seq", "recording_id", "type", "state", "ts_us", "received_at_us", "node_id",
        "node_result_id", "node_type", "source_execution_id", "raw",
    )
)


def event_row(event: ParsedEvent, recording_id: int, received_at_us: int, seq: int) -> tuple[Any, ...]:
    """The events row of a parsed line, in EVENT_COLUMNS order (the table's column order), all but
    the last column: the change cursor is known only in the transaction that stores it (`stamped`)."""
    return (
        event.execution_id,
        event.position,
        seq,
        recording_id,
        event.type,
        event.state,
        event.ts_us,
        received_at_us,
        event.event_id,
        event.node_id,
        event.node_result_id,
        event.node_type,
        event.source_execution_id,
        event.flags_text,
        event.raw,
    )


def stamped(rows: list[tuple[Any, ...]], change_seq: int) -> list[tuple[Any, ...]]:
    """`rows` (from `event_row`) completed with the change cursor of the transaction storing them."""
    tail = (change_seq,)
    return [row + tail for row in rows]
