"""Recording inside an application: the official client, instrumented, over real loopback sockets.

The application must see exactly what it would see without the recorder (compared with an
uninstrumented client on the same scenario), while the store gets every line verbatim.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import shutil
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from vellum import AsyncVellum, NotFoundError, Vellum, VellumEnvironment

from recorder.demo.server import LoopbackVellum, Scenario
from recorder.store import FlushPolicy, Outcome, Recording, RecordingResult, Store
from recorder.store.queries import get_recording
from recorder.stream.instrument import AsyncRecordingTransport, RecordingTransport, instrument
from recorder.stream.relay import CLOSED_EARLY, EXITED

API_KEY = "k-instrument-test-5e1f"  # distinctive, so a leak into the store would be found
SAMPLES = ("exec_0001", "exec_0003", "exec_0022")
WAIT_S = 15.0


# -- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_server() -> Iterator[LoopbackVellum]:
    with LoopbackVellum(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def server(running_server: LoopbackVellum) -> LoopbackVellum:
    """The module's server (stopping one takes half a second), with no requests seen yet. Each
    test registers the scenarios it uses with `expect`, which replaces any earlier one."""
    running_server.requests.clear()
    return running_server


class Recorded:
    """An `on_recorded` callback the test can wait on."""

    def __init__(self) -> None:
        self._results: queue.SimpleQueue[RecordingResult] = queue.SimpleQueue()

    def __call__(self, result: RecordingResult) -> None:
        self._results.put(result)

    def next(self) -> RecordingResult:
        return self._results.get(timeout=WAIT_S)


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


def sample(samples_dir: Path, name: str) -> tuple[dict[str, Any], list[bytes]]:
    truth = json.loads((samples_dir / f"{name}.truth.json").read_text())
    return truth["request"], (samples_dir / f"{name}.ndjson").read_bytes().split(b"\n")[:-1]


def environment(base_url: str) -> VellumEnvironment:
    return VellumEnvironment(default=base_url, predict=base_url, documents=base_url)


def plain_client(base_url: str) -> Vellum:
    return Vellum(api_key=API_KEY, environment=environment(base_url))


def recording_client(base_url: str, transport: httpx.BaseTransport) -> Vellum:
    return Vellum(api_key=API_KEY, environment=environment(base_url), httpx_client=httpx.Client(transport=transport))


def dumped(events: list[Any]) -> list[dict[str, Any]]:
    return [event.dict() for event in events]


def read_all(client: Vellum, request: dict[str, Any]) -> tuple[list[dict[str, Any]], BaseException | None]:
    """The events the application gets, and the exception that ended its loop (if any)."""
    events: list[Any] = []
    try:
        for event in client.execute_workflow_stream(**request):
            events.append(event)
    except Exception as exc:  # noqa: BLE001 - returned for comparison
        return dumped(events), exc
    return dumped(events), None


def read_all_async(base_url: str, request: dict[str, Any], transport: httpx.AsyncBaseTransport | None = None) -> list[dict[str, Any]]:
    async def consume() -> list[Any]:
        http = httpx.AsyncClient(transport=transport) if transport is not None else None
        client = AsyncVellum(api_key=API_KEY, environment=environment(base_url), httpx_client=http)
        return [event async for event in client.execute_workflow_stream(**request)]

    return dumped(asyncio.run(consume()))


def stored_lines(store: Store, result: RecordingResult) -> list[tuple[int, str]]:
    """(position, verbatim text) of every event and reject the recording stored, in position order."""
    events = [(e.position, e.raw) for eid in result.execution_ids for e in store.events(eid) if e.recording_id == result.recording_id]
    rejects = [(r.position, r.raw) for r in store.rejects([result.recording_id])]
    return sorted(events + rejects)


def numbered(lines: list[bytes]) -> list[tuple[int, str]]:
    return [(position, line.decode()) for position, line in enumerate(lines) if line.strip()]


def recording_count(store: Store) -> int:
    with store.engine.connect() as connection:
        return len(connection.execute(select(Recording.id)).all())


def with_junk(lines: list[bytes]) -> list[bytes]:
    """The stream with junk lines around its events and a raw U+2028 inside a JSON string of the
    terminal event: the official client splits that line in two and drops both halves."""
    last = lines[-1].replace(b"Search node failed", "Search node\u2028failed".encode())
    assert last != lines[-1]
    return [b"not json at all", lines[0], b'{"type": "WORKFLOW"}', *lines[1:-1], b"[1, 2, 3]", last]


# -- the application sees exactly what it would see without the recorder ---------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_sync_client_sees_the_same_events_when_recorded(store: Store, server: LoopbackVellum, samples_dir: Path, name: str) -> None:
    request, lines = sample(samples_dir, name)
    server.expect(request, Scenario(lines=lines, lines_per_chunk=7))
    expected, _ = read_all(plain_client(server.base_url), request)
    transport = RecordingTransport(store)
    seen, error = read_all(recording_client(server.base_url, transport), request)
    assert error is None
    assert seen == expected and len(seen) == len(lines)
    # The recording commits on its own thread: let it end before the next test empties the store.
    assert transport.wait(WAIT_S)


@pytest.mark.parametrize("name", SAMPLES)
def test_async_client_sees_the_same_events_when_recorded(store: Store, server: LoopbackVellum, samples_dir: Path, name: str) -> None:
    request, lines = sample(samples_dir, name)
    server.expect(request, Scenario(lines=lines, lines_per_chunk=7))
    expected = read_all_async(server.base_url, request)
    transport = AsyncRecordingTransport(store)
    assert read_all_async(server.base_url, request, transport) == expected
    assert transport.wait(WAIT_S)


@pytest.mark.parametrize("name", SAMPLES)
def test_recording_keeps_every_line_verbatim_in_order(
    store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded, name: str
) -> None:
    request, lines = sample(samples_dir, name)
    server.expect(request, Scenario(lines=lines, lines_per_chunk=5))
    read_all(recording_client(server.base_url, RecordingTransport(store, on_recorded=recorded)), request)
    result = recorded.next()
    assert stored_lines(store, result) == numbered(lines)


def test_async_recording_keeps_every_line_verbatim_in_order(store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0003")
    server.expect(request, Scenario(lines=lines, lines_per_chunk=5))
    read_all_async(server.base_url, request, AsyncRecordingTransport(store, on_recorded=recorded))
    assert stored_lines(store, recorded.next()) == numbered(lines)


def test_a_finished_stream_is_recorded_complete(store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0001")
    server.expect(request, Scenario(lines=lines))
    read_all(recording_client(server.base_url, RecordingTransport(store, on_recorded=recorded)), request)
    result = recorded.next()
    recording = get_recording(store.engine, result.recording_id)
    assert (result.outcome, recording.outcome, recording.http_status, recording.error) == (Outcome.COMPLETE, Outcome.COMPLETE, 200, None)
    assert store.execution(result.execution_ids[0]).status == "REJECTED"


def test_the_request_body_is_recorded_and_the_api_key_is_not(store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0002")
    server.expect(request, Scenario(lines=lines))
    read_all(recording_client(server.base_url, RecordingTransport(store, on_recorded=recorded)), request)
    recording = get_recording(store.engine, recorded.next().recording_id)
    [(_, _, headers, sent)] = [r for r in server.requests if r[1].endswith("/v1/execute-workflow-stream")]
    assert headers["X-API-KEY"] == API_KEY
    assert recording.request == json.loads(sent)
    assert recording.source == f"{server.base_url}/v1/execute-workflow-stream"
    with store.engine.connect() as connection:
        for table in ("recordings", "events", "executions", "rejects"):
            dump = json.dumps([list(row) for row in connection.execute(text(f"SELECT * FROM {table}"))], default=str)
            assert API_KEY not in dump


def test_lines_the_client_drops_are_still_recorded(store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0002")
    body = with_junk(lines)
    server.expect(request, Scenario(lines=body, lines_per_chunk=2))
    expected, _ = read_all(plain_client(server.base_url), request)
    seen, _ = read_all(recording_client(server.base_url, RecordingTransport(store, on_recorded=recorded)), request)
    assert seen == expected and len(seen) == len(lines) - 1  # the client lost the terminal event
    result = recorded.next()
    assert stored_lines(store, result) == numbered(body)
    assert [r.position for r in store.rejects([result.recording_id])] == [0, 2, 5]
    assert "\u2028" in store.events(result.execution_ids[0])[-1].raw
    assert result.outcome == Outcome.COMPLETE and store.execution(result.execution_ids[0]).status == "REJECTED"


# -- how a stream ends ------------------------------------------------------------------------------------


def test_a_stream_cut_mid_way_reaches_the_app_and_is_recorded_cut(
    store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded
) -> None:
    request, lines = sample(samples_dir, "exec_0003")
    server.expect(request, Scenario(lines=lines, cut_after=40, lines_per_chunk=4))
    expected, plain_error = read_all(plain_client(server.base_url), request)
    seen, error = read_all(recording_client(server.base_url, RecordingTransport(store, on_recorded=recorded)), request)
    assert type(error) is type(plain_error) is httpx.RemoteProtocolError
    assert seen == expected and len(seen) == 40
    result = recorded.next()
    assert result.outcome == Outcome.CUT
    assert stored_lines(store, result) == numbered(lines[:40])
    recording = get_recording(store.engine, result.recording_id)
    assert recording.error.startswith("stream cut after 40 lines: the server closed the connection mid-response")
    assert store.execution(result.execution_ids[0]).status == "INCOMPLETE"


def test_the_app_leaving_the_loop_early_records_a_cut_with_a_clear_error(
    store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded
) -> None:
    request, lines = sample(samples_dir, "exec_0003")
    server.expect(request, Scenario(lines=lines, stall_after=6, stall_s=0.5))
    client = recording_client(server.base_url, RecordingTransport(store, on_recorded=recorded))
    for count, _event in enumerate(client.execute_workflow_stream(**request), start=1):
        if count == 3:
            break  # the generator is closed as it goes out of scope, closing the response
    result = recorded.next()
    recording = get_recording(store.engine, result.recording_id)
    assert result.outcome == Outcome.CUT
    assert recording.error == f"stream cut after {result.lines} lines: {CLOSED_EARLY}"
    assert 3 <= result.lines <= 6
    assert stored_lines(store, result) == numbered(lines[: result.lines])


def test_an_error_status_is_recorded_with_its_body(store: Store, server: LoopbackVellum, recorded: Recorded) -> None:
    request = {"workflow_deployment_name": "nope", "inputs": []}
    server.expect(request, Scenario(status=404, error_body=b'{"detail": "No deployment named nope"}'))
    client = recording_client(server.base_url, RecordingTransport(store, on_recorded=recorded))
    with pytest.raises(NotFoundError) as raised:
        list(client.execute_workflow_stream(**request))
    assert raised.value.body == {"detail": "No deployment named nope"}
    recording = get_recording(store.engine, recorded.next().recording_id)
    assert (recording.outcome, recording.http_status) == (Outcome.HTTP_ERROR, 404)
    assert recording.error == 'HTTP 404 Not Found: {"detail": "No deployment named nope"}'
    assert recording.request == request


def test_a_refused_connection_reaches_the_app_and_is_recorded(store: Store, recorded: Recorded) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = recording_client(f"http://127.0.0.1:{closed_port}", RecordingTransport(store, on_recorded=recorded))
    with pytest.raises(httpx.ConnectError):
        list(client.execute_workflow_stream(workflow_deployment_name="d", inputs=[]))
    recording = get_recording(store.engine, recorded.next().recording_id)
    assert recording.outcome == Outcome.CONNECTION_ERROR
    assert recording.error.startswith(f"http://127.0.0.1:{closed_port}/v1/execute-workflow-stream: connection refused")


def test_other_requests_pass_through_unrecorded(store: Store, server: LoopbackVellum) -> None:
    server.set_status("abc", {"execution_id": "abc", "status": "FULFILLED"})
    transport = RecordingTransport(store)
    with httpx.Client(transport=transport, base_url=server.base_url, headers={"X-API-KEY": API_KEY}) as http:
        status = http.get("/v1/workflows/executions/abc/status")
        actuals = http.post("/v1/submit-workflow-execution-actuals", json={"execution_id": "abc", "actuals": []})
    assert status.json() == {"execution_id": "abc", "status": "FULFILLED"}
    assert actuals.status_code == 204
    assert transport.wait(WAIT_S) and recording_count(store) == 0


def test_closing_the_client_waits_for_its_recordings(store: Store, server: LoopbackVellum, samples_dir: Path) -> None:
    request, lines = sample(samples_dir, "exec_0003")
    server.expect(request, Scenario(lines=lines, lines_per_chunk=16))
    http = httpx.Client(transport=RecordingTransport(store, policy=FlushPolicy(max_events=10_000, max_delay_s=None)))
    client = Vellum(api_key=API_KEY, environment=environment(server.base_url), httpx_client=http)
    read_all(client, request)
    http.close()
    [recording] = store.recordings_of(json.loads(lines[0])["execution_id"])
    assert (recording.outcome, recording.event_count) == (Outcome.COMPLETE, len(lines))


EXITING_APP = """
import sys, httpx
from recorder.store import Store
from recorder.stream.instrument import RecordingTransport

url, base_url, api_key = sys.argv[1:]
client = httpx.Client(transport=RecordingTransport(Store(url)))
request = client.build_request("POST", f"{base_url}/v1/execute-workflow-stream", json={"inputs": []}, headers={"X-API-KEY": api_key})
lines = client.send(request, stream=True).iter_lines()
for _ in range(3):
    next(lines)
# exits with the response still open and the client never closed
"""


def test_an_app_exiting_mid_stream_leaves_it_recorded_as_interrupted(store: Store, store_url: str, server: LoopbackVellum, samples_dir: Path) -> None:
    _, lines = sample(samples_dir, "exec_0003")
    server.expect({"inputs": []}, Scenario(lines=lines, stall_after=8, stall_s=1.0))
    app = subprocess.run([sys.executable, "-c", EXITING_APP, store_url, server.base_url, API_KEY], capture_output=True, text=True, timeout=60)
    assert app.returncode == 0, app.stderr
    [recording] = store.recordings_of(json.loads(lines[0])["execution_id"])
    assert (recording.outcome, recording.error) == (Outcome.INTERRUPTED, f"stream interrupted after {recording.line_count} lines: {EXITED}")
    assert 3 <= recording.event_count == recording.line_count <= 8


# -- Content-Encoding -------------------------------------------------------------------------------------


class GzipStreamServer:
    """A loopback server answering the stream endpoint with chunked NDJSON, gzip-encoded and
    flushed two lines at a time (as a compressing proxy in front of the API would send it)."""

    def __init__(self, lines: list[bytes], *, garbage_after: int | None = None) -> None:
        body_lines = lines

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                compressor = zlib.compressobj(wbits=31)
                for start in range(0, len(body_lines), 2):
                    if start == garbage_after:
                        self._chunk(b"this is not deflate data")
                    data = compressor.compress(b"".join(line + b"\n" for line in body_lines[start : start + 2]))
                    self._chunk(data + compressor.flush(zlib.Z_SYNC_FLUSH))
                self._chunk(compressor.flush())
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True  # one response per connection: no keep-alive wait to reset

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> GzipStreamServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def test_a_gzip_encoded_stream_is_recorded_decoded(store: Store, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0003")
    with GzipStreamServer(lines) as gzip_server:
        wire = httpx.post(f"{gzip_server.base_url}/v1/execute-workflow-stream", json=request)
        assert wire.headers["content-encoding"] == "gzip" and wire.text.splitlines()[0] == lines[0].decode()
        expected, _ = read_all(plain_client(gzip_server.base_url), request)
        seen, error = read_all(recording_client(gzip_server.base_url, RecordingTransport(store, on_recorded=recorded)), request)
    assert error is None and seen == expected and len(seen) == len(lines)
    result = recorded.next()
    assert result.outcome == Outcome.COMPLETE
    assert stored_lines(store, result) == numbered(lines)


def test_a_body_that_cannot_be_decoded_is_recorded_cut_with_the_reason(store: Store, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0003")
    with GzipStreamServer(lines, garbage_after=20) as gzip_server:
        expected, plain_error = read_all(plain_client(gzip_server.base_url), request)
        seen, error = read_all(recording_client(gzip_server.base_url, RecordingTransport(store, on_recorded=recorded)), request)
    assert type(error) is type(plain_error) is httpx.DecodingError and seen == expected
    result = recorded.next()
    recording = get_recording(store.engine, result.recording_id)
    assert result.outcome == Outcome.CUT and result.lines == 20
    assert recording.error.startswith("stream cut after 20 lines: the body could not be decoded (Content-Encoding: gzip): ")


# -- a store failure never reaches the application --------------------------------------------------------


@pytest.fixture
def doomed_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Any]]:
    """A working store and a function that makes its database disappear, for real."""
    if backend == "sqlite":
        path = tmp_path / "doomed.db"
        store = Store(f"sqlite:///{path}")

        def destroy() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            path.mkdir()  # the path is now a directory: SQLite cannot open it
            store.engine.dispose()

    else:
        postgres = request.getfixturevalue("postgres_server")
        url = postgres.create_database()
        store = Store(url)

        def destroy() -> None:
            # Refuse new connections and kill the open ones, as a failover would (DROP DATABASE
            # would do too, but its checkpoint takes seconds on a busy server).
            name = store.engine.url.database
            admin = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name})
            admin.dispose()

    yield store, destroy
    store.close()
    if backend == "sqlite":
        shutil.rmtree(tmp_path / "doomed.db", ignore_errors=True)


def recorder_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "recorder" and r.levelno == logging.WARNING]


def test_a_store_that_is_gone_does_not_break_the_app(
    doomed_store: tuple[Store, Any], server: LoopbackVellum, samples_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, destroy = doomed_store
    request, lines = sample(samples_dir, "exec_0003")
    server.expect(request, Scenario(lines=lines, lines_per_chunk=8))
    expected, _ = read_all(plain_client(server.base_url), request)
    destroy()
    transport = RecordingTransport(store)
    seen, error = read_all(recording_client(server.base_url, transport), request)
    assert error is None and seen == expected
    assert transport.wait(WAIT_S)
    [warning] = recorder_warnings(caplog)
    assert warning.startswith(f"recorder: could not record the workflow stream from {server.base_url}/v1/execute-workflow-stream")


def test_a_store_failing_mid_stream_does_not_break_the_app(
    doomed_store: tuple[Store, Any], server: LoopbackVellum, samples_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, destroy = doomed_store
    request, lines = sample(samples_dir, "exec_0003")
    server.expect(request, Scenario(lines=lines, stall_after=10, stall_s=0.6))
    expected, _ = read_all(plain_client(server.base_url), request)
    transport = RecordingTransport(store)
    client = recording_client(server.base_url, transport)
    seen: list[Any] = []
    for event in client.execute_workflow_stream(**request):
        seen.append(event)
        if len(seen) == 10:  # the server stalls here; the first lines are committed meanwhile
            assert not transport.wait(0.3)
            destroy()
    assert dumped(seen) == expected
    assert transport.wait(WAIT_S)
    assert len(recorder_warnings(caplog)) == 1


def test_an_async_app_is_not_broken_by_a_store_that_is_gone(
    doomed_store: tuple[Store, Any], server: LoopbackVellum, samples_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, destroy = doomed_store
    request, lines = sample(samples_dir, "exec_0001")
    server.expect(request, Scenario(lines=lines))
    expected = read_all_async(server.base_url, request)
    destroy()
    transport = AsyncRecordingTransport(store)
    assert read_all_async(server.base_url, request, transport) == expected
    assert transport.wait(WAIT_S)
    assert len(recorder_warnings(caplog)) == 1


# -- instrument(): wrapping an existing client in place ------------------------------------------------


def test_instrument_records_a_vellum_client_in_place(store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0001")
    server.expect(request, Scenario(lines=lines))
    client = plain_client(server.base_url)
    assert instrument(client, store, on_recorded=recorded) is client
    seen, _ = read_all(client, request)
    assert len(seen) == len(lines)
    assert stored_lines(store, recorded.next()) == numbered(lines)


def test_instrument_records_an_async_vellum_client_in_place(store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0001")
    server.expect(request, Scenario(lines=lines))

    async def consume() -> int:
        client = instrument(AsyncVellum(api_key=API_KEY, environment=environment(server.base_url)), store, on_recorded=recorded)
        return len([event async for event in client.execute_workflow_stream(**request)])

    assert asyncio.run(consume()) == len(lines)
    assert stored_lines(store, recorded.next()) == numbered(lines)


def test_instrument_also_records_through_mounted_transports(store: Store, server: LoopbackVellum, samples_dir: Path, recorded: Recorded) -> None:
    request, lines = sample(samples_dir, "exec_0001")
    server.expect(request, Scenario(lines=lines))
    http = instrument(httpx.Client(mounts={"http://127.0.0.1": httpx.HTTPTransport()}), store, on_recorded=recorded)
    client = Vellum(api_key=API_KEY, environment=environment(server.base_url), httpx_client=http)
    read_all(client, request)
    assert recorded.next().outcome == Outcome.COMPLETE


def test_instrument_refuses_a_client_it_already_records(store: Store) -> None:
    client = instrument(Vellum(api_key=API_KEY), store)
    with pytest.raises(ValueError, match="already recorded"):
        instrument(client, store)


def test_instrument_rejects_what_it_cannot_wrap(store: Store) -> None:
    with pytest.raises(TypeError, match="cannot find the httpx client inside a object"):
        instrument(object(), store)
