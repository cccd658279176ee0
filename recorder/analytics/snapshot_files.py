"""The fleet snapshot on disk: Parquet files in one folder per store, and the manifest that binds them.

A snapshot is a base (the store's executions and spans at cursor B) plus deltas (the rows written
after B, up to later cursors), merged by key when loaded. An incremental refresh then writes only
its own rows, not the whole base again; once the deltas grow past a share of the base they are
compacted into a new base.

`manifest.json` names the files of the current set and the store state (store_id, change_seq) they
make up; every file carries the same stamp in its Parquet metadata, so a file of another set is
never merged in. Files are written under new names and the manifest is swapped with os.replace:
a reader sees the old set or the new one, never half of either. Writers take an advisory lock on
the folder, so two processes refreshing at once write one set after the other; readers take none
(a file removed under a reader makes the load fail, and the caller pulls from the store instead).

The folder: `RECORDER_ANALYTICS_DIR` exactly when set, else `snapshots/<key>` in the recorder's
cache folder (recorder.cache_dir), where the key is a short SHA-256 of the store URL without its
password (a SQLite store: of its absolute file path).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recorder.cache_dir import cache_root

if TYPE_CHECKING:
    from recorder.store import Store
    from recorder.store.dialects import Dialect

SNAPSHOT_ENV = "RECORDER_ANALYTICS_DIR"
# 3: spans and executions carry paused_us, spans node_name (a set of an older format is rebuilt).
FORMAT = 3
MANIFEST = "manifest.json"
TABLES = ("executions", "spans")
# The natural key of each table's rows: a newer row replaces the held row with the same key.
KEYS = {"executions": ("execution_id",), "spans": ("execution_id", "node_result_id")}
_STAMP = b"recorder.snapshot"
# Deltas are compacted into a new base when their rows pass this share of the base's, or there are
# this many of them (each is a file to open and a merge to apply at every load).
_COMPACT_SHARE = 0.2
_MAX_DELTAS = 24
# Files of ours that no manifest names are removed once this old (a writer without the lock may
# still be about to name them).
_ORPHAN_AGE_S = 120.0
_OURS = ("base-", "delta-")


@dataclass(frozen=True, slots=True)
class Part:
    """One set of files: a base (`after` None) or a delta of the rows written after `after`."""

    after: int | None
    upto: int
    files: dict[str, str]  # table -> file name
    rows: int

    def to_json(self) -> dict[str, object]:
        return {"after": self.after, "upto": self.upto, "files": self.files, "rows": self.rows}

    @staticmethod
    def from_json(value: dict[str, object]) -> Part:
        return Part(value["after"], int(value["upto"]), dict(value["files"]), int(value["rows"]))


@dataclass(frozen=True, slots=True)
class Manifest:
    store_id: str
    change_seq: int
    base: Part
    deltas: tuple[Part, ...] = ()

    @property
    def delta_rows(self) -> int:
        return sum(part.rows for part in self.deltas)

    def parts(self) -> tuple[Part, ...]:
        return (self.base, *self.deltas)


@dataclass(slots=True)
class Loaded:
    manifest: Manifest
    tables: dict[str, pa.Table] = field(default_factory=dict)


def snapshot_dir(store: Store) -> Path | None:
    """Where this store's snapshot lives; None when it cannot be kept (an in-memory SQLite store)."""
    explicit = os.environ.get(SNAPSHOT_ENV)
    if explicit:
        return Path(explicit)
    key = store_key(store.url, store.backend)
    return None if key is None else cache_root() / "snapshots" / key


def snapshots_root() -> Path:
    return cache_root() / "snapshots"


def store_key(url: str, dialect: Dialect) -> str | None:
    """A short SHA-256 of what identifies a store's location: its URL without the password (never
    written anywhere, not even hashed), or a SQLite file's absolute path; None for a database
    that lives only in memory."""
    from sqlalchemy.engine import URL, make_url

    parsed = make_url(url)
    if dialect.name == "sqlite":
        path = dialect.database_file(parsed)
        if path is None:
            return None
        identity = f"sqlite:{Path(path).expanduser().resolve()}"
    else:
        query = {name: value for name, value in parsed.query.items() if "password" not in name.lower()}
        identity = URL.create(
            parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, query
        ).render_as_string(hide_password=False)
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


# -- reading --------------------------------------------------------------------------------------


def read_manifest(directory: Path) -> Manifest | None:
    """The folder's manifest, or None when there is none of this format (or it is unreadable)."""
    try:
        value = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if value.get("format") != FORMAT:
            return None
        return Manifest(
            str(value["store_id"]), int(value["change_seq"]), Part.from_json(value["base"]),
            tuple(Part.from_json(part) for part in value["deltas"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load(directory: Path) -> Loaded | None:
    """The snapshot the manifest names, its deltas merged into its base; None when there is no
    whole set (a file missing, unreadable, or stamped for another set)."""
    manifest = read_manifest(directory)
    if manifest is None:
        return None
    tables: dict[str, pa.Table] = {}
    try:
        for part in manifest.parts():
            for name in TABLES:
                table = pq.read_table(directory / part.files[name])
                if (table.schema.metadata or {}).get(_STAMP) != _stamp(manifest.store_id, part, name):
                    return None
                table = table.replace_schema_metadata(None)
                tables[name] = table if name not in tables else merge(tables[name], table, KEYS[name])
    except (OSError, KeyError, pa.ArrowException):
        return None
    return Loaded(manifest, tables)


def merge(held: pa.Table, changed: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """`held` with every row whose key `changed` holds replaced by that row, and the new rows added.

    Only the held rows of the changed rows' first key (their executions) are looked at closely,
    so a refresh that brings a few executions costs little whatever the size of `held`. The
    order of rows is not kept (nothing reads it).
    """
    if changed.num_rows == 0:
        return held
    changed = _like(changed, held.schema)
    first = keys[0]
    candidates = pc.is_in(held.column(first), value_set=pc.unique(_text(changed.column(first))))
    if not pc.any(candidates).as_py():
        return pa.concat_tables([held, changed])
    others = held.filter(pc.invert(candidates))
    touched = held.filter(candidates)
    if len(keys) > 1:
        replaced = pc.is_in(_composite(touched, keys), value_set=_composite(changed, keys))
        touched = touched.filter(pc.invert(replaced))
    else:
        touched = touched.slice(0, 0)
    return pa.concat_tables([others, touched, changed])


def _composite(table: pa.Table, keys: tuple[str, ...]) -> pa.Array:
    return pc.binary_join_element_wise(*(_text(table.column(key)) for key in keys), "\x1f").combine_chunks()


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def _like(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with `schema`'s column types (a pull may dictionary-encode what a file holds plain)."""
    table = table.replace_schema_metadata(None)
    return table if table.schema == schema else table.cast(schema)


# -- writing --------------------------------------------------------------------------------------


def save(
    directory: Path,
    store_id: str,
    change_seq: int,
    tables: dict[str, pa.Table],
    delta: tuple[int, dict[str, pa.Table]] | None,
    *,
    replace_broken: bool = False,
) -> Manifest | None:
    """Make the folder hold the snapshot `tables` at (store_id, change_seq).

    `delta` is (after, rows written after `after`): when the folder's current set is this store's
    at exactly `after`, only those rows are written, as a delta; otherwise (no set, another
    store's, or another process got further or elsewhere) the whole tables are written as a new
    base. A set already at this state or later is left alone, unless `replace_broken` (the caller
    found it could not be read): then a new base replaces it. Returns the manifest now current, or
    None when the set on disk is newer. Raises OSError when the folder cannot be written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with _writer_lock(directory):
        current = read_manifest(directory)
        if current is not None and current.store_id == store_id and current.change_seq >= change_seq and not replace_broken:
            return None
        manifest: Manifest
        if (
            delta is not None
            and current is not None
            and current.store_id == store_id
            and current.change_seq == delta[0]
            and len(current.deltas) < _MAX_DELTAS
            and current.delta_rows + _rows(delta[1]) <= _COMPACT_SHARE * max(current.base.rows, 1)
        ):
            part = _write_part(directory, store_id, delta[0], change_seq, delta[1])
            manifest = Manifest(store_id, change_seq, current.base, (*current.deltas, part))
        else:
            manifest = Manifest(store_id, change_seq, _write_part(directory, store_id, None, change_seq, tables))
        _write_manifest(directory, manifest)
        _remove_orphans(directory, manifest)
    return manifest


def clear(directory: Path) -> int:
    """Remove the snapshot files of one folder (and the folder when nothing else is in it);
    returns the bytes freed. Only our own files: RECORDER_ANALYTICS_DIR may name any folder."""
    freed = 0
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        if path.is_file() and _is_ours(path.name):
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()
    return freed


def clear_all() -> int:
    """Drop every store's snapshot under the user cache folder (and RECORDER_ANALYTICS_DIR's, when
    set); bytes freed. Nothing of a store is touched."""
    freed = 0
    explicit = os.environ.get(SNAPSHOT_ENV)
    if explicit:
        freed += clear(Path(explicit))
    root = snapshots_root()
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir():
                freed += clear(folder)
        shutil.rmtree(root, ignore_errors=True)
    return freed


def size_on_disk(directory: Path) -> int:
    if not directory.is_dir():
        return 0
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file() and _is_ours(path.name))


def _is_ours(name: str) -> bool:
    # The files of the previous format (one Parquet file per table) count as ours: clearing drops them.
    return (
        name in (MANIFEST, ".lock", "executions_t.parquet", "events_t.parquet", "spans_t.parquet")
        or name.startswith(_OURS)
        or (name.startswith(".") and name.endswith(".tmp"))
    )


def _write_part(directory: Path, store_id: str, after: int | None, upto: int, tables: dict[str, pa.Table]) -> Part:
    tag = uuid.uuid4().hex[:12]
    kind = "base" if after is None else "delta"
    files = {name: f"{kind}-{upto}-{tag}-{name}.parquet" for name in TABLES}
    part = Part(after, upto, files, _rows(tables))
    for name in TABLES:
        table = tables[name]
        stamped = table.replace_schema_metadata({_STAMP: _stamp(store_id, part, name)})
        temporary = directory / f".{files[name]}.{os.getpid()}.tmp"
        # LZ4: every warm command reads the whole snapshot, and at 1.5M spans LZ4 decodes in a
        # quarter of zstd's time (0.16 s against 0.68 s) for 1.8x the bytes (95 MB against 53 MB).
        # The pyarrow writer, not DuckDB, so the sandboxed database never touches files.
        pq.write_table(stamped, temporary, compression="lz4")
        os.replace(temporary, directory / files[name])
    return part


def _write_manifest(directory: Path, manifest: Manifest) -> None:
    value = {
        "format": FORMAT, "store_id": manifest.store_id, "change_seq": manifest.change_seq,
        "base": manifest.base.to_json(), "deltas": [part.to_json() for part in manifest.deltas],
    }
    temporary = directory / f".{MANIFEST}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp"
    temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(temporary, directory / MANIFEST)


def _remove_orphans(directory: Path, manifest: Manifest) -> None:
    named = {file for part in manifest.parts() for file in part.files.values()}
    now = time.time()
    for path in directory.iterdir():
        name = path.name
        if name in named or not (name.startswith(_OURS) or name.endswith(".tmp")):
            continue
        with contextlib.suppress(OSError):
            # Under the lock no other writer is between writing its files and naming them, so
            # unnamed parts are garbage now; a temporary file may be another process's in flight.
            if not name.endswith(".tmp") or now - path.stat().st_mtime > _ORPHAN_AGE_S:
                path.unlink()


@contextlib.contextmanager
def _writer_lock(directory: Path) -> Iterator[None]:
    """An advisory lock on the folder for the length of one save (POSIX; elsewhere none, and the
    manifest swap alone keeps sets whole)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(directory / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp(store_id: str, part: Part, table: str) -> bytes:
    return json.dumps({"format": FORMAT, "store_id": store_id, "after": part.after, "upto": part.upto, "table": table}).encode()


def _rows(tables: dict[str, pa.Table]) -> int:
    return sum(table.num_rows for table in tables.values())
