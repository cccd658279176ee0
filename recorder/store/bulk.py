"""Idempotent bulk inserts: the one place where the two engines differ.

The database enforces uniqueness (natural keys, ON CONFLICT DO NOTHING); code never checks first.

- SQLite: the driver's executemany of `INSERT ... ON CONFLICT DO NOTHING` in the caller's
  transaction (events), or a Core executemany (everything else).
- PostgreSQL: COPY straight into the table inside a savepoint, the fastest path there is. A fresh
  batch (the normal case) never conflicts; when one does (a stream ingested again), the savepoint
  is rolled back and the batch goes COPY -> temporary staging table -> INSERT ... SELECT ... ON
  CONFLICT DO NOTHING, which skips exactly the rows already stored.

Event rows that were skipped are then compared with what their (execution_id, seq) holds: the
same line is a duplicate; a different one is a conflict the caller keeps some other way. PostgreSQL
compares in one statement against the staging table, so a body ingested again does not bring its
stored lines back over the wire; SQLite reads them back per execution.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, select

from recorder.store.schema import Event

EVENT_COLUMNS: tuple[str, ...] = tuple(column.name for column in Event.__table__.columns)
EXECUTION_ID, POSITION, SEQ, RECORDING_ID, RECEIVED_AT_US, RAW = (
    EVENT_COLUMNS.index(name) for name in ("execution_id", "position", "seq", "recording_id", "received_at_us", "raw")
)
_LOOKUP_CHUNK = 500


@dataclass(slots=True)
class InsertedEvents:
    """What became of a batch of event rows."""

    new: Counter[str]  # rows stored now, per execution_id
    # (position, execution_id, seq) of lines identical to an event already stored.
    duplicates: list[tuple[int, str, int]] = field(default_factory=list)
    # Rows whose execution already has a different line at their seq (or position).
    conflicts: list[tuple[Any, ...]] = field(default_factory=list)


_COLUMN_LIST = ", ".join(EVENT_COLUMNS)
_INSERT_EVENTS_SQLITE = (
    f"INSERT INTO events ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in EVENT_COLUMNS)}) ON CONFLICT DO NOTHING"
)
_COPY_EVENTS = f"COPY events ({_COLUMN_LIST}) FROM STDIN"
_CREATE_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS events_staging "
    "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COPY_STAGING = f"COPY events_staging ({_COLUMN_LIST}) FROM STDIN"
_MERGE_STAGING = (
    f"INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM events_staging "
    "ON CONFLICT DO NOTHING RETURNING execution_id"
)
# The staged rows that were not stored just now, and whether the stored line at their place is theirs.
_COMPARE_STAGING = (
    "SELECT s.position, e.raw IS NOT DISTINCT FROM s.raw FROM events_staging s "
    "LEFT JOIN events e ON e.execution_id = s.execution_id AND e.seq = s.seq "
    "WHERE e.recording_id IS DISTINCT FROM s.recording_id OR e.position IS DISTINCT FROM s.position"
)


def insert_ignore(connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, count: bool = True) -> int | None:
    """Insert rows, skipping those whose key is already stored; returns how many were new
    (None with `count=False`, which spares PostgreSQL the RETURNING of every row)."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    # Each engine's INSERT construct is imported with its engine: SQLAlchemy's PostgreSQL dialect
    # pulls in asyncio, which a SQLite user's every command would otherwise pay for.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(table).on_conflict_do_nothing()
        if not count:
            connection.execute(statement, list(rows))
            return None
        # psycopg's executemany reports no rowcount; RETURNING yields exactly the inserted rows.
        return len(connection.execute(statement.returning(*table.primary_key.columns), list(rows)).all())
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(table).on_conflict_do_nothing()
        return max(connection.execute(statement, list(rows)).rowcount, 0)
    raise NotImplementedError(f"unsupported database engine: {dialect}")


def insert_events(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> InsertedEvents:
    """Insert event rows (tuples in EVENT_COLUMNS order, all of one recording), skipping stored ones.

    Says how many rows were new per execution_id (execution counters are kept by addition instead
    of by counting an ever longer stream), and which skipped rows were duplicates or conflicts.
    """
    if not rows:
        return InsertedEvents(Counter())
    if connection.dialect.name == "postgresql":
        new, skipped = _copy_events_postgresql(connection, rows)
    else:
        new = _insert_events_sqlite(connection, rows)
        skipped = _compare_skipped_sqlite(connection, rows) if new.total() < len(rows) else []
    result = InsertedEvents(new)
    by_position = {row[POSITION]: row for row in rows}
    for position, same in skipped:
        row = by_position[position]
        if same:
            result.duplicates.append((position, row[EXECUTION_ID], row[SEQ]))
        else:
            result.conflicts.append(row)
    return result


def _insert_events_sqlite(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> Counter[str]:
    # The driver's executemany straight from the row tuples, inside the caller's transaction:
    # building a dict per row for SQLAlchemy's executemany cost as much as the insert itself.
    cursor = connection.connection.driver_connection.cursor()
    inserted: Counter[str] = Counter()
    try:
        for execution_id, group in groupby(rows, key=itemgetter(0)):
            cursor.executemany(_INSERT_EVENTS_SQLITE, list(group))
            inserted[execution_id] += max(cursor.rowcount, 0)
    finally:
        cursor.close()
    return inserted


def _copy_events_postgresql(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> tuple[Counter[str], list[tuple[int, bool]]]:
    """New rows per execution, and (position, same line) for each row skipped."""
    from psycopg import errors

    driver = connection.connection.driver_connection
    savepoint = connection.begin_nested()
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
            for row in rows:
                copy.write_row(row)
        savepoint.commit()
        return Counter(row[0] for row in rows), []
    except errors.UniqueViolation:
        savepoint.rollback()
    with driver.cursor() as cursor:
        cursor.execute(_CREATE_STAGING)
        cursor.execute("TRUNCATE events_staging")
        with cursor.copy(_COPY_STAGING) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_MERGE_STAGING)
        new = Counter(execution_id for (execution_id,) in cursor.fetchall())
        cursor.execute(_COMPARE_STAGING)
        return new, [(position, bool(same)) for position, same in cursor.fetchall()]


def _compare_skipped_sqlite(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> list[tuple[int, bool]]:
    """(position, same line) for each row another line already held the (execution_id, seq) of."""
    stored: dict[tuple[str, int], tuple[int, int, str]] = {}
    for execution_id, group in groupby(sorted(rows, key=itemgetter(EXECUTION_ID)), key=itemgetter(EXECUTION_ID)):
        seqs = [row[SEQ] for row in group]
        for start in range(0, len(seqs), _LOOKUP_CHUNK):
            query = select(Event.seq, Event.recording_id, Event.position, Event.raw).where(
                Event.execution_id == execution_id, Event.seq.in_(seqs[start : start + _LOOKUP_CHUNK])
            )
            for seq, recording_id, position, raw in connection.execute(query):
                stored[(execution_id, seq)] = (recording_id, position, raw)
    skipped = []
    for row in rows:
        found = stored.get((row[EXECUTION_ID], row[SEQ]))
        if found is None or found[:2] != (row[RECORDING_ID], row[POSITION]):
            skipped.append((row[POSITION], found is not None and found[2] == row[RAW]))
    return skipped
