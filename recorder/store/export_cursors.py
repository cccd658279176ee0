"""What an OpenTelemetry export reads from the store, and the cursor it keeps per export target.

An export walks the executions in change-cursor order (`executions.change_seq`, then id): a page
at a time by keyset, so a store of any size is read in bounded pieces and a page is never read
twice. For a page it reads the node spans, the STREAMING moments (never the verbatim text) and the
first stored event line of each execution (where the newer stream carries the trace id), one query
each.

`export_cursors` holds, per target, the change cursor up to which every execution has been
considered (sent, or passed over by the export's filter), and the store it belongs to. Saving it is
one `INSERT ... ON CONFLICT (target) DO UPDATE`, written the same on both engines (SQLite 3.24+ and
PostgreSQL share the syntax), which never moves a cursor backwards for the same store: an export
that re-sends from the start (`--all`) leaves a cursor that is further on where it found it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, case, func, literal, or_, select, text
from sqlalchemy.orm import Session

from recorder.model.filters import ExecutionFilter
from recorder.model.vocabulary import INCOMPLETE
from recorder.store.schema import Event, Execution, ExportCursor, NodeSpan

_STREAMING_STATE = "STREAMING"


@dataclass(frozen=True, slots=True)
class ExportCursorRow:
    """One target's cursor: everything with `change_seq` up to this was sent (or passed over)."""

    target: str
    store_id: str
    change_seq: int
    exported_at_us: int
    executions_sent: int


@dataclass(frozen=True, slots=True)
class StreamingMoment:
    """One STREAMING event: whose it is (a node run, or the workflow when `node_result_id` is
    None) and when. `ts_us` is None when the event had no usable `ts`; the receiving clock stands in.
    `of_total`: how many STREAMING events that run (or the workflow) had in all, of which at most
    the first `per_run_limit` are read."""

    execution_id: str
    node_result_id: str | None
    ts_us: int | None
    received_at_us: int
    of_total: int = 1


@dataclass(frozen=True, slots=True)
class ExportDetails:
    """What a page of executions needs besides their rows, keyed by execution id."""

    spans: dict[str, list[NodeSpan]]
    streaming: dict[str, list[StreamingMoment]]
    first_lines: dict[str, str]


def read_cursor(engine: Engine, target: str) -> ExportCursorRow | None:
    query = select(
        ExportCursor.target, ExportCursor.store_id, ExportCursor.change_seq, ExportCursor.exported_at_us,
        ExportCursor.executions_sent,
    ).where(ExportCursor.target == target)
    with engine.connect() as connection:
        row = connection.execute(query).one_or_none()
    return None if row is None else ExportCursorRow(*row)


_SAVE_CURSOR = text(
    """
    INSERT INTO export_cursors (target, store_id, change_seq, exported_at_us, executions_sent)
    VALUES (:target, :store_id, :change_seq, :exported_at_us, :executions_sent)
    ON CONFLICT (target) DO UPDATE SET
        change_seq = CASE
            WHEN export_cursors.store_id = excluded.store_id AND export_cursors.change_seq > excluded.change_seq
            THEN export_cursors.change_seq ELSE excluded.change_seq END,
        executions_sent = CASE
            WHEN export_cursors.store_id = excluded.store_id
            THEN export_cursors.executions_sent + excluded.executions_sent ELSE excluded.executions_sent END,
        exported_at_us = excluded.exported_at_us,
        store_id = excluded.store_id
    """
)


def save_cursor(engine: Engine, *, target: str, store_id: str, change_seq: int, executions_sent: int, exported_at_us: int) -> None:
    """Move the target's cursor to `change_seq` (never backwards for the same store) and add
    `executions_sent` to its running count; a cursor of another store is replaced."""
    with engine.begin() as connection:
        connection.execute(
            _SAVE_CURSOR,
            {
                "target": target, "store_id": store_id, "change_seq": change_seq,
                "exported_at_us": exported_at_us, "executions_sent": executions_sent,
            },
        )


def follow_store(connection: Connection, old_store_id: str, new_store_id: str) -> None:
    """Cursors of the store under its old id, moved to its new one (a prune renews the id, but
    what the targets were sent is still true of the store)."""
    table = ExportCursor.__table__
    connection.execute(table.update().where(table.c.store_id == old_store_id).values(store_id=new_store_id))


def forget_cursor(engine: Engine, target: str) -> None:
    with engine.begin() as connection:
        connection.execute(ExportCursor.__table__.delete().where(ExportCursor.target == target))


def _due(after: int | None, up_to: int, where: ExecutionFilter):
    """The conditions for executions an export sends: terminal, written after `after` (None:
    from the start) and at or before `up_to` (the store's cursor when the export began, so rows
    written meanwhile wait for the next export), and matching the filter."""
    conditions = [Execution.status != INCOMPLETE, Execution.change_seq <= up_to]
    if after is not None:
        conditions.append(Execution.change_seq > after)
    if where.deployment:
        conditions.append(
            (Execution.workflow_deployment_name == where.deployment) | (Execution.workflow_deployment_id == where.deployment)
        )
    if where.release_tag:
        conditions.append(Execution.release_tag == where.release_tag)
    if where.status:
        conditions.append(Execution.status == where.status.upper())
    if where.since_us is not None:
        conditions.append(Execution.started_at_us >= where.since_us)
    if where.until_us is not None:
        conditions.append(Execution.started_at_us < where.until_us)
    return conditions


def count_due(engine: Engine, *, after: int | None, up_to: int, where: ExecutionFilter) -> int:
    """How many executions an export will send (for its progress bar)."""
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Execution).where(*_due(after, up_to, where))).scalar_one()


def due_page(
    engine: Engine,
    *,
    after: int | None,
    up_to: int,
    where: ExecutionFilter,
    resume_from: tuple[int, str] | None,
    limit: int,
) -> list[Execution]:
    """The next `limit` executions due, in (change_seq, execution_id) order, after the key
    `resume_from` (the last one of the previous page; None: from the first)."""
    query = select(Execution).where(*_due(after, up_to, where))
    if resume_from is not None:
        seq, execution_id = resume_from
        query = query.where(
            or_(Execution.change_seq > seq, and_(Execution.change_seq == seq, Execution.execution_id > execution_id))
        )
    query = query.order_by(Execution.change_seq, Execution.execution_id).limit(limit)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query).all())


def export_details(
    engine: Engine, execution_ids: Sequence[str], first_lines_of: Sequence[str] = (), *, per_run_limit: int = 1_000
) -> ExportDetails:
    """The spans and STREAMING moments of `execution_ids`, and the first stored event line of
    those and of `first_lines_of` (linked executions, when recorded): three indexed reads.

    Only the first `per_run_limit` STREAMING events of each run (and of the workflow) are read, each
    with its run's total: a prompt streaming for minutes can have tens of thousands, which no
    trace shows usefully, and a page's memory stays bounded (a window function, on both engines)."""
    ids = list(dict.fromkeys(execution_ids))
    spans: dict[str, list[NodeSpan]] = defaultdict(list)
    streaming: dict[str, list[StreamingMoment]] = defaultdict(list)
    if not ids:
        return ExportDetails({}, {}, {})
    with Session(engine, expire_on_commit=False) as session:
        for span in session.scalars(
            select(NodeSpan).where(NodeSpan.execution_id.in_(ids)).order_by(NodeSpan.execution_id, NodeSpan.first_seq)
        ):
            spans[span.execution_id].append(span)
        # The workflow's own STREAMING events form one group ('' never names a run).
        run_of = case((Event.type == "NODE", func.coalesce(Event.node_result_id, "")), else_=literal(None))
        group = (Event.execution_id, run_of)
        numbered = (
            select(
                Event.execution_id, run_of.label("run"), Event.seq, Event.ts_us, Event.received_at_us,
                func.row_number().over(partition_by=group, order_by=Event.seq).label("number"),
                func.count().over(partition_by=group).label("total"),
            )
            .where(Event.execution_id.in_(ids), Event.state == _STREAMING_STATE)
            .subquery()
        )
        moments = session.execute(
            select(numbered.c.execution_id, numbered.c.run, numbered.c.ts_us, numbered.c.received_at_us, numbered.c.total)
            .where(numbered.c.number <= per_run_limit)
            .order_by(numbered.c.execution_id, numbered.c.seq)
        )
        for execution_id, run, ts_us, received_at_us, total in moments:
            streaming[execution_id].append(StreamingMoment(execution_id, run or None, ts_us, received_at_us, total))
        wanted = list(dict.fromkeys([*ids, *first_lines_of]))
        lines = session.execute(select(Event.execution_id, Event.raw).where(Event.execution_id.in_(wanted), Event.seq == 0))
        first_lines = {execution_id: raw for execution_id, raw in lines}
    return ExportDetails(dict(spans), dict(streaming), first_lines)
