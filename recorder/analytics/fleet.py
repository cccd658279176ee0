"""The fleet snapshot: Arrow copies of the store that DuckDB queries, refreshed only where changed.

Pulling every event costs seconds at millions of events, and a fleet query over Arrow costs tens of
milliseconds, so the pull must not happen per query. The snapshot remembers the store's
fingerprint (`Store.fingerprint`); while it is unchanged, queries run on
what is held. When it changes, the execution rows are pulled again (they are few) and the events
of only those executions whose event count changed are pulled again, through the primary key.
Spans are derived once per pulled execution, in DuckDB, and kept; the verbatim text pulled for
them is dropped right after.

With a directory, the snapshot is also kept as Parquet files there, so a new process (each CLI
command is one) starts from them instead of from the store.

Its DuckDB database is sandboxed: ad-hoc SQL (`recorder sql`) runs on it, and SQL that can read
any file (`read_text`), write anywhere (`COPY ... TO`, `ATTACH`) or download an extension must not
come with a question about executions. The snapshot itself never needs DuckDB to touch a file
(pyarrow reads and writes the Parquet copy), so the sandbox is on from the start and locked. Files
are opt-in (`connection(allow_files=True)`): a second, unrestricted database over the same tables.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recorder.analytics import sql

if TYPE_CHECKING:
    from recorder.store import Store

_FORMAT = 1
_STAMP = b"recorder.snapshot"
_TABLES = ("executions_t", "events_t", "spans_t")
# Past this share of executions changed, one full pull is cheaper than many keyed ones.
_FULL_PULL_SHARE = 0.25
# No file system, no network, no extension installed or loaded behind the query's back; the
# configuration is then locked so SQL cannot turn any of it back on.
_SANDBOX = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
}


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What a refresh did: `mode` says whether it used what it held, loaded the Parquet snapshot,
    pulled everything, or pulled only the executions whose events changed."""

    mode: str  # unchanged | loaded | full | incremental
    executions_pulled: int
    events_pulled: int
    seconds: float


class FleetSnapshot:
    """Executions, events (without their text) and node spans, held as Arrow and queried by DuckDB."""

    def __init__(self, store: Store, directory: Path | None = None) -> None:
        self._store = store
        self._directory = directory
        self._lock = threading.Lock()
        self._fingerprint: tuple[Any, ...] | None = None
        self._tables: dict[str, pa.Table] | None = None
        self._connection = _connect(sandboxed=True)
        self._with_files: duckdb.DuckDBPyConnection | None = None
        self.last_refresh: RefreshReport | None = None

    def connection(self, *, allow_files: bool = False) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection whose views show the store as it is now: sandboxed, or with
        `allow_files` one that may read and write files and load extensions (made on first ask)."""
        self.refresh()
        if not allow_files:
            return self._connection
        with self._lock:
            if self._with_files is None:
                self._with_files = _connect(sandboxed=False)
                if self._tables is not None:
                    _create_views(self._with_files, self._tables)
            return self._with_files

    def refresh(self) -> RefreshReport:
        with self._lock:
            started = time.perf_counter()
            fingerprint = _jsonable(self._store.fingerprint())
            if self._tables is None and self._directory is not None:
                self._load()
                if self._fingerprint == fingerprint:
                    return self._report("loaded", 0, 0, started)
            if self._fingerprint == fingerprint and self._tables is not None:
                return self._report("unchanged", 0, 0, started)
            report = self._pull(fingerprint, started)
            if self._directory is not None:
                self._save()
            return report

    def close(self) -> None:
        self._connection.close()
        if self._with_files is not None:
            self._with_files.close()

    # -- pulling -----------------------------------------------------------------------------------

    def _pull(self, fingerprint: tuple[Any, ...], started: float) -> RefreshReport:
        executions = self._store.pull_executions()
        changed = None if self._tables is None else _changed_executions(self._tables["executions_t"], executions)
        if changed is not None and len(changed) > _FULL_PULL_SHARE * max(executions.num_rows, 1):
            changed = None
        if changed is None:
            pulled = self._store.pull_events(expected_rows=pc.sum(executions.column("event_count")).as_py() or 0)
            events, spans = self._derive(pulled)
            mode = "full"
            pulled_executions = executions.num_rows
        else:
            pulled = self._store.pull_events(changed)
            new_events, new_spans = self._derive(pulled)
            keep = _not_in(executions.column("execution_id"), changed)
            keep_ids = pc.filter(executions.column("execution_id"), keep)
            events = pa.concat_tables([_rows_of(self._tables["events_t"], keep_ids), new_events])
            spans = pa.concat_tables([_rows_of(self._tables["spans_t"], keep_ids), new_spans])
            mode = "incremental"
            pulled_executions = len(changed)
        self._install({"executions_t": executions, "events_t": events, "spans_t": spans}, fingerprint)
        return self._report(mode, pulled_executions, pulled.num_rows, started)

    def _derive(self, pulled: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Spans from freshly pulled events (in DuckDB), and the events without their text."""
        self._connection.register("pulled_events", pulled)
        try:
            spans = self._connection.sql(sql.DERIVE_SPANS).to_arrow_table()
        finally:
            self._connection.unregister("pulled_events")
        return pulled.drop_columns(["raw"]), spans

    def _install(self, tables: dict[str, pa.Table], fingerprint: tuple[Any, ...]) -> None:
        for connection in (self._connection, self._with_files):
            if connection is not None:
                _create_views(connection, tables)
        self._tables = tables
        self._fingerprint = fingerprint

    def _report(self, mode: str, executions: int, events: int, started: float) -> RefreshReport:
        self.last_refresh = RefreshReport(mode, executions, events, time.perf_counter() - started)
        return self.last_refresh

    # -- persistence -------------------------------------------------------------------------------

    def _load(self) -> None:
        """Adopt the Parquet snapshot in the directory when there is a whole one of this format.

        Every file carries the fingerprint it was written for; files of different writes (two
        processes saving at once) do not belong together and are ignored, as is anything
        unreadable: the store is pulled instead.
        """
        try:
            tables = {name: pq.read_table(self._directory / f"{name}.parquet") for name in _TABLES}
        except (OSError, pa.ArrowException):
            return
        stamps = {(table.schema.metadata or {}).get(_STAMP) for table in tables.values()}
        if len(stamps) != 1 or None in stamps:
            return
        stamp = json.loads(stamps.pop())
        if stamp.get("format") != _FORMAT:
            return
        self._install({name: table.replace_schema_metadata(None) for name, table in tables.items()}, _jsonable(stamp["fingerprint"]))

    def _save(self) -> None:
        """Write each file to a temporary name and rename it into place (readers never see half a
        file), stamped with the fingerprint of the state it holds."""
        self._directory.mkdir(parents=True, exist_ok=True)
        stamp = json.dumps({"format": _FORMAT, "fingerprint": list(self._fingerprint)}).encode()
        for name, table in self._tables.items():
            temporary = self._directory / f".{name}.{os.getpid()}.tmp"
            stamped = table.replace_schema_metadata({**(table.schema.metadata or {}), _STAMP: stamp})
            pq.write_table(stamped, temporary, compression="zstd")
            os.replace(temporary, self._directory / f"{name}.parquet")


def _connect(*, sandboxed: bool) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:", config=dict(_SANDBOX) if sandboxed else {})
    # Timestamps in the views read the same on every machine, whatever its local zone.
    connection.sql("SET TimeZone = 'UTC'")
    if sandboxed:
        connection.sql("SET lock_configuration = true")
    return connection


def _create_views(connection: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    for name, table in tables.items():
        connection.register(name, table)
    for statement in sql.VIEWS:
        connection.sql(statement)


def _changed_executions(before: pa.Table, now: pa.Table) -> list[str]:
    """Executions that are new, or whose event count differs from the snapshot's."""
    joined = _plain_ids(now.select(["execution_id", "event_count"])).join(
        _plain_ids(before.select(["execution_id", "event_count"])).rename_columns(["execution_id", "before"]),
        keys="execution_id",
        join_type="left outer",
    )
    differs = pc.or_kleene(pc.is_null(joined.column("before")), pc.not_equal(joined.column("event_count"), joined.column("before")))
    return pc.filter(joined.column("execution_id"), pc.fill_null(differs, True)).to_pylist()


def _not_in(ids: pa.ChunkedArray, excluded: list[str]) -> pa.ChunkedArray:
    return pc.invert(pc.is_in(ids.cast(pa.string()), value_set=pa.array(excluded, type=pa.string())))


def _rows_of(table: pa.Table, ids: pa.ChunkedArray) -> pa.Table:
    """The rows of `table` whose execution is in `ids` (executions gone from the store drop out)."""
    wanted = ids.cast(pa.string()).combine_chunks()
    return table.filter(pc.is_in(table.column("execution_id").cast(pa.string()), value_set=wanted))


def _plain_ids(table: pa.Table) -> pa.Table:
    """Ids as plain strings (pulls dictionary-encode them; joins and set lookups want one type)."""
    return table.set_column(0, "execution_id", table.column("execution_id").cast(pa.string()))


def _jsonable(fingerprint: tuple[Any, ...] | list[Any]) -> tuple[Any, ...]:
    """The fingerprint as it reads back from JSON (numbers as int), so the two compare equal."""
    return tuple(int(value) if value is not None else None for value in fingerprint)
