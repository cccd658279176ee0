"""Keeping the `executions` rows in step with the events and requests recorded for them.

`root_execution_id` is maintained incrementally: a new execution takes its parent's root (or is
its own root when the parent is not recorded), and when a parent arrives after its children, the
subtrees the children rooted are handed the parent's root in one UPDATE. Bad data with a cycle in
previous_execution_id cannot make this loop: nothing here walks the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from recorder.model.facts import ExecutionFacts
from recorder.model.spans import SpanTotals
from recorder.model.request import RecordedRequest
from recorder.model.vocabulary import INCOMPLETE
from recorder.store.bulk import in_chunks
from recorder.store.schema import Execution

if TYPE_CHECKING:
    from recorder.store.dialects import Dialect

_executions = Execution.__table__
_IN_CHUNK = 500


def stored_executions(connection: Connection, execution_ids: Sequence[str]) -> dict[str, Any]:
    """The stored rows of these executions, locked until the transaction ends (PostgreSQL): two
    writers of one execution take turns, so each sees the other's counts and spans."""
    stored: dict[str, Any] = {}
    for chunk in in_chunks(execution_ids, _IN_CHUNK):
        query = select(_executions).where(_executions.c.execution_id.in_(chunk)).with_for_update()
        stored.update((row.execution_id, row) for row in connection.execute(query))
    return stored


def sync_executions(
    connection: Connection,
    dialect: Dialect,
    facts: Sequence[ExecutionFacts],
    *,
    stored: Mapping[str, Any],
    totals: Mapping[str, SpanTotals],
    new_events: Mapping[str, int],
    recording_id: int,
    request: RecordedRequest | None,
    change_seq: int,
) -> None:
    """Create or update the execution rows the given facts describe, in the caller's transaction.

    `stored` holds the rows as they were before it (`stored_executions`); `new_events` says how
    many events per execution this transaction inserted: counters grow by addition, so a flush
    costs the same at the end of a long stream as at its start. `totals` are the span aggregates
    of the executions whose spans changed (recorder.store.span_upkeep). New executions are
    inserted together, so a bulk batch of many executions costs a few statements.
    """
    fresh = []
    for item in facts:
        row = stored.get(item.execution_id)
        if row is None:
            fresh.append(item)
        else:
            _update(connection, row, item, new_events.get(item.execution_id, 0), recording_id, request,
                    totals.get(item.execution_id), change_seq)
    for chunk in in_chunks(fresh, _IN_CHUNK):
        _insert_all(connection, dialect, chunk, new_events, recording_id, request, totals, change_seq)


def _insert_all(
    connection: Connection,
    dialect: Dialect,
    fresh: Sequence[ExecutionFacts],
    new_events: Mapping[str, int],
    recording_id: int,
    request: RecordedRequest | None,
    totals: Mapping[str, SpanTotals],
    change_seq: int,
) -> None:
    """Insert executions not stored yet, each with its root, then hand over earlier children."""
    # One request describes every execution of its stream, so they share one parent; without a
    # request, an SDK stream's own link may name it (recorder.model.facts).
    parent_roots: dict[str, str | None] = {}
    rows = []
    for facts in fresh:
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
            "event_count": new_events.get(facts.execution_id, 0),
            "root_execution_id": facts.execution_id,
            "change_seq": change_seq,
            **_totals_values(totals.get(facts.execution_id)),
            **_request_values(request, recording_id),
        }
        if request is None and facts.described:
            values.update(_described_values(facts.described))
        if request is not None:
            values["external_id"] = facts.external_id or request.external_id
        parent_id = values["previous_execution_id"]
        if parent_id and parent_id not in parent_roots:
            parent_roots[parent_id] = _root_of(connection, parent_id)
        parent_root = parent_roots.get(parent_id) if parent_id else None
        if parent_root is not None and parent_root != facts.execution_id:
            values["root_execution_id"] = parent_root
        rows.append(values)
    _root_within(rows)
    dialect.insert_ignore(connection, _executions, rows, count=False)
    _adopt_children(connection, [facts.execution_id for facts in fresh], change_seq)


def _root_within(rows: Sequence[dict[str, Any]]) -> None:
    """Children inserted together with their parent take its root (a body of several SDK streams
    links them itself). Parents usually come first, so one pass settles it; the passes are
    bounded, so a cycle in bad data cannot loop."""
    by_id = {values["execution_id"]: values for values in rows}
    if not any(values["previous_execution_id"] in by_id for values in rows):
        return
    for _ in range(len(rows)):
        changed = False
        for values in rows:
            parent = by_id.get(values["previous_execution_id"])
            if parent is None or parent is values:
                continue
            root = parent["root_execution_id"]
            if root != values["root_execution_id"] and root != values["execution_id"]:
                values["root_execution_id"] = root
                changed = True
        if not changed:
            return


def _update(
    connection: Connection,
    row: Any,
    facts: ExecutionFacts,
    added: int,
    recording_id: int,
    request: RecordedRequest | None,
    totals: SpanTotals | None,
    change_seq: int,
) -> None:
    changes: dict[str, Any] = {}
    if added:
        # An expression, not a value: concurrent writers of one execution add up instead of overwriting.
        changes["event_count"] = _executions.c.event_count + added
    if totals is not None:
        changes.update(_totals_values(totals))
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
    gains_link = None
    if request is None and facts.described and row.recording_id is None:
        described = _described_values(facts.described)
        changes.update({name: value for name, value in described.items() if row._mapping[name] is None and value is not None})
        gains_link = changes.get("previous_execution_id")
    gains_request = request is not None and row.recording_id is None
    if gains_request:
        changes.update(_request_values(request, recording_id))
        changes["external_id"] = row.external_id or facts.external_id or request.external_id
    if not changes:
        return  # nothing new (the same lines recorded again): the row, and its change stamp, stay
    changes["change_seq"] = change_seq
    connection.execute(update(_executions).where(_executions.c.execution_id == row.execution_id).values(**changes))
    if gains_request:
        _attach_to_parent(connection, row.execution_id, request.previous_execution_id, change_seq)
    elif gains_link:
        _attach_to_parent(connection, row.execution_id, gains_link, change_seq)


_DESCRIBED = ("workflow_deployment_id", "workflow_deployment_name", "release_tag", "metadata", "inputs", "previous_execution_id")


def _described_values(described: Mapping[str, Any]) -> dict[str, Any]:
    """What an SDK stream's own context says of its request (recorder.model.facts), for the
    columns a recorded request would fill: used only where no request was recorded."""
    return {name: described.get(name) for name in _DESCRIBED}


def _totals_values(totals: SpanTotals | None) -> dict[str, Any]:
    """The span aggregate columns (defaults without totals: executemany wants equal keys)."""
    if totals is None:
        return {"span_count": 0, "prompt_cost_usd": None, "prompt_input_tokens": None, "prompt_output_tokens": None,
                "first_output_us": None, "paused_us": 0, "paused_since_us": None}
    return {
        "span_count": totals.span_count,
        "prompt_cost_usd": totals.prompt_cost_usd,
        "prompt_input_tokens": totals.prompt_input_tokens,
        "prompt_output_tokens": totals.prompt_output_tokens,
        "first_output_us": totals.first_output_us,
        "paused_us": totals.paused_us,
        "paused_since_us": totals.paused_since_us,
    }


def _request_values(request: RecordedRequest | None, recording_id: int) -> dict[str, Any]:
    """The columns a request describes (all None without one: executemany wants equal keys)."""
    if request is None:
        return dict.fromkeys(
            ("recording_id", "workflow_deployment_id", "workflow_deployment_name", "release_tag", "previous_execution_id", "metadata", "inputs")
        )
    return {
        "recording_id": recording_id,
        "workflow_deployment_id": request.workflow_deployment_id,
        "workflow_deployment_name": request.workflow_deployment_name,
        "release_tag": request.release_tag,
        "previous_execution_id": request.previous_execution_id,
        "metadata": request.metadata,
        "inputs": request.inputs,
    }


def _root_of(connection: Connection, execution_id: str) -> str | None:
    return connection.execute(
        select(_executions.c.root_execution_id).where(_executions.c.execution_id == execution_id)
    ).scalar_one_or_none()


def _attach_to_parent(connection: Connection, execution_id: str, parent_id: str | None, change_seq: int) -> None:
    """Give `execution_id` and the subtree it roots the parent's root, if the parent is recorded."""
    if not parent_id or parent_id == execution_id:
        return
    parent_root = _root_of(connection, parent_id)
    if parent_root is None or parent_root == execution_id:
        return
    connection.execute(
        update(_executions)
        .where(_executions.c.root_execution_id == execution_id)
        .values(root_execution_id=parent_root, change_seq=change_seq)
    )


def _adopt_children(connection: Connection, parent_ids: Sequence[str], change_seq: int) -> None:
    """Children recorded before their parent rooted their own subtrees; hand those over.

    One query finds them (usually none); each found child costs one UPDATE of its subtree.
    """
    children = connection.execute(
        select(_executions.c.execution_id, _executions.c.previous_execution_id).where(
            _executions.c.previous_execution_id.in_(parent_ids), _executions.c.execution_id.not_in(parent_ids)
        )
    ).all()
    for child_id, parent_id in children:
        _attach_to_parent(connection, child_id, parent_id, change_seq)
