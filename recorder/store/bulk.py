"""Idempotent bulk inserts of event rows: what became of each row, on either engine.

The rows are tuples in the events table's column order (recorder.store.event_rows lays one out), so the
engine's bulk path (recorder.store.dialects) takes them without a dict per row. A row the
database skipped is a duplicate when its (execution_id, seq) holds the same line, and a conflict
when it holds a different one; the caller keeps conflicts some other way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection

from recorder.store.event_rows import EXECUTION_ID, POSITION, SEQ

if TYPE_CHECKING:
    from recorder.store.dialects import Dialect


@dataclass(slots=True)
class InsertedEvents:
    """What became of a batch of event rows."""

    new: Counter[str]  # rows stored now, per execution_id
    # (position, execution_id, seq) of lines identical to an event already stored.
    duplicates: list[tuple[int, str, int]] = field(default_factory=list)
    # Rows whose execution already has a different line at their seq (or position).
    conflicts: list[tuple[Any, ...]] = field(default_factory=list)


def insert_events(dialect: Dialect, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> InsertedEvents:
    """Insert event rows (all of one recording), skipping stored ones.

    Says how many rows were new per execution_id (execution counters are kept by addition instead
    of by counting an ever longer stream), and which skipped rows were duplicates or conflicts.
    """
    if not rows:
        return InsertedEvents(Counter())
    new, skipped = dialect.store_events(connection, rows)
    result = InsertedEvents(new)
    by_position = {row[POSITION]: row for row in rows}
    for position, same in skipped:
        row = by_position[position]
        if same:
            result.duplicates.append((position, row[EXECUTION_ID], row[SEQ]))
        else:
            result.conflicts.append(row)
    return result


T = TypeVar("T")


def in_chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`: an IN list or a VALUES list stays under the engines'
    parameter limits (SQLite's 32,766 bound parameters)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
