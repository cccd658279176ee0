"""How analytics reads the store: the one module that queries it, for both engines.

Two kinds of read, chosen by size (measurements in bench/ANALYTICS.md):

- Point lookups (one execution's events, one lineage family) are indexed SQLAlchemy Core queries:
  the events primary key (execution_id, position), the executions primary key and the index on
  previous_execution_id. They cost about a millisecond whatever the store's size.
- Fleet reads pull narrow columns into Arrow once and hand them to DuckDB (recorder.analytics.fleet
  keeps them and refreshes only what changed). DuckDB's sqlite and postgres scanners are
  extensions downloaded at run time, which fails offline, so the pull uses the drivers we already
  have: PostgreSQL streams `COPY (SELECT ...) TO STDOUT (FORMAT csv)` into pyarrow's multithreaded
  CSV reader; SQLite is read with the sqlite3 cursor in large batches straight into Arrow arrays.

The verbatim event text is pulled only where a column cannot answer: rejected node runs (their
error code) and fulfilled PROMPT runs (their `execution_meta`: tokens, cost, model).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Engine, Text, and_, bindparam, case, func, or_, select, union
from sqlalchemy.sql import Select

from recorder.store.schema import Event, Execution, Recording

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


def execution_events(engine: Engine, execution_id: str) -> list[EventRow]:
    """One execution's events in stream order: a range scan of the events primary key."""
    query = (
        select(
            Event.position, Event.type, Event.state, Event.ts_us, Event.received_at_us, Event.node_id,
            Event.node_result_id, Event.node_type, Event.source_execution_id, Event.raw,
        )
        .where(Event.execution_id == execution_id)
        .order_by(Event.position)
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
    with engine.connect() as connection:
        return [LinkRow(*row) for row in connection.execute(query)]


def prompt_results(engine: Engine, execution_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(execution_id, raw) of the fulfilled PROMPT runs of these executions, for their usage and
    cost; each chunk is a primary-key range scan per execution."""
    rows: list[tuple[str, str]] = []
    with engine.connect() as connection:
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

EXECUTIONS_SCHEMA = pa.schema(
    [
        ("execution_id", pa.string()),
        ("deployment", pa.string()),
        ("workflow_deployment_name", pa.string()),
        ("workflow_deployment_id", pa.string()),
        ("release_tag", pa.string()),
        ("external_id", pa.string()),
        ("previous_execution_id", pa.string()),
        ("root_execution_id", pa.string()),
        ("status", pa.string()),
        ("started_at_us", pa.int64()),
        ("ended_at_us", pa.int64()),
        ("error_code", pa.string()),
        ("event_count", pa.int64()),
        ("metadata", pa.string()),
    ]
)

EVENTS_SCHEMA = pa.schema(
    [
        ("execution_id", pa.string()),
        ("position", pa.int64()),
        ("type", pa.string()),
        ("state", pa.string()),
        ("ts_us", pa.int64()),
        ("received_at_us", pa.int64()),
        ("node_id", pa.string()),
        ("node_result_id", pa.string()),
        ("node_type", pa.string()),
        ("source_execution_id", pa.string()),
        ("flags", pa.string()),
        # Only for rejected runs and fulfilled PROMPT runs; NULL elsewhere (see the module docstring).
        ("raw", pa.string()),
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
    return _pull(engine, query, EXECUTIONS_SCHEMA)


def execution_event_counts(engine: Engine) -> pa.Table:
    """(execution_id, event_count) of every execution: what an incremental refresh compares."""
    query = select(Execution.execution_id, Execution.event_count)
    return _pull(engine, query, pa.schema([("execution_id", pa.string()), ("event_count", pa.int64())]))


def pull_events(engine: Engine, execution_ids: Sequence[str] | None = None) -> pa.Table:
    """Events as Arrow: all of them, or those of the given executions (primary-key range scans)."""
    if execution_ids is None:
        return _pull(engine, _events_select(), EVENTS_SCHEMA)
    tables = [
        _pull(engine, _events_select().where(Event.execution_id.in_(chunk)), EVENTS_SCHEMA)
        for chunk in _chunks(execution_ids, _IN_CHUNK)
    ]
    return pa.concat_tables(tables) if tables else EVENTS_SCHEMA.empty_table()


def _events_select() -> Select:
    needs_text = and_(
        Event.type == "NODE",
        or_(Event.state == "REJECTED", and_(Event.state == "FULFILLED", Event.node_type == "PROMPT")),
    )
    return select(
        Event.execution_id,
        Event.position,
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


def _pull(engine: Engine, query: Select, schema: pa.Schema) -> pa.Table:
    """The query's rows as an Arrow table of `schema` (column order as selected).

    A whole-table pull has no parameters and takes the fastest path there is: ADBC (Arrow straight
    from the driver, no Python per row), else the engine's own bulk path. A filtered pull (an
    incremental refresh) is small and goes through SQLAlchemy with bound parameters.
    """
    if query.compile(engine).params:
        with engine.connect() as connection:
            return _rows_to_table(connection.execute(query).fetchall(), schema)
    table = _fetch_adbc(engine, query, schema)
    if table is not None:
        return table
    if engine.dialect.name == "postgresql":
        return _copy_postgresql(engine, query, schema)
    return _fetch_dbapi(engine, query, schema)


def adbc_available(engine: Engine) -> bool:
    """Whether whole-table pulls from this store go through ADBC."""
    return _adbc_target(engine) is not None


def _adbc_target(engine: Engine) -> tuple[Any, str] | None:
    """The ADBC DB-API module and connection string for the store, when ADBC can open it."""
    url = engine.url
    try:
        if engine.dialect.name == "sqlite":
            import adbc_driver_sqlite.dbapi as module

            # An in-memory database lives in its own connection; ADBC would open an empty one.
            if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
                return None
            return module, url.database
        if engine.dialect.name == "postgresql":
            import adbc_driver_postgresql.dbapi as module

            return module, url.set(drivername="postgresql").render_as_string(hide_password=False)
    except ImportError:
        return None
    return None


def _fetch_adbc(engine: Engine, query: Select, schema: pa.Schema) -> pa.Table | None:
    target = _adbc_target(engine)
    if target is None:
        return None
    module, uri = target
    text = str(query.compile(engine))
    sentinel = engine.dialect.name == "sqlite"
    if sentinel:
        # ADBC's SQLite driver infers each column's type from its first rows and fails when a
        # column that starts with NULLs later holds text. One leading row of typed literals fixes
        # the types; UNION ALL keeps it first, and it is sliced off below.
        literals = ", ".join("''" if pa.types.is_string(field.type) else "0" for field in schema)
        text = f"SELECT {literals} UNION ALL {text}"
    with module.connect(uri) as connection:
        cursor = connection.cursor()
        cursor.execute(text)
        table = cursor.fetch_arrow_table()
        cursor.close()
    if sentinel:
        table = table.slice(1)
    return table.rename_columns(schema.names).cast(schema)


_BATCH_ROWS = 200_000


def _fetch_dbapi(engine: Engine, query: Select, schema: pa.Schema) -> pa.Table:
    """The raw DB-API cursor (SQLite), in large batches transposed into Arrow arrays."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(str(query.compile(engine)))
        batches = []
        while rows := cursor.fetchmany(_BATCH_ROWS):
            batches.append(_rows_to_table(rows, schema))
        cursor.close()
    finally:
        connection.close()
    return pa.concat_tables(batches) if batches else schema.empty_table()


def _rows_to_table(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    if not rows:
        return schema.empty_table()
    columns = zip(*rows)
    return pa.Table.from_arrays([pa.array(column, type=field.type) for column, field in zip(columns, schema)], schema=schema)


def _copy_postgresql(engine: Engine, query: Select, schema: pa.Schema) -> pa.Table:
    """COPY the result out as CSV and parse it with pyarrow's multithreaded reader: no Python per
    row. Only parameterless queries come here (COPY cannot bind parameters)."""
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

