"""The reads analytics makes, on either engine: point lookups, and fleet pulls into Arrow.

Two kinds of read, chosen by size:

- Point lookups (one execution's events, one lineage family) are indexed SQLAlchemy Core queries:
  the events primary key (execution_id, seq), the executions primary key and the index on
  previous_execution_id. They cost milliseconds whatever the store's size.
- Fleet reads pull narrow columns into Arrow, which DuckDB then queries (recorder.analytics.fleet
  keeps what was pulled and later pulls only the executions whose events changed). A whole-table
  pull takes the engine's bulk path (recorder.store.dialects); a pull of some executions is small
  and binds their ids.

The verbatim event text is pulled only where a column cannot answer: rejected node runs (their
error code) and fulfilled PROMPT runs (their `execution_meta`: tokens, cost, model). pyarrow is
imported where a fleet pull needs it: point lookups (a CLI timeline) never load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, and_, bindparam, case, func, literal_column, or_, select, union
from sqlalchemy.sql import Select

from recorder.store.arrow_tables import compact, concat, rows_to_table
from recorder.store.bulk import in_chunks
from recorder.store.schema import Event, Execution, Recording

if TYPE_CHECKING:
    import pyarrow as pa

    from recorder.store.dialects import Dialect

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


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One recorded execution in a lineage family, with what chain aggregates need."""

    execution_id: str
    previous_execution_id: str | None
    status: str
    started_at_us: int | None
    ended_at_us: int | None


# -- point lookups ------------------------------------------------------------------------------


def execution_row(engine: Engine, execution_id: str) -> ExecutionRow | None:
    query = select(
        Execution.execution_id,
        Execution.status,
        Execution.started_at_us,
        Execution.ended_at_us,
        func.coalesce(Execution.workflow_deployment_name, Execution.workflow_deployment_id),
        Execution.release_tag,
        Execution.previous_execution_id,
        Execution.root_execution_id,
    ).where(Execution.execution_id == execution_id)
    with engine.connect() as connection:
        row = connection.execute(query).one_or_none()
    return None if row is None else ExecutionRow(*row)


# Analytics' `position` is an event's place in its execution's stream (`events.seq`). The line
# position is not: events of one execution stored from differently framed bodies (a longer copy,
# other blank lines) have line positions that do not compare.
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


def lineage_family(engine: Engine, dialect: Dialect, execution_id: str) -> list[LinkRow]:
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
        dialect.prefer_index_walks(connection)
        return [LinkRow(*row) for row in connection.execute(query)]


def prompt_results(engine: Engine, dialect: Dialect, execution_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(execution_id, raw) of the fulfilled PROMPT runs of these executions, for their usage and
    cost; each chunk is a primary-key range scan per execution."""
    rows: list[tuple[str, str]] = []
    with engine.begin() as connection:
        dialect.prefer_index_walks(connection)
        for chunk in in_chunks(execution_ids, _IN_CHUNK):
            query = select(Event.execution_id, Event.raw).where(
                Event.execution_id.in_(chunk), Event.type == "NODE", Event.state == "FULFILLED", Event.node_type == "PROMPT"
            )
            rows.extend(tuple(row) for row in connection.execute(query))
    return rows


def fingerprint(engine: Engine) -> tuple[Any, ...]:
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


def pull_executions(engine: Engine, dialect: Dialect) -> pa.Table:
    """Every execution row, as Arrow (metadata as JSON text, so DuckDB can query it)."""
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
        dialect.json_as_text(Execution.__table__.c.metadata),
    )
    # One row per execution, narrow: the in-process path always serves it fastest.
    return _pull(engine, dialect, query, executions_schema(), expected_rows=0)


def pull_events(engine: Engine, dialect: Dialect, execution_ids: Sequence[str] | None = None, *, expected_rows: int | None = None) -> pa.Table:
    """Events as Arrow: all of them, or those of the given executions (primary-key range scans).
    `expected_rows` (the executions' event counts added up) lets a small whole-table pull skip a
    bulk path whose start-up would cost more than it saves."""
    schema = events_schema()
    if execution_ids is None:
        return _pull(engine, dialect, events_select(), schema, expected_rows=expected_rows)
    tables = [_pull(engine, dialect, events_select().where(Event.execution_id.in_(chunk)), schema) for chunk in in_chunks(execution_ids, _IN_CHUNK)]
    return concat(tables, schema)


def events_select() -> Select:
    """The events pull's query (parameterless, so a whole-table pull can take the bulk path)."""
    # Constants are written into the SQL (not bound); they are fixed vocabulary, never user input.
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


def _pull(engine: Engine, dialect: Dialect, query: Select, schema: pa.Schema, *, expected_rows: int | None = None) -> pa.Table:
    """The query's rows as an Arrow table of `schema` (column order as selected), repetitive text
    columns dictionary-encoded. A query with parameters (an incremental refresh) is small and goes
    through SQLAlchemy; a parameterless one takes the engine's bulk path."""
    compiled = query.compile(engine)
    if compiled.params:
        with engine.connect() as connection:
            return compact(rows_to_table(connection.execute(query).fetchall(), schema))
    return dialect.pull_arrow(engine, str(compiled), schema, expected_rows=expected_rows)
