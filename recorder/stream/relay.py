"""Recording a stream that someone else is reading, without ever making that reader wait.

The reader (an application's thread, or its event loop, through `recorder.stream.tee`) hands each
raw chunk over with `take`, which only appends to a queue, and says how the stream ended with
`end` / `fail` / `abandon`. None of these block or raise. A thread of the relay's own does
everything that touches the store: opening the recording, decoding a copy of the body
(Content-Encoding), splitting and committing lines (through `StreamSink`), and closing the
recording with its outcome. When the store fails, the relay logs one warning on the `recorder`
logger and stops keeping copies; the reader never notices. Whoever must know how the recording
went (`recorder record`) blocks on `result()`, which raises the store's failure.
"""

from __future__ import annotations

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

from recorder.model.events import ParsedEvent, RejectedLine
from recorder.model.secrets import SecretScrubber
from recorder.model.timestamps import now_us
from recorder.store import FlushPolicy, Outcome, RecordingResult, Store
from recorder.stream.failures import ERROR_BODY_READ, describe_failure, scrubbed_error_body
from recorder.stream.sink import SinkFailed, StreamSink
from recorder.stream.tee import CLOSED_EARLY, content_decoder
from recorder.stream.vellum_api import Timeouts

logger = logging.getLogger("recorder")

EXITED = "the application exited while the stream was still open"
# At interpreter exit, how long to wait for recordings to commit what they received.
EXIT_WAIT_S = 10.0

RecordedCallback = Callable[[RecordingResult], None]
ParsedCallback = Callable[[ParsedEvent | RejectedLine], None]
CommitCallback = Callable[[list[int]], None]


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


@dataclass(frozen=True, slots=True)
class SinkOptions:
    """What every recording of one transport is given: when to commit, and who to tell as it goes."""

    policy: FlushPolicy | None = None
    on_parsed: ParsedCallback | None = None
    on_commit: CommitCallback | None = None


class StreamRelay:
    """One recorded response: a `TeeTarget` for the reader (see the module doc), and `result()`
    for whoever waits for the recording."""

    def __init__(
        self,
        store: Store,
        *,
        source: str,
        request: dict[str, Any] | None,
        head: ResponseHead | None,
        options: SinkOptions = SinkOptions(),
        timeouts: Timeouts | None = None,
        on_done: Callable[[StreamRelay, RecordingResult | None], None] | None = None,
        secrets: SecretScrubber | None = None,
    ) -> None:
        self._store = store
        self._secrets = secrets or SecretScrubber()
        self._source = source
        self._request = request
        self._head = head  # None: the request failed before any response
        self._options = options
        self._timeouts = timeouts  # the request's, to say which one ran out
        self._on_done = on_done
        self._inbox: queue.SimpleQueue[tuple[bytes, int] | Ending] = queue.SimpleQueue()
        self._given_up = False  # the store failed: stop queueing copies nobody will write
        self._ended = False
        self._end_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="recorder-relay", daemon=True)
        self._result: RecordingResult | None = None
        self._failure: BaseException | None = None
        self.error: str | None = None
        """The error the recording was closed with (scrubbed), once `result()` has returned."""

    def start(self) -> StreamRelay:
        self._thread.start()
        return self

    # -- the reader's side: never blocks, never raises ----------------------------------------------

    def take(self, chunk: bytes) -> None:
        """A chunk as it came off the wire (still content-encoded), stamped here: its lines arrived now,
        not when the relay's thread gets to them."""
        if chunk and not self._given_up:
            self._inbox.put((chunk, now_us()))

    def end(self) -> None:
        """The body ended normally."""
        self.finish(Ending(Outcome.COMPLETE))

    def fail(self, exc: BaseException) -> None:
        """Reading the body raised `exc` (which the reader re-raises)."""
        reason = describe_failure(exc, self._timeouts, streaming=True)
        if isinstance(exc, Exception):
            self.finish(Ending(Outcome.CUT, reason))
        else:  # KeyboardInterrupt, SystemExit, asyncio.CancelledError
            self.finish(Ending(Outcome.INTERRUPTED, f"the application was interrupted while reading the stream ({reason})"))

    def no_response(self, exc: BaseException) -> None:
        """Sending the request raised `exc` before any response: a connection error, or an interruption."""
        reason = describe_failure(exc, self._timeouts, streaming=False)
        if isinstance(exc, Exception):
            self.finish(Ending(Outcome.CONNECTION_ERROR, reason))
        else:
            self.finish(Ending(Outcome.INTERRUPTED, f"the application was interrupted before the response arrived ({reason})"))

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

    # -- the waiter's side ---------------------------------------------------------------------------

    @property
    def failed(self) -> bool:
        """The store failed: nothing more of this stream will be recorded (`result()` says why)."""
        return self._given_up

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the recording is closed, or `timeout` runs out (False)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self, timeout: float | None = None) -> RecordingResult:
        """Block until the recording is closed (after the stream ended) and say what it stored.

        Raises SinkFailed when the store failed (the reader was not told), TimeoutError when
        `timeout` ran out first.
        """
        if not self.wait(timeout):
            raise TimeoutError(f"the recording of {self._source} was still being committed after {timeout} s")
        if self._result is None:
            raise SinkFailed(f"the store stopped taking this stream: {store_error(self._failure)}") from self._failure
        return self._result

    # -- the relay's thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._result = self._record()
        except Exception as exc:  # noqa: BLE001 - a store failure must never reach the application
            self._failure = exc
            self._give_up(exc)
        finally:
            if self._on_done is not None:
                self._on_done(self, self._result)

    def _record(self) -> RecordingResult:
        options = self._options
        sink = StreamSink(self._store, source=self._source, request=self._request, policy=options.policy, on_parsed=options.on_parsed,
                          on_commit=options.on_commit, secrets=self._secrets)
        try:
            body = _BodyCopy(sink, self._head)
            while True:
                item = self._inbox.get()
                if isinstance(item, Ending):
                    body.finish()
                    outcome, http_status, error = self._how_it_ended(sink, item, body)
                    self.error = self._secrets.optional_text(error)
                    return sink.close(outcome, http_status=http_status, error=error)
                body.take(*item)
        except Exception as exc:
            # Close what can still be closed, or the sink's writer would heartbeat an in-progress
            # recording forever; when the store itself failed, this fails too and changes nothing.
            try:
                sink.close(Outcome.CUT, error=f"the recorder failed while recording this stream: {store_error(exc)}")
            except Exception:  # noqa: BLE001, S110 - the original failure is the one to report
                pass
            raise

    def _how_it_ended(self, sink: StreamSink, ending: Ending, body: _BodyCopy) -> tuple[str, int | None, str | None]:
        """The recording's outcome, HTTP status and error."""
        head = self._head
        if head is None:
            return ending.outcome, None, f"{self._source}: {ending.reason}"
        if not head.success:
            text = scrubbed_error_body(body.error_body, self._secrets)
            return Outcome.HTTP_ERROR, head.status, f"HTTP {head.status} {head.reason or 'error'}: {text}"
        if body.undecodable is not None:
            encoding = head.headers.get("content-encoding")
            reason = f"the body could not be decoded (Content-Encoding: {encoding}): {body.undecodable}"
            return Outcome.CUT, head.status, f"stream cut after {sink.lines_seen} lines: {reason}"
        if ending.outcome == Outcome.COMPLETE:
            return Outcome.COMPLETE, head.status, None
        how = "cut" if ending.outcome == Outcome.CUT else ending.outcome
        return ending.outcome, head.status, f"stream {how} after {sink.lines_seen} lines: {ending.reason}"

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
        self._decoder = None if head is None else content_decoder(head.headers)
        self.error_body = b""
        self.undecodable: str | None = None

    def take(self, chunk: bytes, received_at_us: int) -> None:
        if self.undecodable is not None:
            return
        try:
            data = chunk if self._decoder is None else self._decoder.decode(chunk)
        except Exception as exc:  # noqa: BLE001 - the application's httpx fails on the same bytes
            self.undecodable = describe_failure(exc)
            return
        self._keep(data, received_at_us)

    def finish(self) -> None:
        if self._decoder is None or self.undecodable is not None:
            return
        try:
            self._keep(self._decoder.flush(), now_us())
        except Exception as exc:  # noqa: BLE001
            self.undecodable = describe_failure(exc)

    def _keep(self, data: bytes, received_at_us: int) -> None:
        if self._success:
            self._sink.feed(data, received_at_us)
        elif len(self.error_body) < ERROR_BODY_READ:
            self.error_body = (self.error_body + data)[:ERROR_BODY_READ]


class RelayGroup:
    """The relays one transport started, so closing the transport can wait for them."""

    def __init__(self, store: Store, options: SinkOptions, on_recorded: RecordedCallback | None) -> None:
        self._store = store
        self._options = options
        self._on_recorded = on_recorded
        self._active: set[StreamRelay] = set()
        self._idle = threading.Condition()
        _groups.add(self)

    def start(
        self,
        *,
        source: str,
        request: dict[str, Any] | None,
        head: ResponseHead | None,
        timeouts: Timeouts | None = None,
        secrets: SecretScrubber | None = None,
    ) -> StreamRelay:
        """A relay for one response; `secrets` (the request's credentials) are kept out of its recording."""
        relay = StreamRelay(
            self._store, source=source, request=request, head=head, options=self._options, timeouts=timeouts, on_done=self._done, secrets=secrets
        )
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


def store_error(exc: BaseException) -> str:
    """One line about a store failure: the driver's message, without the SQL and its parameters
    (they would carry the events' contents into the application's logs)."""
    while isinstance(exc, SinkFailed) and exc.__cause__ is not None:
        exc = exc.__cause__
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"
