"""The reads analytics makes, on either engine: point lookups, and fleet pulls into Arrow.

Two kinds of read, chosen by size:

- Point lookups (one execution's events, one lineage family) are indexed SQLAlchemy Core queries:
  the events primary key (execution_id, seq), the executions primary key and the index on
  previous_execution_id. They cost milliseconds whatever the store's size.
- Fleet pulls bring narrow columns of `executions` and `node_spans` into Arrow, which DuckDB then
  queries (recorder.analytics.fleet keeps what was pulled). Both tables are kept at ingest, so the
  fleet never reads events or their verbatim text. A whole-table pull takes the engine's bulk path
  (recorder.store.dialects); a pull of what changed after a cursor (`change_seq > :after`) is an
  index range and binds the cursor. The events' indexed columns are pulled only on request (ad-hoc
  SQL that asks for the `events` view).

pyarrow is imported where a fleet pull needs it: point lookups (a CLI timeline) never load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Engine, Integer, Text, bindparam, case, cast, func, literal_column, null, select, type_coerce, union
from sqlalchemy.sql import ColumnElement, Select

from recorder.store.arrow_tables import compact, rows_to_table
from recorder.store.schema import Event, Execution, NodeSpan

if TYPE_CHECKING:
    import pyarrow as pa

    from recorder.store.dialects import Dialect


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
    """One recorded execution in a lineage family, with what chain aggregates need: its times and
    the prompt usage its spans add up to (kept on the execution row at ingest, NULL where no
    PROMPT run reported any)."""

    execution_id: str
    previous_execution_id: str | None
    status: str
    started_at_us: int | None
    ended_at_us: int | None
    prompt_cost_usd: float | None = None
    prompt_input_tokens: int | None = None
    prompt_output_tokens: int | None = None


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
    recorded descendants, with their prompt usage, in one round trip: two recursive queries over
    indexed columns, then the members' rows by primary key.

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
        executions.c.started_at_us, executions.c.ended_at_us, executions.c.prompt_cost_usd,
        executions.c.prompt_input_tokens, executions.c.prompt_output_tokens,
    ).join_from(executions, family, executions.c.execution_id == family.c.execution_id)
    with engine.begin() as connection:
        dialect.prefer_index_walks(connection)
        return [LinkRow(*row) for row in connection.execute(query)]


# -- fleet pulls into Arrow ----------------------------------------------------------------------
# Each pull is either the whole table (`after` None: the engine's bulk path) or the rows a writer
# stamped with a change cursor above `after` (an index range on change_seq). Rows written before
# the store had a cursor carry NULL and come only with a whole-table pull, which is what a reader
# without a copy makes first.


@cache
def executions_schema() -> pa.Schema:
    import pyarrow as pa

    text, integer, real = pa.string(), pa.int64(), pa.float64()
    return pa.schema(
        [
            ("execution_id", text), ("deployment", text), ("workflow_deployment_name", text),
            ("workflow_deployment_id", text), ("release_tag", text), ("external_id", text),
            ("previous_execution_id", text), ("root_execution_id", text), ("status", text),
            ("started_at_us", integer), ("ended_at_us", integer), ("error_code", text), ("event_count", integer),
            ("metadata", text), ("span_count", integer), ("prompt_cost_usd", real), ("prompt_input_tokens", integer),
            ("prompt_output_tokens", integer), ("first_output_us", integer), ("paused_us", integer),
            ("change_seq", integer),
        ]
    )


@cache
def spans_schema() -> pa.Schema:
    import pyarrow as pa

    text, integer, real, flag = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    return pa.schema(
        [
            ("execution_id", text), ("node_result_id", text), ("node_id", text), ("node_type", text),
            ("source_execution_id", text), ("parent_node_result_id", text), ("depth", integer), ("state", text),
            ("start_us", integer), ("start_pos", integer), ("start_ts_less", flag), ("end_us", integer),
            ("end_pos", integer), ("end_ts_less", flag), ("first_output_us", integer), ("first_output_ts_less", flag),
            ("streaming_events", integer), ("error_code", text), ("model_name", text), ("input_tokens", integer),
            ("output_tokens", integer), ("cost_usd", real), ("paused_us", integer), ("node_name", text),
            ("change_seq", integer),
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
        ]
    )


def pull_executions(engine: Engine, dialect: Dialect, after: int | None = None) -> pa.Table:
    """Execution rows with their span aggregates and change cursor (metadata as JSON text, so
    DuckDB can query it): all of them, or those written after cursor `after`."""
    bulk = after is None
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
        # The text as stored: a keyed pull goes through SQLAlchemy, which would parse JSON back.
        type_coerce(dialect.json_as_text(Execution.__table__.c.metadata), Text),
        Execution.span_count,
        _real(dialect, Execution.prompt_cost_usd, bulk=bulk),
        Execution.prompt_input_tokens,
        Execution.prompt_output_tokens,
        Execution.first_output_us,
        Execution.paused_us,
        Execution.change_seq,
    )
    # One row per execution, narrow: the in-process path serves it fast, so no child process.
    return _pull(engine, dialect, _after(query, Execution.change_seq, after), executions_schema(), expected_rows=0)


def pull_spans(engine: Engine, dialect: Dialect, after: int | None = None, *, expected_rows: int | None = None) -> pa.Table:
    """Node span rows (what the fleet's `node_spans` view needs): all of them, or those written
    after cursor `after`. `expected_rows` (the executions' span counts added up) lets a small
    whole-table pull skip a bulk path whose start-up would cost more than it saves."""
    bulk = after is None
    query = select(
        NodeSpan.execution_id, NodeSpan.node_result_id, NodeSpan.node_id, NodeSpan.node_type,
        NodeSpan.source_execution_id, NodeSpan.parent_node_result_id, NodeSpan.depth, NodeSpan.state,
        NodeSpan.start_us, NodeSpan.start_pos, _flag(NodeSpan.start_ts_less), NodeSpan.end_us,
        NodeSpan.end_pos, _flag(NodeSpan.end_ts_less), NodeSpan.first_output_us, _flag(NodeSpan.first_output_ts_less),
        NodeSpan.streaming_events, NodeSpan.error_code, NodeSpan.model_name, NodeSpan.input_tokens,
        NodeSpan.output_tokens, _real(dialect, NodeSpan.cost_usd, bulk=bulk), NodeSpan.paused_us, NodeSpan.node_name,
        NodeSpan.change_seq,
    )
    return _pull(engine, dialect, _after(query, NodeSpan.change_seq, after), spans_schema(), expected_rows=expected_rows)


def pull_events(engine: Engine, dialect: Dialect, *, expected_rows: int | None = None) -> pa.Table:
    """Every event's indexed columns (never the verbatim text), for ad-hoc SQL that asks for them."""
    return _pull(engine, dialect, events_select(), events_schema(), expected_rows=expected_rows)


def events_select() -> Select:
    """The events pull's query (parameterless: it takes the bulk path)."""
    return select(
        Event.execution_id, STREAM_ORDER, Event.type, Event.state, Event.ts_us, Event.received_at_us, Event.node_id,
        Event.node_result_id, Event.node_type, Event.source_execution_id, Event.flags,
    )


def _after(query: Select, cursor: ColumnElement, after: int | None) -> Select:
    return query if after is None else query.where(cursor > bindparam("after", after))


def _flag(column: ColumnElement) -> ColumnElement:
    """A boolean as 0/1: every bulk path reads integers alike (PostgreSQL's CSV would say t/f)."""
    return cast(column, Integer)


def _real(dialect: Dialect, column: ColumnElement, *, bulk: bool) -> ColumnElement:
    """A float column as the pull can carry it. SQLite's bulk path (ADBC in a child process) types
    every non-text column as an integer and fails on the first REAL after its first batch, so a
    whole-table SQLite pull reads floats as text, with 17 significant digits (`%!.17g`: the `!`
    lifts SQLite's default limit of 16), which read back as the same double; `_pull` casts them
    back. The format is written into the SQL, not bound: a parameterless query keeps the bulk path."""
    if not (bulk and dialect.name == "sqlite"):
        return column
    return case((column.is_(None), null()), else_=func.printf(literal_column("'%!.17g'"), column))


def _pull(engine: Engine, dialect: Dialect, query: Select, schema: pa.Schema, *, expected_rows: int | None = None) -> pa.Table:
    """The query's rows as an Arrow table of `schema` (column order as selected), repetitive text
    columns dictionary-encoded. A query with parameters (what changed after a cursor) is small
    and goes through SQLAlchemy; a parameterless one takes the engine's bulk path. Flags travel
    as integers and floats of a SQLite bulk pull as text (see `_flag`, `_real`); they are cast
    to `schema`'s types here."""
    compiled = query.compile(engine)
    if compiled.params:
        sent = _as_sent(schema, floats_as_text=False)
        with engine.connect() as connection:
            table = compact(rows_to_table(connection.execute(query).fetchall(), sent))
    else:
        sent = _as_sent(schema, floats_as_text=dialect.name == "sqlite")
        table = dialect.pull_arrow(engine, str(compiled), sent, expected_rows=expected_rows)
    return table if sent == schema else table.cast(_typed_like(table.schema, schema))


def _as_sent(schema: pa.Schema, *, floats_as_text: bool) -> pa.Schema:
    import pyarrow as pa

    def sent(field: pa.Field) -> pa.Field:
        if pa.types.is_boolean(field.type):
            return field.with_type(pa.int64())
        if floats_as_text and pa.types.is_floating(field.type):
            return field.with_type(pa.string())
        return field

    return pa.schema([sent(field) for field in schema])


def _typed_like(pulled: pa.Schema, wanted: pa.Schema) -> pa.Schema:
    """`wanted`, keeping the dictionary encoding the pull gave text columns."""
    import pyarrow as pa

    return pa.schema([field if pa.types.is_dictionary(field.type) else target for field, target in zip(pulled, wanted)])
