"""Reading the store: executions, their events in stream order, recordings and rejects.

Point lookups go through the indexes the schema declares; fleet-wide analysis belongs to
recorder.analytics, not here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recorder.model.filters import ExecutionFilter
from recorder.store.schema import Event, Execution, NodeSpan, Recording, Reject


def list_executions(engine: Engine, where: ExecutionFilter = ExecutionFilter()) -> Sequence[Execution]:
    """Executions, newest first.

    Node and metadata filters are refused rather than ignored: they need the events or the JSON
    metadata, which the fleet analytics read (`Recorder.latency`, `recorder sql`), not this listing.
    """
    if where.node is not None or where.metadata:
        raise ValueError("listing executions filters by deployment, release tag, status and start time; "
                         "node and metadata filters belong to the fleet analytics")
    query = select(Execution)
    if where.deployment:
        query = query.where(
            (Execution.workflow_deployment_name == where.deployment) | (Execution.workflow_deployment_id == where.deployment)
        )
    if where.release_tag:
        query = query.where(Execution.release_tag == where.release_tag)
    if where.status:
        query = query.where(Execution.status == where.status.upper())
    if where.since_us is not None:
        query = query.where(Execution.started_at_us >= where.since_us)
    if where.until_us is not None:
        query = query.where(Execution.started_at_us < where.until_us)
    query = query.order_by(Execution.started_at_us.desc().nulls_last(), Execution.execution_id)
    if where.limit:
        query = query.limit(where.limit)
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(query).all()


def get_execution(engine: Engine, execution_id: str) -> Execution | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Execution, execution_id)


def find_execution_ids(engine: Engine, prefix: str, limit: int = 5) -> list[str]:
    """Ids starting with `prefix`, so a user can type the first characters of a UUID; in id order,
    so the candidates named for an ambiguous prefix are the same on every run and engine."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(Execution.execution_id)
        .where(Execution.execution_id.like(f"{escaped}%", escape="\\"))
        .order_by(Execution.execution_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def events_of(engine: Engine, execution_id: str) -> Sequence[Event]:
    """The execution's events in stream order."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(select(Event).where(Event.execution_id == execution_id).order_by(Event.seq)).all()


def spans_of(engine: Engine, execution_id: str) -> Sequence[NodeSpan]:
    """An execution's stored node spans, in the order their runs first appeared."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(select(NodeSpan).where(NodeSpan.execution_id == execution_id).order_by(NodeSpan.first_seq)).all()


def get_recording(engine: Engine, recording_id: int) -> Recording | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Recording, recording_id)


def recordings_of(engine: Engine, execution_id: str) -> Sequence[Recording]:
    """Recordings that carried events of the execution (or described it by their request)."""
    carried = select(Event.recording_id).where(Event.execution_id == execution_id).distinct()
    described = select(Execution.recording_id).where(Execution.execution_id == execution_id)
    query = select(Recording).where(Recording.id.in_(carried) | Recording.id.in_(described)).order_by(Recording.id)
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(query).all()


def rejects_of(engine: Engine, recording_ids: Sequence[int] | None = None, limit: int | None = None) -> Sequence[Reject]:
    query = select(Reject).order_by(Reject.recording_id, Reject.position)
    if recording_ids is not None:
        query = query.where(Reject.recording_id.in_(recording_ids))
    if limit:
        query = query.limit(limit)
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(query).all()
