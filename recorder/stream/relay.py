"""Recording a stream that someone else is reading, without ever making that reader wait.

The reader (an application's thread, or its event loop) hands each raw chunk over with `put`,
which only appends to a queue, and says how the stream ended with `end` / `fail` / `abandon`.
None of these block or raise. A thread of the relay's own does everything that touches the store:
opening the recording, decoding a copy of the body (Content-Encoding), splitting and committing
lines (through `StreamSink`), and closing the recording with its outcome. When the store fails,
the relay logs one warning on the `recorder` logger and stops keeping copies; the reader never
notices.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from recorder.model.secrets import SecretScrubber
from recorder.store import FlushPolicy, Outcome, RecordingResult, Store
from recorder.stream.http import ERROR_BODY_READ, describe_failure, scrubbed_error_body
from recorder.stream.sink import SinkFailed, StreamSink

logger = logging.getLogger("recorder")

CLOSED_EARLY = "closed by the application before the end of the stream"
EXITED = "the application exited while the stream was still open"
# At interpreter exit, how long to wait for recordings to commit what they received.
EXIT_WAIT_S = 10.0

RecordedCallback = Callable[[RecordingResult], None]


@dataclass(frozen=True, slots=True)
class Ending:
    """How the reader saw the stream end."""

    outcome: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """What arrived before the body: the status line and the headers."""

    status: int
    reason: str
    headers: httpx.Headers

    @property
    def success(self) -> bool:
        return 200 <= self.status < 300


class StreamRelay:
    """One recorded response. `put`/`end`/`fail`/`abandon` are for the reader; see the module doc."""

    def __init__(
        self,
        store: Store,
        *,
        source: str,
        request: dict[str, Any] | None,
        head: ResponseHead | None,
        policy: FlushPolicy | None = None,
        on_done: Callable[[StreamRelay, RecordingResult | None], None] | None = None,
        secrets: SecretScrubber | None = None,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._source = source
        self._request = request
        self._head = head  # None: the request failed before any response
        self._policy = policy
        self._on_done = on_done
        self._inbox: queue.SimpleQueue[bytes | Ending] = queue.SimpleQueue()
        self._given_up = False  # the store failed: stop queueing copies nobody will write
        self._ended = False
        self._end_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="recorder-relay", daemon=True)

    def start(self) -> StreamRelay:
        self._thread.start()
        return self

    # -- the reader's side: never blocks, never raises ----------------------------------------------

    def put(self, chunk: bytes) -> None:
        """A chunk as it came off the wire (still content-encoded)."""
        if chunk and not self._given_up:
            self._inbox.put(chunk)

    def end(self) -> None:
        """The body ended normally."""
        self.finish(Ending(Outcome.COMPLETE))

    def fail(self, exc: BaseException) -> None:
        """Reading the body raised `exc` (which the reader re-raises)."""
        if isinstance(exc, Exception):
            self.finish(Ending(Outcome.CUT, describe(exc)))
        else:  # KeyboardInterrupt, SystemExit, asyncio.CancelledError
            self.finish(Ending(Outcome.INTERRUPTED, f"the application was interrupted while reading the stream ({describe(exc)})"))

    def abandon(self) -> None:
        """The reader closed the response; a no-op when the stream had already ended."""
        self.finish(Ending(Outcome.CUT, CLOSED_EARLY))

    def finish(self, ending: Ending) -> None:
        """Say how the stream ended. Only the first call counts: a close always follows an end."""
        with self._end_lock:
            if self._ended:
                return
            self._ended = True
        self._inbox.put(ending)

    # -- the relay's thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        result: RecordingResult | None = None
        try:
            result = self._record()
        except Exception as exc:  # noqa: BLE001 - a store failure must never reach the application
            self._give_up(exc)
        finally:
            if self._on_done is not None:
                self._on_done(self, result)

    def _record(self) -> RecordingResult:
        sink = StreamSink(self._store, source=self._source, request=self._request, policy=self._policy, secrets=self._secrets)
        try:
            body = _BodyCopy(sink, self._head)
            while True:
                item = self._inbox.get()
                if isinstance(item, Ending):
                    body.finish()
                    return self._close(sink, item, body)
                body.take(item)
        except Exception as exc:
            # Close what can still be closed, or the sink's writer would heartbeat an in-progress
            # recording forever; when the store itself failed, this fails too and changes nothing.
            try:
                sink.close(Outcome.CUT, error=f"the recorder failed while recording this stream: {store_error(exc)}")
            except Exception:  # noqa: BLE001, S110 - the original failure is the one to report
                pass
            raise

    def _close(self, sink: StreamSink, ending: Ending, body: _BodyCopy) -> RecordingResult:
        head = self._head
        if head is None:
            return sink.close(ending.outcome, error=f"{self._source}: {ending.reason}")
        if not head.success:
            text = scrubbed_error_body(body.error_body, self._secrets)
            return sink.close(Outcome.HTTP_ERROR, http_status=head.status, error=f"HTTP {head.status} {head.reason or 'error'}: {text}")
        if body.undecodable is not None:
            encoding = head.headers.get("content-encoding")
            reason = f"the body could not be decoded (Content-Encoding: {encoding}): {body.undecodable}"
            return sink.close(Outcome.CUT, http_status=head.status, error=f"stream cut after {sink.lines_seen} lines: {reason}")
        if ending.outcome == Outcome.COMPLETE:
            return sink.close(Outcome.COMPLETE, http_status=head.status)
        how = "cut" if ending.outcome == Outcome.CUT else ending.outcome
        return sink.close(ending.outcome, http_status=head.status, error=f"stream {how} after {sink.lines_seen} lines: {ending.reason}")

    def _give_up(self, exc: BaseException) -> None:
        self._given_up = True
        while True:  # free the queued copies now rather than when the response is collected
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                break
        logger.warning(
            "recorder: could not record the workflow stream from %s (the application is unaffected; "
            "the rest of this stream is not recorded): %s",
            self._source,
            store_error(exc),
        )


class _BodyCopy:
    """The relay's copy of the body: decoded as the application's httpx decodes it, then fed to the
    sink line by line (a success) or kept, up to a limit, as the error body (any other status)."""

    def __init__(self, sink: StreamSink, head: ResponseHead | None) -> None:
        self._sink = sink
        self._success = head is not None and head.success
        self._decoder = content_decoder(head)
        self.error_body = b""
        self.undecodable: str | None = None

    def take(self, chunk: bytes) -> None:
        if self.undecodable is not None:
            return
        try:
            data = chunk if self._decoder is None else self._decoder.decode(chunk)
        except Exception as exc:  # noqa: BLE001 - the application's httpx fails on the same bytes
            self.undecodable = describe(exc)
            return
        self._keep(data)

    def finish(self) -> None:
        if self._decoder is None or self.undecodable is not None:
            return
        try:
            self._keep(self._decoder.flush())
        except Exception as exc:  # noqa: BLE001
            self.undecodable = describe(exc)

    def _keep(self, data: bytes) -> None:
        if self._success:
            self._sink.feed(data)
        elif len(self.error_body) < ERROR_BODY_READ:
            self.error_body = (self.error_body + data)[:ERROR_BODY_READ]


class RelayGroup:
    """The relays one transport started, so closing the transport can wait for them."""

    def __init__(self, store: Store, policy: FlushPolicy | None, on_recorded: RecordedCallback | None) -> None:
        self._store = store
        self._policy = policy
        self._on_recorded = on_recorded
        self._active: set[StreamRelay] = set()
        self._idle = threading.Condition()
        _groups.add(self)

    def start(
        self, *, source: str, request: dict[str, Any] | None, head: ResponseHead | None, secrets: SecretScrubber | None = None
    ) -> StreamRelay:
        """A relay for one response; `secrets` (the request's credentials) are kept out of its recording."""
        relay = StreamRelay(self._store, source=source, request=request, head=head, policy=self._policy, on_done=self._done, secrets=secrets)
        with self._idle:
            self._active.add(relay)
        return relay.start()

    def _done(self, relay: StreamRelay, result: RecordingResult | None) -> None:
        with self._idle:
            self._active.discard(relay)
            self._idle.notify_all()
        if result is not None and self._on_recorded is not None:
            try:
                self._on_recorded(result)
            except Exception:  # noqa: BLE001 - the callback is the application's; never let it kill the recorder
                logger.warning("recorder: the on_recorded callback failed", exc_info=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every relay started so far has closed its recording; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def wait_or_warn(self, timeout: float, moment: str) -> None:
        """Wait for the recordings to finish; say so in a warning if some did not in time."""
        if not self.wait(timeout):
            logger.warning("recorder: %d workflow stream(s) were still being recorded %s", len(self._active), moment)

    def interrupt_all(self) -> None:
        """Record every stream still open as interrupted: nobody will read it any more."""
        with self._idle:
            active = list(self._active)
        for relay in active:
            relay.finish(Ending(Outcome.INTERRUPTED, EXITED))


_groups: weakref.WeakSet[RelayGroup] = weakref.WeakSet()


@atexit.register
def _finish_recordings_at_exit() -> None:
    """Relay threads are daemons, killed as the interpreter finalises: before that, let them commit
    what they received (applications rarely close their Vellum client, so this is the last chance)."""
    groups = list(_groups)
    for group in groups:
        group.interrupt_all()
    deadline = time.monotonic() + EXIT_WAIT_S
    for group in groups:
        group.wait_or_warn(max(deadline - time.monotonic(), 0.0), "at exit; what they received since their last commit is lost")


def content_decoder(head: ResponseHead | None) -> Any:
    """The decoder httpx uses for the application's copy of the body (None: no Content-Encoding).

    A shadow Response picks it exactly as httpx does (several codings in order, unknown ones
    skipped, br/zstd only when their packages are installed). `_get_content_decoder` is private;
    should a future httpx drop it, the AttributeError lands on the relay's thread and is logged as a
    failed recording, never seen by the application.
    """
    if head is None or not head.headers.get("content-encoding"):
        return None
    return httpx.Response(head.status, headers=head.headers)._get_content_decoder()


def describe(exc: BaseException) -> str:
    """One line on why a stream ended early (the same wording `recorder record` uses)."""
    return describe_failure(exc)


def store_error(exc: BaseException) -> str:
    """One line about a store failure: the driver's message, without the SQL and its parameters
    (they would carry the events' contents into the application's logs)."""
    while isinstance(exc, SinkFailed) and exc.__cause__ is not None:
        exc = exc.__cause__
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"
