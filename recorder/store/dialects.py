"""Every difference between the two engines the recorder stores into, one class per engine.

The rest of the store writes portable SQLAlchemy and asks the engine's `Dialect` for what cannot be
portable: how a URL is spelled and checked, how a connection is set up, how the schema is locked,
how rows are inserted idempotently (the events in bulk: COPY on PostgreSQL, the driver's
executemany on SQLite), how a whole-table read reaches Arrow, how JSON reads as text, how the
planner is told to walk indexes, and how every table is emptied. The dialect is looked up once,
by the engine's dialect name, when a store opens its engine (`dialect_of`); the instances hold
no state, so one of each serves every engine.

Idempotent inserts: the database enforces uniqueness (natural keys, ON CONFLICT DO NOTHING); code
never checks first. Event rows that were skipped are compared with what their (execution_id, seq)
holds (recorder.store.bulk tells duplicates from conflicts): PostgreSQL compares in one statement
against a staging table, so a body ingested again does not bring its stored lines back over the
wire; SQLite reads them back per execution.

Whole-table reads into Arrow (measured on 1M events, bench/ANALYTICS.md):
- PostgreSQL: ADBC (adbc-driver-postgresql, binary COPY straight into Arrow) when it is installed,
  else `COPY (SELECT ...) TO STDOUT (FORMAT csv)` parsed by pyarrow's multithreaded CSV reader.
  Both avoid Python objects per row; ADBC was about 1.5x faster.
- SQLite: ADBC's SQLite driver (adbc-driver-sqlite) when installed, run in a child process
  (recorder.store.sqlite_export) because it links a second copy of SQLite, and two in one process
  break SQLite's locking on a database the recorder has open; else the sqlite3 cursor, in large
  batches transposed into Arrow. The child was 1.3x to 2.5x faster.
DuckDB's own sqlite and postgres scanners are extensions downloaded at run time (no network, no
scanner), so they are not used.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import JSON, Connection, Engine, Table, Text, bindparam, event, text
from sqlalchemy.engine import URL, make_url

from recorder.extras import require
from recorder.store.errors import StoreUnavailable
from recorder.store.event_rows import EVENT_COLUMNS, EXECUTION_ID, POSITION, RAW, RECORDING_ID, SEQ
from recorder.store.span_rows import SPAN_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import ColumnElement
    from sqlalchemy.types import TypeEngine

_LOOKUP_CHUNK = 500
_COLUMN_LIST = ", ".join(EVENT_COLUMNS)
_SPAN_LIST = ", ".join(SPAN_COLUMNS)
_SPAN_UPDATES = ", ".join(f"{name} = excluded.{name}" for name in SPAN_COLUMNS if name not in ("execution_id", "node_result_id"))
_UPSERT_SPANS_SQLITE = (
    f"INSERT INTO node_spans ({_SPAN_LIST}) VALUES ({', '.join('?' for _ in SPAN_COLUMNS)}) "
    f"ON CONFLICT (execution_id, node_result_id) DO UPDATE SET {_SPAN_UPDATES}"
)


class Dialect:
    """What one engine does its own way. Subclasses override; the base holds the portable part."""

    name: ClassVar[str]
    # Backend names in URLs that mean this engine (`postgres://` is PostgreSQL too).
    aliases: ClassVar[tuple[str, ...]] = ()

    # -- URLs and connections ---------------------------------------------------------------------

    def normalise_url(self, url: URL) -> URL:
        """The URL with this engine's spelling (the driver the recorder installs)."""
        return url

    def check_url(self, url: URL, shown: str) -> None:
        """Refuse, before connecting, a URL this engine cannot open (`shown` names it in messages)."""

    def database_file(self, url: URL) -> Path | None:
        """The file the database lives in (None for a server, or in memory)."""
        return None

    def configure_engine(self, engine: Engine) -> None:
        """Settings every new connection gets."""

    def lock_schema(self, connection: Connection) -> None:
        """Take the recorder's schema lock for the rest of the connection's transaction."""

    # -- writes -----------------------------------------------------------------------------------

    def insert_ignore(self, connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, count: bool = True) -> int | None:
        """Insert rows, skipping those whose key is already stored; returns how many were new
        (None with `count=False`, which spares a PostgreSQL server the RETURNING of every row)."""
        raise NotImplementedError

    def store_events(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> tuple[Counter[str], list[tuple[int, bool]]]:
        """Insert event rows (tuples in EVENT_COLUMNS order), skipping stored ones: the new rows per
        execution_id, and (position, same line) for each row skipped."""
        raise NotImplementedError

    def upsert_spans(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert node_spans rows (tuples in SPAN_COLUMNS order), replacing stored runs with the same key."""
        raise NotImplementedError

    def refresh_statistics(self, connection: Connection) -> None:
        """After a large load: let the planner see the tables' new sizes (nothing to do by default)."""

    def wipe(self, connection: Connection, tables: Sequence[str]) -> None:
        """Empty `tables` (given parents first), keeping the schema; ids start again at 1."""
        raise NotImplementedError

    # -- reads ------------------------------------------------------------------------------------

    def json_type(self) -> TypeEngine[Any]:
        """The column type of a JSON document (None stored as SQL NULL, not the JSON literal null)."""
        return JSON(none_as_null=True)

    def json_as_text(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """A JSON column as its text (DuckDB queries the pulled text)."""
        return column

    def prefer_index_walks(self, connection: Connection) -> None:
        """Tell the planner, for this transaction only, that index lookups are right (a step of
        a recursive walk or a keyed lookup touches a handful of rows)."""

    def pull_arrow(self, engine: Engine, sql: str, schema: pa.Schema, *, expected_rows: int | None = None) -> pa.Table:
        """A parameterless query's rows as Arrow of `schema`, through this engine's bulk path.
        `expected_rows` (None: unknown) lets a small pull skip a path whose start-up costs more
        than it saves."""
        from recorder.store.arrow_tables import fetch_dbapi

        return fetch_dbapi(engine, sql, schema)

    def reclaim_space(self, engine: Engine, tables: Sequence[str]) -> None:
        """After a prune deleted many rows: give the space back (or make it reusable) and refresh
        the planner's statistics of `tables`. Runs outside any transaction."""
        raise NotImplementedError

    def pause_between_batches_s(self, held_s: float) -> float:
        """How long a long job of back-to-back write transactions (a prune) waits after one that
        held the write lock `held_s` seconds, so writers waiting for the lock get it. None by
        default: PostgreSQL queues lock waiters, and the next batch waits behind them."""
        return 0.0


class SqliteDialect(Dialect):
    """SQLite: a file beside the application, WAL, and the driver's executemany for bulk."""

    name = "sqlite"
    aliases = ("sqlite",)

    _INSERT_EVENTS = f"INSERT INTO events ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in EVENT_COLUMNS)}) ON CONFLICT DO NOTHING"
    _STORED_LINES = text(
        "SELECT seq, recording_id, position, raw FROM events WHERE execution_id = :execution_id AND seq IN :seqs"
    ).bindparams(bindparam("seqs", expanding=True))
    # Below this many rows the sqlite3 cursor finishes before a child process has imported pyarrow.
    CHILD_PROCESS_ROWS = 250_000

    def check_url(self, url: URL, shown: str) -> None:
        """A path naming a folder, or inside a folder that does not exist, is refused before
        SQLite would say only "unable to open database file"."""
        path = self.database_file(url)
        if path is None:
            return
        if path.is_dir():
            raise StoreUnavailable(f"cannot open {shown}: {path} is a folder, not a database file")
        if not path.parent.is_dir():
            raise StoreUnavailable(f"cannot open {shown}: the folder {path.parent} does not exist")

    def database_file(self, url: URL) -> Path | None:
        database = url.database
        if not database or database == ":memory:":
            return None
        if url.query.get("uri") == "true" and database.startswith("file:"):
            database = database[len("file:"):].partition("?")[0]
            if not database or database == ":memory:":
                return None
        return Path(database)

    def configure_engine(self, engine: Engine) -> None:
        event.listen(engine, "connect", _configure_sqlite_connection)

    def lock_schema(self, connection: Connection) -> None:
        # pysqlite has opened no transaction yet (it does so only before DML): take the write lock now.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    def insert_ignore(self, connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, count: bool = True) -> int | None:
        if not rows:
            return 0
        from sqlalchemy.dialects import sqlite

        return max(connection.execute(sqlite.insert(table).on_conflict_do_nothing(), list(rows)).rowcount, 0)

    def store_events(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> tuple[Counter[str], list[tuple[int, bool]]]:
        # The driver's executemany straight from the row tuples, inside the caller's transaction:
        # building a dict per row for SQLAlchemy's executemany cost as much as the insert itself.
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(self._INSERT_EVENTS, rows)
            inserted = max(cursor.rowcount, 0)
        finally:
            cursor.close()
        new = Counter(map(itemgetter(EXECUTION_ID), rows))
        if inserted == len(rows):
            return new, []
        # Some rows were skipped: which, and whether each is the same line as the one stored.
        skipped = self._compare_skipped(connection, rows)
        by_position = {row[POSITION]: row[EXECUTION_ID] for row in rows}
        new.subtract(by_position[position] for position, _ in skipped)
        return +new, skipped

    def _compare_skipped(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> list[tuple[int, bool]]:
        """(position, same line) for each row another line already held the (execution_id, seq) of."""
        stored: dict[tuple[str, int], tuple[int, int, str]] = {}
        for execution_id, group in groupby(sorted(rows, key=itemgetter(EXECUTION_ID)), key=itemgetter(EXECUTION_ID)):
            seqs = [row[SEQ] for row in group]
            for start in range(0, len(seqs), _LOOKUP_CHUNK):
                chunk = {"execution_id": execution_id, "seqs": seqs[start : start + _LOOKUP_CHUNK]}
                for seq, recording_id, position, raw in connection.execute(self._STORED_LINES, chunk):
                    stored[(execution_id, seq)] = (recording_id, position, raw)
        skipped = []
        for row in rows:
            found = stored.get((row[EXECUTION_ID], row[SEQ]))
            if found is None or found[:2] != (row[RECORDING_ID], row[POSITION]):
                skipped.append((row[POSITION], found is not None and found[2] == row[RAW]))
        return skipped

    def upsert_spans(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(_UPSERT_SPANS_SQLITE, rows)
        finally:
            cursor.close()

    def wipe(self, connection: Connection, tables: Sequence[str]) -> None:
        for table in reversed(tables):
            connection.execute(text(f"DELETE FROM {table}"))

    def pull_arrow(self, engine: Engine, sql: str, schema: pa.Schema, *, expected_rows: int | None = None) -> pa.Table:
        large = expected_rows is None or expected_rows >= self.CHILD_PROCESS_ROWS
        table = self.export_in_child(engine, sql, schema) if large else None
        return table if table is not None else super().pull_arrow(engine, sql, schema)

    def export_in_child(self, engine: Engine, sql: str, schema: pa.Schema) -> pa.Table | None:
        """ADBC's SQLite driver in a child process (recorder.store.sqlite_export), its Arrow
        batches read from a pipe as they come; None when ADBC is not installed or the database is
        not a plain file, so the caller reads in-process instead."""
        import importlib.util
        import subprocess
        import sys
        import tempfile

        import pyarrow as pa

        from recorder.store.arrow_tables import from_batches

        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file:") or importlib.util.find_spec("adbc_driver_sqlite") is None:
            return None
        types = ",".join("text" if pa.types.is_string(field.type) else "integer" for field in schema)
        command = [sys.executable, "-m", "recorder.store.sqlite_export", database, types]
        # The child's stderr goes to a file, not a pipe: the parent reads stdout to its end before
        # looking at stderr, and a child that writes more than a pipe holds there (warnings, a
        # verbose interpreter) would block while the parent waits for its stdout.
        with tempfile.TemporaryFile() as errors, subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
        ) as child:
            child.stdin.write(sql.encode())
            child.stdin.close()
            try:
                table = from_batches(pa.ipc.open_stream(child.stdout), schema)
            except pa.ArrowInvalid:
                table = None
                child.kill()  # it may still be writing a stream nobody reads
            if child.wait() != 0 or table is None:
                errors.seek(0)
                failure = errors.read().decode(errors="replace").strip()
                raise RuntimeError(f"reading the SQLite store through ADBC failed: {failure.splitlines()[-1] if failure else 'no output'}")
        return table

    def reclaim_space(self, engine: Engine, tables: Sequence[str]) -> None:
        """VACUUM rewrites the file without its free pages (it needs as much free disk again, and
        waits for other connections' transactions); the WAL is then checkpointed and truncated so
        the space is back on disk, not parked in the -wal file."""
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.exec_driver_sql("ANALYZE")

    def pause_between_batches_s(self, held_s: float) -> float:
        """As long as the batch held the lock. SQLite has no queue: a writer waiting on the busy
        timeout sleeps and retries (up to 100 ms apart), so back-to-back batches would starve a
        live recording for the whole prune; with the lock free half the time, a waiting writer
        gets it within a retry or two."""
        return held_s


SQLITE_PAGE_SIZE = 16384


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout first: switching a new file to WAL needs a lock another process may hold.
    cursor.execute("PRAGMA busy_timeout=30000")
    # Before anything writes the file's header: a store made now gets 16 KiB pages (an existing
    # one keeps its own). Event rows are most of a store, ~0.5-1 KB each, and four times as many
    # of them per page made bulk inserts ~25% faster and the file ~10% smaller than 4 KiB pages.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3: COPY for bulk, an advisory lock for the schema, JSONB."""

    name = "postgresql"
    aliases = ("postgresql", "postgres")

    # The advisory lock every recorder process takes before creating or migrating the schema (an
    # arbitrary constant: the ASCII of "wfrecsch").
    SCHEMA_LOCK = 0x7766726563736368
    _COPY_EVENTS = f"COPY events ({_COLUMN_LIST}) FROM STDIN"
    _CREATE_STAGING = "CREATE TEMPORARY TABLE IF NOT EXISTS events_staging (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
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

    _CREATE_SPANS_STAGING = "CREATE TEMPORARY TABLE IF NOT EXISTS spans_staging (LIKE node_spans INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    _COPY_SPANS_STAGING = f"COPY spans_staging ({_SPAN_LIST}) FROM STDIN"
    SMALL_SPAN_BATCH = 200
    _UPSERT_SPANS = (
        f"INSERT INTO node_spans ({_SPAN_LIST}) VALUES ({', '.join('%s' for _ in SPAN_COLUMNS)}) "
        f"ON CONFLICT (execution_id, node_result_id) DO UPDATE SET {_SPAN_UPDATES}"
    )
    _MERGE_SPANS = (
        f"INSERT INTO node_spans ({_SPAN_LIST}) SELECT {_SPAN_LIST} FROM spans_staging "
        f"ON CONFLICT (execution_id, node_result_id) DO UPDATE SET {_SPAN_UPDATES}"
    )

    def normalise_url(self, url: URL) -> URL:
        _, _, driver = url.drivername.partition("+")
        return url.set(drivername=f"postgresql+{driver or 'psycopg'}")

    def check_url(self, url: URL, shown: str) -> None:
        if url.drivername == "postgresql+psycopg":
            require("psycopg", "a PostgreSQL store")

    def lock_schema(self, connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.SCHEMA_LOCK})

    def insert_ignore(self, connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, count: bool = True) -> int | None:
        if not rows:
            return 0
        # Imported here, not with the module: SQLAlchemy's PostgreSQL dialect pulls in asyncio,
        # which a SQLite user's every command would otherwise pay for.
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(table).on_conflict_do_nothing()
        if not count:
            connection.execute(statement, list(rows))
            return None
        # psycopg's executemany reports no rowcount; RETURNING yields exactly the inserted rows.
        return len(connection.execute(statement.returning(*table.primary_key.columns), list(rows)).all())

    def store_events(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> tuple[Counter[str], list[tuple[int, bool]]]:
        """COPY straight into the table inside a savepoint, the fastest path there is. A fresh batch
        (the normal case) never conflicts; when one does (a stream ingested again), the savepoint is
        rolled back and the batch goes COPY -> temporary staging table -> INSERT ... SELECT ... ON
        CONFLICT DO NOTHING, which skips exactly the rows already stored."""
        from psycopg import errors

        driver = connection.connection.driver_connection
        savepoint = connection.begin_nested()
        try:
            with driver.cursor() as cursor:
                _copy_in(cursor, self._COPY_EVENTS, rows)
            savepoint.commit()
            return Counter(row[EXECUTION_ID] for row in rows), []
        except errors.UniqueViolation:
            savepoint.rollback()
        with driver.cursor() as cursor:
            cursor.execute(self._CREATE_STAGING)
            cursor.execute("TRUNCATE events_staging")
            _copy_in(cursor, self._COPY_STAGING, rows)
            cursor.execute(self._MERGE_STAGING)
            new = Counter(execution_id for (execution_id,) in cursor.fetchall())
            cursor.execute(self._COMPARE_STAGING)
            return new, [(position, bool(same)) for position, same in cursor.fetchall()]

    def upsert_spans(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """A few rows (a live flush): one pipelined executemany of the upsert. Many (a bulk batch's
        tens of thousands): COPY into a temporary staging table, then one INSERT ... ON CONFLICT DO
        UPDATE, a few statements whatever the count."""
        if not rows:
            return
        with connection.connection.driver_connection.cursor() as cursor:
            if len(rows) <= self.SMALL_SPAN_BATCH:
                cursor.executemany(self._UPSERT_SPANS, rows)
                return
            cursor.execute(self._CREATE_SPANS_STAGING)
            cursor.execute("TRUNCATE spans_staging")
            _copy_in(cursor, self._COPY_SPANS_STAGING, rows)
            cursor.execute(self._MERGE_SPANS)

    def refresh_statistics(self, connection: Connection) -> None:
        """PostgreSQL plans from statistics that autovacuum refreshes only some time after a bulk
        load; until then a 1,000-deep lineage walk was measured at 267 ms instead of 18 ms at 3M
        events. ANALYZE samples a fixed number of rows, so it costs about the same at any size."""
        connection.execute(text("ANALYZE executions, node_spans"))

    def wipe(self, connection: Connection, tables: Sequence[str]) -> None:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))

    def json_type(self) -> TypeEngine[Any]:
        from sqlalchemy.dialects.postgresql import JSONB

        return JSONB(none_as_null=True)

    def json_as_text(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column.cast(Text)

    def prefer_index_walks(self, connection: Connection) -> None:
        """PostgreSQL plans from table statistics; on a freshly loaded table (not yet analysed) it
        picks sequential scans and hash joins, and a 10,000-deep recursion or a lookup of a
        thousand executions' events then takes seconds instead of milliseconds."""
        connection.execute(text("SET LOCAL enable_hashjoin = off"))
        connection.execute(text("SET LOCAL enable_mergejoin = off"))
        connection.execute(text("SET LOCAL enable_seqscan = off"))

    def libpq_url(self, url: str | URL) -> str:
        """The URL without SQLAlchemy's driver name, as libpq, psycopg and ADBC take it."""
        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def pull_arrow(self, engine: Engine, sql: str, schema: pa.Schema, *, expected_rows: int | None = None) -> pa.Table:
        table = self.fetch_adbc(engine, sql, schema)
        return table if table is not None else self.copy_csv(engine, sql, schema)

    def fetch_adbc(self, engine: Engine, sql: str, schema: pa.Schema) -> pa.Table | None:
        """Arrow record batches straight from ADBC's driver; None when it is not installed."""
        try:
            import adbc_driver_postgresql.dbapi as adbc
        except ImportError:
            return None
        from recorder.store.arrow_tables import from_batches

        with adbc.connect(self.libpq_url(engine.url)) as connection:
            cursor = connection.cursor()
            cursor.execute(sql)
            table = from_batches(cursor.fetch_record_batch(), schema)
            cursor.close()
        return table

    def copy_csv(self, engine: Engine, sql: str, schema: pa.Schema) -> pa.Table:
        """COPY the result out as CSV and parse it with pyarrow's multithreaded reader: no Python
        per row (COPY cannot bind parameters, so only parameterless queries come here)."""
        import pyarrow.csv as pa_csv

        from recorder.store.arrow_tables import compact

        buffer = io.BytesIO()
        connection = engine.raw_connection()
        try:
            with connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            connection.commit()
        finally:
            connection.close()
        if buffer.tell() == 0:
            return compact(schema.empty_table())
        buffer.seek(0)
        return compact(
            pa_csv.read_csv(
                buffer,
                read_options=pa_csv.ReadOptions(column_names=schema.names, block_size=16 << 20),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                # COPY writes NULL as an empty unquoted field and the empty string as "": keep them apart.
                convert_options=pa_csv.ConvertOptions(column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False),
            )
        )

    def reclaim_space(self, engine: Engine, tables: Sequence[str]) -> None:
        """VACUUM ANALYZE of the pruned tables: their dead rows' space becomes reusable and the
        planner sees their new sizes. Plain VACUUM takes no lock that blocks writers (VACUUM FULL
        would, for the whole rewrite, so it is left to the operator). It cannot run inside a
        transaction: AUTOCOMMIT."""
        names = ", ".join(tables)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM (ANALYZE) {names}")


DIALECTS: dict[str, Dialect] = {dialect.name: dialect for dialect in (SqliteDialect(), PostgresDialect())}
_BY_ALIAS = {alias: dialect for dialect in DIALECTS.values() for alias in dialect.aliases}


def _copy_in(cursor: Any, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY `rows` (tuples in the statement's column order) through psycopg's COPY FROM STDIN."""
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def dialect_named(backend: str) -> Dialect | None:
    """The dialect a URL's backend name (`sqlite`, `postgresql`, `postgres`) means; None for others."""
    return _BY_ALIAS.get(backend)


def dialect_of(bind: Engine | Connection | URL | str) -> Dialect:
    """The dialect of an engine, connection or resolved URL."""
    name = make_url(bind).get_backend_name() if isinstance(bind, (URL, str)) else bind.dialect.name
    dialect = dialect_named(name)
    if dialect is None:
        raise NotImplementedError(f"unsupported database engine: {name}")
    return dialect

