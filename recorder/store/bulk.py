"""Idempotent bulk inserts: the one place where the two engines differ.

The database enforces uniqueness (natural keys, ON CONFLICT DO NOTHING); code never checks first.

- SQLite: the driver's executemany of `INSERT ... ON CONFLICT DO NOTHING` in the caller's
  transaction (events), or a Core executemany (everything else).
- PostgreSQL: COPY straight into the table inside a savepoint, the fastest path there is. A fresh
  batch (the normal case) never conflicts; when one does (a stream ingested again), the savepoint
  is rolled back and the batch goes COPY -> temporary staging table -> INSERT ... SELECT ... ON
  CONFLICT DO NOTHING, which skips exactly the rows already stored.

Event rows that were skipped are then looked at once, on both engines alike: the same line already
stored at the same (execution_id, seq) is a duplicate; anything else is a conflict the caller keeps
some other way.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

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


def insert_ignore(connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, count: bool = True) -> int | None:
    """Insert rows, skipping those whose key is already stored; returns how many were new
    (None with `count=False`, which spares PostgreSQL the RETURNING of every row)."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
        if not count:
            connection.execute(statement, list(rows))
            return None
        # psycopg's executemany reports no rowcount; RETURNING yields exactly the inserted rows.
        return len(connection.execute(statement.returning(*table.primary_key.columns), list(rows)).all())
    if dialect == "sqlite":
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
    new = _insert_events(connection, rows)
    if new.total() == len(rows):
        return InsertedEvents(new)
    return _sort_out_skipped(connection, rows, new)


def _insert_events(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> Counter[str]:
    if connection.dialect.name == "postgresql":
        return _copy_events_postgresql(connection, rows)
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


def _copy_events_postgresql(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> Counter[str]:
    from psycopg import errors

    driver = connection.connection.driver_connection
    savepoint = connection.begin_nested()
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
            for row in rows:
                copy.write_row(row)
        savepoint.commit()
        return Counter(row[0] for row in rows)
    except errors.UniqueViolation:
        savepoint.rollback()
    with driver.cursor() as cursor:
        cursor.execute(_CREATE_STAGING)
        cursor.execute("TRUNCATE events_staging")
        with cursor.copy(_COPY_STAGING) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_MERGE_STAGING)
        return Counter(execution_id for (execution_id,) in cursor.fetchall())


def _sort_out_skipped(connection: Connection, rows: Sequence[tuple[Any, ...]], new: Counter[str]) -> InsertedEvents:
    """Compare each row with what its (execution_id, seq) holds now. PostgreSQL compares digests
    server-side, so a body ingested again does not bring every stored line back over the wire."""
    on_postgresql = connection.dialect.name == "postgresql"
    content = func.md5(Event.raw) if on_postgresql else Event.raw
    stored: dict[tuple[str, int], Any] = {}
    for execution_id, group in groupby(sorted(rows, key=itemgetter(EXECUTION_ID)), key=itemgetter(EXECUTION_ID)):
        seqs = [row[SEQ] for row in group]
        for start in range(0, len(seqs), _LOOKUP_CHUNK):
            query = select(Event.seq, Event.recording_id, Event.position, content).where(
                Event.execution_id == execution_id, Event.seq.in_(seqs[start : start + _LOOKUP_CHUNK])
            )
            for seq, recording_id, position, text in connection.execute(query):
                stored[(execution_id, seq)] = (recording_id, position, text)
    result = InsertedEvents(new)
    for row in rows:
        found = stored.get((row[EXECUTION_ID], row[SEQ]))
        if found is not None and found[:2] == (row[RECORDING_ID], row[POSITION]):
            continue
        same = found is not None and found[2] == (hashlib.md5(row[RAW].encode()).hexdigest() if on_postgresql else row[RAW])
        if same:
            result.duplicates.append((row[POSITION], row[EXECUTION_ID], row[SEQ]))
        else:
            result.conflicts.append(row)
    return result
