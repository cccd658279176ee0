"""Ingesting recorded response bodies: NDJSON files, stdin, or any iterable of byte chunks.

Bodies are read in chunks and written in large batches, so memory stays bounded by the batch size
whatever the file size.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from recorder.model.events import load_json
from recorder.model.lines import LineSplitter
from recorder.model.request import RecordedRequest
from recorder.model.timestamps import now_us
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
        received_at_us = now_us()  # the lines of one chunk arrived together
        for line in splitter.feed(chunk):
            writer.add(line, received_at_us)
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
    """Record the NDJSON body in `path` (`-` reads stdin); `on_bytes` is told of each chunk's size.

    (`Recorder.ingest` also recognises cassettes; this reads bodies only.)
    """
    source, chunks = open_body(path, on_bytes)
    return ingest_chunks(store, chunks, source=source, request=request)


def open_body(path: str, on_bytes: Callable[[int], None] | None = None) -> tuple[str, Iterator[bytes]]:
    """The source name and the chunks of a saved body (`-` is stdin)."""
    if path == STDIN:
        return "stdin", _read_chunks(sys.stdin.buffer, on_bytes)
    file = Path(path)
    if not file.is_file():
        raise IngestError(f"{path}: no such file")
    return f"file:{file.resolve()}", _read_file_chunks(file, on_bytes)


def _read_file_chunks(file: Path, on_bytes: Callable[[int], None] | None) -> Iterator[bytes]:
    with file.open("rb") as handle:
        yield from _read_chunks(handle, on_bytes)


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
