"""`recorder record --stream v2` against a real loopback server: the v2 stream
(`POST /v1/workflow-deployments/{id}/execute-stream`) recorded with the v1 stream's guarantees.

Each test runs on SQLite and PostgreSQL (the `store_url` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from recorder.cli.main import cli
from recorder.demo.server import LoopbackVellum, Scenario
from recorder.model.cassette import Cassette
from recorder.model.endpoints import deployment_stream_path
from recorder.store import Recording, Store
from tests.test_sdk_wire_support import API_KEY, deployment_of, manifest, sdk_body, sdk_lines, v2_request, wire

SAMPLE = "exec_0000"  # support-agent-v2, metadata, a previous execution, 64 events


@pytest.fixture
def server():
    with LoopbackVellum(api_key=API_KEY) as running:
        yield running


def record_args(tmp_path: Path, name: str = SAMPLE) -> list[str]:
    """The CLI options asking for the sample's request on the v2 stream."""
    asked = manifest()[name]["request"]
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(asked["inputs"]))
    args = ["--stream", "v2", "--deployment", asked["deployment"], "--inputs-json", str(inputs)]
    for option, key in (("--release-tag", "release_tag"), ("--external-id", "external_id"), ("--previous-execution-id", "previous_execution_id")):
        if asked.get(key) is not None:
            args += [option, asked[key]]
    if asked.get("metadata") is not None:
        args += ["--metadata", json.dumps(asked["metadata"])]
    return args


def run(store_url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", store_url, *args], env={"VELLUM_API_KEY": API_KEY})


def only_recording(store_url: str) -> Recording:
    with Store(store_url) as store, Session(store.engine) as session:
        [recording] = session.scalars(select(Recording)).all()
        return recording


def test_the_v2_request_names_the_deployment_in_the_path_and_sends_plain_inputs(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    server.expect(v2_request(SAMPLE), Scenario(lines=sdk_lines(SAMPLE)))
    result = run(store_url, "record", *record_args(tmp_path), "--base-url", server.base_url)
    assert result.exit_code == 0, result.output
    [(method, path, headers, body)] = [r for r in server.requests if r[0] == "POST"]
    asked = manifest()[SAMPLE]["request"]
    assert (method, path) == ("POST", deployment_stream_path(deployment_of(SAMPLE)))
    assert headers["X-API-KEY"] == API_KEY and API_KEY not in body.decode()
    sent = json.loads(body)
    assert sent == {key: value for key, value in {**asked, "deployment": None}.items() if value is not None}
    assert isinstance(sent["inputs"], dict) and "event_types" not in sent and "workflow_deployment_name" not in sent


def test_every_v2_line_is_stored_verbatim_and_the_request_says_which_endpoint(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    server.expect(v2_request(SAMPLE), Scenario(lines=sdk_lines(SAMPLE)))
    result = run(store_url, "record", *record_args(tmp_path), "--base-url", server.base_url)
    assert result.exit_code == 0, result.output
    execution_id = manifest()[SAMPLE]["execution_id"]
    with Store(store_url) as store:
        execution = store.execution(execution_id)
        assert execution is not None and execution.status == "FULFILLED"
        assert execution.workflow_deployment_name == deployment_of(SAMPLE)
        assert execution.previous_execution_id == manifest()[SAMPLE]["request"]["previous_execution_id"]
        assert [event.raw.encode() for event in store.events(execution_id)] == sdk_lines(SAMPLE)
    recording = only_recording(store_url)
    assert recording.outcome == "complete" and recording.request == wire(SAMPLE).body
    assert recording.request["stream"] == "v2" and recording.source == server.base_url + deployment_stream_path(deployment_of(SAMPLE))


def test_the_live_view_reads_sdk_events_as_node_lines(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    server.expect(v2_request(SAMPLE), Scenario(lines=sdk_lines(SAMPLE)))
    output = run(store_url, "record", *record_args(tmp_path), "--base-url", server.base_url).output
    first_node = next(json.loads(line) for line in sdk_lines(SAMPLE) if json.loads(line)["name"] == "node.execution.initiated")
    node_name = first_node["body"]["node_definition"]["name"]
    node_lines = [line for line in output.splitlines() if " node " in line]
    assert any(node_name in line and "INITIATED" in line for line in node_lines), output
    assert any(node_name in line and "FULFILLED" in line for line in node_lines), output
    assert "kept as a reject" not in output


def test_export_body_gives_exactly_the_received_bytes_and_the_v2_path(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    server.expect(v2_request(SAMPLE), Scenario(lines=sdk_lines(SAMPLE), lines_per_chunk=7))
    assert run(store_url, "record", *record_args(tmp_path), "--base-url", server.base_url).exit_code == 0
    execution_id = manifest()[SAMPLE]["execution_id"]
    body = run(store_url, "export", execution_id, "--body").stdout_bytes
    assert body == sdk_body(SAMPLE)
    cassette = Cassette.loads(run(store_url, "export", execution_id).stdout_bytes)
    assert cassette.request.path == deployment_stream_path(deployment_of(SAMPLE))
    assert cassette.request.body == wire(SAMPLE).wire_body and "stream" not in cassette.request.body


def test_reingesting_the_exported_cassette_adds_nothing(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    server.expect(v2_request(SAMPLE), Scenario(lines=sdk_lines(SAMPLE)))
    assert run(store_url, "record", *record_args(tmp_path), "--base-url", server.base_url).exit_code == 0
    execution_id = manifest()[SAMPLE]["execution_id"]
    cassette_file = tmp_path / "v2.cassette.json"
    cassette_file.write_bytes(run(store_url, "export", execution_id).stdout_bytes)
    [again] = json.loads(run(store_url, "ingest", str(cassette_file), "--json").stdout)
    assert again["events_stored"] == 0
    with Store(store_url) as store:
        assert [event.raw.encode() for event in store.events(execution_id)] == sdk_lines(SAMPLE)
        assert store.execution(execution_id).workflow_deployment_name == deployment_of(SAMPLE)


def test_a_cut_v2_stream_keeps_what_arrived_and_exits_5(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    server.expect(v2_request(SAMPLE), Scenario(lines=sdk_lines(SAMPLE), cut_after=9))
    result = run(store_url, "record", *record_args(tmp_path), "--base-url", server.base_url)
    assert result.exit_code == 5, result.output
    execution_id = manifest()[SAMPLE]["execution_id"]
    with Store(store_url) as store:
        assert [event.raw.encode() for event in store.events(execution_id)] == sdk_lines(SAMPLE)[:9]
        assert store.execution(execution_id).status == "INCOMPLETE"
    recording = only_recording(store_url)
    assert recording.outcome == "cut" and recording.request["stream"] == "v2"
    cassette = Cassette.loads(run(store_url, "export", execution_id).stdout_bytes)
    assert cassette.fault is not None and cassette.fault.cut_after_lines == 9


@pytest.mark.parametrize(("status", "body"), [(404, b'{"detail": "Workflow Deployment not found"}'), (500, b"<html>oops</html>")])
def test_an_http_error_on_the_v2_stream_is_recorded_with_its_request(store_url: str, server: LoopbackVellum, tmp_path: Path, status: int, body: bytes) -> None:
    server.expect(v2_request(SAMPLE), Scenario(status=status, error_body=body))
    result = run(store_url, "record", *record_args(tmp_path), "--base-url", server.base_url)
    assert result.exit_code == 3 and f"HTTP {status}" in result.output
    assert deployment_stream_path(deployment_of(SAMPLE)) in result.output
    recording = only_recording(store_url)
    assert (recording.outcome, recording.http_status) == ("http_error", status)
    assert body.decode() in recording.error and recording.request == wire(SAMPLE).body


def test_a_refused_connection_on_the_v2_stream_is_a_connection_error(store_url: str, tmp_path: Path) -> None:
    result = run(store_url, "record", *record_args(tmp_path), "--base-url", "http://127.0.0.1:9")
    assert result.exit_code == 4 and "connection refused" in result.output
    recording = only_recording(store_url)
    assert recording.outcome == "connection_error" and recording.request["stream"] == "v2"


@pytest.mark.parametrize("option", [["--expand-meta", "usage"], ["--event-types", "WORKFLOW"]])
def test_v1_only_options_are_refused_on_the_v2_stream(store_url: str, tmp_path: Path, option: list[str]) -> None:
    result = run(store_url, "record", *record_args(tmp_path), *option, "--base-url", "http://127.0.0.1:9")
    assert result.exit_code == 2 and f"{option[0]} is for the v1 stream" in result.output


def test_trigger_is_a_v2_option(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    refused = run(store_url, "record", "--deployment", "x", "--trigger", "nightly", "--base-url", "http://127.0.0.1:9")
    assert refused.exit_code == 2 and "--trigger is for the v2 stream" in refused.output
    server.enqueue(Scenario(lines=sdk_lines(SAMPLE)))
    assert run(store_url, "record", *record_args(tmp_path), "--trigger", "nightly", "--base-url", server.base_url).exit_code == 0
    [(_, _, _, body)] = [r for r in server.requests if r[0] == "POST"]
    assert json.loads(body)["trigger"] == "nightly"
    assert only_recording(store_url).request["trigger"] == "nightly"


def test_a_deployment_id_goes_in_the_path_and_is_kept_as_the_id(store_url: str, server: LoopbackVellum) -> None:
    deployment_id = "a903eeee-dd9a-59b2-9330-9eb1b979d100"
    server.enqueue(Scenario(lines=sdk_lines(SAMPLE)))
    result = run(store_url, "record", "--stream", "v2", "--deployment-id", deployment_id, "--input", "query=hi", "--base-url", server.base_url)
    assert result.exit_code == 0, result.output
    [(_, path, _, body)] = [r for r in server.requests if r[0] == "POST"]
    assert path == f"/v1/workflow-deployments/{deployment_id}/execute-stream" and json.loads(body) == {"inputs": {"query": "hi"}}
    with Store(store_url) as store:
        execution = store.execution(manifest()[SAMPLE]["execution_id"])
        assert (execution.workflow_deployment_id, execution.workflow_deployment_name) == (deployment_id, None)


def test_export_redacts_a_v2_input_in_the_request_and_in_every_line_that_echoes_it(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    server.expect(v2_request(SAMPLE), Scenario(lines=sdk_lines(SAMPLE)))
    assert run(store_url, "record", *record_args(tmp_path), "--base-url", server.base_url).exit_code == 0
    query = manifest()[SAMPLE]["request"]["inputs"]["query"]
    assert query.encode() in sdk_body(SAMPLE)  # the initiated event echoes the inputs
    exported = run(store_url, "export", manifest()[SAMPLE]["execution_id"], "--redact", "inputs.query")
    cassette = Cassette.loads(exported.stdout_bytes)
    assert cassette.request.body["inputs"]["query"] == "[REDACTED]" and cassette.request.redacted == ("inputs.query",)
    assert query.encode() not in cassette.body() and b"[REDACTED]" in cassette.body()


def test_sigterm_mid_v2_stream_commits_what_arrived_and_marks_it_interrupted(store_url: str, server: LoopbackVellum, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    server.expect(v2_request(SAMPLE), Scenario(lines=sdk_lines(SAMPLE), stall_after=20, stall_s=10.0))
    # A commit window far longer than the test: only the signal handling can have stored the lines.
    command = [sys.executable, "-m", "recorder.cli", "--db", store_url, "record", *record_args(tmp_path), "--base-url", server.base_url,
               "--quiet", "--flush-events", "1000", "--flush-ms", "600000"]
    process = subprocess.Popen(command, env={**os.environ, "VELLUM_API_KEY": API_KEY}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while server.lines_sent < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 143
    recording = only_recording(store_url)
    assert recording.outcome == "interrupted" and recording.request["stream"] == "v2"
    with Store(store_url) as store:
        assert [event.raw.encode() for event in store.events(manifest()[SAMPLE]["execution_id"])] == sdk_lines(SAMPLE)[:20]
