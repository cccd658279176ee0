"""A live stream's path into the store: bytes in on the reading thread, commits on a writer thread.

Reading never waits for the database, and the database never waits for the network: the reader
queues each chunk with its arrival time; the writer thread cuts chunks into blocks of whole lines,
parses and commits them in small batches and, when the stream goes quiet, commits whatever is
pending once the flush policy's delay has passed. So a received line is committed within about
`max_delay_s` even if nothing else ever arrives, and a process killed at any moment loses at most
that window and what was still queued.

When lines arrive faster than one thread parses and writes them (a backlog of `STAGE_BACKLOG_LINES`
builds), the rest of the stream is parsed in a process of its own (recorder.stream.parse_stage)
while the writer thread only commits, as bulk ingest does: unless an `on_parsed` view wants every
parsed line here, which keeps the parsing in this process.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from recorder.model.events import ParsedEvent, RejectedLine
from recorder.model.secrets import SecretScrubber
from recorder.model.timestamps import now_us
from recorder.store import FlushPolicy, Outcome, RecordingResult, Store
from recorder.stream.parse_stage import ParseStage, ParseStageFailed, start_stage

HEARTBEAT_S = 5.0
# When lines arrive faster than they commit, batches grow up to this many lines: the per-commit
# cost is then shared, and the writer catches up instead of falling ever further behind.
MAX_BATCH = 5_000
# Lines received but not yet taken by the writer thread past which the parse stage is started.
STAGE_BACKLOG_LINES = 2_000
YIELD_EVERY_S = 0.0005
_CLOSE = object()

logger = logging.getLogger("recorder")

ParsedCallback = Callable[[ParsedEvent | RejectedLine], None]


class SinkFailed(RuntimeError):
    """The store could not take the stream's lines (the database went away, the disk is full)."""


class StreamSink:
    """Records one live stream. `feed` chunks as they arrive; `close` says how the stream ended.

    `secrets` (the API key the stream was requested with) are scrubbed from every line, the
    request and the error before the store sees them. `on_parsed` (a live view) runs on the
    writer thread: if it raises, the failure is logged once and the recording goes on without it
    noticing, since a display must never cost a line. `stage_backlog_lines` (None: never) is the
    backlog past which lines are parsed in a process of their own.
    """

    def __init__(
        self,
        store: Store,
        *,
        source: str,
        request: dict[str, Any] | None,
        policy: FlushPolicy | None = None,
        on_parsed: ParsedCallback | None = None,
        on_commit: Callable[[list[int]], None] | None = None,
        secrets: SecretScrubber | None = None,
        stage_backlog_lines: int | None = STAGE_BACKLOG_LINES,
    ) -> None:
        self._secrets = secrets or SecretScrubber()
        self._writer = store.writer(
            source=source, request=self._secrets.value(request), policy=policy, on_commit=on_commit,
            scrub=self._secrets.lines if self._secrets else None,
        )
        self._on_parsed = on_parsed
        self._on_parsed_failed = False
        self._stage_backlog = stage_backlog_lines if on_parsed is None else None
        self._stage: ParseStage | None = None
        self._staged = False
        self._sender_failure: BaseException | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lines_fed = 0  # written by the feeding thread only
        self._lines_taken = 0  # written by the writer thread only
        self._failure: BaseException | None = None
        self._closed = False
        self._last_yield = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=f"recorder-sink-{self.recording_id}", daemon=True)
        self._thread.start()

    @property
    def recording_id(self) -> int:
        return self._writer.recording_id

    @property
    def lines_seen(self) -> int:
        """Complete lines received so far."""
        return self._lines_fed

    @property
    def staged(self) -> bool:
        """Whether the stream's lines are parsed in the parse stage's process now."""
        return self._staged

    def feed(self, chunk: bytes, received_at_us: int | None = None) -> None:
        """Hand over bytes just received (at `received_at_us`, default now). Cheap: the caller is
        usually the application's or the network's thread."""
        if self._failure is not None:
            raise SinkFailed(f"the store stopped taking this stream: {self._failure}") from self._failure
        if chunk:
            self._lines_fed += chunk.count(b"\n")
            self._queue.put((chunk, received_at_us if received_at_us is not None else now_us()))

    def close(self, outcome: str = Outcome.COMPLETE, *, http_status: int | None = None, error: str | None = None) -> RecordingResult:
        """Commit everything (a partial last line included, as a reject) and record how it ended."""
        if self._closed:
            raise RuntimeError("this stream is already closed")
        self._closed = True
        self._queue.put(_CLOSE)
        self._thread.join()
        if self._failure is not None:
            raise SinkFailed(f"the store stopped taking this stream: {self._failure}") from self._failure
        return self._writer.finish(outcome, http_status=http_status, error=self._secrets.optional_text(error))

    def _run(self) -> None:
        writer = self._writer
        last_beat = time.monotonic()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self._wait_s(last_beat))
                except queue.Empty:
                    item = None
                closing = self._take(item)
                # Whatever else has queued up meanwhile joins this batch.
                while not closing and writer.pending < MAX_BATCH:
                    try:
                        closing = self._take(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if closing:
                    last = writer.cut_end()
                    if last is not None:
                        writer.add_block(last, self._after_line, autoflush=False)
                    return
                if self._stage is None and self._stage_backlog is not None and self._backlog() >= self._stage_backlog:
                    self._stage = start_stage()  # started now, used once it is up (None: none can start)
                if self._stage is not None and self._stage.usable:
                    self._run_staged(last_beat)
                    return
                last_beat = self._commit_when_due(last_beat)
        except BaseException as exc:  # noqa: BLE001 - reported to the feeding thread, never lost
            self._failure = exc
        finally:
            if self._stage is not None:
                self._stage.close()

    def _commit_when_due(self, last_beat: float) -> float:
        """Commit when the batch is full or its oldest line due; say the recording is alive when
        nothing was committed for a while. Returns when the store last heard from this stream."""
        writer = self._writer
        if writer.batch_full or writer.flush_due():
            writer.flush()
            return time.monotonic()
        if writer.pending == 0 and time.monotonic() - last_beat >= HEARTBEAT_S:
            writer.heartbeat()
            return time.monotonic()
        return last_beat

    def _backlog(self) -> int:
        """Lines received and not committed yet: queued, or taken and waiting for the next commit."""
        return self._lines_fed - self._lines_taken + self._writer.pending

    def _take(self, item: Any) -> bool:
        """Add a queued chunk's complete lines; True when the item says the stream is closing."""
        if item is _CLOSE:
            return True
        if item is not None:
            chunk, received_at_us = item
            block = self._writer.cut(chunk, received_at_us)
            if block is not None:
                self._lines_taken += block.data.count(b"\n")
                self._writer.add_block(block, self._after_line, autoflush=False)
        return False

    def _run_staged(self, last_beat: float) -> None:
        """The rest of the stream through the parse stage: a thread of its own cuts the queued
        chunks into blocks for it, this one commits what it prepares, as the policy says."""
        stage, writer = self._stage, self._writer
        assert stage is not None
        stage.begin(writer.hand_over())
        self._staged = True
        sender = threading.Thread(target=self._send_to_stage, args=(stage,), name=f"recorder-stage-{self.recording_id}", daemon=True)
        sender.start()
        try:
            while True:
                try:
                    batch = stage.next_batch(self._wait_s(last_beat))
                except queue.Empty:
                    pass  # nothing new: only the clock moved
                except ParseStageFailed:
                    if self._sender_failure is not None:
                        raise self._sender_failure from None
                    raise
                else:
                    if batch is None:
                        return
                    writer.add_prepared(batch, autoflush=False)
                last_beat = self._commit_when_due(last_beat)
        finally:
            stage.close()  # unblocks a sender waiting on a full pipe
            sender.join()

    def _send_to_stage(self, stage: ParseStage) -> None:
        """Move the queued chunks to the stage, as blocks, until the stream closes."""
        try:
            while True:
                item = self._queue.get()
                if item is _CLOSE:
                    last = self._writer.cut_end()
                    if last is not None:
                        stage.submit(last)
                    stage.end()
                    return
                block = self._writer.cut(*item)
                if block is not None:
                    stage.submit(block)
                if self._queue.empty():
                    stage.hint()
        except ParseStageFailed:
            return  # the stage is gone: the writer thread says why
        except BaseException as exc:  # noqa: BLE001 - raised on the writer thread
            self._sender_failure = exc
            stage.close()

    def _after_line(self, parsed: ParsedEvent | RejectedLine) -> None:
        if self._on_parsed is not None:
            self._tell(parsed)
        self._yield_now_and_then()

    def _tell(self, parsed: ParsedEvent | RejectedLine) -> None:
        """Hand a line to `on_parsed`; its failures are the caller's, never the recording's."""
        try:
            self._on_parsed(parsed)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - a broken display must not lose the batch
            if not self._on_parsed_failed:
                self._on_parsed_failed = True
                logger.warning("recorder: the on_parsed callback failed; the stream is still recorded in full", exc_info=True)

    def _yield_now_and_then(self) -> None:
        """Hand the GIL to the feeding thread every half millisecond of work.

        The feeder is usually an application serving its user; left alone, this thread would
        keep the GIL for the interpreter's whole switch interval (5 ms) at a time.
        """
        now = time.perf_counter()
        if now - self._last_yield >= YIELD_EVERY_S:
            time.sleep(0)
            self._last_yield = time.perf_counter()

    def _wait_s(self, last_beat: float) -> float:
        """How long the writer may sleep: until the pending batch is due, or the next heartbeat."""
        until_beat = max(HEARTBEAT_S - (time.monotonic() - last_beat), 0.0)
        due_in = self._writer.due_in_s()
        return until_beat if due_in is None else min(due_in, until_beat)
