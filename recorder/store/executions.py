"""Keeping the `executions` rows in step with the events and requests recorded for them.

`root_execution_id` is maintained incrementally: a new execution takes its parent's root (or is
its own root when the parent is not recorded), and when a parent arrives after its children, the
subtrees the children rooted are handed the parent's root in one UPDATE. Bad data with a cycle in
previous_execution_id cannot make this loop: nothing here walks the chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from recorder.model.facts import ExecutionFacts
from recorder.model.request import RecordedRequest
from recorder.model.vocabulary import INCOMPLETE
from recorder.store.bulk import insert_ignore
from recorder.store.schema import Execution

_executions = Execution.__table__
_IN_CHUNK = 500


def sync_executions(
    connection: Connection,
    facts: Sequence[ExecutionFacts],
    *,
    new_events: Mapping[str, int],
    recording_id: int,
    request: RecordedRequest | None,
) -> None:
    """Create or update the execution rows the given facts describe, in the caller's transaction.

    `new_events` says how many events per execution this transaction inserted: counters grow by
    addition, so a flush costs the same at the end of a long stream as at its start.
    """
    for chunk in _chunks(facts, _IN_CHUNK):
        ids = [item.execution_id for item in chunk]
        stored = {row.execution_id: row for row in connection.execute(select(_executions).where(_executions.c.execution_id.in_(ids)))}
        for item in chunk:
            row = stored.get(item.execution_id)
            added = new_events.get(item.execution_id, 0)
            if row is None:
                _insert(connection, item, added, recording_id, request)
            else:
                _update(connection, row, item, added, recording_id, request)


def _insert(connection: Connection, facts: ExecutionFacts, event_count: int, recording_id: int, request: RecordedRequest | None) -> None:
    values: dict[str, Any] = {
        "execution_id": facts.execution_id,
        "run_id": facts.run_id,
        "external_id": facts.external_id,
        "status": facts.status,
        "started_at_us": facts.start_us,
        "ended_at_us": facts.ended_at_us,
        "error_code": facts.error_code,
        "error_message": facts.error_message,
        "outputs": facts.outputs,
        "event_count": event_count,
        "root_execution_id": facts.execution_id,
    }
    if request is not None:
        values.update(_request_values(request, recording_id))
        values["external_id"] = facts.external_id or request.external_id
    insert_ignore(connection, _executions, [values])
    _attach_to_parent(connection, facts.execution_id, values.get("previous_execution_id"))
    _adopt_children(connection, facts.execution_id)


def _update(connection: Connection, row: Any, facts: ExecutionFacts, added: int, recording_id: int, request: RecordedRequest | None) -> None:
    # An expression, not a value: concurrent writers of one execution add up instead of overwriting.
    changes: dict[str, Any] = {"event_count": _executions.c.event_count + added}
    if row.run_id is None and facts.run_id:
        changes["run_id"] = facts.run_id
    if row.external_id is None and facts.external_id:
        changes["external_id"] = facts.external_id
    start = facts.start_us
    if start is not None and (row.started_at_us is None or start < row.started_at_us):
        changes["started_at_us"] = start
    if row.status == INCOMPLETE and facts.terminal_state is not None:
        changes.update(
            status=facts.status,
            ended_at_us=facts.ended_at_us,
            error_code=facts.error_code,
            error_message=facts.error_message,
            outputs=facts.outputs,
        )
    gains_request = request is not None and row.recording_id is None
    if gains_request:
        changes.update(_request_values(request, recording_id))
        changes["external_id"] = row.external_id or facts.external_id or request.external_id
    connection.execute(update(_executions).where(_executions.c.execution_id == row.execution_id).values(**changes))
    if gains_request:
        _attach_to_parent(connection, row.execution_id, request.previous_execution_id)


def _request_values(request: RecordedRequest, recording_id: int) -> dict[str, Any]:
    return {
        "recording_id": recording_id,
        "workflow_deployment_id": request.workflow_deployment_id,
        "workflow_deployment_name": request.workflow_deployment_name,
        "release_tag": request.release_tag,
        "previous_execution_id": request.previous_execution_id,
        "metadata": request.metadata,
        "inputs": request.inputs,
    }


def _attach_to_parent(connection: Connection, execution_id: str, parent_id: str | None) -> None:
    """Give `execution_id` and the subtree it roots the parent's root, if the parent is recorded."""
    if not parent_id or parent_id == execution_id:
        return
    parent_root = connection.execute(
        select(_executions.c.root_execution_id).where(_executions.c.execution_id == parent_id)
    ).scalar_one_or_none()
    if parent_root is None or parent_root == execution_id:
        return
    connection.execute(
        update(_executions).where(_executions.c.root_execution_id == execution_id).values(root_execution_id=parent_root)
    )


def _adopt_children(connection: Connection, execution_id: str) -> None:
    """Children recorded before this execution rooted their own subtrees; hand those over."""
    root = connection.execute(
        select(_executions.c.root_execution_id).where(_executions.c.execution_id == execution_id)
    ).scalar_one()
    children = select(_executions.c.execution_id).where(
        _executions.c.previous_execution_id == execution_id, _executions.c.execution_id != execution_id
    )
    connection.execute(
        update(_executions)
        .where(_executions.c.root_execution_id.in_(children), _executions.c.root_execution_id != root)
        .values(root_execution_id=root)
    )


def _chunks(items: Sequence[ExecutionFacts], size: int) -> Iterator[Sequence[ExecutionFacts]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

