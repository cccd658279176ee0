"""The fleet snapshot: Arrow copies of the store's executions and node spans that DuckDB queries,
refreshed by the store's change cursor and kept on disk between processes.

Both tables are kept at ingest (recorder.store.span_upkeep), so the fleet never reads events or
their verbatim text. The snapshot remembers the store state it was made at (`Store.change_state`:
store_id, change_seq) and on each refresh compares:

- same store_id and change_seq: "unchanged" (or "loaded" when it just came from disk);
- same store_id, larger change_seq: "incremental": the rows written after the held cursor are
  pulled (an index range) and replace the held rows with the same key;
- another store_id, or a smaller change_seq (the store was wiped, replaced by another at the same
  URL, or restored from an older copy): "full": everything is pulled again, the copy is never
  reused.

The snapshot is kept as Parquet in a cache folder per store (recorder.analytics.snapshot_files),
so a new process (each CLI command is one) starts from it and pulls only what changed since. A
folder that cannot be written costs only that: the snapshot stays in memory, with one warning.

Its DuckDB database is sandboxed: ad-hoc SQL (`recorder sql`) runs on it, and SQL that can read
any file (`read_text`), write anywhere (`COPY ... TO`, `ATTACH`) or download an extension must not
come with a question about executions. The snapshot itself never needs DuckDB to touch a file
(pyarrow reads and writes the Parquet copy), so the sandbox is on from the start and locked. Files
are opt-in (`connection(allow_files=True)`): another database over the same tables. So are the
events (`connection(events=True)`): their indexed columns, pulled into that connection only.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from recorder.analytics import snapshot_files, sql

if TYPE_CHECKING:
    from recorder.store import Store

# No file system, no network, no extension installed or loaded behind the query's back; the
# configuration is then locked so SQL cannot turn any of it back on.
_SANDBOX = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
}
# One warning per process about a cache folder that cannot be written, however many snapshots.
_warned_unwritable = False


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What a refresh did: `mode` says whether it used what it held (unchanged), adopted the copy
    on disk as it was (loaded), pulled everything (full), or pulled only the rows written after
    the cursor it held (incremental), and how many rows it pulled from the store."""

    mode: str  # unchanged | loaded | full | incremental
    executions_pulled: int
    spans_pulled: int
    seconds: float


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """What `recorder cache info` shows about one store's snapshot on disk."""

    path: str | None  # None: this store's snapshot cannot be kept on disk (in-memory SQLite)
    exists: bool
    size_bytes: int
    store_id: str | None
    change_seq: int | None
    executions: int | None
    spans: int | None
    deltas: int | None

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


class FleetSnapshot:
    """Executions and node spans, held as Arrow and queried by DuckDB."""

    def __init__(self, store: Store, directory: Path | None = None, *, persist: bool = True) -> None:
        self._store = store
        self._directory = directory if directory is not None else (snapshot_files.snapshot_dir(store) if persist else None)
        self._lock = threading.Lock()
        self._state: tuple[str, int] | None = None  # (store_id, change_seq) of what is held
        self._saved: tuple[str, int] | None = None  # the state the folder holds, as this process last saw it
        self._copy_broken = False  # the folder's set could not be read: the next save replaces it
        self._tables: dict[str, pa.Table] | None = None
        self._events: tuple[tuple[str, int], pa.Table] | None = None
        self._connections: dict[tuple[bool, bool], duckdb.DuckDBPyConnection] = {}
        self.last_refresh: RefreshReport | None = None

    @property
    def directory(self) -> Path | None:
        return self._directory

    def connection(self, *, allow_files: bool = False, events: bool = False) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection whose views show the store as it is now: sandboxed, or with
        `allow_files` one that may read and write files and load extensions; with `events`, one
        that also has the `events` view (made on first ask, each)."""
        self.refresh()
        with self._lock:
            key = (allow_files, events)
            connection = self._connections.get(key)
            if connection is None:
                connection = self._connections[key] = _connect(sandboxed=not allow_files)
                _create_views(connection, self._tables)
            if events:
                self._attach_events(connection)
            return connection

    def refresh(self) -> RefreshReport:
        with self._lock:
            started = time.perf_counter()
            changes = self._store.change_state()
            now = (changes.store_id, changes.change_seq)
            loaded = False
            if self._tables is None and self._directory is not None:
                loaded = self._load()
            held = self._state
            if held == now:
                return self._report("loaded" if loaded else "unchanged", 0, 0, started)
            if held is not None and held[0] == now[0] and held[1] < now[1]:
                executions = self._store.pull_executions(after=held[1])
                spans = self._store.pull_spans(after=held[1])
                tables = {
                    "executions": snapshot_files.merge(self._tables["executions"], executions, snapshot_files.KEYS["executions"]),
                    "spans": snapshot_files.merge(self._tables["spans"], spans, snapshot_files.KEYS["spans"]),
                }
                self._install(tables, now)
                self._save((held[1], {"executions": executions, "spans": spans}))
                return self._report("incremental", executions.num_rows, spans.num_rows, started)
            executions = self._store.pull_executions()
            expected = pc.sum(executions.column("span_count")).as_py() or 0
            spans = self._store.pull_spans(expected_rows=expected)
            self._install({"executions": executions, "spans": spans}, now)
            self._save(None)
            return self._report("full", executions.num_rows, spans.num_rows, started)

    def info(self) -> CacheInfo:
        """The snapshot on disk for this store, as it is now (nothing is pulled)."""
        if self._directory is None:
            return CacheInfo(None, False, 0, None, None, None, None, None)
        manifest = snapshot_files.read_manifest(self._directory)
        size = snapshot_files.size_on_disk(self._directory)
        if manifest is None:
            return CacheInfo(str(self._directory), False, size, None, None, None, None, None)
        loaded = snapshot_files.load(self._directory)
        rows = {name: table.num_rows for name, table in loaded.tables.items()} if loaded is not None else {}
        return CacheInfo(
            str(self._directory), True, size, manifest.store_id, manifest.change_seq,
            rows.get("executions"), rows.get("spans"), len(manifest.deltas),
        )

    def clear(self) -> int:
        """Drop the snapshot on disk (what is held in memory stays usable); bytes freed."""
        with self._lock:
            self._saved = None
            return 0 if self._directory is None else snapshot_files.clear(self._directory)

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    # -- holding ----------------------------------------------------------------------------------

    def _install(self, tables: dict[str, pa.Table], state: tuple[str, int]) -> None:
        for connection in self._connections.values():
            _create_views(connection, tables)
        self._tables = tables
        self._state = state

    def _attach_events(self, connection: duckdb.DuckDBPyConnection) -> None:
        """The events' indexed columns, pulled again only when the store changed since."""
        if self._events is None or self._events[0] != self._state:
            expected = pc.sum(self._tables["executions"].column("event_count")).as_py() or 0
            self._events = (self._state, self._store.pull_events(expected_rows=expected))
        connection.register("events_t", self._events[1])
        connection.sql(sql.EVENTS_VIEW)

    def _report(self, mode: str, executions: int, spans: int, started: float) -> RefreshReport:
        self.last_refresh = RefreshReport(mode, executions, spans, time.perf_counter() - started)
        return self.last_refresh

    # -- the copy on disk -------------------------------------------------------------------------

    def _load(self) -> bool:
        loaded = snapshot_files.load(self._directory)
        if loaded is None:
            self._copy_broken = snapshot_files.read_manifest(self._directory) is not None
            return False
        state = (loaded.manifest.store_id, loaded.manifest.change_seq)
        self._install(loaded.tables, state)
        self._saved = state
        return True

    def _save(self, delta: tuple[int, dict[str, pa.Table]] | None) -> None:
        """Write what is held to the folder: the delta when the folder holds exactly the state it
        starts from, else everything. Failing to write only costs the next process time."""
        global _warned_unwritable
        if self._directory is None:
            return
        if delta is not None and self._saved != (self._state[0], delta[0]):
            delta = None
        try:
            snapshot_files.save(self._directory, self._state[0], self._state[1], self._tables, delta, replace_broken=self._copy_broken)
            self._saved, self._copy_broken = self._state, False
        except OSError as exc:
            if not _warned_unwritable:
                _warned_unwritable = True
                warnings.warn(
                    f"the fleet snapshot cannot be kept in {self._directory} ({exc.strerror or exc}); "
                    "it is kept in memory only (set RECORDER_CACHE_DIR to a writable folder)",
                    RuntimeWarning,
                    stacklevel=2,
                )


def _connect(*, sandboxed: bool) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:", config=dict(_SANDBOX) if sandboxed else {})
    # Timestamps in the views read the same on every machine, whatever its local zone.
    connection.sql("SET TimeZone = 'UTC'")
    if sandboxed:
        connection.sql("SET lock_configuration = true")
    return connection


def _create_views(connection: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    connection.register("executions_t", tables["executions"])
    connection.register("spans_t", tables["spans"])
    for statement in sql.VIEWS:
        connection.sql(statement)
