"""Writing one consumed stream into the store, in small durable batches.

The same writer serves bulk ingest (large batches, no time bound) and the live consumer (a few
dozen events or a fraction of a second, whichever comes first), so both paths store identical rows.
What it commits is prepared (recorder.store.prepare) either here or in the parse stage's process;
a commit is then only database work: the events, the rejects, the executions they touch and their
spans, in one transaction. A process killed between batches loses at most the open batch; what
was committed stays, and the recording is left `in_progress` with its lines so far.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from recorder.model.events import ParsedEvent, RejectedLine
from recorder.model.facts import ExecutionFacts
from recorder.model.lines import RawLine
from recorder.model.request import RecordedRequest
from recorder.model.spans import SpanTotals
from recorder.model.timestamps import now_us
from recorder.model.vocabulary import Outcome
from recorder.store import change_cursor
from recorder.store.body_blocks import Block, BodyBlocks
from recorder.store.bulk import InsertedEvents, insert_events
from recorder.store.event_rows import EXECUTION_ID, POSITION, RAW, RECEIVED_AT_US, SEQ, stamped
from recorder.store.executions import stored_executions, sync_executions
from recorder.store.prepare import LinePreparer, ParsedCallback, PreparedBatch, PreparerState
from recorder.store.span_upkeep import SpanUpkeep
from recorder.store.schema import Event, Execution, Recording, Reject

if TYPE_CHECKING:
    from collections.abc import Callable

    from recorder.store.dialects import Dialect


# A recording that stored this many events has changed the tables' sizes enough for the planner to
# need new statistics (see Dialect.refresh_statistics).
LARGE_LOAD_EVENTS = 100_000


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """When buffered lines are committed: after `max_events` lines or `max_delay_s` seconds."""

    max_events: int = 50
    max_delay_s: float | None = 0.1

    @classmethod
    def bulk(cls) -> FlushPolicy:
        return cls(max_events=50_000, max_delay_s=None)


@dataclass(slots=True)
class RecordingResult:
    """What one recorded stream added to the store."""

    recording_id: int
    outcome: str
    lines: int
    events_stored: int
    duplicates: int
    rejects: int
    execution_ids: list[str] = field(default_factory=list)
    # Set when the identical body was recorded before; this run then added nothing.
    already_recorded_as: int | None = None


class RecordingWriter:
    """Stores the lines of one stream as they come. Use `Store.writer(...)` to make one.

    Lines reach it three ways: one at a time (`add`), as blocks of a body it cuts and hashes
    (`cut`, then `add_block`), or as batches prepared elsewhere from its blocks (`hand_over`,
    then `add_prepared`: recorder.stream.parse_stage). However they come, a commit stores the
    same rows (recorder.store.prepare).
    """

    def __init__(
        self,
        engine: Engine,
        dialect: Dialect,
        *,
        source: str,
        request: RecordedRequest | None,
        policy: FlushPolicy,
        on_commit: Callable[[list[int]], None] | None = None,
        spans: bool = True,
        scrub: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._engine = engine
        # The store's own span fold, for the executions a draft does not fit (recorder.store.span_drafts).
        # Off only to measure what keeping spans costs (bench/): the store's spans then lag its events.
        self._spans = SpanUpkeep(dialect) if spans else None
        self._undrafted: set[str] = set()
        self._dialect = dialect
        # Told the received_at_us of every line just committed (benchmarks measure commit delay).
        self._on_commit = on_commit
        self._request = request
        self._policy = policy
        self._blocks = BodyBlocks(scrub)
        self._batch = PreparedBatch(drafts={} if spans else None)  # prepared, not committed yet
        self._reject_rows: list[dict[str, Any]] = []
        self._facts: dict[str, ExecutionFacts] = {}  # every execution of the stream, in order
        self._blank_lines: list[list[Any]] = []
        # Lines of this body stored under another recording (see `recordings.stored_elsewhere`).
        self._elsewhere_events: list[list[Any]] = []
        self._elsewhere_rejects: list[list[int]] = []
        self._oldest_pending: float | None = None
        self._lines = self._events = self._duplicates = self._rejects = 0
        self._ends_with_newline = True
        self._finished = False
        with engine.begin() as connection:
            self.recording_id: int = connection.execute(
                insert(Recording).values(
                    source=source,
                    request=None if request is None else request.body,
                    started_at_us=now_us(),
                    outcome=Outcome.IN_PROGRESS,
                    line_count=0,
                    event_count=0,
                    duplicate_count=0,
                    reject_count=0,
                    ends_with_newline=True,
                    heartbeat_at_us=now_us(),
                )
            ).inserted_primary_key[0]
        # Prepares the lines here until `hand_over` gives its state to a parse stage elsewhere.
        self._preparer: LinePreparer | None = LinePreparer(PreparerState(self.recording_id, spans=spans))

    @property
    def pending(self) -> int:
        """Lines received but not yet committed."""
        prepared = len(self._batch.event_rows) + len(self._reject_rows)
        return prepared + (self._preparer.pending if self._preparer is not None else 0)

    def add(self, line: RawLine, received_at_us: int | None = None, *, autoflush: bool = True) -> ParsedEvent | RejectedLine | None:
        """Take one line; commits a batch when the flush policy says so (unless `autoflush` is off,
        for a caller that decides itself). Returns what the line was."""
        received_at_us = received_at_us if received_at_us is not None else now_us()
        block = self._blocks.whole(line.data + b"\n" if line.terminated else line.data, received_at_us)
        parsed = self._local_preparer().add_line(line, received_at_us, block.block_id, len(block.data))
        self._arrived(autoflush)
        return parsed

    def cut(self, chunk: bytes, received_at_us: int) -> Block | None:
        """The lines `chunk` completes as the body's next block, hashed (None while none is complete).
        Safe to call from one other thread than the one that commits."""
        return self._blocks.cut(chunk, received_at_us)

    @property
    def body_bytes(self) -> int:
        """Bytes of the body cut into blocks so far."""
        return self._blocks.size

    def cut_end(self, received_at_us: int | None = None) -> Block | None:
        """The body's unterminated last line as a block, if it has one."""
        return self._blocks.end(received_at_us if received_at_us is not None else now_us())

    def add_block(self, block: Block, on_parsed: ParsedCallback | None = None, *, autoflush: bool = True) -> None:
        """Take a block from `cut`; `on_parsed` is told what each of its lines was."""
        self._local_preparer().add_block(block, on_parsed)
        self._arrived(autoflush)

    def add_parsed(self, event: ParsedEvent, received_at_us: int) -> None:
        """Take a line parsed elsewhere (the ingest benchmark times the store apart from the
        parser); never flushes. The body's hash and framing then cover only what `add` took."""
        self._local_preparer().add_parsed(event, received_at_us)
        self._arrived(autoflush=False)

    def hand_over(self) -> PreparerState:
        """Stop preparing lines here: what a parse stage continues from. From now on lines come
        as `add_prepared` batches, prepared from this writer's blocks in order."""
        preparer = self._local_preparer()
        self._absorb(preparer.take())
        self._preparer = None
        return preparer.state

    def add_prepared(self, batch: PreparedBatch, *, autoflush: bool = True) -> None:
        """Take lines prepared elsewhere from this writer's blocks (see `hand_over`)."""
        if self._preparer is not None:
            raise RuntimeError("this writer prepares its lines itself: hand_over() first")
        self._absorb(batch)
        self._arrived(autoflush)

    def _local_preparer(self) -> LinePreparer:
        if self._preparer is None:
            raise RuntimeError("this writer's lines are prepared by a parse stage now (see hand_over)")
        return self._preparer

    def _arrived(self, autoflush: bool) -> None:
        if self._oldest_pending is None and self.pending:
            self._oldest_pending = time.monotonic()
        if autoflush and (self.batch_full or self.flush_due()):
            self.flush()

    def _absorb(self, batch: PreparedBatch) -> None:
        """Add a prepared batch to what the next commit stores, keying its rejects by the body's hash."""
        for reject in batch.rejects:
            line = reject.line
            self._reject_rows.append(
                {
                    "recording_id": self.recording_id,
                    "position": line.position,
                    "reason": line.reason,
                    "raw": line.raw,
                    "raw_bytes": line.raw_bytes,
                    "received_at_us": reject.received_at_us,
                    # The body up to and including this line: the same line of the same body.
                    "line_key": self._blocks.line_key(reject.block_id, reject.end),
                }
            )
        self._blank_lines += batch.blank_lines
        self._facts.update(batch.facts)
        self._batch.then(batch)
        self._lines = max(self._lines, batch.lines)
        self._ends_with_newline = batch.ends_with_newline
        self._blocks.release_through(batch.last_block_id)

    @property
    def batch_full(self) -> bool:
        return self.pending >= self._policy.max_events

    def due_in_s(self) -> float | None:
        """Seconds until the pending lines must be committed (None: nothing pending, or no bound)."""
        if self._oldest_pending is None or self._policy.max_delay_s is None:
            return None
        return max(self._policy.max_delay_s - (time.monotonic() - self._oldest_pending), 0.0)

    def flush_due(self) -> bool:
        """Whether the oldest uncommitted line has waited longer than the policy allows."""
        if self._oldest_pending is None or self._policy.max_delay_s is None:
            return False
        return time.monotonic() - self._oldest_pending >= self._policy.max_delay_s

    def flush(self) -> None:
        """Commit everything received so far, in one transaction: the events, the rejects, the
        executions they touch, and those executions' node spans, all stamped with one change."""
        if self._preparer is not None:  # also with no line pending: blank lines still count
            self._absorb(self._preparer.take())
        batch, touched = self._batch, self._batch.facts
        with self._engine.begin() as connection:
            change_seq = change_cursor.advance(connection)
            rows = stamped(batch.event_rows, change_seq)
            inserted = insert_events(self._dialect, connection, rows)
            self._events += inserted.new.total()
            self._duplicates += len(inserted.duplicates)
            self._note_events_elsewhere(inserted.duplicates)
            self._store_rejects(connection, self._reject_rows + [self._conflict_reject(row) for row in inserted.conflicts])
            if touched:
                stored = stored_executions(connection, list(touched))
                totals = self._keep_spans(connection, batch, rows, inserted, stored, change_seq) if self._spans is not None else {}
                sync_executions(
                    connection, self._dialect, list(touched.values()), stored=stored, totals=totals,
                    new_events=inserted.new, recording_id=self.recording_id, request=self._request, change_seq=change_seq,
                )
            connection.execute(update(Recording).where(Recording.id == self.recording_id).values(**self._progress()))
        if self._on_commit is not None:
            self._on_commit([row[RECEIVED_AT_US] for row in batch.event_rows] + [row["received_at_us"] for row in self._reject_rows])
        if self._spans is not None:
            self._spans.forget([execution_id for execution_id, facts in touched.items() if facts.terminal_state is not None])
        self._batch = PreparedBatch(drafts={} if self._spans is not None else None)
        self._reject_rows = []
        self._oldest_pending = None

    def _keep_spans(
        self, connection: Any, batch: PreparedBatch, rows: list[tuple[Any, ...]], inserted: InsertedEvents,
        stored: dict[str, Any], change_seq: int,
    ) -> dict[str, SpanTotals]:
        """Write the touched executions' spans: the draft where it is exactly what the store must
        hold (every event it folded, and only those, is stored, all by this stream), else the
        store's own fold. Returns each execution's span totals."""
        assert self._spans is not None
        skipped = {execution_id for _, execution_id, _ in inserted.duplicates} | {row[EXECUTION_ID] for row in inserted.conflicts}
        drafts = batch.drafts or {}
        totals: dict[str, SpanTotals] = {}
        drafted: list[tuple[Any, ...]] = []
        for execution_id in batch.facts:
            draft = drafts.get(execution_id)
            before = stored.get(execution_id)
            if (
                draft is not None
                and execution_id not in self._undrafted
                and draft.count_before == (before.event_count if before is not None else 0)
                and execution_id not in skipped
            ):
                totals[execution_id] = draft.totals
                drafted.extend(row + (change_seq,) for row in draft.rows.values())
            else:
                # Once folded by the store, always: the draft no longer describes what is stored.
                self._undrafted.add(execution_id)
        if len(totals) < len(batch.facts):
            own = [row for row in _new_rows(rows, inserted) if row[EXECUTION_ID] in self._undrafted]
            totals.update(self._spans.fold(connection, own, stored, change_seq))
        self._dialect.upsert_spans(connection, drafted)
        return totals

    def _store_rejects(self, connection: Any, rows: list[dict[str, Any]]) -> None:
        """Insert rejected lines; one already stored (the same body recorded before) is referred to."""
        self._rejects += len(rows)
        if not rows or self._dialect.insert_ignore(connection, Reject.__table__, rows) == len(rows):
            return
        by_key = {row["line_key"]: row["position"] for row in rows}
        stored = connection.execute(
            select(Reject.id, Reject.recording_id, Reject.position, Reject.line_key).where(Reject.line_key.in_(list(by_key)))
        )
        for reject_id, recording_id, position, line_key in stored:
            if (recording_id, position) != (self.recording_id, by_key[line_key]):
                self._elsewhere_rejects.append([by_key[line_key], reject_id])

    def _conflict_reject(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """An event line whose place in its execution holds a different stored line: kept verbatim."""
        execution_id, seq, raw = row[EXECUTION_ID], row[SEQ], row[RAW]
        return {
            "recording_id": self.recording_id,
            "position": row[POSITION],
            "reason": f"execution {execution_id} already has a different event #{seq} stored; this line is kept here verbatim",
            "raw": raw,
            "raw_bytes": None,
            "received_at_us": row[RECEIVED_AT_US],
            "line_key": hashlib.sha256(f"{execution_id}\0{seq}\0{raw}".encode()).hexdigest(),
        }

    def _note_events_elsewhere(self, duplicates: list[tuple[int, str, int]]) -> None:
        """Remember where duplicate lines are stored, as runs of consecutive lines and seqs."""
        runs = self._elsewhere_events
        for position, execution_id, seq in sorted(duplicates):
            if runs:
                start, count, run_execution, run_seq = runs[-1]
                if run_execution == execution_id and position == start + count and seq == run_seq + count:
                    runs[-1][1] += 1
                    continue
            runs.append([position, 1, execution_id, seq])

    def finish(
        self,
        outcome: str = Outcome.COMPLETE,
        *,
        http_status: int | None = None,
        error: str | None = None,
        started_at_us: int | None = None,
        ended_at_us: int | None = None,
    ) -> RecordingResult:
        """Commit the rest and say how the stream ended. `started_at_us` and `ended_at_us` give the
        times of an exchange recorded earlier (a cassette) instead of the writer's own."""
        if self._finished:
            raise RuntimeError("this recording is already finished")
        self.flush()
        self._finished = True
        unfinished = [facts.execution_id for facts in self._facts.values() if facts.terminal_state is None]
        if outcome == Outcome.COMPLETE and (unfinished or not self._facts):
            # A body that ends before its workflow's terminal event was cut, however cleanly it closed.
            outcome = Outcome.CUT
            missing = f"execution {unfinished[0]}" if unfinished else "any execution"
            error = error or f"the stream ended before the terminal WORKFLOW event of {missing}"
        values: dict[str, Any] = {"outcome": outcome, "ended_at_us": now_us() if ended_at_us is None else ended_at_us, "http_status": http_status, "error": error}
        if started_at_us is not None:
            values["started_at_us"] = started_at_us
        result = RecordingResult(
            recording_id=self.recording_id,
            outcome=outcome,
            lines=self._lines,
            events_stored=self._events,
            duplicates=self._duplicates,
            rejects=self._rejects,
            execution_ids=list(self._facts),
        )
        if self._has_body(outcome):
            values["body_sha256"] = self._blocks.hexdigest()
        if self._events >= LARGE_LOAD_EVENTS:
            with self._engine.begin() as connection:
                self._dialect.refresh_statistics(connection)
        try:
            with self._engine.begin() as connection:
                connection.execute(update(Recording).where(Recording.id == self.recording_id).values(**values))
        except IntegrityError:
            result.already_recorded_as = self._fold_into_earlier_recording()
            result.rejects = 0
        return result

    def _has_body(self, outcome: str) -> bool:
        """Whether the recording received a body that identifies it. Identical bodies are one
        recording; HTTP and connection errors (whose body, if any, is in `error`) and empty
        bodies are each their own exchange, with their own status, error and request."""
        return self._lines > 0 and outcome not in (Outcome.HTTP_ERROR, Outcome.CONNECTION_ERROR)

    def _progress(self) -> dict[str, Any]:
        return {
            "line_count": self._lines,
            "event_count": self._events,
            "duplicate_count": self._duplicates,
            "reject_count": self._rejects,
            "blank_lines": self._blank_lines or None,
            "stored_elsewhere": self._stored_elsewhere(),
            "ends_with_newline": self._ends_with_newline,
            "heartbeat_at_us": now_us(),
        }

    def _stored_elsewhere(self) -> dict[str, Any] | None:
        if not self._elsewhere_events and not self._elsewhere_rejects:
            return None
        return {"events": self._elsewhere_events, "rejects": self._elsewhere_rejects}

    def heartbeat(self) -> None:
        """Say the recorder is alive while a stream is quiet (see `recordings.heartbeat_at_us`)."""
        with self._engine.begin() as connection:
            connection.execute(update(Recording).where(Recording.id == self.recording_id).values(heartbeat_at_us=now_us()))

    def _fold_into_earlier_recording(self) -> int:
        """The same body was recorded before: keep that recording, give it this request if it had
        none, hand it what this one stored (a concurrent ingest of the same body may have stored
        some of the lines first), and remove this one."""
        moved_events = select(func.count()).select_from(Event).where(Event.recording_id == self.recording_id).scalar_subquery()
        with self._engine.begin() as connection:
            change_seq = change_cursor.advance(connection)
            earlier = connection.execute(
                select(Recording.id, Recording.request).where(Recording.body_sha256 == self._blocks.hexdigest())
            ).one()
            changes: dict[str, Any] = {
                "event_count": Recording.event_count + moved_events,
                "duplicate_count": Recording.duplicate_count - moved_events,
            }
            if earlier.request is None and self._request is not None:
                changes["request"] = self._request.body
            connection.execute(update(Recording).where(Recording.id == earlier.id).values(**changes))
            connection.execute(update(Event).where(Event.recording_id == self.recording_id).values(recording_id=earlier.id))
            held_by_earlier = select(Reject.position).where(Reject.recording_id == earlier.id).scalar_subquery()
            connection.execute(
                Reject.__table__.delete().where(Reject.recording_id == self.recording_id, Reject.position.in_(held_by_earlier))
            )
            connection.execute(update(Reject).where(Reject.recording_id == self.recording_id).values(recording_id=earlier.id))
            connection.execute(
                update(Execution)
                .where(Execution.recording_id == self.recording_id)
                .values(recording_id=earlier.id, change_seq=change_seq)
            )
            connection.execute(Recording.__table__.delete().where(Recording.id == self.recording_id))
        return earlier.id



def _new_rows(rows: list[tuple[Any, ...]], inserted: InsertedEvents) -> list[tuple[Any, ...]]:
    """The rows this flush stored (skipping lines already stored, or conflicting with them)."""
    if not inserted.duplicates and not inserted.conflicts:
        return rows
    skipped = {position for position, _, _ in inserted.duplicates} | {row[POSITION] for row in inserted.conflicts}
    return [row for row in rows if row[POSITION] not in skipped]
