"""Recording cassettes through to the real API, at httpx's transport seam (the pytest plugin's
`once` and `all` modes).

Requests to the replayed endpoints are forwarded to the inner transport; the application gets
the response unchanged, chunk for chunk (through `recorder.stream.tee`, as in-app recording does),
while each line is stamped with its arrival offset. When the body ends (or breaks, or the
application closes it) the exchange becomes a `Cassette`, handed to `on_cassette`. What never
reaches a cassette: request headers (the API key travels there), cookies and credentials in
response headers, the values under `redact_keys`, and the API keys themselves (the forwarded one
and the application's) wherever a server echoes them.

`api_key` (when given) replaces the X-API-KEY header of forwarded requests, so a test can build
its client with a dummy key and record with the real one from VELLUM_API_KEY. Forwarded requests
ask for an uncompressed body (`Accept-Encoding: identity`), so what is recorded is what the
application's `iter_lines` reads.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from recorder.model.cassette import Cassette, Fault, Line, Request, Response
from recorder.model.endpoints import API_KEY_HEADER
from recorder.model.events import ParsedEvent, parse_line
from recorder.model.lines import LineSplitter, RawLine
from recorder.model.request import strip_secrets
from recorder.model.secrets import SecretScrubber, credentials_in
from recorder.model.timestamps import now_us
from recorder.model.vocabulary import Outcome
from recorder.replay.redaction import redact
from recorder.replay.responder import is_replayed
from recorder.stream.tee import CLOSED_EARLY, AsyncTeeStream, TeeStream, content_decoder, teed_response

CassetteSink = Callable[[Cassette], None]

_DROPPED_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive", "date", "server", "via", "alt-svc"}
_SECRET_HINTS = ("cookie", "auth", "token", "key", "secret", "signature", "session")


class CaptureTransport(httpx.BaseTransport):
    """Forwards to `inner` and records every replayed-endpoint exchange as a cassette."""

    def __init__(self, inner: httpx.BaseTransport, on_cassette: CassetteSink, *, api_key: str | None = None,
                 redact_keys: Sequence[str] = ()) -> None:
        self.inner = inner
        self._capture = _Captures(on_cassette, api_key, redact_keys)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not is_replayed(request.method, _path(request)):
            return self.inner.handle_request(request)
        request.read()
        exchange = self._capture.start(request)
        response = self.inner.handle_request(exchange.forwarded)
        exchange.head(response)
        return teed_response(response, request, TeeStream(response.stream, exchange))

    def close(self) -> None:
        self.inner.close()


class AsyncCaptureTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, on_cassette: CassetteSink, *, api_key: str | None = None,
                 redact_keys: Sequence[str] = ()) -> None:
        self.inner = inner
        self._capture = _Captures(on_cassette, api_key, redact_keys)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_replayed(request.method, _path(request)):
            return await self.inner.handle_async_request(request)
        await request.aread()
        exchange = self._capture.start(request)
        response = await self.inner.handle_async_request(exchange.forwarded)
        exchange.head(response)
        return teed_response(response, request, AsyncTeeStream(response.stream, exchange))

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Captures:
    def __init__(self, on_cassette: CassetteSink, api_key: str | None, redact_keys: Sequence[str]) -> None:
        self.on_cassette = on_cassette
        self.api_key = api_key
        self.redact_keys = tuple(redact_keys)

    def start(self, request: httpx.Request) -> _Exchange:
        return _Exchange(self, request)


class _Exchange:
    """One forwarded request and the lines of its response, as they arrive: the `TeeTarget` of its body."""

    def __init__(self, captures: _Captures, request: httpx.Request) -> None:
        self._captures = captures
        self._started = time.monotonic()
        self._recorded_at_us = now_us()
        self._request = request
        headers = httpx.Headers(request.headers)
        headers["accept-encoding"] = "identity"
        if captures.api_key:
            headers[API_KEY_HEADER] = captures.api_key
        self.forwarded = httpx.Request(request.method, request.url, headers=headers, content=request.content, extensions=request.extensions)
        self._secrets = SecretScrubber([*credentials_in(request.headers), *credentials_in(headers)])
        self._splitter = LineSplitter()
        self._lines: list[Line] = []
        self._status = 0
        self._headers: dict[str, str] = {}
        self._decoder: Any = None
        self._done = False
        self._lock = threading.Lock()

    def head(self, response: httpx.Response) -> None:
        self._status = response.status_code
        self._headers = _kept_headers(response.headers)
        self._decoder = content_decoder(response.headers)  # asked for identity; a server may compress anyway

    def take(self, chunk: bytes) -> None:
        if self._decoder is not None:
            chunk = self._decoder.decode(chunk)
        at_us = int((time.monotonic() - self._started) * 1_000_000)
        self._lines.extend(Line(at_us, line.data) for line in self._splitter.feed(chunk))

    def end(self) -> None:
        self._finish(Outcome.COMPLETE)

    def fail(self, exc: BaseException) -> None:
        self._finish(Outcome.CUT, f"stream cut: {type(exc).__name__}: {exc}", broken=True)

    def abandon(self) -> None:
        self._finish(Outcome.CUT, CLOSED_EARLY)

    def _finish(self, outcome: Outcome, error: str | None = None, *, broken: bool = False) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        if self._decoder is not None:
            self.take(self._decoder.flush())
            self._decoder = None
        last = self._splitter.finish()
        at_us = int((time.monotonic() - self._started) * 1_000_000)
        if last is not None:
            self._lines.append(Line(at_us, last.data))
        secrets = self._secrets
        lines = [Line(line.at_us, secrets.data(line.data)) for line in self._lines]
        cassette = Cassette(
            request=Request(self._request.method, _path(self._request), secrets.value(_json_body(self._request.content))),
            response=Response(
                status=self._status,
                headers={name: secrets.text(value) for name, value in self._headers.items()},
                lines=tuple(lines),
                ends_with_newline=last is None,
                outcome=Outcome.HTTP_ERROR if self._status >= 400 else outcome,
                error=secrets.optional_text(error),
            ),
            execution_id=_execution_id(lines),
            recorded_at_us=self._recorded_at_us,
            source=f"{self._request.url.scheme}://{self._request.url.netloc.decode('ascii')}{_path(self._request)}",
            fault=Fault(cut_after_lines=len(lines)) if broken else None,
        )
        if self._captures.redact_keys:
            cassette = redact(cassette, self._captures.redact_keys).cassette
        self._captures.on_cassette(cassette)


def _kept_headers(headers: httpx.Headers) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _DROPPED_HEADERS or any(hint in lowered for hint in _SECRET_HINTS):
            continue
        kept[lowered] = value
    return kept


def _json_body(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content) if content else None
    except ValueError:
        return None
    return strip_secrets(body) if isinstance(body, dict) else None


def _execution_id(lines: list[Line]) -> str | None:
    """The execution the stream carries, as the recorder reads it: a legacy event's `execution_id`,
    an SDK event's root workflow `span_id`."""
    for position, line in enumerate(lines):
        parsed = parse_line(RawLine(position, line.data))
        if isinstance(parsed, ParsedEvent):
            return parsed.execution_id
    return None


def _path(request: httpx.Request) -> str:
    """The path as sent, still percent-encoded (a v2 deployment name may hold an encoded `/`)."""
    return request.url.raw_path.decode("ascii").split("?", 1)[0]
