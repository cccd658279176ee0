"""The one schema, for SQLite and PostgreSQL alike. Alembic migrations create it; never `create_all`.

Times are integer microseconds since the Unix epoch, UTC (`*_us` columns): exact on every engine
and in DuckDB. Where a value exists twice, the verbatim event text (`events.raw`) is authoritative;
every other event column, and everything in `executions`, is derived from it (plus the request).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from recorder.model.indexed import MAX_ID_LENGTH

# Stable constraint names, so migrations can address them identically on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The Alembic head these models correspond to (a test checks it): lets the recorder verify a
# database's schema version without loading Alembic on every start.
SCHEMA_REVISION = "0007"

class JsonDocument(TypeDecorator):
    """JSON, stored as JSONB on PostgreSQL. None is SQL NULL (not the JSON literal null), so
    "absent" reads the same on both engines.

    The engine's type comes from its dialect (recorder.store.dialects) when an engine first compiles
    it: importing SQLAlchemy's PostgreSQL dialect (asyncio included) costs a SQLite user a tenth of
    a second on every command. The dialects module is imported there, not here, because it builds
    on these tables.
    """

    impl = JSON
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(none_as_null=True)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        from recorder.store.dialects import dialect_named

        ours = dialect_named(dialect.name)
        return dialect.type_descriptor(ours.json_type() if ours is not None else JSON(none_as_null=True))


Id = String(MAX_ID_LENGTH)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Recording(Base):
    """One consumed response body: where it came from, the request, and how it ended."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    request: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    started_at_us: Mapped[int] = mapped_column(BigInteger)
    ended_at_us: Mapped[int | None] = mapped_column(BigInteger)
    # in_progress | complete | cut | http_error | connection_error | interrupted
    outcome: Mapped[str] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    reject_count: Mapped[int] = mapped_column(Integer, default=0)
    # Whitespace-only lines as [[position, text], ...] and whether the body ended in "\n": with
    # events and rejects, enough to rebuild the received body byte for byte.
    blank_lines: Mapped[list[Any] | None] = mapped_column(JSON)
    ends_with_newline: Mapped[bool] = mapped_column(Boolean, default=True)
    # Updated at every commit and every few seconds while a live stream is idle: an in_progress
    # recording whose heartbeat stopped belongs to a recorder that died.
    heartbeat_at_us: Mapped[int | None] = mapped_column(BigInteger)
    # Set once a non-empty body is complete; the same body ingested again is recognised by it.
    body_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The lines of this body that were already stored (by another recording, or by a concurrent
    # one): {"events": [[position, count, execution_id, seq], ...], "rejects": [[position,
    # reject_id], ...]}; an events run covers `count` consecutive lines and seqs. NULL: none.
    stored_elsewhere: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Execution(Base):
    """One workflow execution: what the request asked for and what its events say happened."""

    __tablename__ = "executions"

    execution_id: Mapped[str] = mapped_column(Id, primary_key=True)
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"))
    workflow_deployment_id: Mapped[str | None] = mapped_column(Id)
    workflow_deployment_name: Mapped[str | None] = mapped_column(Text)
    release_tag: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text, index=True)
    run_id: Mapped[str | None] = mapped_column(Id)
    previous_execution_id: Mapped[str | None] = mapped_column(Id, index=True)
    # Furthest recorded ancestor along previous_execution_id (itself when it has none recorded).
    root_execution_id: Mapped[str] = mapped_column(Id, index=True)
    metadata_: Mapped[Any] = mapped_column("metadata", JsonDocument, nullable=True)
    inputs: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    # The terminal WORKFLOW state (FULFILLED, REJECTED, ...) or INCOMPLETE.
    status: Mapped[str] = mapped_column(String(32), index=True)
    started_at_us: Mapped[int | None] = mapped_column(BigInteger)
    ended_at_us: Mapped[int | None] = mapped_column(BigInteger)
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # Aggregates of the execution's node spans (recorder.model.spans), kept with them at ingest.
    span_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    prompt_cost_usd: Mapped[float | None] = mapped_column(Float)
    prompt_input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    prompt_output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    # The first STREAMING event of the execution (workflow or node): its time to first output.
    first_output_us: Mapped[int | None] = mapped_column(BigInteger)
    # Time the workflow spent PAUSED (v2 stream only), and since when while it is paused.
    paused_us: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paused_since_us: Mapped[int | None] = mapped_column(BigInteger)
    # The store's change cursor (StoreState.change_seq) of the transaction that last wrote the row.
    change_seq: Mapped[int | None] = mapped_column(BigInteger, index=True)

    __table_args__ = (
        Index("ix_executions_deployment_started", "workflow_deployment_name", "started_at_us"),
        Index("ix_executions_started_at_us", "started_at_us"),
        # Deleting a recording (recorder prune) checks this foreign key: without it, a scan of
        # every execution per deleted recording.
        Index("ix_executions_recording_id", "recording_id"),
    )


class Event(Base):
    """One received event line, verbatim, with the fields queries filter and group on."""

    __tablename__ = "events"

    # The natural key: which event of its execution this is (0, 1, 2, ... in stream order,
    # counting event lines only). A body ingested again, however framed (more or fewer blank or
    # junk lines, a longer or shorter copy), has the same events at the same seqs: the same line
    # there is a duplicate and adds nothing; a different line is a conflict, kept as a reject.
    execution_id: Mapped[str] = mapped_column(Id, primary_key=True)
    # Where the line was received: its index in the body of the recording that stored it.
    position: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    ts_us: Mapped[int | None] = mapped_column(BigInteger)
    received_at_us: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str | None] = mapped_column(Text)
    node_id: Mapped[str | None] = mapped_column(Text)
    node_result_id: Mapped[str | None] = mapped_column(Text, index=True)
    node_type: Mapped[str | None] = mapped_column(Text)
    source_execution_id: Mapped[str | None] = mapped_column(Text)
    # Comma-separated names from recorder.model.vocabulary.Flag; NULL for a clean event.
    flags: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    # The change cursor of the transaction that stored it (NULL: stored before the cursor existed).
    # Not indexed: events are never pulled by cursor in bulk, and an index would slow every insert.
    change_seq: Mapped[int | None] = mapped_column(BigInteger)


class NodeSpan(Base):
    """One node run, folded from its events at ingest (recorder.model.spans holds the rules).

    Derived, like every non-verbatim column: the timeline derives the same spans from the events,
    and a migration can rebuild the table from them. Every field the fold needs to continue is
    stored, so a later batch of the run's events resumes the fold from this row.
    """

    __tablename__ = "node_spans"

    execution_id: Mapped[str] = mapped_column(Id, primary_key=True)
    node_result_id: Mapped[str] = mapped_column(Id, primary_key=True)
    node_id: Mapped[str | None] = mapped_column(Text)
    node_type: Mapped[str | None] = mapped_column(Text)
    source_execution_id: Mapped[str | None] = mapped_column(Text)
    # The SUBWORKFLOW or MAP run this run is nested in, and how deep (0: top level).
    parent_node_result_id: Mapped[str | None] = mapped_column(Text)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str | None] = mapped_column(String(32))
    # seq of the run's first event (runs keep the order they first appeared in).
    first_seq: Mapped[int] = mapped_column(Integer)
    # Whether start_* are the INITIATED event's; else the first event's, until an INITIATED comes.
    initiated: Mapped[bool] = mapped_column(Boolean, default=False)
    start_us: Mapped[int] = mapped_column(BigInteger)
    start_pos: Mapped[int] = mapped_column(Integer)
    start_ts_less: Mapped[bool] = mapped_column(Boolean, default=False)
    # NULL while the run is open (no FULFILLED or REJECTED event yet).
    end_us: Mapped[int | None] = mapped_column(BigInteger)
    end_pos: Mapped[int | None] = mapped_column(Integer)
    end_ts_less: Mapped[bool] = mapped_column(Boolean, default=False)
    first_output_us: Mapped[int | None] = mapped_column(BigInteger)
    first_output_ts_less: Mapped[bool] = mapped_column(Boolean, default=False)
    streaming_events: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(Text)
    # Child executions a SUBWORKFLOW or MAP run named: how nested runs find their container.
    child_execution_ids: Mapped[list[str] | None] = mapped_column(JSON)
    model_name: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    # Time the run spent PAUSED (waiting, not working; v2 stream only), and since when while paused.
    paused_us: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paused_since_us: Mapped[int | None] = mapped_column(BigInteger)
    # The node's (or nested workflow's) class name, as v2 stream events name it; NULL on v1.
    node_name: Mapped[str | None] = mapped_column(Text)
    change_seq: Mapped[int] = mapped_column(BigInteger, index=True)


class StoreState(Base):
    """One row: the store's identity and its change cursor.

    `change_seq` grows by one per writing transaction, which takes it first (holding the row
    until it commits), so transactions commit in cursor order and a reader that has seen
    everything up to N can ask for `change_seq > N` without missing a late commit. `store_id` is
    new whenever the store is emptied (`Store.wipe`): a reader's cached copy of another store id
    is stale, whatever the cursors say.
    """

    __tablename__ = "store_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(36))
    change_seq: Mapped[int] = mapped_column(BigInteger)


class Reject(Base):
    """A line that could not be read as an event, kept verbatim for inspection."""

    __tablename__ = "rejects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    # The exact bytes when `raw` could not hold them (invalid UTF-8, NUL); authoritative then.
    raw_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at_us: Mapped[int] = mapped_column(BigInteger)
    # The line's identity, so the same line recorded again (a body re-ingested after kill -9) is
    # stored once: the SHA-256 of the body up to and including it, or, for an event line that
    # conflicts with a stored event, of its execution, seq and text.
    line_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    __table_args__ = (UniqueConstraint("recording_id", "position"),)


class StatusCheck(Base):
    """What the status endpoint reported for an execution, as a fact of its own.

    Recorded events are never rewritten from it: a reconciled INCOMPLETE execution keeps its
    events and status, and this row says who reported what, when.
    """

    __tablename__ = "status_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(Id, index=True)
    checked_at_us: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text)  # the URL asked
    http_status: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(32))
    outputs: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)  # the body as received


class Actual(Base):
    """Feedback submitted for an execution's output (submit-workflow-execution-actuals)."""

    __tablename__ = "actuals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str | None] = mapped_column(Id, index=True)
    external_id: Mapped[str | None] = mapped_column(Text)
    output_key: Mapped[str] = mapped_column(Text)
    output_type: Mapped[str] = mapped_column(String(32))
    quality: Mapped[float | None] = mapped_column(Float)
    value: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    metadata_: Mapped[Any] = mapped_column("metadata", JsonDocument, nullable=True)
    submitted_at_us: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class ExportCursor(Base):
    """How far one export target (an OTLP endpoint) has been sent this store's executions.

    `change_seq` is the store's change cursor up to which every execution has been sent (those
    written later are due); it belongs to the store `store_id` names, so a cursor kept for a store
    since wiped (or for another store at this URL) is ignored, not trusted.
    """

    __tablename__ = "export_cursors"

    # The endpoint URL without credentials (user, password, query): what identifies the receiver.
    target: Mapped[str] = mapped_column(Text, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(36))
    change_seq: Mapped[int] = mapped_column(BigInteger)
    exported_at_us: Mapped[int] = mapped_column(BigInteger)
    executions_sent: Mapped[int] = mapped_column(BigInteger)
