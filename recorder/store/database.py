"""`Store`: one recorder database, opened (and, when asked, given its schema) from a URL."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from recorder.model.request import RecordedRequest
from recorder.store import engine as _engine
from recorder.store import queries
from recorder.store.engine import resolve_url
from recorder.store.queries import ExecutionFilter
from recorder.store.schema import Event, Execution, Recording, Reject
from recorder.store.writer import FlushPolicy, RecordingResult, RecordingWriter


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
        if ensure_schema:
            try:
                _engine.ensure_schema(self.engine, create=create_schema, allow_other_tables=allow_other_tables)
            except BaseException:
                self.engine.dispose()
                raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self, revision: str = "head") -> str | None:
        """Migrate to `revision`; returns the revision the database is at afterwards."""
        _engine.upgrade(self.engine, revision)
        return self.revision()

    def migrate(self, *, allow_other_tables: bool = False) -> tuple[str | None, str | None]:
        """Create the schema or migrate it to head, as `recorder init` does; (before, after) revisions."""
        return _engine.migrate(self.engine, allow_other_tables=allow_other_tables)

    def revision(self) -> str | None:
        return _engine.current_revision(self.engine)

    def writer(
        self,
        *,
        source: str,
        request: dict | RecordedRequest | None = None,
        policy: FlushPolicy | None = None,
        on_commit: Callable[[list[int]], None] | None = None,
    ) -> RecordingWriter:
        """A writer for one stream; call `add` per line and `finish` at the end."""
        if isinstance(request, dict):
            request = RecordedRequest.from_body(request)
        return RecordingWriter(self.engine, source=source, request=request, policy=policy or FlushPolicy(), on_commit=on_commit)

    def executions(self, where: ExecutionFilter = ExecutionFilter()) -> Sequence[Execution]:
        return queries.list_executions(self.engine, where)

    def execution(self, execution_id: str) -> Execution | None:
        return queries.get_execution(self.engine, execution_id)

    def resolve_execution_id(self, id_or_prefix: str) -> str | None:
        """The full id for an id or a unique prefix of one; None when nothing (or several) match."""
        if self.execution(id_or_prefix) is not None:
            return id_or_prefix
        matches = queries.find_execution_ids(self.engine, id_or_prefix, limit=2)
        return matches[0] if len(matches) == 1 else None

    def events(self, execution_id: str) -> Sequence[Event]:
        return queries.events_of(self.engine, execution_id)

    def recordings_of(self, execution_id: str) -> Sequence[Recording]:
        return queries.recordings_of(self.engine, execution_id)

    def rejects(self, recording_ids: Sequence[int] | None = None, limit: int | None = None) -> Sequence[Reject]:
        return queries.rejects_of(self.engine, recording_ids, limit)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
