"""Recording the workflow streams an application already consumes, at httpx's transport seam.

An application that uses the official `vellum-ai` client keeps using it; the recorder sits under
it as an httpx transport. For `POST .../v1/execute-workflow-stream` the transport forwards the
request to the real (inner) transport and hands back a response whose byte stream passes every
chunk on to the application unchanged while a copy goes to the store. Every other request passes
through untouched.

What the application sees does not change: the response is the inner transport's status, headers,
extensions and exactly its bytes, chunk for chunk and still content-encoded (httpx decodes gzip
above the transport, as it always does). The application's thread only drops each chunk onto a
queue; everything that touches the store (opening the recording, decoding a copy, splitting lines,
committing, closing) happens on a thread of the recording's own. So a slow or broken store never
blocks or breaks the application: a failure is logged as a warning on the `recorder` logger, the
rest of that stream goes unrecorded, and the application's bytes keep flowing.

The copy is decoded with the same decoder httpx picks for the application (from the response's
Content-Encoding), so the store gets exactly the decoded bytes the application's `iter_lines`
reads, and splits them on `\\n` only (the official client's `iter_lines` also splits on U+2028 and
friends and drops what it cannot parse; the recorder keeps every line).
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from recorder.store import FlushPolicy, Outcome, RecordingResult, Store
from recorder.stream.http import ERROR_BODY_LIMIT, STREAM_PATH
from recorder.stream.sink import SinkFailed, StreamSink

logger = logging.getLogger("recorder")

# How long closing the transport (and so the httpx client) waits for streams still being committed.
CLOSE_WAIT_S = 10.0
CLOSED_EARLY = "closed by the application before the end of the stream"

RecordedCallback = Callable[[RecordingResult], None]


class RecordingTransport(httpx.BaseTransport):
    """An httpx transport that records every workflow stream passing through it.

        client = Vellum(api_key=..., httpx_client=httpx.Client(transport=RecordingTransport(store)))

    `inner` is the transport that does the network work (default: a plain `httpx.HTTPTransport()`).
    When you hand httpx a transport, the client's own `verify=`, `cert=`, `http2=`, `limits=` and
    `proxy=` settings are not applied to it: give them to the inner transport instead, e.g.
    `RecordingTransport(store, httpx.HTTPTransport(verify=ctx, http2=True))`. Proxies taken from
    the environment (HTTPS_PROXY with `trust_env=True`) become httpx *mounts* that bypass
    `transport=`; `instrument()` wraps those too.

    `on_recorded(result)` is called (on the recording's thread) with each finished recording.
    Closing the transport (closing the client does it) waits up to `CLOSE_WAIT_S` for streams still
    being committed.
    """

    def __init__(
        self,
        store: Store,
        inner: httpx.BaseTransport | None = None,
        *,
        policy: FlushPolicy | None = None,
        on_recorded: RecordedCallback | None = None,
    ) -> None:
        self.inner = inner if inner is not None else httpx.HTTPTransport()
        self._recordings = _Recordings(store, policy, on_recorded)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not is_workflow_stream(request):
            return self.inner.handle_request(request)
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:
            self._recordings.failed_request(request, exc)
            raise
        recording = self._recordings.start(request, response)
        return _with_stream(response, _TeeStream(response.stream, recording), request)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every stream started so far is committed; False if `timeout` ran out first."""
        return self._recordings.wait(timeout)

    def close(self) -> None:
        self._recordings.wait_at_close()
        self.inner.close()


class AsyncRecordingTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of `RecordingTransport`, for `httpx.AsyncClient` and `vellum.AsyncVellum`.

        client = AsyncVellum(api_key=..., httpx_client=httpx.AsyncClient(transport=AsyncRecordingTransport(store)))

    The event loop never waits for the store: chunks are queued to the recording's thread.
    """

    def __init__(
        self,
        store: Store,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        policy: FlushPolicy | None = None,
        on_recorded: RecordedCallback | None = None,
    ) -> None:
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self._recordings = _Recordings(store, policy, on_recorded)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_workflow_stream(request):
            return await self.inner.handle_async_request(request)
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            self._recordings.failed_request(request, exc)
            raise
        recording = self._recordings.start(request, response)
        return _with_stream(response, _AsyncTeeStream(response.stream, recording), request)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (blocking the calling thread) until every stream started so far is committed."""
        return self._recordings.wait(timeout)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._recordings.wait_at_close)
        await self.inner.aclose()


Client = TypeVar("Client")


def instrument(client: Client, store: Store, *, policy: FlushPolicy | None = None, on_recorded: RecordedCallback | None = None) -> Client:
    """Record every workflow stream `client` executes into `store`, in place; returns `client`.

    `client` is a `vellum.Vellum` or `vellum.AsyncVellum` (any Fern-generated client that keeps
    its httpx client at `client._client_wrapper.httpx_client.httpx_client`), or an `httpx.Client`
    / `httpx.AsyncClient`. Its transport, and every mounted transport (httpx turns environment
    proxies into mounts), is wrapped in a `RecordingTransport` / `AsyncRecordingTransport`.

    This reaches into private attributes (the Fern wrapper's, and httpx's `_transport` and
    `_mounts`), so a future client release may move them. The clean alternative, with public
    arguments only, is to build the client around the transport yourself:

        Vellum(api_key=..., httpx_client=httpx.Client(transport=RecordingTransport(store)))
        AsyncVellum(api_key=..., httpx_client=httpx.AsyncClient(transport=AsyncRecordingTransport(store)))
    """
    http = _httpx_client_of(client)
    if isinstance(http, httpx.Client):
        wrap: Callable[[Any], Any] = lambda inner: RecordingTransport(store, inner, policy=policy, on_recorded=on_recorded)  # noqa: E731
        recording_type: type = RecordingTransport
    else:
        wrap = lambda inner: AsyncRecordingTransport(store, inner, policy=policy, on_recorded=on_recorded)  # noqa: E731
        recording_type = AsyncRecordingTransport
    transports = [http._transport, *(t for t in http._mounts.values() if t is not None)]
    if any(isinstance(transport, recording_type) for transport in transports):
        raise ValueError("this client is already recorded (instrument() was called on it before)")
    http._transport = wrap(http._transport)
    http._mounts = {pattern: None if transport is None else wrap(transport) for pattern, transport in http._mounts.items()}
    return client


def is_workflow_stream(request: httpx.Request) -> bool:
    """Whether the request executes a workflow as a stream (the only requests recorded)."""
    return request.method == "POST" and request.url.path.endswith(STREAM_PATH)


def _httpx_client_of(client: Any) -> httpx.Client | httpx.AsyncClient:
    if isinstance(client, (httpx.Client, httpx.AsyncClient)):
        return client
    wrapper = getattr(client, "_client_wrapper", None)
    http = getattr(getattr(wrapper, "httpx_client", None), "httpx_client", None)
    if isinstance(http, (httpx.Client, httpx.AsyncClient)):
        return http
    raise TypeError(
        f"cannot find the httpx client of a {type(client).__name__}: pass a vellum.Vellum, vellum.AsyncVellum, "
        "httpx.Client or httpx.AsyncClient, or build the client with httpx_client=httpx.Client(transport=RecordingTransport(store))"
    )


def _with_stream(response: httpx.Response, stream: httpx.SyncByteStream | httpx.AsyncByteStream, request: httpx.Request) -> httpx.Response:
    """The inner response as the application would have got it, reading through `stream`.

    A new Response rather than the inner one with its stream swapped: an inner response built with
    `content=` has already read (and decoded) its body, and would serve that without ever pulling
    the stream. Status, headers (raw, content-encoding included) and extensions (HTTP version,
    reason phrase, network stream) are carried over unchanged.
    """
    return httpx.Response(
        status_code=response.status_code,
        headers=response.headers,
        stream=stream,
        extensions=response.extensions,
        request=request,
    )


# -- the application's side: pass every chunk on, queue a copy ---------------------------------------


class _TeeStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, recording: _StreamRecording) -> None:
        self._inner = inner
        self._recording = recording

    def __iter__(self) -> Iterator[bytes]:
        recording = self._recording
        try:
            for chunk in self._inner:
                recording.put(chunk)
                yield chunk
        except GeneratorExit:  # the consumer stopped pulling; close() says how it ended
            raise
        except BaseException as exc:
            recording.fail(exc)
            raise
        recording.end()

    def close(self) -> None:
        self._recording.abandon()
        self._inner.close()


class _AsyncTeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, recording: _StreamRecording) -> None:
        self._inner = inner
        self._recording = recording

    async def __aiter__(self) -> AsyncIterator[bytes]:
        recording = self._recording
        try:
            async for chunk in self._inner:
                recording.put(chunk)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            recording.fail(exc)
            raise
        recording.end()

    async def aclose(self) -> None:
        self._recording.abandon()
        await self._inner.aclose()


# -- the recorder's side: one thread per recorded stream ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _End:
    outcome: str
    reason: str | None = None


class _Recordings:
    """The streams one transport is recording, so closing it can wait for them."""

    def __init__(self, store: Store, policy: FlushPolicy | None, on_recorded: RecordedCallback | None) -> None:
        self._store = store
        self._policy = policy
        self._on_recorded = on_recorded
        self._active: set[_StreamRecording] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def start(self, request: httpx.Request, response: httpx.Response) -> _StreamRecording:
        return self._begin(request, response.status_code, response.reason_phrase, response.headers)

    def failed_request(self, request: httpx.Request, exc: BaseException) -> None:
        """No response at all (connection refused, timeout before the headers...): recorded too."""
        recording = self._begin(request, None, None, None)
        if isinstance(exc, Exception):
            recording.finish(_End(Outcome.CONNECTION_ERROR, _describe(exc)))
        else:
            recording.finish(_End(Outcome.INTERRUPTED, f"the application was interrupted before the response arrived ({_describe(exc)})"))

    def _begin(self, request: httpx.Request, status: int | None, reason: str | None, headers: httpx.Headers | None) -> _StreamRecording:
        recording = _StreamRecording(
            self._store,
            source=_source(request),
            request=_request_body(request),
            policy=self._policy,
            status=status,
            reason=reason,
            headers=headers,
            on_done=self._done,
        )
        with self._lock:
            self._active.add(recording)
        recording.start()
        return recording

    def _done(self, recording: _StreamRecording, result: RecordingResult | None) -> None:
        with self._lock:
            self._active.discard(recording)
            self._idle.notify_all()
        if result is not None and self._on_recorded is not None:
            try:
                self._on_recorded(result)
            except Exception:  # noqa: BLE001 - the callback is the application's; never let it kill the recorder
                logger.warning("recorder: the on_recorded callback failed", exc_info=True)

    def wait(self, timeout: float | None) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def wait_at_close(self) -> None:
        if not self.wait(CLOSE_WAIT_S):
            logger.warning("recorder: %d workflow stream(s) were still being recorded when the client closed", len(self._active))


class _StreamRecording:
    """One recorded response. The application's thread calls put/end/fail/abandon, which never
    block and never raise; the recording's thread does everything that touches the store."""

    def __init__(
        self,
        store: Store,
        *,
        source: str,
        request: dict[str, Any] | None,
        policy: FlushPolicy | None,
        status: int | None,
        reason: str | None,
        headers: httpx.Headers | None,
        on_done: Callable[[_StreamRecording, RecordingResult | None], None],
    ) -> None:
        self._store = store
        self._source = source
        self._request = request
        self._policy = policy
        self._status = status
        self._reason = reason
        self._headers = headers
        self._on_done = on_done
        self._inbox: queue.SimpleQueue[bytes | _End] = queue.SimpleQueue()
        self._given_up = False  # the store failed: stop queueing copies nobody will write
        self._finished = False
        self._finish_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="recorder-instrument", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # application side ------------------------------------------------------------------------------

    def put(self, chunk: bytes) -> None:
        if chunk and not self._given_up:
            self._inbox.put(chunk)

    def end(self) -> None:
        self.finish(_End(Outcome.COMPLETE))

    def fail(self, exc: BaseException) -> None:
        if isinstance(exc, Exception):
            self.finish(_End(Outcome.CUT, _describe(exc)))
        else:  # KeyboardInterrupt, SystemExit, asyncio.CancelledError
            self.finish(_End(Outcome.INTERRUPTED, f"the application was interrupted while reading the stream ({_describe(exc)})"))

    def abandon(self) -> None:
        self.finish(_End(Outcome.CUT, CLOSED_EARLY))

    def finish(self, end: _End) -> None:
        """Say how the stream ended; only the first call counts (close() follows every ending)."""
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        self._inbox.put(end)

    # recording side --------------------------------------------------------------------------------

    def _run(self) -> None:
        result: RecordingResult | None = None
        try:
            result = self._record()
        except Exception as exc:  # noqa: BLE001 - a store failure must never reach the application
            self._give_up(exc)
        finally:
            self._on_done(self, result)

    def _record(self) -> RecordingResult:
        sink = StreamSink(self._store, source=self._source, request=self._request, policy=self._policy)
        success = self._status is not None and 200 <= self._status < 300
        error_body = bytearray()
        decoder = _content_decoder(self._status, self._headers)
        undecodable: str | None = None
        while True:
            item = self._inbox.get()
            if isinstance(item, _End):
                end = item
                break
            if undecodable is not None:
                continue
            try:
                data = item if decoder is None else decoder.decode(item)
            except Exception as exc:  # noqa: BLE001 - the application's httpx fails on the same bytes
                undecodable = _describe(exc)
                continue
            if success:
                sink.feed(data)
            elif len(error_body) < ERROR_BODY_LIMIT:
                error_body += data
        if decoder is not None and undecodable is None:
            try:
                tail = decoder.flush()
            except Exception as exc:  # noqa: BLE001
                undecodable = _describe(exc)
            else:
                if success:
                    sink.feed(tail)
                elif len(error_body) < ERROR_BODY_LIMIT:
                    error_body += tail
        return self._close(sink, end, success, bytes(error_body[:ERROR_BODY_LIMIT]), undecodable)

    def _close(self, sink: StreamSink, end: _End, success: bool, error_body: bytes, undecodable: str | None) -> RecordingResult:
        if self._status is None:
            return sink.close(end.outcome, error=f"{self._source}: {end.reason}")
        if not success:
            text = error_body.decode("utf-8", errors="replace")
            return sink.close(Outcome.HTTP_ERROR, http_status=self._status, error=f"HTTP {self._status} {self._reason or 'error'}: {text}")
        if undecodable is not None:
            encoding = self._headers.get("content-encoding") if self._headers is not None else None
            message = f"stream cut after {sink.lines_seen} lines: the body could not be decoded (Content-Encoding: {encoding}): {undecodable}"
            return sink.close(Outcome.CUT, http_status=self._status, error=message)
        if end.outcome == Outcome.COMPLETE:
            return sink.close(Outcome.COMPLETE, http_status=self._status)
        return sink.close(end.outcome, http_status=self._status, error=f"stream cut after {sink.lines_seen} lines: {end.reason}")

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
            _store_error(exc),
        )


def _content_decoder(status: int | None, headers: httpx.Headers | None) -> Any:
    """The decoder httpx uses for the application's copy of the body (None: no Content-Encoding).

    Asking a shadow Response picks it exactly as httpx does (several codings, unknown ones skipped,
    br/zstd only when their packages are installed). `_get_content_decoder` is private; should a
    future httpx drop it, the AttributeError lands on the recording's thread and is logged as a
    failed recording, never seen by the application.
    """
    if status is None or headers is None or not headers.get("content-encoding"):
        return None
    return httpx.Response(status, headers=headers)._get_content_decoder()


def _source(request: httpx.Request) -> str:
    """The URL recorded as the stream's source: no query string, no credentials."""
    url = request.url
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


def _request_body(request: httpx.Request) -> dict[str, Any] | None:
    """The JSON request body, when there is one (the API key travels in a header, never stored)."""
    try:
        body = json.loads(request.content)
    except (httpx.RequestNotRead, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _describe(exc: BaseException) -> str:
    detail = str(exc) or exc.__class__.__name__
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection mid-response ({detail})"
    if isinstance(exc, httpx.ReadError):
        return f"the connection was reset ({detail})"
    if isinstance(exc, httpx.ReadTimeout):
        return f"no data within the client's read timeout ({detail})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({detail})"
    if isinstance(exc, asyncio.CancelledError):
        return "the task was cancelled"
    return f"{exc.__class__.__name__}: {detail}"


def _store_error(exc: BaseException) -> str:
    """One line about a store failure: the driver's message, without the SQL and its parameters
    (they would carry the events' contents into the application's logs)."""
    while isinstance(exc, SinkFailed) and exc.__cause__ is not None:
        exc = exc.__cause__
    orig = getattr(exc, "orig", None)
    detail = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig if orig is not None else exc).__name__}: {detail[0] if detail else ''}"
