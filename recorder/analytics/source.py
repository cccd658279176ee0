"""How analytics reads the store: the one module that queries it, for both engines.

Two kinds of read, chosen by size:

- Point lookups (one execution's events, one lineage family) are indexed SQLAlchemy Core queries:
  the events primary key (execution_id, seq), the executions primary key and the index on
  previous_execution_id. They cost milliseconds whatever the store's size.
- Fleet reads pull narrow columns into Arrow, which DuckDB then queries; recorder.analytics.fleet
  keeps what was pulled and later pulls only the executions whose events changed.

How a whole-table pull reaches Arrow (measured on 1M events, bench/ANALYTICS.md):
- DuckDB's own sqlite and postgres scanners are extensions downloaded at run time: no network, no
  scanner. They are not used.
- PostgreSQL: ADBC (adbc-driver-postgresql, binary COPY straight into Arrow) when it is installed,
  else `COPY (SELECT ...) TO STDOUT (FORMAT csv)` parsed by pyarrow's multithreaded CSV reader.
  Both avoid Python objects per row; ADBC was about 1.5x faster here.
- SQLite: ADBC's SQLite driver (adbc-driver-sqlite) when installed, run in a child process
  (recorder.analytics.sqlite_export) because it links a second copy of SQLite, and two in one
  process break SQLite's locking on a database the recorder has open (see _adbc_target); else
  the sqlite3 cursor, in large batches transposed into Arrow. The child was 1.3x to 2.5x faster.

The verbatim event text is pulled only where a column cannot answer: rejected node runs (their
error code) and fulfilled PROMPT runs (their `execution_meta`: tokens, cost, model).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Text, and_, bindparam, case, func, literal_column, or_, select, text, union
from sqlalchemy.sql import Select

from recorder.store.schema import Event, Execution, Recording

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported where a fleet pull needs it: point lookups (a CLI timeline) never load it.

_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event as the timeline needs it. `raw` is the verbatim line (authoritative)."""

    position: int
    type: str
    state: str | None
    ts_us: int | None
    received_at_us: int
    node_id: str | None = None
    node_result_id: str | None = None
    node_type: str | None = None
    source_execution_id: str | None = None
    raw: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """The execution facts analytics reports beside its own results."""

    execution_id: str
    status: str
    started_at_us: int | None
    ended_at_us: int | None
    deployment: str | None = None
    release_tag: str | None = None
    previous_execution_id: str | None = None
    root_execution_id: str | None = None


# -- point lookups ------------------------------------------------------------------------------


def execution_row(engine: Engine, execution_id: str) -> ExecutionRow | None:
    query = _execution_select().where(Execution.execution_id == execution_id)
    with engine.connect() as connection:
        row = connection.execute(query).one_or_none()
    return None if row is None else ExecutionRow(*row)


# Analytics' `position` is an event's place in its execution's stream (`events.seq`). The line
# position is not: events of one execution stored from differently framed bodies (a longer copy, other
# blank lines) have line positions that do not compare.
STREAM_ORDER = Event.seq.label("position")


def execution_events(engine: Engine, execution_id: str) -> list[EventRow]:
    """One execution's events in stream order: a range scan of the events primary key."""
    query = (
        select(
            STREAM_ORDER, Event.type, Event.state, Event.ts_us, Event.received_at_us, Event.node_id,
            Event.node_result_id, Event.node_type, Event.source_execution_id, Event.raw,
        )
        .where(Event.execution_id == execution_id)
        .order_by(Event.seq)
    )
    with engine.connect() as connection:
        return [EventRow(*row) for row in connection.execute(query)]


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One recorded execution in a lineage family, with what chain aggregates need."""

    execution_id: str
    previous_execution_id: str | None
    status: str
    started_at_us: int | None
    ended_at_us: int | None


def lineage_family(engine: Engine, execution_id: str) -> list[LinkRow]:
    """The recorded ancestors of `execution_id` (following previous_execution_id up) and all its
    recorded descendants, in one round trip of two recursive queries over indexed columns.

    Both recursions use UNION, not UNION ALL: a row already produced is not produced again, so a
    cycle in bad data ends the recursion on both engines instead of running forever. Order and
    depth are rebuilt in recorder.analytics.lineage, which also detects the cycle.
    """
    executions = Execution.__table__
    columns = [executions.c.execution_id, executions.c.previous_execution_id]
    start = bindparam("execution_id", execution_id)

    up = select(*columns).where(executions.c.execution_id == start).cte("up", recursive=True)
    up = up.union(select(*columns).join_from(executions, up, executions.c.execution_id == up.c.previous_execution_id))

    down = select(*columns).where(executions.c.previous_execution_id == start).cte("down", recursive=True)
    down = down.union(select(*columns).join_from(executions, down, executions.c.previous_execution_id == down.c.execution_id))

    family = union(select(up.c.execution_id), select(down.c.execution_id)).subquery("family")
    query = select(
        executions.c.execution_id, executions.c.previous_execution_id, executions.c.status,
        executions.c.started_at_us, executions.c.ended_at_us,
    ).join_from(executions, family, executions.c.execution_id == family.c.execution_id)
    with engine.begin() as connection:
        _prefer_index_walks(connection)
        return [LinkRow(*row) for row in connection.execute(query)]


def _prefer_index_walks(connection: Connection) -> None:
    """PostgreSQL plans from table statistics; on a freshly loaded table (not yet analysed) it
    picks sequential scans and hash joins, and a 10,000-deep recursion or a lookup of a thousand
    executions' events then takes seconds instead of milliseconds. Each step here touches a
    handful of rows through an index, so index lookups are always right: say so for this
    transaction only."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL enable_hashjoin = off"))
        connection.execute(text("SET LOCAL enable_mergejoin = off"))
        connection.execute(text("SET LOCAL enable_seqscan = off"))


def prompt_results(engine: Engine, execution_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(execution_id, raw) of the fulfilled PROMPT runs of these executions, for their usage and
    cost; each chunk is a primary-key range scan per execution."""
    rows: list[tuple[str, str]] = []
    with engine.begin() as connection:
        _prefer_index_walks(connection)
        for chunk in _chunks(execution_ids, _IN_CHUNK):
            query = select(Event.execution_id, Event.raw).where(
                Event.execution_id.in_(chunk), Event.type == "NODE", Event.state == "FULFILLED", Event.node_type == "PROMPT"
            )
            rows.extend(tuple(row) for row in connection.execute(query))
    return rows


def _execution_select() -> Select:
    return select(
        Execution.execution_id,
        Execution.status,
        Execution.started_at_us,
        Execution.ended_at_us,
        func.coalesce(Execution.workflow_deployment_name, Execution.workflow_deployment_id),
        Execution.release_tag,
        Execution.previous_execution_id,
        Execution.root_execution_id,
    )


# -- fleet pulls into Arrow ----------------------------------------------------------------------

@cache
def executions_schema() -> pa.Schema:
    import pyarrow as pa

    text, integer = pa.string(), pa.int64()
    return pa.schema(
        [
            ("execution_id", text), ("deployment", text), ("workflow_deployment_name", text),
            ("workflow_deployment_id", text), ("release_tag", text), ("external_id", text),
            ("previous_execution_id", text), ("root_execution_id", text), ("status", text),
            ("started_at_us", integer), ("ended_at_us", integer), ("error_code", text), ("event_count", integer),
            ("metadata", text),
        ]
    )


@cache
def events_schema() -> pa.Schema:
    import pyarrow as pa

    text, integer = pa.string(), pa.int64()
    return pa.schema(
        [
            ("execution_id", text), ("position", integer), ("type", text), ("state", text), ("ts_us", integer),
            ("received_at_us", integer), ("node_id", text), ("node_result_id", text), ("node_type", text),
            ("source_execution_id", text), ("flags", text),
            # Only for rejected runs and fulfilled PROMPT runs; NULL elsewhere (see the module docstring).
            ("raw", text),
        ]
    )


def store_fingerprint(engine: Engine) -> tuple[Any, ...]:
    """A cheap value that changes whenever events or executions may have changed.

    Every stored event is counted into its recording's `event_count` in the same transaction, and
    an execution row changes only with its events or a recording's request; recording start and
    end times tell a store emptied and refilled apart from the one before. The recordings table
    has one row per consumed stream, so this is a small scan.
    """
    query = select(
        func.count(),
        func.max(Recording.id),
        func.sum(Recording.event_count),
        func.count(Recording.request),
        func.max(Recording.started_at_us),
        func.max(Recording.ended_at_us),
        func.min(Recording.started_at_us),
    )
    with engine.connect() as connection:
        return tuple(connection.execute(query).one())


def pull_executions(engine: Engine) -> pa.Table:
    """Every execution row, as Arrow (metadata as JSON text, so DuckDB can query it)."""
    metadata = Execution.__table__.c.metadata
    text_metadata = metadata if engine.dialect.name == "sqlite" else metadata.cast(Text)
    query = select(
        Execution.execution_id,
        func.coalesce(Execution.workflow_deployment_name, Execution.workflow_deployment_id),
        Execution.workflow_deployment_name,
        Execution.workflow_deployment_id,
        Execution.release_tag,
        Execution.external_id,
        Execution.previous_execution_id,
        Execution.root_execution_id,
        Execution.status,
        Execution.started_at_us,
        Execution.ended_at_us,
        Execution.error_code,
        Execution.event_count,
        text_metadata,
    )
    return _pull(engine, query, executions_schema())


def pull_events(engine: Engine, execution_ids: Sequence[str] | None = None, *, expected_rows: int | None = None) -> pa.Table:
    """Events as Arrow: all of them, or those of the given executions (primary-key range scans).
    `expected_rows` (the executions' event counts added up) lets a small pull skip the SQLite
    child process, whose start-up would cost more than it saves."""
    import pyarrow as pa

    schema = events_schema()
    if execution_ids is None:
        return _pull(engine, _events_select(), schema, large=expected_rows is None or expected_rows >= _CHILD_PROCESS_ROWS)
    tables = [_pull(engine, _events_select().where(Event.execution_id.in_(chunk)), schema) for chunk in _chunks(execution_ids, _IN_CHUNK)]
    return pa.concat_tables(tables) if tables else _compact(schema.empty_table())


def _events_select() -> Select:
    # Constants are written into the SQL (not bound) so the whole-table pull has no parameters
    # and can take the bulk path; they are fixed vocabulary, never user input.
    node, rejected, fulfilled, prompt = (literal_column(f"'{value}'") for value in ("NODE", "REJECTED", "FULFILLED", "PROMPT"))
    needs_text = and_(
        Event.type == node,
        or_(Event.state == rejected, and_(Event.state == fulfilled, Event.node_type == prompt)),
    )
    return select(
        Event.execution_id,
        STREAM_ORDER,
        Event.type,
        Event.state,
        Event.ts_us,
        Event.received_at_us,
        Event.node_id,
        Event.node_result_id,
        Event.node_type,
        Event.source_execution_id,
        Event.flags,
        case((needs_text, Event.raw)),
    )


# Below this many rows the sqlite3 cursor finishes before a child process has imported pyarrow.
_CHILD_PROCESS_ROWS = 250_000


def _pull(engine: Engine, query: Select, schema: pa.Schema, *, large: bool = False) -> pa.Table:
    """The query's rows as an Arrow table of `schema` (column order as selected).

    A whole-table pull has no parameters and takes the engine's bulk path (module docstring). A
    filtered pull (an incremental refresh) is small and goes through SQLAlchemy with bound
    parameters. Repetitive text columns come back dictionary-encoded (_compact).
    """
    if query.compile(engine).params:
        with engine.connect() as connection:
            return _compact(_rows_to_table(connection.execute(query).fetchall(), schema))
    table = _fetch_adbc(engine, query, schema)
    if table is not None:
        return table
    if engine.dialect.name == "postgresql":
        return _compact(_copy_postgresql(engine, query, schema))
    table = _export_sqlite(engine, query, schema) if large else None
    if table is not None:
        return table
    return _fetch_dbapi(engine, query, schema)


def _adbc_target(engine: Engine) -> tuple[Any, str] | None:
    """The ADBC DB-API module and connection string for the store, when ADBC can serve it.

    PostgreSQL only. ADBC's SQLite driver links its own copy of SQLite, and two SQLite libraries in
    one process on one database file defeat SQLite's POSIX locking (each drops the other's locks
    when it closes the file): we saw its connections read a stale snapshot of a WAL database while
    the recorder's own connection was open, and SQLite documents that this can corrupt the file.
    """
    if engine.dialect.name != "postgresql":
        return None
    try:
        import adbc_driver_postgresql.dbapi as module
    except ImportError:
        return None
    return module, engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _fetch_adbc(engine: Engine, query: Select, schema: pa.Schema) -> pa.Table | None:
    """Arrow record batches straight from the driver, cast and compacted one batch at a time, so
    the pull's peak memory stays near the size of what is kept."""
    import pyarrow as pa

    target = _adbc_target(engine)
    if target is None:
        return None
    module, uri = target
    batches: list[pa.Table] = []
    with module.connect(uri) as connection:
        cursor = connection.cursor()
        cursor.execute(str(query.compile(engine)))
        for batch in cursor.fetch_record_batch():
            batches.append(_compact(pa.Table.from_batches([batch]).rename_columns(schema.names).cast(schema)))
        cursor.close()
    return pa.concat_tables(batches) if batches else _compact(schema.empty_table())


def _export_sqlite(engine: Engine, query: Select, schema: pa.Schema) -> pa.Table | None:
    """ADBC's SQLite driver in a child process (recorder.analytics.sqlite_export), its Arrow
    batches read from a pipe as they come; None when ADBC is not installed or the database is not
    a file, so the caller reads in-process instead."""
    import importlib.util
    import subprocess
    import sys
    import tempfile

    import pyarrow as pa

    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:") or importlib.util.find_spec("adbc_driver_sqlite") is None:
        return None
    types = ",".join("text" if pa.types.is_string(field.type) else "integer" for field in schema)
    command = [sys.executable, "-m", "recorder.analytics.sqlite_export", database, types]
    # The child's stderr goes to a file, not a pipe: the parent reads stdout to its end before
    # looking at stderr, and a child that writes more than a pipe holds there (warnings, a verbose
    # interpreter) would block while the parent waits for its stdout: neither would ever finish.
    with tempfile.TemporaryFile() as errors, subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
    ) as child:
        child.stdin.write(str(query.compile(engine)).encode())
        child.stdin.close()
        try:
            batches = [
                _compact(pa.Table.from_batches([batch]).rename_columns(schema.names).cast(schema))
                for batch in pa.ipc.open_stream(child.stdout)
            ]
        except pa.ArrowInvalid:
            batches = None
            child.kill()  # it may still be writing a stream nobody reads
        if child.wait() != 0 or batches is None:
            errors.seek(0)
            failure = errors.read().decode(errors="replace").strip()
            raise RuntimeError(f"reading the SQLite store through ADBC failed: {failure.splitlines()[-1] if failure else 'no output'}")
    return pa.concat_tables(batches) if batches else _compact(schema.empty_table())


def _compact(table: pa.Table) -> pa.Table:
    """Dictionary-encode the repetitive text columns (ids repeated on every event of an execution
    or run, and the small vocabularies): a third of the memory, and DuckDB reads them as text."""
    import pyarrow.compute as pc

    import pyarrow as pa

    for name in _DICTIONARY_COLUMNS.intersection(table.column_names):
        index = table.column_names.index(name)
        if not pa.types.is_dictionary(table.schema.field(index).type):
            table = table.set_column(index, name, pc.dictionary_encode(table.column(index)))
    return table


_DICTIONARY_COLUMNS = frozenset({"execution_id", "type", "state", "node_id", "node_type", "source_execution_id", "flags",
                                 "deployment", "workflow_deployment_name", "workflow_deployment_id", "release_tag", "status"})


_BATCH_ROWS = 50_000


def _fetch_dbapi(engine: Engine, query: Select, schema: pa.Schema) -> pa.Table:
    """The raw DB-API cursor (SQLite), in large batches transposed into Arrow arrays and compacted
    batch by batch, so the Python rows of one batch are all that is held beside the result."""
    import pyarrow as pa

    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(str(query.compile(engine)))
        batches = []
        while rows := cursor.fetchmany(_BATCH_ROWS):
            batches.append(_compact(_rows_to_table(rows, schema)))
        cursor.close()
    finally:
        connection.close()
    return pa.concat_tables(batches) if batches else _compact(schema.empty_table())


def _rows_to_table(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    if not rows:
        return schema.empty_table()
    columns = zip(*rows)
    return pa.Table.from_arrays([pa.array(column, type=field.type) for column, field in zip(columns, schema)], schema=schema)


def _copy_postgresql(engine: Engine, query: Select, schema: pa.Schema) -> pa.Table:
    """COPY the result out as CSV and parse it with pyarrow's multithreaded reader: no Python per
    row. Only parameterless queries come here (COPY cannot bind parameters)."""
    import pyarrow.csv as pa_csv

    buffer = io.BytesIO()
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor, cursor.copy(f"COPY ({query.compile(engine)}) TO STDOUT (FORMAT csv)") as copy:
            for chunk in copy:
                buffer.write(chunk)
        connection.commit()
    finally:
        connection.close()
    if buffer.tell() == 0:
        return schema.empty_table()
    buffer.seek(0)
    return pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=schema.names, block_size=16 << 20),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        # COPY writes NULL as an empty unquoted field and the empty string as "": keep them apart.
        convert_options=pa_csv.ConvertOptions(column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False),
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

