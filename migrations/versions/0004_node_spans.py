"""node spans and change cursor

Why: fleet analytics re-derived every node span from raw events on every pull, which stalls at
millions of events. From this revision the store keeps the spans itself:
- node_spans: one row per node run, folded from its events at ingest (recorder.model.spans), in
  the same transaction as the events; existing stores are backfilled from their verbatim events;
- per-execution span aggregates on executions (span count, prompt cost and tokens, first output);
- a change cursor: store_state.change_seq grows by one per writing transaction and every
  execution, span and event row it writes carries it, so readers fetch "what changed after N";
  store_state.store_id tells one store from another (a wiped store gets a new one).

The backfill folds every stored event once, with the rules ingest uses (recorder.model.spans, as
the timeline does), so a migrated store holds the rows ingesting its bodies afresh would give:
one pass over the events in primary-key order through a server-side cursor, one execution's fold
in memory at a time, spans and aggregates written in batches. Memory stays bounded by a batch and
by the largest execution's runs, whatever the store's size. Events keep change_seq NULL (stored
before the cursor existed); executions and spans get change_seq 1, the store's first change.
Cost, measured for the whole upgrade (DDL included) on the shared 2-core project machine, whose
load makes figures vary by a third (scratch script: demo workload ingested at head, downgraded to
0003, upgraded in a fresh process): 200,003 events (3,606 executions, 30,635 spans) take 1.7-3.6 s
on SQLite (56,000-115,000 events/s) and 2.7-5.2 s on PostgreSQL (39,000-73,000 events/s); 1,000,022
events take 10 s on SQLite (96,000/s) and 23 s on PostgreSQL (43,000/s), where inserting the spans
row by row (executemany) is about a third of the time, reading the events and folding them the
rest. The migrating process peaks at about 100 MB at either size. A store of 10 million events
therefore migrates in about 2 minutes on SQLite and 4 to 5 on PostgreSQL.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from recorder.model.spans import CONTAINER_TYPES, ExecutionFold, needs_details


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('node_spans',
    sa.Column('execution_id', sa.String(length=128), nullable=False),
    sa.Column('node_result_id', sa.String(length=128), nullable=False),
    sa.Column('node_id', sa.Text(), nullable=True),
    sa.Column('node_type', sa.Text(), nullable=True),
    sa.Column('source_execution_id', sa.Text(), nullable=True),
    sa.Column('parent_node_result_id', sa.Text(), nullable=True),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=True),
    sa.Column('first_seq', sa.Integer(), nullable=False),
    sa.Column('initiated', sa.Boolean(), nullable=False),
    sa.Column('start_us', sa.BigInteger(), nullable=False),
    sa.Column('start_pos', sa.Integer(), nullable=False),
    sa.Column('start_ts_less', sa.Boolean(), nullable=False),
    sa.Column('end_us', sa.BigInteger(), nullable=True),
    sa.Column('end_pos', sa.Integer(), nullable=True),
    sa.Column('end_ts_less', sa.Boolean(), nullable=False),
    sa.Column('first_output_us', sa.BigInteger(), nullable=True),
    sa.Column('first_output_ts_less', sa.Boolean(), nullable=False),
    sa.Column('streaming_events', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.Text(), nullable=True),
    sa.Column('child_execution_ids', sa.JSON(), nullable=True),
    sa.Column('model_name', sa.Text(), nullable=True),
    sa.Column('input_tokens', sa.BigInteger(), nullable=True),
    sa.Column('output_tokens', sa.BigInteger(), nullable=True),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('execution_id', 'node_result_id', name=op.f('pk_node_spans'))
    )
    with op.batch_alter_table('node_spans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_node_spans_change_seq'), ['change_seq'], unique=False)

    op.create_table('store_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.String(length=36), nullable=False),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_state'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_seq', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('span_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('prompt_cost_usd', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('prompt_input_tokens', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prompt_output_tokens', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('first_output_us', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('change_seq', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_executions_change_seq'), ['change_seq'], unique=False)

    # Everything stored so far counts as written by the first change.
    op.execute(sa.text("INSERT INTO store_state (id, store_id, change_seq) VALUES (1, :store_id, 1)").bindparams(store_id=str(uuid.uuid4())))
    op.execute("UPDATE executions SET change_seq = 1")
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_executions_change_seq'))
        batch_op.drop_column('change_seq')
        batch_op.drop_column('first_output_us')
        batch_op.drop_column('prompt_output_tokens')
        batch_op.drop_column('prompt_input_tokens')
        batch_op.drop_column('prompt_cost_usd')
        batch_op.drop_column('span_count')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('change_seq')

    op.drop_table('store_state')
    with op.batch_alter_table('node_spans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_node_spans_change_seq'))

    op.drop_table('node_spans')


# -- the backfill ------------------------------------------------------------------------------------
# Table handles of this revision, not the app's models: a migration must keep meaning what it meant
# when it was written, whatever the models become. The fold itself is imported on purpose: the
# backfill must give exactly the rows ingest-time upkeep gives.

_log = logging.getLogger("alembic.runtime.migration")

_READ_BATCH = 10_000  # events fetched per round trip of the server-side cursor
_WRITE_BATCH = 5_000  # span rows, and execution updates, per executemany
_CHANGE_SEQ = 1  # everything stored before this revision counts as the store's first change

_events = sa.table(
    "events",
    sa.column("execution_id", sa.String),
    sa.column("seq", sa.Integer),
    sa.column("type", sa.Text),
    sa.column("state", sa.Text),
    sa.column("ts_us", sa.BigInteger),
    sa.column("received_at_us", sa.BigInteger),
    sa.column("node_id", sa.Text),
    sa.column("node_result_id", sa.Text),
    sa.column("node_type", sa.Text),
    sa.column("source_execution_id", sa.Text),
    sa.column("raw", sa.Text),
)

_node_spans = sa.table(
    "node_spans",
    sa.column("execution_id", sa.String),
    sa.column("node_result_id", sa.String),
    sa.column("node_id", sa.Text),
    sa.column("node_type", sa.Text),
    sa.column("source_execution_id", sa.Text),
    sa.column("parent_node_result_id", sa.Text),
    sa.column("depth", sa.Integer),
    sa.column("state", sa.String),
    sa.column("first_seq", sa.Integer),
    sa.column("initiated", sa.Boolean),
    sa.column("start_us", sa.BigInteger),
    sa.column("start_pos", sa.Integer),
    sa.column("start_ts_less", sa.Boolean),
    sa.column("end_us", sa.BigInteger),
    sa.column("end_pos", sa.Integer),
    sa.column("end_ts_less", sa.Boolean),
    sa.column("first_output_us", sa.BigInteger),
    sa.column("first_output_ts_less", sa.Boolean),
    sa.column("streaming_events", sa.Integer),
    sa.column("error_code", sa.Text),
    # None must be SQL NULL ("names no children"), not the JSON literal null.
    sa.column("child_execution_ids", sa.JSON(none_as_null=True)),
    sa.column("model_name", sa.Text),
    sa.column("input_tokens", sa.BigInteger),
    sa.column("output_tokens", sa.BigInteger),
    sa.column("cost_usd", sa.Float),
    sa.column("change_seq", sa.BigInteger),
)

_executions = sa.table(
    "executions",
    sa.column("execution_id", sa.String),
    sa.column("span_count", sa.Integer),
    sa.column("prompt_cost_usd", sa.Float),
    sa.column("prompt_input_tokens", sa.BigInteger),
    sa.column("prompt_output_tokens", sa.BigInteger),
    sa.column("first_output_us", sa.BigInteger),
)

# The events whose payload `needs_details` may want, judged from their own columns. Only these
# bring their verbatim text over the wire (most events are STREAMING chunks nobody parses here);
# an event wanted only because of its run's type is fetched on its own (`_RAW_OF`), so the rows
# are right whatever this filter misses, and it is only a matter of speed.
_DETAILS_WANTED = sa.and_(
    _events.c.type == "NODE",
    _events.c.node_result_id.is_not(None),
    sa.or_(
        _events.c.state == "REJECTED",
        sa.and_(_events.c.state == "FULFILLED", _events.c.node_type == "PROMPT"),
        _events.c.node_type.in_(sorted(CONTAINER_TYPES)),
    ),
)

_EVENTS_IN_KEY_ORDER = sa.select(
    _events.c.execution_id,
    _events.c.seq,
    _events.c.type,
    _events.c.state,
    _events.c.ts_us,
    _events.c.received_at_us,
    _events.c.node_id,
    _events.c.node_result_id,
    _events.c.node_type,
    _events.c.source_execution_id,
    sa.case((_DETAILS_WANTED, _events.c.raw), else_=sa.null()).label("raw"),
).order_by(_events.c.execution_id, _events.c.seq)

_RAW_OF = sa.select(_events.c.raw).where(
    _events.c.execution_id == sa.bindparam("execution_id"), _events.c.seq == sa.bindparam("seq")
)

_SET_TOTALS = (
    _executions.update()
    .where(_executions.c.execution_id == sa.bindparam("b_execution_id"))
    .values(
        span_count=sa.bindparam("b_span_count"),
        prompt_cost_usd=sa.bindparam("b_prompt_cost_usd"),
        prompt_input_tokens=sa.bindparam("b_prompt_input_tokens"),
        prompt_output_tokens=sa.bindparam("b_prompt_output_tokens"),
        first_output_us=sa.bindparam("b_first_output_us"),
    )
)

_TOTALS = ("span_count", "prompt_cost_usd", "prompt_input_tokens", "prompt_output_tokens", "first_output_us")


def _backfill(connection: sa.Connection) -> None:
    """Fold every stored execution's events into node_spans rows and executions aggregates."""
    span_rows: list[dict[str, Any]] = []
    total_rows: list[dict[str, Any]] = []
    executions = spans = 0
    # The option goes on the statement: Connection.execution_options would stay on the connection.
    events = connection.execute(_EVENTS_IN_KEY_ORDER, execution_options={"yield_per": _READ_BATCH})
    for fold in _folds(connection, events):
        executions += 1
        span_rows.extend(_span_rows(fold))
        totals = fold.totals()
        # Aggregates of an execution without spans or output are the columns' defaults already.
        if totals.span_count or totals.first_output_us is not None:
            total_rows.append({f"b_{name}": getattr(totals, name) for name in _TOTALS} | {"b_execution_id": fold.execution_id})
        if len(span_rows) >= _WRITE_BATCH:
            spans += len(span_rows)
            connection.execute(_node_spans.insert(), span_rows)
            span_rows.clear()
        if len(total_rows) >= _WRITE_BATCH:
            connection.execute(_SET_TOTALS, total_rows)
            total_rows.clear()
    if span_rows:
        spans += len(span_rows)
        connection.execute(_node_spans.insert(), span_rows)
    if total_rows:
        connection.execute(_SET_TOTALS, total_rows)
    _log.info("Backfilled %d node spans of %d executions", spans, executions)


def _folds(connection: sa.Connection, rows: Iterable[Any]) -> Iterable[ExecutionFold]:
    """Each execution's fold, complete, from its events in (execution_id, seq) order: what
    recorder.model.spans.fold_events (the timeline's fold) makes of them, the text of an event the
    cursor did not bring read on its own where the fold wants it."""
    fold: ExecutionFold | None = None
    for execution_id, seq, event_type, state, ts_us, received_at_us, node_id, node_result_id, node_type, source, raw in rows:
        if fold is None or execution_id != fold.execution_id:
            if fold is not None:
                yield fold
            fold = ExecutionFold(execution_id)
        details = None
        if node_result_id is not None:
            if raw is None and _wants_details(fold, event_type, state, node_result_id, node_type):
                # Not brought by the cursor (see _DETAILS_WANTED); events.raw itself is never NULL.
                raw = connection.execute(_RAW_OF, {"execution_id": execution_id, "seq": seq}).scalar_one()
            details = fold.details_from_text(event_type, state, node_result_id, node_type, raw)
        fold.add(seq, event_type, state, ts_us, received_at_us, node_id, node_result_id, node_type, source, details)
    if fold is not None:
        yield fold


def _wants_details(fold: ExecutionFold, event_type: str, state: str | None, node_result_id: str, node_type: str | None) -> bool:
    run = fold.runs.get(node_result_id)
    return needs_details(event_type, state, node_type, run.node_type if run is not None else None)


def _span_rows(fold: ExecutionFold) -> list[dict[str, Any]]:
    """The node_spans rows of a complete fold, runs in the order they first appeared."""
    nesting = fold.nesting()
    rows = []
    for key, run in fold.runs.items():
        parent, depth = nesting[key]
        rows.append({
            "execution_id": fold.execution_id,
            "node_result_id": run.node_result_id,
            "node_id": run.node_id,
            "node_type": run.node_type,
            "source_execution_id": run.source_execution_id,
            "parent_node_result_id": parent,
            "depth": depth,
            "state": run.state,
            "first_seq": run.first_seq,
            "initiated": run.initiated,
            "start_us": run.start_us,
            "start_pos": run.start_pos,
            "start_ts_less": run.start_ts_less,
            "end_us": run.end_us,
            "end_pos": run.end_pos,
            "end_ts_less": run.end_ts_less,
            "first_output_us": run.first_output_us,
            "first_output_ts_less": run.first_output_ts_less,
            "streaming_events": run.streaming_events,
            "error_code": run.error_code,
            "child_execution_ids": list(run.child_execution_ids) or None,
            "model_name": run.model_name,
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "cost_usd": run.cost_usd,
            "change_seq": _CHANGE_SEQ,
        })
    return rows
