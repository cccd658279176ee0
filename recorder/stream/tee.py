"""A response body read by its consumer while a copy goes somewhere else, at httpx's transport seam.

Recording into the store (`recorder.stream.instrument`) and capturing a cassette
(`recorder.replay.capture`) both hand the application the inner transport's response unchanged,
chunk for chunk, and need to learn the same four things about it: each chunk, the end of the body,
a failure while reading it, and the application closing it before the end. `TeeTarget` is what
they implement. `_Reading` turns how the consumer's loop ended into `end` or `fail`; the sync and
async streams around it only adapt httpx's two iteration protocols.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Protocol

import httpx

CLOSED_EARLY = "closed by the application before the end of the stream"


class TeeTarget(Protocol):
    """Where the copy of a body goes. `end`, `fail` and `abandon` may all be called for one body
    (a close always follows the end): only the first says how it ended."""

    def take(self, chunk: bytes) -> None:
        """A chunk as it came off the wire (still content-encoded), before the consumer sees it."""

    def end(self) -> None:
        """The body ended normally."""

    def fail(self, exc: BaseException) -> None:
        """Reading the body raised `exc`, which the consumer gets next."""

    def abandon(self) -> None:
        """The consumer closed the body; after `end` or `fail`, nothing to say."""


class TeeStream(httpx.SyncByteStream):
    """The consumer's body: the inner stream's chunks, each also handed to the target."""

    def __init__(self, inner: httpx.SyncByteStream, target: TeeTarget) -> None:
        self._inner = inner
        self._target = target

    def __iter__(self) -> Iterator[bytes]:
        with _Reading(self._target):
            for chunk in self._inner:
                self._target.take(chunk)
                yield chunk

    def close(self) -> None:
        self._target.abandon()
        self._inner.close()


class AsyncTeeStream(httpx.AsyncByteStream):
    """`TeeStream` for `httpx.AsyncClient`."""

    def __init__(self, inner: httpx.AsyncByteStream, target: TeeTarget) -> None:
        self._inner = inner
        self._target = target

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _Reading(self._target):
            async for chunk in self._inner:
                self._target.take(chunk)
                yield chunk

    async def aclose(self) -> None:
        self._target.abandon()
        await self._inner.aclose()


class _Reading:
    """Around the loop over the inner body: tells the target how it ended. A GeneratorExit is the
    consumer leaving its loop, not a failure: the close that follows says so."""

    def __init__(self, target: TeeTarget) -> None:
        self._target = target

    def __enter__(self) -> None:
        return None

    def __exit__(self, _kind: type[BaseException] | None, exc: BaseException | None, _traceback: TracebackType | None) -> bool:
        if exc is None:
            self._target.end()
        elif not isinstance(exc, GeneratorExit):
            self._target.fail(exc)
        return False


def teed_response(response: httpx.Response, request: httpx.Request, stream: TeeStream | AsyncTeeStream) -> httpx.Response:
    """The inner response as the consumer would have got it, reading through `stream`.

    A new Response rather than the inner one with its stream swapped: an inner response built with
    `content=` has already read (and decoded) its body and would serve it without ever pulling the
    stream. Status, headers (raw, Content-Encoding included) and extensions (HTTP version, reason
    phrase, network stream) carry over unchanged.
    """
    return httpx.Response(response.status_code, headers=response.headers, stream=stream, extensions=response.extensions, request=request)


def content_decoder(headers: httpx.Headers) -> Any:
    """The decoder httpx uses for the consumer's copy of a body with these headers (None: no
    Content-Encoding), so a copy is decoded exactly as the consumer's `iter_bytes` decodes it.

    A shadow Response picks it as httpx does (several codings in order, unknown ones skipped, br/zstd
    only when their packages are installed). `_get_content_decoder` is private; should a future httpx
    drop it, the AttributeError reaches the copy's owner, never the consumer.
    """
    if not headers.get("content-encoding"):
        return None
    return httpx.Response(200, headers=headers)._get_content_decoder()
