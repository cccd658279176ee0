"""What reconciling adds beside the events: status-endpoint answers, submitted actuals, and
recordings whose recorder died. Recorded events and executions are never changed by it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from recorder.model.timestamps import now_us
from recorder.model.vocabulary import INCOMPLETE, Outcome
from recorder.store.schema import Actual, Execution, Recording, StatusCheck


def add_status_check(engine: Engine, **values: Any) -> int:
    with engine.begin() as connection:
        return connection.execute(insert(StatusCheck).values(checked_at_us=now_us(), **values)).inserted_primary_key[0]


def status_checks_of(engine: Engine, execution_ids: Sequence[str]) -> dict[str, list[StatusCheck]]:
    """Checks per execution, oldest first."""
    if not execution_ids:
        return {}
    query = select(StatusCheck).where(StatusCheck.execution_id.in_(execution_ids)).order_by(StatusCheck.id)
    checks: dict[str, list[StatusCheck]] = {}
    with Session(engine, expire_on_commit=False) as session:
        for check in session.scalars(query):
            checks.setdefault(check.execution_id, []).append(check)
    return checks


def add_actual(engine: Engine, **values: Any) -> int:
    with engine.begin() as connection:
        return connection.execute(insert(Actual).values(submitted_at_us=now_us(), **values)).inserted_primary_key[0]


def actuals_of(engine: Engine, execution_id: str) -> Sequence[Actual]:
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(select(Actual).where(Actual.execution_id == execution_id).order_by(Actual.id)).all()


def incomplete_execution_ids(engine: Engine, limit: int | None = None) -> list[str]:
    query = select(Execution.execution_id).where(Execution.status == INCOMPLETE).order_by(Execution.started_at_us)
    if limit:
        query = query.limit(limit)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def mark_abandoned_recordings(engine: Engine, *, silent_for_s: float) -> list[int]:
    """Recordings still `in_progress` whose writer stopped beating: their recorder died (kill -9,
    power loss). They are marked cut; their committed lines stay exactly as they were."""
    cutoff = now_us() - int(silent_for_s * 1_000_000)
    stale = (Recording.outcome == Outcome.IN_PROGRESS) & (Recording.heartbeat_at_us < cutoff)
    with engine.begin() as connection:
        ids = list(connection.execute(select(Recording.id).where(stale)).scalars())
        if ids:
            connection.execute(
                update(Recording)
                .where(Recording.id.in_(ids))
                .values(outcome=Outcome.CUT, error=f"the recorder stopped without finishing (no heartbeat for {silent_for_s:g} s)")
            )
    return ids
