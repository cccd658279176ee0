"""pytest plugin: tests replay recorded Vellum workflow streams, with VCR-style record modes.

Registered through the `pytest11` entry point, so installing workflow-recorder makes the
fixtures available. A test that asks for `vellum_replay` (or `async_vellum_replay`) has every
official-client call to the two streams, `POST /v1/execute-workflow-stream` and `POST
/v1/workflow-deployments/{id}/execute-stream` (and `POST /v1/execute-workflow`, `GET
/v1/workflows/executions/{id}/status`) answered from its cassettes, through the client's httpx
transport: no server, no network. Clients the test builds itself can take the transport
explicitly (`vellum_replay.client()`, `vellum_replay.transport`); clients built deep inside the
application are reached because, for the test's duration, `httpx.HTTPTransport` and
`httpx.AsyncHTTPTransport` hand requests to those endpoints to the replay (every other request
goes out unchanged). `@pytest.mark.vellum_cassette(intercept=False)` turns that off.

Cassettes live in `<test file folder>/cassettes/<test module>/<test name>/`, one
`NNN-<deployment>.cassette.json` per exchange, in request order.

Record modes (`--vellum-record-mode`, env VELLUM_RECORD_MODE, ini `vellum_record_mode`, or the
marker's `record_mode`):
- `none` (the default when CI is set): replay only; a missing cassette folder fails the test
  with a message saying how to record it;
- `once` (the default otherwise): replay when the folder exists, else record every exchange
  through to the real API (needs VELLUM_API_KEY, which replaces the client's key on the wire);
- `all`: always record, replacing the folder's cassettes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from recorder.model.cassette import Cassette
from recorder.model.endpoints import API_KEY_ENV, DEFAULT_BASE_URL, DEPLOYMENT_STREAM_PATH, EXECUTE_PATH, STREAM_PATH
from recorder.replay.capture import AsyncCaptureTransport, CaptureTransport
from recorder.replay.feed import areplay_lines, replay_lines
from recorder.replay.library import FolderLibrary, safe_name
from recorder.replay.matching import DEFAULT_FIELDS, MatchRule
from recorder.replay.responder import is_replayed
from recorder.replay.timing import Timing
from recorder.replay.transport import AsyncReplayTransport, ReplayTransport, request_path
from recorder.replay.vocabulary import MatchMode, RecordMode, TimingMode, choices

MARKER = "vellum_cassette"
MODE_ENV = "VELLUM_RECORD_MODE"
REPLAY_API_KEY = "replayed-no-key"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vellum-replay", "replaying recorded Vellum workflow streams (workflow-recorder)")
    group.addoption(
        "--vellum-record-mode",
        choices=choices(RecordMode),
        default=None,
        help="none: replay only; once: record missing cassettes through to the real API; all: record everything again. "
        f"Default: ${MODE_ENV}, the ini value, else none under CI and once elsewhere.",
    )
    parser.addini("vellum_record_mode", "default record mode (none, once, all)", default=None)
    parser.addini("vellum_cassette_dir", "cassette folder, relative to each test file's folder", default="cassettes")
    parser.addini("vellum_match", "request matching: strict or loose", default=MatchMode.STRICT.value)
    parser.addini("vellum_redact", "request keys whose values never reach a cassette (inputs.NAME, metadata.KEY, NAME)", type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(name=None, *, record_mode=None, match=None, match_on=None, timing=None, speed=None, redact=(), intercept=True): "
        "configure vellum_replay for this test (name: the cassette folder under the module's, shared by tests that give the same)",
    )


class VellumReplay:
    """What a test gets from `vellum_replay`: its cassettes, transports and clients wired to them."""

    def __init__(self, *, cassette_dir: Path, record_mode: RecordMode, match: MatchRule, timing: Timing, redact: tuple[str, ...],
                 intercept: bool, test_id: str, mode_source: str = "the default") -> None:
        self.cassette_dir = cassette_dir
        self.record_mode = RecordMode(record_mode)
        self.mode_source = mode_source
        self.match = match
        self.timing = timing
        self.redact = redact
        self.intercept = intercept
        self.test_id = test_id
        self.recording = record_mode == RecordMode.ALL or (record_mode == RecordMode.ONCE and not cassette_dir.is_dir())
        self.recorded: list[Cassette] = []
        self._library: Any = None
        self._transport: Any = None
        self._async_transport: Any = None
        # httpx's own methods, saved before the test's patch: what requests sent out must go through.
        self._original_sync = httpx.HTTPTransport.handle_request
        self._original_async = httpx.AsyncHTTPTransport.handle_async_request

    # -- what tests use -----------------------------------------------------------------------------

    @property
    def cassettes(self) -> list[Cassette]:
        """The cassettes replayed (or, while recording, recorded so far), in request order."""
        if self.recording:
            return sorted(self.recorded, key=lambda c: c.recorded_at_us or 0)
        return [self._library.cassette(candidate) for candidate in _all_candidates(self._library)]

    @property
    def transport(self) -> httpx.BaseTransport:
        """The sync transport: replays, or records through to the real API when recording."""
        if self._transport is None:
            network = _Unpatched(httpx.HTTPTransport(), self._original_sync)
            if self.recording:
                self._transport = self._capture(network)
            else:
                self._transport = ReplayTransport(self._library, match=self.match, timing=self.timing, passthrough=network)
        return self._transport

    @property
    def async_transport(self) -> httpx.AsyncBaseTransport:
        if self._async_transport is None:
            network = _AsyncUnpatched(httpx.AsyncHTTPTransport(), self._original_async)
            if self.recording:
                self._async_transport = self._async_capture(network)
            else:
                self._async_transport = AsyncReplayTransport(self._library, match=self.match, timing=self.timing, passthrough=network)
        return self._async_transport

    def client(self, *, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, **options: Any) -> Any:
        """A `vellum.Vellum` whose requests go through `transport` (to `base_url` when recording)."""
        from vellum import Vellum

        return Vellum(api_key=api_key or _client_key(), environment=_environment(base_url),
                      httpx_client=httpx.Client(transport=self.transport), **options)

    def async_client(self, *, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, **options: Any) -> Any:
        """A `vellum.AsyncVellum` whose requests go through `async_transport`."""
        from vellum import AsyncVellum

        return AsyncVellum(api_key=api_key or _client_key(), environment=_environment(base_url),
                           httpx_client=httpx.AsyncClient(transport=self.async_transport), **options)

    def cassette(self, which: int | str = 0) -> Cassette:
        """One of the test's cassettes: by position, or by (part of) its file name."""
        cassettes = self.cassettes
        if isinstance(which, int):
            return cassettes[which]
        names = _all_candidates(self._library) if self._library is not None else []
        for candidate in names:
            if which in candidate.name:
                return self._library.cassette(candidate)
        raise LookupError(f"no cassette of {self.test_id} is named like {which!r}")

    def replay_lines(self, consumer: Callable[[Any], Any], which: int | str = 0, *, raw: bool = False) -> int:
        """Replay a cassette's lines into `consumer` (see `recorder.replay.feed.replay_lines`)."""
        return replay_lines(self.cassette(which), consumer, timing=self.timing, raw=raw)

    # -- the fixture's life -------------------------------------------------------------------------

    def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        if not self.recording:
            if not self.cassette_dir.is_dir():
                pytest.fail(self._missing_message(), pytrace=False)
            self._library = FolderLibrary(self.cassette_dir)
        elif not os.environ.get(API_KEY_ENV):
            pytest.fail(
                f"{self.test_id}: record mode {self.record_mode.value!r} must record {self._shown_dir()} through to the real API, "
                f"and that needs {API_KEY_ENV} (the key is sent to Vellum only, never written to a cassette)",
                pytrace=False,
            )
        if self.intercept:
            self._patch(monkeypatch)

    def finish(self) -> None:
        if self.recording:
            FolderLibrary.save(self.cassette_dir, self.cassettes)

    def _keep(self, cassette: Cassette) -> None:
        self.recorded.append(cassette)

    def _capture(self, network: httpx.BaseTransport) -> CaptureTransport:
        """Recording through to the real API: the key from the environment replaces the client's."""
        return CaptureTransport(network, self._keep, api_key=os.environ.get(API_KEY_ENV), redact_keys=self.redact)

    def _async_capture(self, network: httpx.AsyncBaseTransport) -> AsyncCaptureTransport:
        return AsyncCaptureTransport(network, self._keep, api_key=os.environ.get(API_KEY_ENV), redact_keys=self.redact)

    def _patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Route the replayed endpoints of every httpx transport used during the test (see the module doc)."""
        original_sync, original_async = self._original_sync, self._original_async
        replay = self

        def handle_request(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            if not is_replayed(request.method, request_path(request)):
                return original_sync(transport, request)
            if replay.recording:
                network = _Unpatched(transport, original_sync)
                return replay._capture(network).handle_request(request)
            return replay.transport.handle_request(request)

        async def handle_async_request(transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
            if not is_replayed(request.method, request_path(request)):
                return await original_async(transport, request)
            if replay.recording:
                network = _AsyncUnpatched(transport, original_async)
                return await replay._async_capture(network).handle_async_request(request)
            return await replay.async_transport.handle_async_request(request)

        monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
        monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)

    def _shown_dir(self) -> str:
        try:
            return str(self.cassette_dir.relative_to(Path.cwd()))
        except ValueError:
            return str(self.cassette_dir)

    def _missing_message(self) -> str:
        return (
            f"{self.test_id}: no cassette: {self._shown_dir()}/ does not exist, and record mode is {self.record_mode.value!r} "
            f"(from {self.mode_source}), "
            f"which never calls the real API.\nRecord it once with {API_KEY_ENV} set:\n"
            f"    {API_KEY_ENV}=... pytest --vellum-record-mode=once '{self.test_id}'\n"
            "then commit the folder."
        )


class AsyncVellumReplay(VellumReplay):
    """`async_vellum_replay`: `client()` is an `AsyncVellum`, `replay_lines` is awaited."""

    def client(self, *, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, **options: Any) -> Any:
        return self.async_client(base_url=base_url, api_key=api_key, **options)

    async def replay_lines(self, consumer: Callable[[Any], Any], which: int | str = 0, *, raw: bool = False) -> int:  # type: ignore[override]
        return await areplay_lines(self.cassette(which), consumer, timing=self.timing, raw=raw)


@pytest.fixture
def vellum_replay(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[VellumReplay]:
    """Replay (or record) the Vellum workflow streams this test executes; see the plugin's doc."""
    replay = _configured(VellumReplay, request)
    replay.start(monkeypatch)
    yield replay
    replay.finish()


@pytest.fixture
def async_vellum_replay(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[AsyncVellumReplay]:
    """`vellum_replay` for asyncio tests: an AsyncVellum client and awaitable helpers."""
    replay = _configured(AsyncVellumReplay, request)
    replay.start(monkeypatch)
    yield replay
    replay.finish()


# -- configuration ---------------------------------------------------------------------------------


def _configured(kind: type[VellumReplay], request: pytest.FixtureRequest) -> Any:
    config = request.config
    marker = request.node.get_closest_marker(MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    name = (marker.args[0] if marker is not None and marker.args else None) or options.pop("name", None) or request.node.name
    options.pop("name", None)
    mode, mode_source = (options.pop("record_mode"), "the test's marker") if options.get("record_mode") else _record_mode(config)
    options.pop("record_mode", None)
    if mode not in choices(RecordMode):
        raise pytest.UsageError(f"vellum record mode must be one of {', '.join(RecordMode)}, not {mode!r}")
    match_on = options.pop("match_on", None)
    match = MatchRule(options.pop("match", None) or config.getini("vellum_match") or MatchMode.STRICT, tuple(match_on) if match_on else DEFAULT_FIELDS)
    speed = options.pop("speed", None)
    timing_mode = options.pop("timing", None) or (TimingMode.RECORDED if speed else TimingMode.INSTANT)
    timing = Timing(timing_mode, float(speed or 1.0))
    redact = (*config.getini("vellum_redact"), *options.pop("redact", ()))
    intercept = bool(options.pop("intercept", True))
    if options:
        raise pytest.UsageError(f"unknown {MARKER} options: {', '.join(sorted(options))}")
    module = Path(str(request.node.path))
    folder = module.parent / config.getini("vellum_cassette_dir") / module.stem / safe_name(name)
    return kind(cassette_dir=folder, record_mode=RecordMode(mode), mode_source=mode_source, match=match, timing=timing,
                redact=tuple(redact), intercept=intercept, test_id=request.node.nodeid)


def _record_mode(config: pytest.Config) -> tuple[str, str]:
    """The record mode and where it was set."""
    if config.getoption("--vellum-record-mode"):
        return config.getoption("--vellum-record-mode"), "--vellum-record-mode"
    if os.environ.get(MODE_ENV):
        return os.environ[MODE_ENV], f"${MODE_ENV}"
    if config.getini("vellum_record_mode"):
        return config.getini("vellum_record_mode"), "the ini option vellum_record_mode"
    return (RecordMode.NONE, "the default when CI is set") if _in_ci() else (RecordMode.ONCE, "the default")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _client_key() -> str:
    return os.environ.get(API_KEY_ENV) or REPLAY_API_KEY


def _environment(base_url: str) -> Any:
    from vellum import VellumEnvironment

    return VellumEnvironment(default=base_url, predict=base_url, documents=base_url)


def _all_candidates(library: Any) -> list[Any]:
    seen: list[Any] = []
    for method, path in (("POST", STREAM_PATH), ("POST", DEPLOYMENT_STREAM_PATH), ("POST", EXECUTE_PATH)):
        seen.extend(library.candidates(method, path))
    return seen


class _Unpatched(httpx.BaseTransport):
    """An httpx transport called past the test's patch: the way out to the real API."""

    def __init__(self, transport: httpx.HTTPTransport, original: Callable[..., httpx.Response]) -> None:
        self.transport = transport
        self.original = original

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.original(self.transport, request)

    def close(self) -> None:
        self.transport.close()


class _AsyncUnpatched(httpx.AsyncBaseTransport):
    def __init__(self, transport: httpx.AsyncHTTPTransport, original: Callable[..., Any]) -> None:
        self.transport = transport
        self.original = original

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.original(self.transport, request)

    async def aclose(self) -> None:
        await self.transport.aclose()
