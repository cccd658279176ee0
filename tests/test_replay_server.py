"""`recorder serve` over a real socket: the official client sees what it saw from the original bytes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from vellum import BadRequestError, InternalServerError, NotFoundError

from recorder.model.cassette import Cassette, Fault, Line, Request, Response, lines_of_body
from recorder.replay.library import CassetteLibrary, FolderLibrary
from recorder.replay.server import ReplayServer
from recorder.replay.store_library import StoreLibrary
from recorder.replay.timing import Timing
from recorder.store import Store
from tests.test_replay_support import (
    sample_cassette,
    ADVERSARIAL_BODY,
    ADVERSARIAL_REQUEST,
    SAMPLE_NAMES,
    BareServer,
    async_events_of,
    bare_server,  # noqa: F401 - a fixture
    client_at,
    events_of,
    ingest_samples,
    load_sample,
    reference_events,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Path:
    """Every sample as a cassette file, plus the adversarial body."""
    folder = tmp_path_factory.mktemp("cassettes")
    for name in SAMPLE_NAMES:
        (folder / f"{name}.cassette.json").write_bytes(sample_cassette(samples_dir, name).dumps())
    lines, ends = lines_of_body(ADVERSARIAL_BODY)
    (folder / "edge.cassette.json").write_bytes(Cassette(Request(body=ADVERSARIAL_REQUEST), Response(lines=lines, ends_with_newline=ends)).dumps())
    return folder


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[ReplayServer]:
    with ReplayServer(FolderLibrary(folder)) as running:
        yield running


def serve_one(cassette: Cassette, **options) -> ReplayServer:
    return ReplayServer(CassetteLibrary([cassette]), **options)


# -- the official client ----------------------------------------------------------------------------------


def test_the_official_client_yields_from_serve_the_events_of_the_original_bytes(server: ReplayServer, bare_server: BareServer, samples_dir: Path) -> None:
    client = client_at(server.base_url)
    for name in SAMPLE_NAMES:
        truth, body = load_sample(samples_dir, name)
        expected = reference_events(bare_server, body, truth["request"])
        assert len(expected) == truth["adversarial"]["official_client_events"], name
        assert events_of(client, truth["request"]) == expected, name


def test_the_async_official_client_yields_from_serve_the_events_of_the_original_bytes(server: ReplayServer, bare_server: BareServer, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES[:6]:
        truth, body = load_sample(samples_dir, name)
        assert async_events_of(truth["request"], base_url=server.base_url) == reference_events(bare_server, body, truth["request"]), name


def test_junk_blank_crlf_and_unterminated_lines_are_served_byte_for_byte(server: ReplayServer, bare_server: BareServer) -> None:
    response = httpx.post(f"{server.base_url}/v1/execute-workflow-stream", json=ADVERSARIAL_REQUEST)
    assert response.content == ADVERSARIAL_BODY
    assert response.headers["content-type"] == "application/x-ndjson"
    assert events_of(client_at(server.base_url), ADVERSARIAL_REQUEST) == reference_events(bare_server, ADVERSARIAL_BODY, ADVERSARIAL_REQUEST)


def test_serving_the_store_answers_with_its_recorded_streams(store: Store, bare_server: BareServer, samples_dir: Path) -> None:
    names = ["exec_0002", "exec_0005", "exec_0016"]
    ingest_samples(store, samples_dir, names)
    with ReplayServer(StoreLibrary(store)) as replay:
        client = client_at(replay.base_url)
        for name in names:
            truth, body = load_sample(samples_dir, name)
            assert events_of(client, truth["request"]) == reference_events(bare_server, body, truth["request"]), name


def test_serving_the_store_finds_executions_recorded_after_it_started(store: Store, samples_dir: Path) -> None:
    with ReplayServer(StoreLibrary(store)) as replay:
        ingest_samples(store, samples_dir, ["exec_0002"])
        truth, body = load_sample(samples_dir, "exec_0002")
        assert httpx.post(f"{replay.base_url}/v1/execute-workflow-stream", json=truth["request"]).content == body


def test_serving_a_folder_picks_up_cassettes_written_after_it_started(tmp_path: Path, samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0002")
    data = sample_cassette(samples_dir, "exec_0002").dumps()
    with ReplayServer(FolderLibrary(tmp_path)) as replay:
        (tmp_path / "late.cassette.json").write_bytes(data[: len(data) // 2])  # still being written
        assert httpx.post(f"{replay.base_url}/v1/execute-workflow-stream", json=truth["request"]).status_code == 404
        (tmp_path / "late.cassette.json").write_bytes(data)
        assert httpx.post(f"{replay.base_url}/v1/execute-workflow-stream", json=truth["request"]).content == body


# -- the other endpoints ----------------------------------------------------------------------------------


def test_the_status_endpoint_answers_what_the_truth_says(server: ReplayServer, samples_dir: Path) -> None:
    with httpx.Client(base_url=server.base_url) as http:
        for name in SAMPLE_NAMES:
            truth, _ = load_sample(samples_dir, name)
            answer = http.get(f"/v1/workflows/executions/{truth['execution_id']}/status")
            assert (answer.status_code, answer.json()) == (200, truth["status_response"]), name


def test_the_official_client_reads_the_replayed_status(server: ReplayServer, samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0001")
    status = client_at(server.base_url).workflows.workflow_execution_status(truth["execution_id"])
    assert (status.status, status.error.code) == ("REJECTED", truth["status_response"]["error"]["code"])


def test_execute_workflow_answers_the_terminal_event_as_the_truth_says(server: ReplayServer, samples_dir: Path) -> None:
    with httpx.Client(base_url=server.base_url) as http:
        for name in SAMPLE_NAMES:
            truth, _ = load_sample(samples_dir, name)
            answer = http.post("/v1/execute-workflow", json=truth["request"])
            assert (answer.status_code, answer.json()) == (200, truth["execute_workflow_response"]), name


def test_the_status_of_an_unrecorded_execution_is_404(server: ReplayServer) -> None:
    with pytest.raises(NotFoundError):
        client_at(server.base_url).workflows.workflow_execution_status("not-recorded")


def test_an_endpoint_that_is_not_replayed_answers_404(server: ReplayServer) -> None:
    answer = httpx.post(f"{server.base_url}/v1/execute-workflow-async", json={})
    assert answer.status_code == 404 and "is not replayed" in answer.json()["detail"]


def test_a_request_nothing_matches_raises_not_found_naming_the_closest_recordings(server: ReplayServer, samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0003")
    asked = {**truth["request"], "release_tag": "canary"}
    with pytest.raises(NotFoundError) as caught:
        list(client_at(server.base_url).execute_workflow_stream(**asked))
    detail = caught.value.body["detail"]
    assert 'release_tag="canary"' in detail
    assert '1. exec_0003.cassette.json: release_tag: asked "canary", recorded null' in detail


def test_the_server_binds_to_loopback_unless_told_otherwise(folder: Path) -> None:
    with ReplayServer(FolderLibrary(folder)) as replay:
        assert replay.base_url.startswith("http://127.0.0.1:")


# -- timing -----------------------------------------------------------------------------------------------

GAP_US = 400_000


def timed_cassette() -> Cassette:
    lines = tuple(Line(index * GAP_US, json.dumps({"n": index}).encode()) for index in range(3))
    return Cassette(Request(body={"workflow_deployment_name": "timed", "inputs": []}), Response(lines=lines))


def arrival_times(base_url: str) -> list[float]:
    """Seconds from the request to each line's arrival, read raw (no parsing cost in the way)."""
    started = time.monotonic()
    arrivals = []
    with httpx.stream("POST", f"{base_url}/v1/execute-workflow-stream", json={"workflow_deployment_name": "timed", "inputs": []}) as response:
        for _ in response.iter_lines():
            arrivals.append(time.monotonic() - started)
    return arrivals


def test_recorded_timing_keeps_at_least_the_recorded_gaps() -> None:
    with serve_one(timed_cassette(), timing=Timing.recorded()) as replay:
        arrivals = arrival_times(replay.base_url)
    assert arrivals[1] >= 0.38 and arrivals[2] >= 0.78
    assert arrivals[2] - arrivals[1] >= 0.3


def test_a_speed_divides_the_recorded_gaps() -> None:
    with serve_one(timed_cassette(), timing=Timing.recorded(speed=4)) as replay:
        arrivals = arrival_times(replay.base_url)
    assert 0.18 <= arrivals[2] < 0.7


def test_instant_timing_sends_everything_at_once() -> None:
    with serve_one(timed_cassette(), timing=Timing.instant()) as replay:
        arrivals = arrival_times(replay.base_url)
    assert arrivals[2] < 0.4


# -- faults -----------------------------------------------------------------------------------------------


def test_a_cut_stream_makes_the_client_raise_after_the_lines_before_the_cut(bare_server: BareServer, samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0003")
    cassette = sample_cassette(samples_dir, "exec_0003").with_fault(cut_after_lines=10)
    before_cut = reference_events(bare_server, b"".join(line + b"\n" for line in body.split(b"\n")[:10]), truth["request"])
    received = []
    with serve_one(cassette) as replay, pytest.raises(httpx.RemoteProtocolError):
        for event in client_at(replay.base_url).execute_workflow_stream(**truth["request"]):
            received.append(event.dict())
    assert received == before_cut


@pytest.mark.parametrize(("status", "error"), [(500, InternalServerError), (400, BadRequestError)])
def test_an_http_error_fault_raises_the_clients_typed_error(samples_dir: Path, status: int, error: type[Exception]) -> None:
    truth, _ = load_sample(samples_dir, "exec_0002")
    cassette = sample_cassette(samples_dir, "exec_0002").with_fault(status=status, body='{"detail": "replayed outage"}')
    with serve_one(cassette) as replay, pytest.raises(error) as caught:
        list(client_at(replay.base_url).execute_workflow_stream(**truth["request"]))
    assert caught.value.body == {"detail": "replayed outage"}


def test_a_slow_first_byte_delays_the_first_event(samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0002")
    cassette = sample_cassette(samples_dir, "exec_0002").with_fault(first_byte_delay_s=0.5)
    with serve_one(cassette) as replay:
        client = client_at(replay.base_url)
        started = time.monotonic()
        next(iter(client.execute_workflow_stream(**truth["request"])))
    assert time.monotonic() - started >= 0.45


def test_a_recorded_http_error_is_replayed_with_its_body() -> None:
    cassette = Cassette(
        Request(body={"workflow_deployment_name": "d", "inputs": []}),
        Response(status=404, headers={"content-type": "application/json"}, lines=(Line(0, b'{"detail":"No deployment named d"}'),),
                 ends_with_newline=False, outcome="http_error"),
    )
    with serve_one(cassette) as replay, pytest.raises(NotFoundError) as caught:
        list(client_at(replay.base_url).execute_workflow_stream(workflow_deployment_name="d", inputs=[]))
    assert caught.value.body == {"detail": "No deployment named d"}


def test_a_cut_fault_also_applies_to_a_stream_cassette_read_back_from_its_file(samples_dir: Path) -> None:
    cassette = Cassette.loads(sample_cassette(samples_dir, "exec_0002").with_fault(cut_after_lines=1).dumps())
    assert cassette.fault == Fault(cut_after_lines=1)
