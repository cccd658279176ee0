"""Ingesting recorded response bodies: NDJSON files, stdin, or any iterable of byte chunks.

Bodies are read in chunks and written in large batches, so memory stays bounded by the batch size
whatever the file size.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from recorder.model.cassette import is_cassette
from recorder.model.events import load_json
from recorder.model.lines import LineSplitter
from recorder.model.request import RecordedRequest
from recorder.store import FlushPolicy, RecordingResult, Store

CHUNK_SIZE = 1 << 20
STDIN = "-"


class IngestError(ValueError):
    """A file cannot be ingested (it is missing, or its request file is not a JSON object)."""


def ingest_chunks(
    store: Store,
    chunks: Iterable[bytes],
    *,
    source: str,
    request: dict[str, Any] | RecordedRequest | None = None,
    policy: FlushPolicy | None = None,
) -> RecordingResult:
    """Record one response body that arrives as byte chunks (split anywhere)."""
    writer = store.writer(source=source, request=request, policy=policy or FlushPolicy.bulk())
    splitter = LineSplitter()
    for chunk in chunks:
        for line in splitter.feed(chunk):
            writer.add(line)
    last = splitter.finish()
    if last is not None:
        writer.add(last)
    return writer.finish()


def ingest_path(
    store: Store,
    path: str,
    *,
    request: dict[str, Any] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> RecordingResult:
    """Record the body in `path` (`-` reads stdin); `on_bytes` is told of each chunk's size.

    A cassette (`recorder export`) is recognised by its first bytes and recorded as the exchange it
    holds: its request (unless `request` is given), arrival times, HTTP status and outcome.
    """
    if path == STDIN:
        return _ingest_body_or_cassette(store, _read_chunks(sys.stdin.buffer, on_bytes), source="stdin", request=request)
    file = Path(path)
    if not file.is_file():
        raise IngestError(f"{path}: no such file")
    with file.open("rb") as handle:
        return _ingest_body_or_cassette(store, _read_chunks(handle, on_bytes), source=f"file:{file.resolve()}", request=request)


def _ingest_body_or_cassette(
    store: Store, chunks: Iterator[bytes], *, source: str, request: dict[str, Any] | None
) -> RecordingResult:
    first = next(chunks, b"")
    if not is_cassette(first):
        return ingest_chunks(store, itertools.chain((first,), chunks), source=source, request=request)
    from recorder.model.cassette import Cassette, CassetteError
    from recorder.replay.ingest import ingest_cassette  # the cassette -> store mapping lives with replay

    try:
        cassette = Cassette.loads(first + b"".join(chunks))
    except CassetteError as exc:
        raise IngestError(f"{source.removeprefix('file:')}: {exc}") from exc
    return ingest_cassette(store, cassette, request=request, source=source)


def read_request_file(path: str) -> dict[str, Any]:
    """The request body saved beside a bare NDJSON body (`--request REQUEST.json`)."""
    try:
        body = load_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise IngestError(f"{path}: cannot read the request file ({exc.strerror})") from exc
    except ValueError as exc:
        raise IngestError(f"{path}: the request file is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise IngestError(f"{path}: the request file must hold one JSON object (the request body)")
    return body


def _read_chunks(handle: BinaryIO, on_bytes: Callable[[int], None] | None) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK_SIZE):
        if on_bytes is not None:
            on_bytes(len(chunk))
        yield chunk
