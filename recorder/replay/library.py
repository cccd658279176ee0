"""Where replayed exchanges come from: a folder of cassettes, a list of them, or the store.

A library lists the recorded requests of an endpoint (`candidates`), hands out the cassette of a
candidate (`cassette`) and finds the recorded stream of an execution id (`by_execution_id`).
`refresh()` picks up what was recorded since the library was opened; replayers call it before
they answer "no match", so a server keeps up with a store or folder that is still being written.

A folder is also where the pytest plugin writes what it records: `FolderLibrary` is the one place
cassette files are found, named, read and written, so what is written is what a replay reads.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from recorder.model.cassette import SUFFIX, Cassette, CassetteError, is_cassette, write_cassette
from recorder.model.endpoints import deployment_in_path, is_endpoint, stream_of_path
from recorder.model.request import RecordedRequest
from recorder.replay.matching import Candidate

logger = logging.getLogger("recorder.replay")


class Library(Protocol):
    # Changes whenever the recordings change, so replayers know to rebuild their match indexes.
    version: int

    def describe(self) -> str: ...

    def candidates(self, method: str, path: str) -> Sequence[Candidate]: ...

    def cassette(self, candidate: Candidate) -> Cassette: ...

    def by_execution_id(self, execution_id: str) -> Cassette | None: ...

    def refresh(self) -> bool:
        """Look again; True when something new was found."""
        ...


class CassetteLibrary:
    """Cassettes held in memory, in the order given (the order equal matches are served in)."""

    def __init__(self, cassettes: Iterable[Cassette] = (), *, names: Sequence[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[Candidate, Cassette]] = []
        self._by_candidate: dict[int, Cassette] = {}
        self.version = 0
        for index, cassette in enumerate(cassettes):
            self.add(cassette, names[index] if names is not None else None)

    def add(self, cassette: Cassette, name: str | None = None) -> None:
        """Add a cassette; one with the name of a known one replaces it (a file written again)."""
        with self._lock:
            label = name or cassette.execution_id or f"cassette {len(self._entries) + 1}"
            entry = (Candidate(label, matched_body(cassette), cassette.execution_id), cassette)
            index = next((i for i, (known, _) in enumerate(self._entries) if known.name == label), None)
            if index is None:
                self._entries.append(entry)
            else:
                del self._by_candidate[id(self._entries[index][0])]
                self._entries[index] = entry
            self._by_candidate[id(entry[0])] = cassette
            self.version += 1

    def __len__(self) -> int:
        return len(self._entries)

    def describe(self) -> str:
        return f"{len(self._entries)} cassettes"

    def candidates(self, method: str, path: str) -> Sequence[Candidate]:
        """Recorded requests of an endpoint (`path` as in the API reference, the v2 stream's as its
        template; a recorded path may carry a prefix of the base URL before it)."""
        with self._lock:
            return [candidate for candidate, c in self._entries if c.request.method == method and is_endpoint(c.request.path, path)]

    def cassette(self, candidate: Candidate) -> Cassette:
        with self._lock:
            return self._by_candidate[id(candidate)]

    def by_execution_id(self, execution_id: str) -> Cassette | None:
        with self._lock:
            streams = [c for _, c in self._entries if c.execution_id == execution_id and stream_of_path(c.request.path) is not None]
        return streams[-1] if streams else None

    def refresh(self) -> bool:
        return False


class FolderLibrary(CassetteLibrary):
    """A folder of cassette files, read here and written here (`save`).

    Reading takes every cassette under the folder (`*.json`, searched recursively, in path order).
    JSON files that are not cassettes are left alone; a file that claims to be one but is broken
    is an error. Whatever is not a regular file (a directory, a FIFO, a dangling symlink...) is
    skipped with a warning: a folder being written to may hold anything, and reading a FIFO would
    block forever. Writing names each file `NNN-<deployment>.cassette.json`, so path order is the
    order the exchanges were recorded in, which is the order equal matches are served in."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder}: no such folder of cassettes")
        self._seen: dict[Path, float] = {}
        self._skipped: set[Path] = set()
        self._scan(strict=True)

    @staticmethod
    def save(folder: str | Path, cassettes: Iterable[Cassette]) -> list[Path]:
        """Replace the cassettes directly in `folder` with these, in this order (other files stay)."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob(f"*{SUFFIX}"):
            with old.open("rb") as handle:
                if is_cassette(handle.read(256)):
                    old.unlink()
        return [write_cassette(cassette, target / f"{index:03d}-{_file_stem(cassette)}{SUFFIX}")
                for index, cassette in enumerate(cassettes, start=1)]

    def describe(self) -> str:
        return f"{len(self)} cassettes in {self.folder}"

    def refresh(self) -> bool:
        return self._scan(strict=False)

    def _scan(self, *, strict: bool) -> bool:
        """Read new and changed files. At start a broken cassette is an error; later, a file that
        does not read (yet: it may be half written) is skipped and tried again next time."""
        found = False
        for path in sorted(self.folder.rglob("*.json")):
            read = self._read_regular(path)
            if read is None:
                continue
            mtime, data = read
            if not is_cassette(data[:256]):
                self._seen[path] = mtime
                continue
            try:
                cassette = Cassette.loads(data)
            except CassetteError as exc:
                if strict:
                    raise CassetteError(f"{path}: {exc}") from exc
                continue
            self._seen[path] = mtime
            self.add(cassette, str(path.relative_to(self.folder)))
            found = True
        return found

    def _read_regular(self, path: Path) -> tuple[float, bytes] | None:
        """The modification time and, when it changed, the bytes of a regular file; None for a file
        already read at that time or for anything else. The file is opened without blocking and
        checked on the open descriptor, so a name swapped for a FIFO between two looks cannot hang."""
        try:
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            self._skip(path, f"cannot be opened ({exc.strerror or exc})")
            return None
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            os.close(descriptor)
            self._skip(path, "is not a regular file")
            return None
        self._skipped.discard(path)
        with os.fdopen(descriptor, "rb") as handle:
            if self._seen.get(path) == status.st_mtime:
                return None
            try:
                return status.st_mtime, handle.read()
            except OSError as exc:
                self._skip(path, f"cannot be read ({exc.strerror or exc})")
                return None

    def _skip(self, path: Path, why: str) -> None:
        """Warn once per path (a refresh looks again, and would repeat it on every request)."""
        if path not in self._skipped:
            self._skipped.add(path)
            logger.warning("%s %s: skipped, not read as a cassette", path, why)


def safe_name(name: str) -> str:
    """`name` as one path component any file system takes."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", name).strip("-") or "test"


def matched_body(cassette: Cassette) -> dict | None:
    """The cassette's request as matching reads it: a v2 stream's deployment taken from its path."""
    request = RecordedRequest.from_exchange(cassette.request.path, cassette.request.body)
    return None if request is None else request.body


def _file_stem(cassette: Cassette) -> str:
    """What a cassette's file is named after: its deployment, else its endpoint."""
    body = cassette.request.body or {}
    name = (body.get("workflow_deployment_name") or body.get("workflow_deployment_id") or deployment_in_path(cassette.request.path)
            or cassette.request.path.rsplit("/", 1)[-1])
    return safe_name(str(name))[:60]
