"""Recording the workflow streams an application already consumes, at httpx's transport seam.

An application that uses the official `vellum-ai` client keeps using it; the recorder sits under
it as an httpx transport. For the v1 stream, `POST .../v1/execute-workflow-stream`, and the v2 one,
`POST .../v1/workflow-deployments/{id}/execute-stream` (`client.workflow_deployments.execute_stream`;
its deployment is kept from the path), the transport forwards the request to the real (inner)
transport and returns a response whose byte stream hands every chunk to the application unchanged
and drops a copy on a `StreamRelay`, which records it on a thread of its own. Every other request
passes through untouched.

What the application sees does not change: the inner transport's status, headers, extensions and
exactly its bytes, chunk for chunk and still content-encoded (httpx decodes gzip above the
transport, as it always does). The relay decodes its copy with the decoder httpx picks for the
application, so the store gets the same decoded bytes the application's `iter_lines` reads, split
on `\\n` only: the official client also splits on U+2028 and friends and silently drops what it
cannot parse, the recorder keeps every line.

A slow or broken store never blocks or breaks the application (see `recorder.stream.relay`).
The transport leaves each recording's `StreamRelay` in the request's extensions under `RECORDING`,
so the code that sent the request can wait for that recording's result (`recorder record` does).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx

from recorder.model.endpoints import stream_of_path
from recorder.model.request import RecordedRequest
from recorder.model.secrets import SecretScrubber, credentials_in
from recorder.store import FlushPolicy, Store
from recorder.stream.relay import CommitCallback, ParsedCallback, RecordedCallback, RelayGroup, ResponseHead, SinkOptions, StreamRelay
from recorder.stream.tee import AsyncTeeStream, TeeStream, teed_response
from recorder.stream.vellum_api import Timeouts

# How long closing the transport (closing the client does it) waits for streams still being committed.
CLOSE_WAIT_S = 10.0
CLOSING = "when the client closed; they go on in the background"
# The request extension holding the `StreamRelay` that records the request's response; the sender
# reaches the request through `response.request` or, when no response came, the error's `.request`.
RECORDING = "recorder.recording"

ClientT = TypeVar("ClientT")
InnerT = TypeVar("InnerT", httpx.BaseTransport, httpx.AsyncBaseTransport)


class _RecordingSeam(Generic[InnerT]):
    """What the sync and async transports share: the transport under them and their recordings."""

    inner: InnerT

    def __init__(
        self,
        store: Store,
        inner: InnerT | None = None,
        *,
        policy: FlushPolicy | None = None,
        on_parsed: ParsedCallback | None = None,
        on_commit: CommitCallback | None = None,
        on_recorded: RecordedCallback | None = None,
    ) -> None:
        self.inner = inner if inner is not None else self._network()
        self._relays = RelayGroup(store, SinkOptions(policy, on_parsed, on_commit), on_recorded)

    def _network(self) -> InnerT:
        """The transport doing the network work when none is given."""
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> bool:
        """Block the calling thread until every stream started so far is committed; False if
        `timeout` ran out first (from async code: `await asyncio.to_thread(transport.wait, timeout)`)."""
        return self._relays.wait(timeout)


class RecordingTransport(_RecordingSeam[httpx.BaseTransport], httpx.BaseTransport):
    """An httpx transport that records every workflow stream passing through it.

        client = Vellum(api_key=..., httpx_client=httpx.Client(transport=RecordingTransport(store)))

    `inner` does the network work (default: a plain `httpx.HTTPTransport()`). httpx applies a
    client's `verify=`, `cert=`, `http2=`, `limits=` and `proxy=` only to the transport it builds
    itself, so give them to the inner one: `RecordingTransport(store, httpx.HTTPTransport(http2=True))`.
    Proxies from the environment (HTTPS_PROXY, with `trust_env=True`) become httpx mounts that
    bypass `transport=`; `instrument()` wraps those too.

    `on_recorded(result)` is called, on the recording's thread, with each finished recording;
    `on_parsed(line)` with each line as it is stored and `on_commit(positions)` after each commit
    (a live view, a latency probe), on the recording's writer thread.
    `wait()` blocks until every stream so far is committed; closing the transport (closing the
    client does it) waits up to `CLOSE_WAIT_S` for them.
    """

    def _network(self) -> httpx.BaseTransport:
        return httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not is_workflow_stream(request):
            return self.inner.handle_request(request)
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:
            _start_relay(self._relays, request, None).no_response(exc)
            raise
        return teed_response(response, request, TeeStream(response.stream, _start_relay(self._relays, request, response)))

    def close(self) -> None:
        self._relays.wait_or_warn(CLOSE_WAIT_S, CLOSING)
        self.inner.close()


class AsyncRecordingTransport(_RecordingSeam[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport):
    """The asyncio twin of `RecordingTransport`, for `httpx.AsyncClient` and `vellum.AsyncVellum`:

        client = AsyncVellum(api_key=..., httpx_client=httpx.AsyncClient(transport=AsyncRecordingTransport(store)))

    The event loop never waits for the store: chunks are queued to the recording's thread.
    """

    def _network(self) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_workflow_stream(request):
            return await self.inner.handle_async_request(request)
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            _start_relay(self._relays, request, None).no_response(exc)
            raise
        return teed_response(response, request, AsyncTeeStream(response.stream, _start_relay(self._relays, request, response)))

    async def aclose(self) -> None:
        await asyncio.to_thread(self._relays.wait_or_warn, CLOSE_WAIT_S, CLOSING)
        await self.inner.aclose()


def instrument(
    client: ClientT,
    store: Store,
    *,
    policy: FlushPolicy | None = None,
    on_parsed: ParsedCallback | None = None,
    on_commit: CommitCallback | None = None,
    on_recorded: RecordedCallback | None = None,
) -> ClientT:
    """Record every workflow stream `client` executes into `store`; wraps it in place, returns it.

    `client` is a `vellum.Vellum` or `vellum.AsyncVellum` (any Fern-generated client keeping its
    httpx client at `client._client_wrapper.httpx_client.httpx_client`), or an `httpx.Client` /
    `httpx.AsyncClient`. Its transport and every mounted transport (httpx turns environment
    proxies into mounts) are wrapped in a `RecordingTransport` / `AsyncRecordingTransport`, which
    gets the callbacks.

    This touches private attributes (the Fern wrapper's, and httpx's `_transport` and `_mounts`),
    which a future release of either may move. The clean alternative uses public arguments only:

        Vellum(api_key=..., httpx_client=httpx.Client(transport=RecordingTransport(store)))
        AsyncVellum(api_key=..., httpx_client=httpx.AsyncClient(transport=AsyncRecordingTransport(store)))
    """
    http = _httpx_client_of(client)
    callbacks: dict[str, Any] = {"policy": policy, "on_parsed": on_parsed, "on_commit": on_commit, "on_recorded": on_recorded}
    wrap: Callable[[Any], httpx.BaseTransport | httpx.AsyncBaseTransport]
    if isinstance(http, httpx.Client):
        recording_type: type = RecordingTransport
        wrap = lambda inner: RecordingTransport(store, inner, **callbacks)  # noqa: E731
    else:
        recording_type = AsyncRecordingTransport
        wrap = lambda inner: AsyncRecordingTransport(store, inner, **callbacks)  # noqa: E731
    transports = [http._transport, *http._mounts.values()]
    if any(isinstance(transport, recording_type) for transport in transports):
        raise ValueError("this client is already recorded: instrument() was called on it before")
    http._transport = wrap(http._transport)  # type: ignore[assignment]
    http._mounts = {pattern: None if mounted is None else wrap(mounted) for pattern, mounted in http._mounts.items()}  # type: ignore[misc]
    return client


def is_workflow_stream(request: httpx.Request) -> bool:
    """Whether the request executes a workflow as a stream (v1 or v2): the only requests recorded."""
    return request.method == "POST" and stream_of_path(_raw_path(request)) is not None


def _raw_path(request: httpx.Request) -> str:
    """The path as sent, still percent-encoded (a deployment name may hold an encoded `/`)."""
    return request.url.raw_path.decode("ascii").split("?", 1)[0]


def _httpx_client_of(client: Any) -> httpx.Client | httpx.AsyncClient:
    if isinstance(client, (httpx.Client, httpx.AsyncClient)):
        return client
    fern_wrapper = getattr(client, "_client_wrapper", None)
    http = getattr(getattr(fern_wrapper, "httpx_client", None), "httpx_client", None)
    if isinstance(http, (httpx.Client, httpx.AsyncClient)):
        return http
    raise TypeError(
        f"cannot find the httpx client inside a {type(client).__name__}: pass a vellum.Vellum, vellum.AsyncVellum, "
        "httpx.Client or httpx.AsyncClient, or build your client with httpx_client=httpx.Client(transport=RecordingTransport(store))"
    )


def _start_relay(relays: RelayGroup, request: httpx.Request, response: httpx.Response | None) -> StreamRelay:
    """The relay recording this request's response (None: the request failed before one arrived)."""
    head = None if response is None else ResponseHead(response.status_code, response.reason_phrase, response.headers)
    relay = relays.start(
        source=_source(request), request=_request_body(request), head=head, timeouts=Timeouts.of_request(request), secrets=_credentials(request)
    )
    request.extensions[RECORDING] = relay
    return relay


def _source(request: httpx.Request) -> str:
    """The URL recorded as the stream's source: no query string, no credentials."""
    url = request.url
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


def _credentials(request: httpx.Request) -> SecretScrubber:
    """The application's API key (and any other credential header): a server may echo it back."""
    return SecretScrubber(credentials_in(request.headers))


def _request_body(request: httpx.Request) -> dict[str, Any] | None:
    """The JSON request body, if any, in its kept form (a v2 stream's deployment taken from the
    path: `RecordedRequest.from_exchange`). Only the body is kept: the API key travels in a header."""
    try:
        body = json.loads(request.content)
    except (httpx.RequestNotRead, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    kept = RecordedRequest.from_exchange(_raw_path(request), body)
    return None if kept is None else kept.body
