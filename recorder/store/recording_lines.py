"""The reads that rebuild a recorded body, and the recorded exchanges replay matches against.

A body's lines are spread over the tables: events (`raw`), rejects (`raw_bytes` or `raw`), and a
recording's own columns (blank lines, lines another recording stored first). recorder.replay.export
puts them back in order; these reads fetch them by the indexes the schema declares.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Text, cast, select
from sqlalchemy.orm import Session

from recorder.store.schema import Event, Execution, Recording, Reject


def recordings_referring_to(engine: Engine, execution_id: str, excluding: Sequence[int]) -> list[Recording]:
    """Recordings (other than `excluding`) whose body holds events of the execution that another
    recording stored: a body ingested again after a kill -9 stored none of them itself."""
    pattern = json.dumps(execution_id).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = select(Recording).where(
        Recording.stored_elsewhere.is_not(None),
        cast(Recording.stored_elsewhere, Text).like(f"%{pattern}%", escape="\\"),
        Recording.id.not_in(list(excluding)),
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query))


def recording_lines(
    engine: Engine, recording_id: int, line_count: int, execution_id: str
) -> tuple[list[tuple[int, str, int, int]], list[tuple[int, str, bytes | None, int]]]:
    """The lines a recording's body may hold, from the tables: (position, raw, received_at_us,
    recording_id) of the events below `line_count` of every execution the recording carried (and
    of `execution_id`), whichever recording stored them, by position; and (position, raw,
    raw_bytes, received_at_us) of the recording's rejects."""
    with engine.connect() as connection:
        carried = set(connection.execute(select(Event.execution_id).where(Event.recording_id == recording_id).distinct()).scalars())
        events = connection.execute(
            select(Event.position, Event.raw, Event.received_at_us, Event.recording_id)
            .where(Event.execution_id.in_(carried | {execution_id}), Event.position < line_count)
            .order_by(Event.position)
        ).all()
        rejects = connection.execute(
            select(Reject.position, Reject.raw, Reject.raw_bytes, Reject.received_at_us).where(Reject.recording_id == recording_id)
        ).all()
    return [tuple(row) for row in events], [tuple(row) for row in rejects]


def event_runs(engine: Engine, runs: Sequence[tuple[str, int, int]]) -> list[list[tuple[int, str]]]:
    """(seq, raw) of the events of each (execution_id, first seq, count) run."""
    with engine.connect() as connection:
        return [
            [tuple(row) for row in connection.execute(
                select(Event.seq, Event.raw).where(Event.execution_id == execution_id, Event.seq >= first, Event.seq < first + count)
            )]
            for execution_id, first, count in runs
        ]


def reject_lines(engine: Engine, reject_ids: Sequence[int]) -> list[tuple[int, str, bytes | None]]:
    """(id, raw, raw_bytes) of the given rejects."""
    if not reject_ids:
        return []
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(Reject.id, Reject.raw, Reject.raw_bytes).where(Reject.id.in_(list(reject_ids))))]


def execution_requests(engine: Engine) -> list[tuple[str, dict[str, Any] | None]]:
    """(execution_id, request body of the recording that described it), oldest execution first."""
    query = (
        select(Execution.execution_id, Recording.request)
        .outerjoin(Recording, Recording.id == Execution.recording_id)
        .order_by(Execution.started_at_us.nulls_last(), Execution.execution_id)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]
