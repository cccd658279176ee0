"""`Store`: one recorder database, and the one contract everything outside the store reads and
writes it through.

Only the store names tables or issues SQL against them: analytics, replay, the API, the CLI, the
tests and the benchmarks call these methods. Each method is the same on both engines; what the
engines do differently is in the store's `Dialect` (recorder.store.dialects), picked when the
engine is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from recorder.model.request import RecordedRequest
from recorder.model.vocabulary import Outcome
from recorder.store import analytics_reads, change_cursor, queries, reconciliation, recording_lines
from recorder.store import export_cursors
from recorder.store import engine as _engine
from recorder.store.analytics_reads import EventRow, ExecutionRow, LinkRow
from recorder.store.change_cursor import ChangeState
from recorder.store.dialects import Dialect, dialect_of
from recorder.store.engine import resolve_url
from recorder.store.errors import StoreUnavailable
from recorder.store.export_cursors import ExportCursorRow, ExportDetails
from recorder.store.queries import ExecutionFilter
from recorder.store.schema import Actual, Base, Event, Execution, NodeSpan, Recording, Reject, StatusCheck
from recorder.store.writer import FlushPolicy, RecordingWriter

if TYPE_CHECKING:
    import pyarrow as pa

    from recorder.store.retention import PruneCounts, PruneCriteria

# Parents first, so a dialect that deletes table by table can go in reverse.
_TABLES = tuple(table.name for table in Base.metadata.sorted_tables)


class Store:
    """A recorder database. `Store(url)` opens it, creating the schema in an empty database.

    `create_schema=False` (what read-only commands use) never creates anything: a database without
    the schema, or a SQLite file that is not there, raises NoStore. A database holding another
    application's tables gets the recorder's beside them only with `allow_other_tables=True`.
    `ensure_schema=False` skips every check (for `migrate` and tests).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        ensure_schema: bool = True,
        create_schema: bool = True,
        allow_other_tables: bool = False,
    ) -> None:
        self.url = resolve_url(url)
        self.engine: Engine = _engine.create_store_engine(self.url)
        self.backend: Dialect = dialect_of(self.engine)
        if ensure_schema:
            try:
                _engine.ensure_schema(self.engine, create=create_schema, allow_other_tables=allow_other_tables)
            except BaseException:
                self.engine.dispose()
                raise

    @property
    def dialect(self) -> str:
        """The engine's name: `sqlite` or `postgresql`."""
        return self.backend.name

    # -- the schema -------------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> str | None:
        """Migrate to `revision`; returns the revision the database is at afterwards."""
        _engine.upgrade(self.engine, revision)
        return self.revision()

    def migrate(self, *, allow_other_tables: bool = False) -> tuple[str | None, str | None]:
        """Create the schema or migrate it to head, as `recorder init` does; (before, after) revisions."""
        return _engine.migrate(self.engine, allow_other_tables=allow_other_tables)

    def revision(self) -> str | None:
        return _engine.current_revision(self.engine)

    def wipe(self) -> None:
        """Empty every recorder table, keeping the schema (and its revision); ids start again."""
        with self.engine.begin() as connection:
            self.backend.wipe(connection, _TABLES)
            change_cursor.renew(connection)

    def change_state(self) -> ChangeState:
        """The store's identity and change cursor (recorder.store.change_cursor): what a reader
        keeping a copy compares against to know whether, and from where, to refresh it."""
        return change_cursor.current(self.engine)

    # -- writes -----------------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise StoreUnavailable now if a recording could not be opened: `recorder record` asks
        before it executes a workflow, because an execution that cannot be recorded should not run.

        It inserts a recordings row and rolls it back; the row's explicit id leaves PostgreSQL's
        sequence untouched, so recording ids stay dense.
        """
        from sqlalchemy import insert
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine.connect() as connection:
                transaction = connection.begin()
                try:
                    connection.execute(
                        insert(Recording).values(id=-1, source="write check", started_at_us=0, outcome=Outcome.IN_PROGRESS)
                    )
                finally:
                    transaction.rollback()
        except DBAPIError as exc:
            raise StoreUnavailable(f"cannot record into {_engine.display_url(self.url)}: {_engine.database_reason(exc)}") from exc

    def writer(
        self,
        *,
        source: str,
        request: dict | RecordedRequest | None = None,
        policy: FlushPolicy | None = None,
        on_commit: Callable[[list[int]], None] | None = None,
        spans: bool = True,
        scrub: Callable[[bytes], bytes] | None = None,
    ) -> RecordingWriter:
        """A writer for one stream; call `add` per line (or `cut` and `add_block` per read) and
        `finish` at the end. `scrub` rewrites each block of whole lines before it is hashed and
        stored (a live stream's secrets). `spans=False` leaves node_spans and the span aggregates
        behind the events: only benchmarks want that."""
        if isinstance(request, dict):
            request = RecordedRequest.from_body(request)
        return RecordingWriter(
            self.engine, self.backend, source=source, request=request, policy=policy or FlushPolicy(), on_commit=on_commit,
            spans=spans, scrub=scrub,
        )

    # -- point reads ------------------------------------------------------------------------------

    def executions(self, where: ExecutionFilter = ExecutionFilter()) -> Sequence[Execution]:
        return queries.list_executions(self.engine, where)

    def execution(self, execution_id: str) -> Execution | None:
        return queries.get_execution(self.engine, execution_id)

    def resolve_execution_id(self, id_or_prefix: str) -> str | None:
        """The full id for an id or a unique prefix of one; None when nothing (or several) match."""
        if self.execution(id_or_prefix) is not None:
            return id_or_prefix
        matches = self.find_execution_ids(id_or_prefix, limit=2)
        return matches[0] if len(matches) == 1 else None

    def find_execution_ids(self, prefix: str, limit: int = 5) -> list[str]:
        """Ids starting with `prefix`, in id order (the same candidates on every run and engine)."""
        return queries.find_execution_ids(self.engine, prefix, limit)

    def events(self, execution_id: str) -> Sequence[Event]:
        return queries.events_of(self.engine, execution_id)

    def spans(self, execution_id: str) -> Sequence[NodeSpan]:
        """The node spans kept for the execution at ingest (recorder.store.span_upkeep)."""
        return queries.spans_of(self.engine, execution_id)

    def recording(self, recording_id: int) -> Recording | None:
        return queries.get_recording(self.engine, recording_id)

    def recordings_of(self, execution_id: str) -> Sequence[Recording]:
        return queries.recordings_of(self.engine, execution_id)

    def rejects(self, recording_ids: Sequence[int] | None = None, limit: int | None = None) -> Sequence[Reject]:
        return queries.rejects_of(self.engine, recording_ids, limit)

    # -- facts beside the events ------------------------------------------------------------------

    def add_status_check(self, **values: Any) -> int:
        """Record a status-endpoint answer (StatusCheck columns); returns its id."""
        return reconciliation.add_status_check(self.engine, **values)

    def status_checks_of(self, execution_ids: Sequence[str]) -> dict[str, list[StatusCheck]]:
        return reconciliation.status_checks_of(self.engine, execution_ids)

    def add_actual(self, **values: Any) -> int:
        """Record submitted feedback (Actual columns); returns its id."""
        return reconciliation.add_actual(self.engine, **values)

    def actuals_of(self, execution_id: str) -> Sequence[Actual]:
        return reconciliation.actuals_of(self.engine, execution_id)

    def incomplete_execution_ids(self, limit: int | None = None) -> list[str]:
        return reconciliation.incomplete_execution_ids(self.engine, limit)

    def mark_abandoned_recordings(self, *, silent_for_s: float) -> list[int]:
        return reconciliation.mark_abandoned_recordings(self.engine, silent_for_s=silent_for_s)

    # -- what analytics reads ---------------------------------------------------------------------

    def execution_row(self, execution_id: str) -> ExecutionRow | None:
        return analytics_reads.execution_row(self.engine, execution_id)

    def execution_events(self, execution_id: str) -> list[EventRow]:
        return analytics_reads.execution_events(self.engine, execution_id)

    def lineage_family(self, execution_id: str) -> list[LinkRow]:
        return analytics_reads.lineage_family(self.engine, self.backend, execution_id)

    def pull_executions(self, after: int | None = None) -> pa.Table:
        """Execution rows with their span aggregates, as Arrow: all, or those written after cursor
        `after` (see `change_state`)."""
        return analytics_reads.pull_executions(self.engine, self.backend, after)

    def pull_spans(self, after: int | None = None, *, expected_rows: int | None = None) -> pa.Table:
        """Node span rows as Arrow: all, or those written after cursor `after`."""
        return analytics_reads.pull_spans(self.engine, self.backend, after, expected_rows=expected_rows)

    def pull_events(self, *, expected_rows: int | None = None) -> pa.Table:
        """Every event's indexed columns as Arrow (never the verbatim text)."""
        return analytics_reads.pull_events(self.engine, self.backend, expected_rows=expected_rows)

    # -- what replay reads ------------------------------------------------------------------------

    def recordings_referring_to(self, execution_id: str, excluding: Sequence[int] = ()) -> list[Recording]:
        return recording_lines.recordings_referring_to(self.engine, execution_id, excluding)

    def recording_lines(
        self, recording: Recording, execution_id: str
    ) -> tuple[list[tuple[int, str, int, int]], list[tuple[int, str, bytes | None, int]]]:
        return recording_lines.recording_lines(self.engine, recording.id, recording.line_count, execution_id)

    def event_runs(self, runs: Sequence[tuple[str, int, int]]) -> list[list[tuple[int, str]]]:
        return recording_lines.event_runs(self.engine, runs)

    def reject_lines(self, reject_ids: Sequence[int]) -> list[tuple[int, str, bytes | None]]:
        return recording_lines.reject_lines(self.engine, reject_ids)

    def execution_requests(self) -> list[tuple[str, dict[str, Any] | None]]:
        return recording_lines.execution_requests(self.engine)

    # -- what an OpenTelemetry export reads, and its cursor (recorder.store.export_cursors) ---------

    def export_cursor(self, target: str) -> ExportCursorRow | None:
        """How far `target` (an export endpoint, without credentials) was sent this store's executions."""
        return export_cursors.read_cursor(self.engine, target)

    def save_export_cursor(self, target: str, *, store_id: str, change_seq: int, executions_sent: int, exported_at_us: int) -> None:
        """Move `target`'s cursor forward to `change_seq` and add `executions_sent` to its count."""
        export_cursors.save_cursor(
            self.engine, target=target, store_id=store_id, change_seq=change_seq, executions_sent=executions_sent,
            exported_at_us=exported_at_us,
        )

    def forget_export_cursor(self, target: str) -> None:
        """Drop `target`'s cursor (one that is ahead of the store: the store was restored from an
        older copy), so the next export starts from the beginning."""
        export_cursors.forget_cursor(self.engine, target)

    def count_executions_to_export(self, *, after: int | None, up_to: int, where: ExecutionFilter) -> int:
        """Terminal executions written after cursor `after` (None: all) and up to `up_to` that match `where`."""
        return export_cursors.count_due(self.engine, after=after, up_to=up_to, where=where)

    def executions_to_export(
        self, *, after: int | None, up_to: int, where: ExecutionFilter, resume_from: tuple[int, str] | None, limit: int
    ) -> list[Execution]:
        """The next page of those executions in (change_seq, execution_id) order, after key `resume_from`."""
        return export_cursors.due_page(self.engine, after=after, up_to=up_to, where=where, resume_from=resume_from, limit=limit)

    def export_details(self, execution_ids: Sequence[str], first_lines_of: Sequence[str] = (), *, per_run_limit: int = 1_000) -> ExportDetails:
        """Node spans, STREAMING moments (the first `per_run_limit` of each run) and first event
        lines of a page of executions."""
        return export_cursors.export_details(self.engine, execution_ids, first_lines_of, per_run_limit=per_run_limit)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- retention --------------------------------------------------------------------------------

    def prune_executions(
        self,
        criteria: PruneCriteria,
        *,
        batch_size: int = 500,
        dry_run: bool = False,
        on_batch: Callable[[PruneCounts], None] | None = None,
    ) -> PruneCounts:
        """Delete whole executions the criteria choose, with their events, spans, facts and the
        recordings left holding nothing, `batch_size` executions per short transaction
        (recorder.store.retention). `dry_run` counts what would go and changes nothing."""
        from recorder.store import retention

        if dry_run:
            return retention.count_prune(self.engine, criteria)
        return retention.prune(self.engine, self.backend, criteria, batch_size=batch_size, on_batch=on_batch)

    def count_prunable(self, criteria: PruneCriteria) -> int:
        """How many executions `prune_executions` would delete now (one cheap read)."""
        from recorder.store import retention

        return retention.count_prunable(self.engine, criteria)

    def reclaim_space(self) -> None:
        """After a prune: SQLite VACUUM (the file shrinks), PostgreSQL VACUUM ANALYZE of the pruned
        tables (their space becomes reusable)."""
        from recorder.store import retention

        self.backend.reclaim_space(self.engine, retention.PRUNED_TABLES)
