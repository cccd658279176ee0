"""Replay at httpx's transport seam: the official client reads cassettes, no server needed.

    client = Vellum(api_key="test", httpx_client=httpx.Client(transport=ReplayTransport("tests/cassettes")))
    client = AsyncVellum(api_key="test", httpx_client=httpx.AsyncClient(transport=AsyncReplayTransport(cassettes)))

Requests to the replayed endpoints (`POST .../v1/execute-workflow-stream`, `POST
.../v1/workflow-deployments/{id}/execute-stream`, `POST .../v1/execute-workflow`, `GET
.../v1/workflows/executions/{id}/status`, whatever the host) are
answered exactly as `recorder serve` answers them: the same bytes, timing and faults. A request
that matches no recording raises `NoMatch` (a test should fail loudly, with the closest
recordings in the message) unless `on_no_match="respond"`, which answers 404 as the server does.
Every other request goes to `passthrough` (by default, nowhere: it raises `NotReplayed`).

A cut stream ends with the error httpx raises for a real one (`httpx.RemoteProtocolError`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import httpx

from recorder.model.cassette import Cassette
from recorder.model.vocabulary import Outcome
from recorder.replay.library import CassetteLibrary, FolderLibrary, Library
from recorder.replay.matching import MatchRule
from recorder.replay.responder import Answer, Responder, is_replayed
from recorder.replay.timing import Timing, asleep_until, sleep_until
from recorder.replay.vocabulary import OnNoMatch, choices

CUT_MESSAGE = "peer closed connection without sending complete message body (incomplete chunked read)"
RAISE, RESPOND = OnNoMatch.RAISE, OnNoMatch.RESPOND


class NotReplayed(RuntimeError):
    """A request to an endpoint a replay does not answer, with nowhere to pass it to."""


def open_library(cassettes: Library | Iterable[Cassette] | str | Path) -> Library:
    """A library from a folder path, cassettes, or a library as it is."""
    if isinstance(cassettes, (str, Path)):
        return FolderLibrary(cassettes)
    if isinstance(cassettes, Cassette):
        return CassetteLibrary([cassettes])
    if hasattr(cassettes, "candidates"):
        return cassettes  # type: ignore[return-value]
    return CassetteLibrary(cassettes)  # type: ignore[arg-type]


class _ReplayBase:
    def __init__(
        self,
        cassettes: Library | Iterable[Cassette] | str | Path,
        *,
        match: MatchRule = MatchRule(),
        timing: Timing = Timing(),
        on_no_match: OnNoMatch = RAISE,
    ) -> None:
        if on_no_match not in choices(OnNoMatch):
            raise ValueError(f"on_no_match must be {RAISE.value!r} or {RESPOND.value!r}")
        self.responder = Responder(open_library(cassettes), match=match, timing=timing)
        self.on_no_match = OnNoMatch(on_no_match)

    @property
    def library(self) -> Library:
        return self.responder.library

    def _plan(self, request: httpx.Request) -> Answer:
        answer = self.responder.answer(request.method, request_path(request), request.content)
        if answer.no_match is not None and self.on_no_match == RAISE:
            raise answer.no_match
        return answer


class ReplayTransport(_ReplayBase, httpx.BaseTransport):
    """The synchronous replay transport (for `httpx.Client` and `vellum.Vellum`)."""

    def __init__(self, cassettes: Library | Iterable[Cassette] | str | Path, *, passthrough: httpx.BaseTransport | None = None, **options) -> None:
        super().__init__(cassettes, **options)
        self.passthrough = passthrough

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not is_replayed(request.method, request_path(request)):
            if self.passthrough is None:
                raise NotReplayed(f"{request.method} {request.url} is not a replayed endpoint and this replay passes nothing through")
            return self.passthrough.handle_request(request)
        started = time.monotonic()
        request.read()
        answer = self._plan(request)
        if answer.first_byte_delay_s:
            time.sleep(answer.first_byte_delay_s)
        return _response(answer, request, _SyncReplayStream(answer, request, started + answer.first_byte_delay_s))

    def close(self) -> None:
        if self.passthrough is not None:
            self.passthrough.close()


class AsyncReplayTransport(_ReplayBase, httpx.AsyncBaseTransport):
    """The asyncio replay transport (for `httpx.AsyncClient` and `vellum.AsyncVellum`)."""

    def __init__(self, cassettes: Library | Iterable[Cassette] | str | Path, *, passthrough: httpx.AsyncBaseTransport | None = None, **options) -> None:
        super().__init__(cassettes, **options)
        self.passthrough = passthrough

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_replayed(request.method, request_path(request)):
            if self.passthrough is None:
                raise NotReplayed(f"{request.method} {request.url} is not a replayed endpoint and this replay passes nothing through")
            return await self.passthrough.handle_async_request(request)
        started = time.monotonic()
        await request.aread()
        answer = self._plan(request)
        if answer.first_byte_delay_s:
            await asyncio.sleep(answer.first_byte_delay_s)
        return _response(answer, request, _AsyncReplayStream(answer, request, started + answer.first_byte_delay_s))

    async def aclose(self) -> None:
        if self.passthrough is not None:
            await self.passthrough.aclose()


def _response(answer: Answer, request: httpx.Request, stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> httpx.Response:
    headers = list(answer.headers)
    if answer.streamed:
        headers.append(("transfer-encoding", "chunked"))
    else:
        headers.append(("content-length", str(len(answer.body))))
    return httpx.Response(answer.status, headers=headers, stream=stream, request=request, extensions={"http_version": b"HTTP/1.1"})


class _SyncReplayStream(httpx.SyncByteStream):
    def __init__(self, answer: Answer, request: httpx.Request, started: float) -> None:
        self._answer = answer
        self._request = request
        self._started = started

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._answer.chunks:
            sleep_until(self._started + chunk.at_s)
            yield chunk.data
        if self._answer.ending == Outcome.CUT:
            raise httpx.RemoteProtocolError(CUT_MESSAGE, request=self._request)


class _AsyncReplayStream(httpx.AsyncByteStream):
    def __init__(self, answer: Answer, request: httpx.Request, started: float) -> None:
        self._answer = answer
        self._request = request
        self._started = started

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._answer.chunks:
            await asleep_until(self._started + chunk.at_s)
            yield chunk.data
        if self._answer.ending == Outcome.CUT:
            raise httpx.RemoteProtocolError(CUT_MESSAGE, request=self._request)


def request_path(request: httpx.Request) -> str:
    """The path as sent, still percent-encoded, as a replay server reads it (a v2 deployment name
    may hold an encoded `/`)."""
    return request.url.raw_path.decode("ascii").split("?", 1)[0]
