"""The official client's `workflow_deployments.execute_stream` against replays of the v2 stream:
`recorder serve` over a real socket (from cassettes and from the store), the replay transport, the
pytest plugin; and the in-app `RecordingTransport` recording what the client consumes.

A replay gives the client exactly the events it makes of the recorded lines, and a v1 recording
never answers a v2 request (nor a v2 one a v1 request)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest
from vellum import NotFoundError

from recorder.demo.server import LoopbackVellum, Scenario
from recorder.model.cassette import Cassette, Request, Response, lines_of_body, read_cassette, write_cassette
from recorder.model.endpoints import deployment_stream_path
from recorder.replay.library import CassetteLibrary, FolderLibrary
from recorder.replay.matching import LOOSE, MatchRule
from recorder.replay.server import ReplayServer
from recorder.replay.store_library import StoreLibrary
from recorder.replay.transport import ReplayTransport
from recorder.store import Store
from recorder.stream.instrument import RecordingTransport
from recorder.stream.ingest import ingest_cassette
from tests.test_replay_support import load_sample
from tests.test_sdk_wire_support import (
    API_KEY,
    client_at,
    client_kwargs,
    deployment_of,
    manifest,
    parsed_lines,
    sdk_body,
    sdk_lines,
    v2_cassette,
    v2_events,
    v2_request,
    wire,
)

SAMPLES = ("exec_0000", "exec_0002", "exec_0003", "exec_0009")


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    with ReplayServer(CassetteLibrary([v2_cassette(name) for name in SAMPLES])) as running:
        yield running


@pytest.mark.parametrize("name", SAMPLES)
def test_serve_gives_execute_stream_the_events_of_the_recorded_lines(server: ReplayServer, name: str) -> None:
    assert v2_events(client_at(server.base_url), name) == parsed_lines(sdk_lines(name))


@pytest.mark.parametrize("name", SAMPLES[:2])
def test_the_replay_transport_gives_execute_stream_the_same_events(name: str) -> None:
    transport = ReplayTransport([v2_cassette(n) for n in SAMPLES])
    assert v2_events(client_at("https://predict.vellum.ai", transport=transport), name) == parsed_lines(sdk_lines(name))


def test_a_cassette_folder_serves_the_v2_stream_by_deployment_from_the_path(tmp_path: Path) -> None:
    for index, name in enumerate(SAMPLES, start=1):
        write_cassette(v2_cassette(name), tmp_path / f"{index:03d}.cassette.json")
    with ReplayServer(FolderLibrary(tmp_path)) as running:
        assert v2_events(client_at(running.base_url), "exec_0003") == parsed_lines(sdk_lines("exec_0003"))


def test_serve_from_the_store_answers_the_v2_stream_with_what_was_recorded(store: Store) -> None:
    for name in SAMPLES:
        ingest_cassette(store, v2_cassette(name))
    with ReplayServer(StoreLibrary(store)) as running:
        for name in SAMPLES:
            assert v2_events(client_at(running.base_url), name) == parsed_lines(sdk_lines(name))


def test_a_cut_v2_cassette_breaks_the_client_after_the_same_lines(server: ReplayServer) -> None:
    with ReplayServer(CassetteLibrary([v2_cassette("exec_0000", cut_after_lines=5)])) as running:
        seen = []
        with pytest.raises(httpx.RemoteProtocolError):
            for event in client_at(running.base_url).workflow_deployments.execute_stream(**client_kwargs("exec_0000")):
                seen.append(event)
    assert seen == parsed_lines(sdk_lines("exec_0000")[:5])


def test_a_v1_recording_does_not_answer_a_v2_request(samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0000")  # the same deployment, request and execution, on v1
    lines, ends = lines_of_body(body)
    v1 = Cassette(Request(body=truth["request"]), Response(lines=lines, ends_with_newline=ends), execution_id=truth["execution_id"])
    with ReplayServer(CassetteLibrary([v1])) as running:
        with pytest.raises(NotFoundError) as miss:
            v2_events(client_at(running.base_url), "exec_0000")
        assert miss.value.body["detail"].startswith("no recorded exchange matches POST /v1/workflow-deployments/{id}/execute-stream")
        response = httpx.post(running.base_url + deployment_stream_path(deployment_of("exec_0000")), json=wire("exec_0000").wire_body)
        assert response.status_code == 404 and response.headers["content-type"] == "application/json"


def test_a_v2_recording_does_not_answer_a_v1_request(samples_dir: Path, server: ReplayServer) -> None:
    truth, _ = load_sample(samples_dir, "exec_0000")
    with pytest.raises(NotFoundError) as miss:
        list(client_at(server.base_url).execute_workflow_stream(**truth["request"]))
    assert miss.value.body["detail"].startswith("no recorded exchange matches POST /v1/execute-workflow-stream")


def test_the_store_never_answers_a_v1_request_with_a_v2_recording(store: Store, samples_dir: Path) -> None:
    ingest_cassette(store, v2_cassette("exec_0002"))
    truth, _ = load_sample(samples_dir, "exec_0002")
    with ReplayServer(StoreLibrary(store)) as running:
        response = httpx.post(running.base_url + "/v1/execute-workflow-stream", json=truth["request"])
        assert response.status_code == 404
        assert v2_events(client_at(running.base_url), "exec_0002") == parsed_lines(sdk_lines("exec_0002"))


def test_a_v2_request_for_another_deployment_is_a_miss_that_says_how_it_differs(server: ReplayServer) -> None:
    kwargs = {**client_kwargs("exec_0002"), "id": "no-such-deployment"}
    with pytest.raises(NotFoundError) as miss:
        list(client_at(server.base_url).workflow_deployments.execute_stream(**kwargs))
    assert "no-such-deployment" in json.dumps(miss.value.body)


def test_the_status_endpoint_reads_a_v2_recording(server: ReplayServer) -> None:
    execution_id = manifest()["exec_0000"]["execution_id"]
    status = client_at(server.base_url).workflows.workflow_execution_status(execution_id)
    terminal = next(json.loads(line) for line in reversed(sdk_lines("exec_0000")) if json.loads(line)["span_id"] == execution_id)
    assert status.status == terminal["name"].rsplit(".", 1)[-1].upper()
    if status.status == "FULFILLED":
        assert status.outputs == terminal["body"]["outputs"]


@pytest.mark.parametrize("name", ("exec_0000", "exec_0003"))
def test_recording_in_the_app_while_the_client_consumes_stores_the_lines_it_was_sent(store: Store, server: ReplayServer, name: str) -> None:
    transport = RecordingTransport(store)
    events = v2_events(client_at(server.base_url, transport=transport), name)
    assert transport.wait(10)
    assert events == parsed_lines(sdk_lines(name))
    execution_id = manifest()[name]["execution_id"]
    assert [event.raw.encode() for event in store.events(execution_id)] == sdk_lines(name)
    [(recorded_id, request)] = [(i, r) for i, r in store.execution_requests() if i == execution_id]
    assert request == wire(name).body and request["stream"] == "v2"
    assert store.execution(execution_id).workflow_deployment_name == deployment_of(name)


# -- the pytest plugin ------------------------------------------------------------------------------------

pytest_plugins = ("pytester",)
PLUGIN = "recorder.replay.pytest_plugin"

CALLS = '''
import os
from vellum import Vellum, VellumEnvironment

KWARGS = {kwargs!r}


def test_answer(vellum_replay):
    base = os.environ.get("APP_VELLUM_URL", "https://predict.vellum.ai")
    client = Vellum(api_key="app-dummy-key", environment=VellumEnvironment(default=base, predict=base, documents=base))
    names = [event.name for event in client.workflow_deployments.execute_stream(**KWARGS)]
    assert names == {names!r}
'''


def run_plugin(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    registered = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    plugin = () if registered else ("-p", PLUGIN)
    return pytester.runpytest_inprocess(*plugin, "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args)


@pytest.fixture
def app(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for variable in ("CI", "VELLUM_RECORD_MODE", "VELLUM_API_KEY", "APP_VELLUM_URL"):
        monkeypatch.delenv(variable, raising=False)
    names = [event.name for event in parsed_lines(sdk_lines("exec_0002"))]
    pytester.makepyfile(test_app_calls=CALLS.format(kwargs=client_kwargs("exec_0002"), names=names))
    return pytester


def test_the_plugin_replays_the_v2_stream_to_an_application_client(app: pytest.Pytester) -> None:
    write_cassette(v2_cassette("exec_0002"), app.path / "cassettes" / "test_app_calls" / "test_answer" / "001-recorded.cassette.json")
    run_plugin(app, "--vellum-record-mode=none").assert_outcomes(passed=1)


def test_the_plugin_records_a_v2_exchange_then_replays_it_without_the_api(app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "exec_0002"
    monkeypatch.setenv("VELLUM_API_KEY", API_KEY)
    with LoopbackVellum(api_key=API_KEY) as loopback:
        loopback.expect(v2_request(name), Scenario(lines=sdk_lines(name)))
        monkeypatch.setenv("APP_VELLUM_URL", loopback.base_url)
        run_plugin(app, "--vellum-record-mode=once").assert_outcomes(passed=1)
    [file] = (app.path / "cassettes" / "test_app_calls" / "test_answer").iterdir()
    assert file.name == f"001-{deployment_of(name)}.cassette.json"
    cassette = read_cassette(file)
    assert cassette.body() == sdk_body(name) and cassette.execution_id == manifest()[name]["execution_id"]
    assert cassette.request.path == deployment_stream_path(deployment_of(name)) and cassette.request.body == wire(name).wire_body
    assert API_KEY.encode() not in file.read_bytes()
    monkeypatch.delenv("VELLUM_API_KEY")
    run_plugin(app, "--vellum-record-mode=none").assert_outcomes(passed=1)  # the API is gone: replayed from the file


def test_a_bare_sdk_body_ingested_without_its_request_exports_on_the_v2_path_of_its_deployment(store: Store, tmp_path: Path) -> None:
    from recorder.replay.export import export_cassette
    from recorder.stream.ingest import ingest_chunks

    name = "exec_0003"
    ingest_chunks(store, [sdk_body(name)], source="bare.ndjson")
    execution = store.execution(manifest()[name]["execution_id"])
    cassette = export_cassette(store, execution.execution_id)
    assert cassette.request.path == deployment_stream_path(execution.workflow_deployment_id) and cassette.request.body == {}
    assert cassette.body() == sdk_body(name)
    write_cassette(cassette, tmp_path / "bare.cassette.json")
    with ReplayServer(FolderLibrary(tmp_path), match=MatchRule(mode=LOOSE)) as running:
        kwargs = {**client_kwargs(name), "id": execution.workflow_deployment_id}
        assert list(client_at(running.base_url).workflow_deployments.execute_stream(**kwargs)) == parsed_lines(sdk_lines(name))


def test_an_http_error_fault_on_a_v2_cassette_raises_what_the_client_raises_in_production() -> None:
    from vellum.client.core.api_error import ApiError

    with ReplayServer(CassetteLibrary([v2_cassette("exec_0002", status=503, first_byte_delay_s=0.2)])) as running:
        with pytest.raises(ApiError) as failed:
            v2_events(client_at(running.base_url), "exec_0002")
    assert failed.value.status_code == 503


def test_a_v2_request_file_naming_no_deployment_exports_on_the_deployment_the_events_name(store: Store) -> None:
    from recorder.replay.export import export_cassette
    from recorder.stream.ingest import ingest_chunks

    name = "exec_0002"
    ingest_chunks(store, [sdk_body(name)], source="body.ndjson", request={"inputs": {"query": "x"}, "stream": "v2"})
    root = json.loads(sdk_lines(name)[0])
    named = next(context for context in (root["parent"], root["parent"]["parent"]) if context["type"] == "WORKFLOW_RELEASE_TAG")
    cassette = export_cassette(store, manifest()[name]["execution_id"])
    assert cassette.request.path == deployment_stream_path(named["deployment_id"]) and cassette.request.body == {}
    assert cassette.body() == sdk_body(name)
