"""Replay without a server: the transports, recording through, and replaying into any callable."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from vellum import InternalServerError, NotFoundError

from recorder.demo.server import LoopbackVellum, Scenario
from recorder.model.cassette import Cassette, Line, Request, Response, lines_of_body
from recorder.replay.capture import CaptureTransport
from recorder.replay.feed import ReplayedCut, ReplayedHTTPError, areplay_lines, replay_lines
from recorder.replay.library import CassetteLibrary
from recorder.replay.matching import NoMatch
from recorder.replay.timing import Timing
from recorder.replay.transport import RESPOND, AsyncReplayTransport, NotReplayed, ReplayTransport
from tests.test_replay_support import (
    sample_cassette,
    ADVERSARIAL_BODY,
    ADVERSARIAL_REQUEST,
    API_KEY,
    SAMPLE_NAMES,
    BareServer,
    async_events_of,
    bare_server,  # noqa: F401 - a fixture
    client_over,
    events_of,
    load_sample,
    reference_events,
)


@pytest.fixture(scope="module")
def library(samples_dir: Path) -> CassetteLibrary:
    lines, ends = lines_of_body(ADVERSARIAL_BODY)
    edge = Cassette(Request(body=ADVERSARIAL_REQUEST), Response(lines=lines, ends_with_newline=ends))
    return CassetteLibrary([*(sample_cassette(samples_dir, name) for name in SAMPLE_NAMES), edge])


# -- the official client through the transports -----------------------------------------------------------


def test_the_official_client_yields_through_the_transport_the_events_of_the_original_bytes(library, bare_server: BareServer, samples_dir: Path) -> None:
    client = client_over(ReplayTransport(library))
    for name in [*SAMPLE_NAMES[::3], "edge"]:
        truth, body = load_sample(samples_dir, name) if name != "edge" else ({"request": ADVERSARIAL_REQUEST}, ADVERSARIAL_BODY)
        assert events_of(client, truth["request"]) == reference_events(bare_server, body, truth["request"]), name


def test_the_async_official_client_yields_through_the_async_transport_the_events_of_the_original_bytes(library, bare_server: BareServer, samples_dir: Path) -> None:
    transport = AsyncReplayTransport(library)
    for name in SAMPLE_NAMES[1:12:5]:
        truth, body = load_sample(samples_dir, name)
        assert async_events_of(truth["request"], transport=transport) == reference_events(bare_server, body, truth["request"]), name


def test_the_transport_reads_a_folder_of_cassette_files(tmp_path: Path, samples_dir: Path) -> None:
    (tmp_path / "one.cassette.json").write_bytes(sample_cassette(samples_dir, "exec_0002").dumps())
    truth, body = load_sample(samples_dir, "exec_0002")
    with httpx.Client(transport=ReplayTransport(tmp_path)) as http:
        assert http.post("https://predict.vellum.ai/v1/execute-workflow-stream", json=truth["request"]).content == body


def test_the_transport_answers_status_and_execute_like_the_server(library, samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0005")
    with httpx.Client(transport=ReplayTransport(library), base_url="https://predict.vellum.ai") as http:
        assert http.get(f"/v1/workflows/executions/{truth['execution_id']}/status").json() == truth["status_response"]
        assert http.post("/v1/execute-workflow", json=truth["request"]).json() == truth["execute_workflow_response"]


def test_a_request_nothing_matches_raises_no_match_with_the_closest_recordings(library, samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0002")
    with pytest.raises(NoMatch, match=r"closest of 31 recorded:\n  1\. "):
        list(client_over(ReplayTransport(library)).execute_workflow_stream(**{**truth["request"], "external_id": "ext-new"}))


def test_a_transport_told_to_respond_answers_a_miss_with_404(library, samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0002")
    with pytest.raises(NotFoundError):
        list(client_over(ReplayTransport(library, on_no_match=RESPOND)).execute_workflow_stream(**{**truth["request"], "external_id": "ext-new"}))


def test_a_request_to_another_endpoint_is_refused_without_a_passthrough(library) -> None:
    with httpx.Client(transport=ReplayTransport(library)) as http, pytest.raises(NotReplayed):
        http.get("https://api.vellum.ai/v1/deployments")


def test_a_request_to_another_endpoint_goes_to_the_passthrough(library) -> None:
    passthrough = httpx.MockTransport(lambda request: httpx.Response(200, json={"passed": request.url.path}))
    with httpx.Client(transport=ReplayTransport(library, passthrough=passthrough)) as http:
        assert http.get("https://api.vellum.ai/v1/deployments").json() == {"passed": "/v1/deployments"}


# -- faults and timing ------------------------------------------------------------------------------------


def test_a_cut_fault_makes_the_client_raise_the_error_of_a_real_cut(samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0003")
    transport = ReplayTransport([sample_cassette(samples_dir, "exec_0003").with_fault(cut_after_lines=5)])
    received = []
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        for event in client_over(transport).execute_workflow_stream(**truth["request"]):
            received.append(event)
    assert len(received) == 5


def test_an_http_error_fault_raises_the_clients_typed_error_through_the_async_transport(samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0002")
    transport = AsyncReplayTransport([sample_cassette(samples_dir, "exec_0002").with_fault(status=500)])
    with pytest.raises(InternalServerError):
        async_events_of(truth["request"], transport=transport)


def test_a_slow_first_byte_holds_the_response_back(samples_dir: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0002")
    transport = ReplayTransport([sample_cassette(samples_dir, "exec_0002").with_fault(first_byte_delay_s=0.4)])
    started = time.monotonic()
    with httpx.Client(transport=transport) as http:
        http.post("https://predict.vellum.ai/v1/execute-workflow-stream", json=truth["request"])
    assert time.monotonic() - started >= 0.38


def test_recorded_timing_through_the_transport_keeps_the_recorded_gaps() -> None:
    lines = tuple(Line(index * 300_000, json.dumps({"n": index}).encode()) for index in range(3))
    request = {"workflow_deployment_name": "timed", "inputs": []}
    transport = ReplayTransport([Cassette(Request(body=request), Response(lines=lines))], timing=Timing.recorded())
    started = time.monotonic()
    arrivals = []
    with httpx.Client(transport=transport) as http, http.stream("POST", "https://x/v1/execute-workflow-stream", json=request) as response:
        for _ in response.iter_lines():
            arrivals.append(time.monotonic() - started)
    assert arrivals[0] < 0.25 and arrivals[2] >= 0.58


# -- recording through ------------------------------------------------------------------------------------


def test_recording_through_keeps_the_received_bytes_and_gives_the_application_the_same(samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0004")
    recorded: list[Cassette] = []
    with LoopbackVellum(api_key="real-key") as server:
        server.expect(truth["request"], Scenario(lines=body.split(b"\n")[:-1], lines_per_chunk=3))
        transport = CaptureTransport(httpx.HTTPTransport(), recorded.append, api_key="real-key")
        with httpx.Client(transport=transport, headers={"X-API-KEY": API_KEY}) as http:
            seen = http.post(f"{server.base_url}/v1/execute-workflow-stream", json=truth["request"]).content
    [cassette] = recorded
    assert seen == body and cassette.body() == body
    assert (cassette.request.body, cassette.execution_id, cassette.response.outcome) == (truth["request"], truth["execution_id"], "complete")
    assert b"real-key" not in cassette.dumps() and API_KEY.encode() not in cassette.dumps()


def test_recording_through_a_cut_stream_records_a_cut_fault(samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0004")
    recorded: list[Cassette] = []
    with LoopbackVellum() as server:
        server.expect(truth["request"], Scenario(lines=body.split(b"\n")[:-1], cut_after=6))
        with httpx.Client(transport=CaptureTransport(httpx.HTTPTransport(), recorded.append)) as http, pytest.raises(httpx.RemoteProtocolError):
            http.post(f"{server.base_url}/v1/execute-workflow-stream", json=truth["request"])
    [cassette] = recorded
    assert (len(cassette.response.lines), cassette.fault.cut_after_lines, cassette.response.outcome) == (6, 6, "cut")


# -- replaying into any callable --------------------------------------------------------------------------


def test_replay_lines_hands_every_received_line_to_the_consumer() -> None:
    lines, ends = lines_of_body(ADVERSARIAL_BODY)
    cassette = Cassette(Request(body=ADVERSARIAL_REQUEST), Response(lines=lines, ends_with_newline=ends))
    received: list[bytes] = []
    assert replay_lines(cassette, received.append, raw=True) == len(lines)
    assert b"\n".join(received) == ADVERSARIAL_BODY


def test_replay_lines_raises_a_cut_after_the_lines_before_it(samples_dir: Path) -> None:
    received: list[str] = []
    with pytest.raises(ReplayedCut, match="cut after 4 lines"):
        replay_lines(sample_cassette(samples_dir, "exec_0003").with_fault(cut_after_lines=4), received.append)
    assert len(received) == 4 and all(json.loads(line) for line in received)


def test_replay_lines_raises_an_http_error_before_any_line(samples_dir: Path) -> None:
    received: list[str] = []
    with pytest.raises(ReplayedHTTPError) as caught:
        replay_lines(sample_cassette(samples_dir, "exec_0003").with_fault(status=503), received.append)
    assert (caught.value.status, received) == (503, [])


def test_areplay_lines_awaits_an_async_consumer(samples_dir: Path) -> None:
    received: list[str] = []

    async def consume(line: str) -> None:
        await asyncio.sleep(0)
        received.append(line)

    count = asyncio.run(areplay_lines(sample_cassette(samples_dir, "exec_0002"), consume))
    assert count == len(received) == 4
