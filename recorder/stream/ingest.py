"""Ingesting recorded response bodies: NDJSON files, stdin, any iterable of byte chunks, cassettes.

Files are read in chunks and written in large batches, so memory stays bounded by the batch size
whatever the file size; past the first few MiB, a body's lines are parsed in a process of its own
while this one writes (recorder.stream.parse_stage). Stdin may be a stream still arriving
(`curl -sN ... | recorder ingest -`): it is read as bytes come and recorded like a live stream,
committed within the live flush window even while the pipe is quiet.

A cassette is recorded as the exchange it holds, as it happened, not as it is read now: each line
with its recorded arrival time (`recorded_at` + its offset), the recording with the cassette's
request, source, HTTP status, outcome and error, starting at the cassette's `recorded_at`; so
store -> cassette -> store -> cassette gives the same cassette. A `fault` is an instruction to
replays, not something that was received: it is not stored (the fault of a recorded cut follows
from its outcome again on export).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from recorder.model.cassette import FORMAT, Cassette
from recorder.model.exact_json import load_json
from recorder.model.lines import RawLine
from recorder.model.request import RecordedRequest
from recorder.model.timestamps import now_us
from recorder.store import FlushPolicy, Outcome, RecordingResult, Store
from recorder.stream.parse_stage import ParseStage, record_in_stage, start_stage

CHUNK_SIZE = 1 << 20
# A body longer than this is parsed in a process of its own from here on: below it, starting the
# process (~0.1 s) would cost more than it saves.
STAGE_AFTER_BYTES = 4 << 20
STDIN = "-"
# How every cassette begins once whitespace is dropped (see recorder.model.cassette.is_cassette).
_CASSETTE_HEAD = b'{"format":"' + FORMAT.encode() + b'"'
_WHITESPACE = re.compile(rb"\s+")
_FINAL_OUTCOMES = {Outcome.COMPLETE, Outcome.CUT, Outcome.HTTP_ERROR, Outcome.CONNECTION_ERROR, Outcome.INTERRUPTED}


class IngestError(ValueError):
    """A file cannot be ingested (it is missing, or its request file is not a JSON object)."""


def ingest_chunks(
    store: Store,
    chunks: Iterable[bytes],
    *,
    source: str,
    request: dict[str, Any] | RecordedRequest | None = None,
    policy: FlushPolicy | None = None,
    spans: bool = True,
    stage_after_bytes: int | None = STAGE_AFTER_BYTES,
    body_bytes: int | None = None,
) -> RecordingResult:
    """Record one response body that arrives as byte chunks (split anywhere).

    Once the body has passed `stage_after_bytes` (None: never), a parse process is started, and
    the rest of the body is parsed there as soon as it is up, while this thread commits
    (recorder.stream.parse_stage); a body known to be that long (`body_bytes`, a file's size)
    starts it at once. `spans=False` is for benchmarks only (see `Store.writer`)."""
    writer = store.writer(source=source, request=request, policy=policy or FlushPolicy.bulk(), spans=spans)
    chunks = iter(chunks)
    stage: ParseStage | None = None
    if stage_after_bytes is not None and body_bytes is not None and body_bytes >= stage_after_bytes:
        stage_after_bytes = 0
    try:
        for chunk in chunks:
            block = writer.cut(chunk, now_us())  # the lines of one chunk arrived together
            if block is not None:
                writer.add_block(block)
            if stage is not None and stage.usable:
                record_in_stage(writer, chunks, stage)
                break
            if stage is None and stage_after_bytes is not None and writer.body_bytes >= stage_after_bytes:
                stage = start_stage()  # None where none can start: asking again costs nothing
        else:
            last = writer.cut_end()
            if last is not None:
                writer.add_block(last)
    finally:
        if stage is not None:
            stage.close()
    return writer.finish()


def ingest_arriving_chunks(
    store: Store,
    chunks: Iterable[bytes],
    *,
    source: str,
    request: dict[str, Any] | RecordedRequest | None = None,
) -> RecordingResult:
    """Record a body that is still arriving (a pipe): each line is committed within the live
    flush window (50 lines or 100 ms), also while no more bytes come, as `recorder record` does."""
    from recorder.stream.sink import StreamSink

    sink = StreamSink(store, source=source, request=request, policy=FlushPolicy())
    try:
        for chunk in chunks:
            sink.feed(chunk, now_us())
    except (KeyboardInterrupt, SystemExit) as exc:
        signal_name = "SIGINT (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else "SIGTERM"
        sink.close(Outcome.INTERRUPTED, error=f"interrupted by {signal_name}; everything received was kept")
        raise
    return sink.close(Outcome.COMPLETE)


def ingest_cassette(
    store: Store,
    cassette: Cassette,
    *,
    request: dict[str, Any] | None = None,
    source: str | None = None,
    policy: FlushPolicy | None = None,
) -> RecordingResult:
    """Record the cassette's exchange. `request` overrides the cassette's request body; `source`
    is used when the cassette names none."""
    response = cassette.response
    writer = store.writer(
        source=cassette.source or source or "cassette",
        request=request if request is not None else RecordedRequest.from_exchange(cassette.request.path, cassette.request.body),
        policy=policy or FlushPolicy.bulk(),
    )
    started_us = cassette.recorded_at_us
    if response.status >= 400:
        # An error body is not a stream: the recorder keeps it in the recording's error, as live.
        error = response.error or f"HTTP {response.status}: {response.body().decode('utf-8', errors='replace')}"
        return writer.finish(Outcome.HTTP_ERROR, http_status=response.status, error=error)
    last = len(response.lines) - 1
    for position, line in enumerate(response.lines):
        terminated = position < last or response.ends_with_newline
        received_at_us = None if started_us is None else started_us + line.at_us
        writer.add(RawLine(position, line.data, terminated=terminated), received_at_us)
    # An in-progress recording exported mid-stream is, once copied, a stream that stopped there.
    outcome = response.outcome if response.outcome in _FINAL_OUTCOMES else Outcome.CUT
    ended_us = None if started_us is None else started_us + (response.lines[-1].at_us if response.lines else 0)
    return writer.finish(outcome, http_status=response.status, error=response.error, started_at_us=started_us, ended_at_us=ended_us)


def read_head(chunks: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """The first bytes of a body, enough to tell a cassette from NDJSON, and the chunks after them.

    From a pipe the first read may return a few bytes only: more are read while they could still
    begin a cassette, and no longer (a live stream's first line is not held back).
    """
    head = b""
    for chunk in chunks:
        head += chunk
        squeezed = _WHITESPACE.sub(b"", head.removeprefix(b"\xef\xbb\xbf"))
        if len(squeezed) >= len(_CASSETTE_HEAD) or not _CASSETTE_HEAD.startswith(squeezed):
            break
    return head, chunks


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
    if path == STDIN:
        return ingest_arriving_chunks(store, chunks, source=source, request=request)
    return ingest_chunks(store, chunks, source=source, request=request, body_bytes=Path(path).stat().st_size)


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
    # read1: what is there now (at most CHUNK_SIZE), not CHUNK_SIZE bytes however long they take.
    while chunk := handle.read1(CHUNK_SIZE):
        if on_bytes is not None:
            on_bytes(len(chunk))
        yield chunk
