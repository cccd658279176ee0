"""Retention: deleting whole executions older than a cut-off, in short batches, keeping the rest
of the store consistent.

The unit is the execution. Every table of recorder.store.schema, and what a prune does to it:

- `executions`: the pruned rows are deleted. Survivors keep `previous_execution_id` as recorded
  (lineage then reports a pruned ancestor as missing, like one never recorded); a survivor whose
  parent is gone roots its own subtree, the rule recorder.store.executions applies to a parent
  never recorded: `root_execution_id` of that subtree is re-pointed, stamped with the batch's
  change number.
- `events`, `node_spans`, `status_checks`: deleted by execution_id (each is keyed or indexed by it).
- `actuals`: those naming a pruned execution are deleted; feedback given only by external_id
  (execution_id NULL) is tied to no execution and stays.
- `recordings`: a recording that held a pruned execution (described it by its request, or stored
  some of its events) is deleted, with its `rejects`, once it holds no execution any more; one
  that still holds a survivor is kept with its rejects and its `event_count` lowered by the events
  deleted, so that count keeps saying how many stored events it holds (the next prune relies on
  it: `events.recording_id` has no index, so "does it hold any event still" is answered from
  the count, not by scanning events). A recording that stored no event itself and only refers to
  lines another recording stored (`stored_elsewhere`: the same body ingested again) goes once none
  of the executions it refers to is stored. Recordings that never held an execution (HTTP and
  connection errors, empty or all-junk bodies) started before the cut-off go too, unless the
  prune is narrowed to a deployment (they name none) or keeps failures. A kept recording may
  refer (`stored_elsewhere`) to lines of a pruned execution: its body can then no longer be
  rebuilt whole. A recording still `in_progress` is never touched.
- `rejects`: deleted only with their recording.
- `store_state`: after a prune that deleted anything, the store gets a new `store_id` (the cursor
  moves on, never back): deletions are invisible to a reader pulling `change_seq > N`, so every
  fleet snapshot must rebuild. The cursor is not reset to 0 as `change_cursor.renew` does after a
  wipe: surviving rows keep their stamps, and a reset would put them above the cursor again.
- `export_cursors`: kept, and moved to the new `store_id` with the store: a prune only deletes,
  so everything an export target was sent up to its cursor is still sent (a cursor left on the
  old id would make the next `recorder otlp export` send every survivor again).
- `alembic_version`: untouched.

An execution is old when `started_at_us` is before the cut-off; one without a start time (no
timed event) is dated by its recording: the one that described it, else the one that stored its
first event. Never pruned: an execution held by a recording still `in_progress` (a live stream
may still be writing it).

Each batch is one short transaction: it takes the change cursor first (as every writer does, so a
batch and a live writer's flush take turns and never deadlock), chooses up to `batch_size`
executions by a LIMIT, oldest first (a range of the started_at_us index from where the last batch
stopped, so a batch costs the same at the end of a large prune as at its start), then deletes by
id. On SQLite a pause as long as the batch follows it, so a live writer waiting for the lock gets
it (Dialect.pause_between_batches_s). A dry run makes the same choice over the whole store in one
read and counts.

What a batch costs beyond its own rows: deleting a recording makes both engines check the foreign
key `executions.recording_id`. Schema 0007 indexes it for that: without the index each deleted
recording scanned `executions` (measured at 50,000 executions: deleting 500 recordings took 1.3 s
on SQLite and 1.4 s on PostgreSQL, growing with the table; with it the whole batch took 0.06 s
and 0.18 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, exists, func, not_, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from recorder.model.vocabulary import Outcome
from recorder.store import change_cursor, export_cursors
from recorder.store.bulk import in_chunks
from recorder.store.schema import Actual, Event, Execution, NodeSpan, Recording, Reject, StatusCheck

if TYPE_CHECKING:
    from sqlalchemy import Select

    from recorder.store.dialects import Dialect

_executions = Execution.__table__
_events = Event.__table__
_spans = NodeSpan.__table__
_recordings = Recording.__table__
_rejects = Reject.__table__
_status_checks = StatusCheck.__table__
_actuals = Actual.__table__

# The most executions one batch may take: their ids go into IN lists, which SQLite bounds.
MAX_BATCH_SIZE = 10_000
# Ids per IN list where a dry run's sets can be any size.
_IN_CHUNK = 5_000
FAILED_STATUS = "REJECTED"
# The tables a prune deletes from: what a vacuum afterwards should look at.
PRUNED_TABLES = ("events", "node_spans", "executions", "status_checks", "actuals", "rejects", "recordings")


@dataclass(frozen=True, slots=True)
class PruneCriteria:
    """Which executions a prune removes: started before `cutoff_us` (epoch microseconds), of one
    deployment (name or id) when `deployment` is given, and not REJECTED when `keep_failed`."""

    cutoff_us: int
    deployment: str | None = None
    keep_failed: bool = False

    @property
    def sweeps_orphan_recordings(self) -> bool:
        """Whether recordings that never held an execution go too: they name no deployment and are
        failures (errors, junk) themselves, so only an unnarrowed prune takes them."""
        return self.deployment is None and not self.keep_failed


@dataclass(frozen=True, slots=True)
class PruneCounts:
    """Rows a prune removed (or, in a dry run, would remove), and survivors it re-pointed."""

    executions: int = 0
    events: int = 0
    spans: int = 0
    recordings: int = 0
    rejects: int = 0
    status_checks: int = 0
    actuals: int = 0
    repointed: int = 0
    batches: int = 0

    def __add__(self, other: PruneCounts) -> PruneCounts:
        return PruneCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def removed_anything(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name not in ("batches", "repointed"))


# -- choosing executions --------------------------------------------------------------------------


def _aged_at() -> ColumnElement[Any]:
    """When an execution counts as started: its own start, else its recording's (see module doc)."""
    first_event_recording = (
        select(_events.c.recording_id)
        .where(_events.c.execution_id == _executions.c.execution_id)
        .order_by(_events.c.seq)
        .limit(1)
        .scalar_subquery()
    )
    recording_start = (
        select(_recordings.c.started_at_us)
        .where(_recordings.c.id == func.coalesce(_executions.c.recording_id, first_event_recording))
        .scalar_subquery()
    )
    return func.coalesce(_executions.c.started_at_us, recording_start)


def _in_progress_recordings(connection: Connection) -> list[int]:
    return list(connection.execute(select(_recordings.c.id).where(_recordings.c.outcome == Outcome.IN_PROGRESS)).scalars())


def _narrowed(query: Select[Any], criteria: PruneCriteria, live: Sequence[int]) -> Select[Any]:
    """`query` over executions, narrowed to the deployment and the statuses the criteria prune,
    leaving out those a live recording holds (`live`: the ids of recordings in progress)."""
    if criteria.deployment is not None:
        query = query.where(
            or_(_executions.c.workflow_deployment_name == criteria.deployment, _executions.c.workflow_deployment_id == criteria.deployment)
        )
    if criteria.keep_failed:
        query = query.where(_executions.c.status != FAILED_STATUS)
    if live:
        live_ids = list(live)
        query = query.where(
            or_(_executions.c.recording_id.is_(None), _executions.c.recording_id.not_in(live_ids)),
            not_(exists().where(_events.c.execution_id == _executions.c.execution_id, _events.c.recording_id.in_(live_ids))),
        )
    return query


def _chosen(criteria: PruneCriteria, live: Sequence[int]) -> Select[Any]:
    """Every execution id the criteria select now (a dry run counts over it)."""
    return _narrowed(select(_executions.c.execution_id).where(_aged_at() < criteria.cutoff_us), criteria, live)


@dataclass(frozen=True, slots=True)
class _Resume:
    """Where the next batch starts. Batches take the oldest first: executions with a start time in
    (started_at_us, execution_id) order after the last one taken (a range of the started_at_us
    index, however large the table), then those without one, by id."""

    timed: bool = True
    started_at_us: int | None = None
    execution_id: str = ""


def _next_batch(criteria: PruneCriteria, live: Sequence[int], resume: _Resume, limit: int) -> Select[Any]:
    """(execution_id, started_at_us) of the next `limit` executions to prune after `resume`."""
    started, execution_id = _executions.c.started_at_us, _executions.c.execution_id
    query = _narrowed(select(execution_id, started), criteria, live)
    if resume.timed:
        query = query.where(started < criteria.cutoff_us)
        if resume.started_at_us is not None:
            query = query.where(or_(started > resume.started_at_us, and_(started == resume.started_at_us, execution_id > resume.execution_id)))
        return query.order_by(started, execution_id).limit(limit)
    return (
        query.where(started.is_(None), _aged_at() < criteria.cutoff_us, execution_id > resume.execution_id)
        .order_by(execution_id)
        .limit(limit)
    )


def count_prunable(engine: Engine, criteria: PruneCriteria) -> int:
    """How many executions a prune with these criteria would remove now (one read)."""
    with engine.connect() as connection:
        chosen = _chosen(criteria, _in_progress_recordings(connection)).subquery()
        return connection.execute(select(func.count()).select_from(chosen)).scalar_one()


# -- what goes with the chosen executions ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RecordingFates:
    doomed: list[int]  # recordings that hold nothing else: deleted, with their rejects
    lowered: dict[int, int]  # kept recordings: events of theirs deleted with the executions


def _recording_fates(connection: Connection, ids: Sequence[str] | Select[Any]) -> _RecordingFates:
    """What becomes of the recordings holding the executions `ids` (a list, or a query of them)."""
    held: dict[int, int] = dict(
        connection.execute(
            select(_events.c.recording_id, func.count()).where(_events.c.execution_id.in_(ids)).group_by(_events.c.recording_id)
        ).all()
    )
    described = set(
        connection.execute(
            select(_executions.c.recording_id)
            .where(_executions.c.execution_id.in_(ids), _executions.c.recording_id.is_not(None))
            .distinct()
        ).scalars()
    )
    touched = sorted(set(held) | described)
    if not touched:
        return _RecordingFates([], {})
    rows, still_described = [], set()
    for chunk in in_chunks(touched, _IN_CHUNK):
        rows.extend(
            connection.execute(
                select(_recordings.c.id, _recordings.c.event_count, _recordings.c.outcome).where(_recordings.c.id.in_(chunk))
            ).all()
        )
        still_described.update(
            connection.execute(
                select(_executions.c.recording_id)
                .where(_executions.c.recording_id.in_(chunk), _executions.c.execution_id.not_in(ids))
                .distinct()
            ).scalars()
        )
    doomed, lowered = [], {}
    for recording_id, event_count, outcome in rows:
        gone = held.get(recording_id, 0)
        if outcome != Outcome.IN_PROGRESS and recording_id not in still_described and (event_count or 0) <= gone:
            doomed.append(recording_id)
        elif gone:
            lowered[recording_id] = gone
    return _RecordingFates(doomed, lowered)


def _count_where(connection: Connection, table: Any, condition: ColumnElement[bool]) -> int:
    return connection.execute(select(func.count()).select_from(table).where(condition)).scalar_one()


def _holding_nothing(criteria: PruneCriteria, after: int, limit: int) -> Select[Any]:
    """Recordings (ids above `after`, `limit` of them) that store no event and are not live, and
    may go: those referring to lines stored elsewhere, and, when the prune sweeps them, those
    started before the cut-off. (id, started_at_us, stored_elsewhere); `_orphans_among` decides."""
    refers = _recordings.c.stored_elsewhere.is_not(None)
    may_go = or_(refers, _recordings.c.started_at_us < criteria.cutoff_us) if criteria.sweeps_orphan_recordings else refers
    return (
        select(_recordings.c.id, _recordings.c.started_at_us, _recordings.c.stored_elsewhere)
        .where(
            _recordings.c.id > after,
            _recordings.c.outcome != Outcome.IN_PROGRESS,
            func.coalesce(_recordings.c.event_count, 0) == 0,
            may_go,
        )
        .order_by(_recordings.c.id)
        .limit(limit)
    )


def _referred_executions(stored_elsewhere: dict[str, Any] | None) -> set[str]:
    """The executions whose stored lines a recording's body refers to (`stored_elsewhere`)."""
    runs = (stored_elsewhere or {}).get("events") or []
    return {run[2] for run in runs if isinstance(run, list) and len(run) == 4 and isinstance(run[2], str)}


def _orphans_among(
    connection: Connection, criteria: PruneCriteria, rows: Sequence[Any], leaving: Select[Any] | None = None
) -> list[int]:
    """Which recordings holding nothing go: one that refers to lines of executions goes once none
    of them is stored (`leaving`: executions about to go, for a dry run); one that refers to
    none (an error, an empty or all-junk body) goes when it started before the cut-off and the
    prune sweeps those."""
    # One look at executions for the lot (by the recording_id index).
    describing = select(_executions.c.recording_id).where(_executions.c.recording_id.in_([row.id for row in rows])).distinct()
    if leaving is not None:
        describing = describing.where(_executions.c.execution_id.not_in(leaving))
    described = set(connection.execute(describing).scalars()) if rows else set()
    rows = [row for row in rows if row.id not in described]
    referred = {row.id: _referred_executions(row.stored_elsewhere) for row in rows}
    wanted = sorted(set().union(*referred.values())) if referred else []
    present: set[str] = set()
    for chunk in in_chunks(wanted, _IN_CHUNK):
        query = select(_executions.c.execution_id).where(_executions.c.execution_id.in_(chunk))
        if leaving is not None:
            query = query.where(_executions.c.execution_id.not_in(leaving))
        present.update(connection.execute(query).scalars())
    doomed = []
    for row in rows:
        if referred[row.id]:
            if not referred[row.id] & present:
                doomed.append(row.id)
        elif criteria.sweeps_orphan_recordings and row.started_at_us < criteria.cutoff_us:
            doomed.append(row.id)
    return doomed


# -- the dry run ----------------------------------------------------------------------------------


def count_prune(engine: Engine, criteria: PruneCriteria) -> PruneCounts:
    """What `prune` would remove now, counted by reads alone (no lock held): nothing changes.

    Survivors re-pointed are those the prune would hand a new root: the subtrees below a chosen
    execution's surviving children.
    """
    with engine.connect() as connection:
        live = _in_progress_recordings(connection)
        chosen = _chosen(criteria, live)
        executions = connection.execute(select(func.count()).select_from(chosen.subquery())).scalar_one()
        fates = _recording_fates(connection, chosen)
        orphans: list[int] = []
        after = 0
        while rows := connection.execute(_holding_nothing(criteria, after, MAX_BATCH_SIZE)).all():
            orphans.extend(_orphans_among(connection, criteria, rows, chosen))
            after = rows[-1].id
        gone_recordings = sorted(set(fates.doomed) | set(orphans))
        repointed = connection.execute(select(func.count()).select_from(_subtrees_below(chosen, chosen).subquery())).scalar_one()
        return PruneCounts(
            executions=executions,
            events=_count_where(connection, _events, _events.c.execution_id.in_(chosen)),
            spans=_count_where(connection, _spans, _spans.c.execution_id.in_(chosen)),
            recordings=len(gone_recordings),
            rejects=sum(_count_where(connection, _rejects, _rejects.c.recording_id.in_(chunk)) for chunk in in_chunks(gone_recordings, _IN_CHUNK)),
            status_checks=_count_where(connection, _status_checks, _status_checks.c.execution_id.in_(chosen)),
            actuals=_count_where(connection, _actuals, _actuals.c.execution_id.in_(chosen)),
            repointed=repointed,
            batches=0,
        )


# -- lineage ----------------------------------------------------------------------------------------


def _subtrees_below(pruned: Sequence[str] | Select[Any], excluded: Sequence[str] | Select[Any] | None = None) -> Select[Any]:
    """(execution_id, new_root) of every survivor below a pruned execution: a child whose parent
    is pruned roots its own subtree, and each of its descendants takes it as root.

    One recursive query down `previous_execution_id` (indexed). UNION, not UNION ALL, ends the walk
    on a cycle in bad data. `excluded` (a dry run: the executions still present that would go)
    leaves those out of the survivors.
    """
    start = select(_executions.c.execution_id, _executions.c.execution_id.label("new_root")).where(
        _executions.c.previous_execution_id.in_(pruned),
        _executions.c.previous_execution_id != _executions.c.execution_id,
    )
    if excluded is not None:
        start = start.where(_executions.c.execution_id.not_in(excluded))
    subtree = start.cte("subtree", recursive=True)
    step = select(_executions.c.execution_id, subtree.c.new_root).join_from(
        _executions, subtree, _executions.c.previous_execution_id == subtree.c.execution_id
    )
    if excluded is not None:
        step = step.where(_executions.c.execution_id.not_in(excluded))
    subtree = subtree.union(step)
    return (
        select(subtree.c.execution_id, subtree.c.new_root)
        .join_from(subtree, _executions, _executions.c.execution_id == subtree.c.execution_id)
        .where(_executions.c.root_execution_id != subtree.c.new_root)
    )


def _repoint_survivors(connection: Connection, dialect: Dialect, pruned: Sequence[str], change_seq: int) -> list[str]:
    """Hand each survivor below the just-deleted executions its new root, in one UPDATE; returns
    the survivors re-pointed."""
    dialect.prefer_index_walks(connection)
    moves = _subtrees_below(pruned).subquery("moves")
    return list(
        connection.execute(
            update(_executions)
            .where(_executions.c.execution_id == moves.c.execution_id)
            .values(root_execution_id=moves.c.new_root, change_seq=change_seq)
            .returning(_executions.c.execution_id)
        ).scalars()
    )


# -- the prune --------------------------------------------------------------------------------------


def prune(
    engine: Engine,
    dialect: Dialect,
    criteria: PruneCriteria,
    *,
    batch_size: int = 500,
    on_batch: Callable[[PruneCounts], None] | None = None,
) -> PruneCounts:
    """Delete the executions the criteria choose, `batch_size` per transaction; `on_batch` is told
    the running totals after each. Returns the totals.

    `repointed` counts survivors, not updates: a survivor handed a new root by one batch may be
    pruned by a later one (its parent's batch ended just before it), or handed another root.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, not {batch_size}")
    totals = PruneCounts()
    repointed: set[str] = set()
    resume = _Resume()
    while True:
        started = time.perf_counter()
        batch = _prune_batch(engine, dialect, criteria, batch_size, resume)
        time.sleep(dialect.pause_between_batches_s(time.perf_counter() - started))
        if batch is None:
            if not resume.timed:
                break
            resume = _Resume(timed=False)  # then the executions dated by their recording
            continue
        counts, pruned, moved, resume = batch
        repointed.difference_update(pruned)
        repointed.update(moved)
        totals = replace(totals + counts, repointed=len(repointed))
        if on_batch is not None:
            on_batch(totals)
    after_recording = 0
    while True:
        started = time.perf_counter()
        swept = _sweep_orphans(engine, criteria, batch_size, after_recording)
        time.sleep(dialect.pause_between_batches_s(time.perf_counter() - started))
        if swept is None:
            break
        counts, after_recording = swept
        totals += counts
        if on_batch is not None and counts.recordings:
            on_batch(totals)
    if totals.removed_anything:
        _renew_identity(engine)
    return totals


def _prune_batch(
    engine: Engine, dialect: Dialect, criteria: PruneCriteria, batch_size: int, resume: _Resume
) -> tuple[PruneCounts, list[str], list[str], _Resume] | None:
    """One transaction: choose up to `batch_size` executions after `resume`, delete them and what
    goes with them. Returns the counts, the ids deleted, the survivors re-pointed and where the
    next batch starts; None when nothing is left to choose."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            # The cursor first, as every writer takes it: batches and live flushes take turns.
            change_seq = change_cursor.advance(connection)
            live = _in_progress_recordings(connection)
            rows = connection.execute(_next_batch(criteria, live, resume, batch_size)).all()
            if not rows:
                transaction.rollback()  # nothing changed: the cursor does not move either
                return None
            ids = [row.execution_id for row in rows]
            fates = _recording_fates(connection, ids)
            counts = PruneCounts(
                status_checks=_delete(connection, _status_checks, _status_checks.c.execution_id.in_(ids)),
                actuals=_delete(connection, _actuals, _actuals.c.execution_id.in_(ids)),
                spans=_delete(connection, _spans, _spans.c.execution_id.in_(ids)),
                events=_delete(connection, _events, _events.c.execution_id.in_(ids)),
                executions=_delete(connection, _executions, _executions.c.execution_id.in_(ids)),
                batches=1,
            )
            counts += _delete_recordings(connection, fates.doomed)
            for recording_id, gone in sorted(fates.lowered.items()):
                connection.execute(
                    update(_recordings).where(_recordings.c.id == recording_id).values(event_count=_recordings.c.event_count - gone)
                )
            moved = _repoint_survivors(connection, dialect, ids, change_seq)
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
    return counts, ids, moved, _Resume(resume.timed, rows[-1].started_at_us, rows[-1].execution_id)


def _sweep_orphans(engine: Engine, criteria: PruneCriteria, batch_size: int, after: int) -> tuple[PruneCounts, int] | None:
    """One transaction over up to `batch_size` recordings holding nothing (ids above `after`):
    deletes those `_orphans_among` says go. Returns the counts and the last id looked at (None:
    none left to look at)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            change_cursor.advance(connection)
            rows = connection.execute(_holding_nothing(criteria, after, batch_size)).all()
            doomed = _orphans_among(connection, criteria, rows)
            if not doomed:
                transaction.rollback()  # nothing changed: the cursor does not move either
                return (PruneCounts(), rows[-1].id) if rows else None
            counts = _delete_recordings(connection, doomed) + PruneCounts(batches=1)
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
    return counts, rows[-1].id


def _delete(connection: Connection, table: Any, condition: ColumnElement[bool]) -> int:
    return max(connection.execute(table.delete().where(condition)).rowcount, 0)


def _delete_recordings(connection: Connection, recording_ids: Sequence[int]) -> PruneCounts:
    if not recording_ids:
        return PruneCounts()
    ids = list(recording_ids)
    rejects = _delete(connection, _rejects, _rejects.c.recording_id.in_(ids))
    return PruneCounts(rejects=rejects, recordings=_delete(connection, _recordings, _recordings.c.id.in_(ids)))


def _renew_identity(engine: Engine) -> None:
    """A new store_id, the cursor moved on (see module doc): every reader's copy rebuilds."""
    with engine.begin() as connection:
        old, new = change_cursor.reidentify(connection)
        export_cursors.follow_store(connection, old, new)
