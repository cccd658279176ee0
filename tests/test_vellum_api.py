"""The Vellum calls go through the transport a caller gives, and a recording hands its result back
to the code that sent the request. Against the loopback server over real sockets; each test that
records runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from recorder.demo.server import LoopbackVellum, Scenario
from recorder.model.endpoints import API_KEY_HEADER, STREAM_PATH
from recorder.store import FlushPolicy, Outcome, Store
from recorder.store.errors import StoreUnavailable
from recorder.stream.http import execute_and_record
from recorder.stream.sink import SinkFailed
from recorder.stream.instrument import RECORDING, RecordingTransport
from recorder.stream.vellum_api import Timeouts, get_execution_status, submit_actuals

API_KEY = "k-vellum-api"
EXECUTION_ID = "3161c940-7c63-47b9-a3b7-216f6ad28eb6"


class SeenTransport(httpx.BaseTransport):
    """httpx's own transport, remembering which requests went through it."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seen: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def sample_lines(samples_dir: Path) -> list[bytes]:
    """A FULFILLED execution's stream, line by line."""
    return (samples_dir / "exec_0003.ndjson").read_bytes().splitlines()


@pytest.fixture
def server() -> Iterator[LoopbackVellum]:
    """Vellum on a loopback socket, answering only requests that carry API_KEY."""
    with LoopbackVellum(api_key=API_KEY) as running:
        yield running


def test_status_and_actuals_go_through_the_given_transport(server: LoopbackVellum) -> None:
    server.set_status(EXECUTION_ID, {"status": "FULFILLED", "execution_id": EXECUTION_ID})
    transport = SeenTransport()
    status = get_execution_status(server.base_url, API_KEY, EXECUTION_ID, transport=transport)
    actuals = submit_actuals(server.base_url, API_KEY, {"execution_id": EXECUTION_ID, "actuals": []}, transport=transport)
    assert (status.http_status, status.json()["status"], status.error) == (200, "FULFILLED", None)
    assert (actuals.http_status, actuals.error) == (204, None)
    assert [method for method, _ in transport.seen] == ["GET", "POST"]
    assert all(headers[API_KEY_HEADER] == API_KEY and headers["User-Agent"].startswith("workflow-recorder/") for _, _, headers, _ in server.requests)


def test_a_live_recording_goes_through_the_given_transport(store: Store, server: LoopbackVellum, sample_lines: list[bytes]) -> None:
    server.enqueue(Scenario(lines=sample_lines))
    transport = SeenTransport()
    live = execute_and_record(store, {"inputs": []}, api_key=API_KEY, base_url=server.base_url, transport=transport)
    assert transport.seen == [("POST", STREAM_PATH)]
    assert (live.outcome, live.http_status, live.error, live.execution_id) == (Outcome.COMPLETE, 200, None, EXECUTION_ID)
    [(_, _, headers, _)] = server.requests
    assert headers["Accept"] == "application/x-ndjson"
    assert [event.raw.encode() for event in store.events(EXECUTION_ID)] == sample_lines


def test_the_request_hands_back_its_recording(store: Store, server: LoopbackVellum, sample_lines: list[bytes]) -> None:
    server.enqueue(Scenario(lines=sample_lines))
    recorded = []
    with httpx.Client(transport=RecordingTransport(store, on_recorded=recorded.append)) as http:
        with http.stream("POST", server.base_url + STREAM_PATH, json={"inputs": []}, headers={API_KEY_HEADER: API_KEY}) as response:
            response.read()
        result = response.request.extensions[RECORDING].result(timeout=30)
        assert (result.outcome, result.execution_ids, result.lines) == (Outcome.COMPLETE, [EXECUTION_ID], len(sample_lines))
        assert response.request.extensions[RECORDING].error is None
    assert recorded == [result]


def test_a_request_without_a_response_hands_back_its_recording(store: Store) -> None:
    with httpx.Client(transport=RecordingTransport(store)) as http:
        with pytest.raises(httpx.ConnectError) as refused:
            http.post("http://127.0.0.1:1" + STREAM_PATH, json={"inputs": []})
    recording = refused.value.request.extensions[RECORDING]
    assert recording.result(timeout=30).outcome == Outcome.CONNECTION_ERROR
    assert recording.error.startswith(f"http://127.0.0.1:1{STREAM_PATH}: connection refused")


def test_a_read_timeout_is_described_with_the_clients_own_timeout(store: Store, server: LoopbackVellum, sample_lines: list[bytes]) -> None:
    server.enqueue(Scenario(lines=sample_lines, stall_after=10, stall_s=3.0))
    with httpx.Client(transport=RecordingTransport(store), timeout=Timeouts(connect=5.0, read=0.3).as_httpx()) as http:
        with pytest.raises(httpx.ReadTimeout):
            with http.stream("POST", server.base_url + STREAM_PATH, json={"inputs": []}, headers={API_KEY_HEADER: API_KEY}) as response:
                response.read()
    recording = response.request.extensions[RECORDING]
    assert recording.result(timeout=30).outcome == Outcome.CUT
    assert recording.error.startswith("stream cut after 10 lines: no data for 0.3 s (read timeout)")


def test_a_live_recording_into_a_store_that_is_gone_is_refused_before_anything_is_sent(
    tmp_path: Path, server: LoopbackVellum, sample_lines: list[bytes]
) -> None:
    """Unlike an application's recording, `recorder record` exists to record: an execution it could
    not record is never sent."""
    path = tmp_path / "gone.db"
    server.enqueue(Scenario(lines=sample_lines, lines_per_chunk=1))
    with Store(f"sqlite:///{path}") as store:
        path.unlink()
        path.mkdir()  # the path is now a directory: SQLite cannot open it
        store.engine.dispose()
        with pytest.raises(StoreUnavailable, match="cannot record into"):
            execute_and_record(store, {"inputs": []}, api_key=API_KEY, base_url=server.base_url)
    path.rmdir()
    assert server.requests == []


def test_a_live_recording_whose_store_fails_midway_stops_and_says_so(
    postgres_store_url: str, server: LoopbackVellum, sample_lines: list[bytes]
) -> None:
    """After the first commit the database turns read-only and drops its connections: the rest of
    the stream cannot be stored, and `recorder record` says so rather than carry on unrecorded."""
    database = make_url(postgres_store_url).database
    admin = create_engine(postgres_store_url, isolation_level="AUTOCOMMIT")
    server.enqueue(Scenario(lines=sample_lines, lines_per_chunk=1, offsets_s=[0.02 * i for i in range(len(sample_lines))]))

    def turn_read_only(_positions: list[int]) -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    try:
        with Store(postgres_store_url) as store:
            store.wipe()
            with pytest.raises(SinkFailed, match="the store stopped taking this stream"):
                execute_and_record(
                    store, {"inputs": []}, api_key=API_KEY, base_url=server.base_url, on_commit=turn_read_only,
                    policy=FlushPolicy(max_events=1, max_delay_s=0.01),
                )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        admin.dispose()
