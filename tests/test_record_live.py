"""`recorder record` against a real loopback server: every fault recorded, nothing lost.

Each test runs on SQLite and PostgreSQL (the `store_url` fixture)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from recorder.cli.main import cli
from recorder.demo.server import LoopbackVellum, Scenario
from recorder.store import Recording, Store

API_KEY = "test-secret-key-123"
REQUEST_ARGS = ["--deployment", "support-agent", "--release-tag", "production", "--input", "query=hello"]
REQUEST = {
    "workflow_deployment_name": "support-agent",
    "release_tag": "production",
    "inputs": [{"name": "query", "type": "STRING", "value": "hello"}],
    "event_types": ["WORKFLOW", "NODE"],
}


@pytest.fixture
def server():
    with LoopbackVellum(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def sample_lines(samples_dir: Path) -> list[bytes]:
    return (samples_dir / "exec_0003.ndjson").read_bytes().splitlines()


def record(store_url: str, base_url: str, *extra: str, key: str | None = API_KEY):
    env = {"VELLUM_API_KEY": key} if key is not None else {"VELLUM_API_KEY": ""}
    return CliRunner().invoke(cli, ["--db", store_url, "record", *REQUEST_ARGS, "--base-url", base_url, *extra], env=env)


def only_recording(store_url: str) -> Recording:
    with Store(store_url) as store, Session(store.engine) as session:
        [recording] = session.scalars(select(Recording)).all()
        return recording


def test_a_streamed_execution_is_recorded_event_by_event(store_url: str, server: LoopbackVellum, sample_lines: list[bytes]) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines))
    result = record(store_url, server.base_url)
    assert result.exit_code == 0, result.output
    assert "FULFILLED" in result.output
    with Store(store_url) as store:
        execution = store.execution("3161c940-7c63-47b9-a3b7-216f6ad28eb6")
        assert execution.status == "FULFILLED" and execution.workflow_deployment_name == "support-agent"
        assert [e.raw.encode() for e in store.events(execution.execution_id)] == sample_lines
    assert only_recording(store_url).outcome == "complete"


def test_the_api_key_goes_in_a_header_and_never_into_the_store(store_url: str, server: LoopbackVellum, sample_lines: list[bytes]) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines))
    record(store_url, server.base_url)
    method, path, headers, body = server.requests[-1]
    assert headers["X-API-KEY"] == API_KEY and API_KEY not in body.decode()
    engine = create_engine(store_url)
    with engine.connect() as connection:
        for table in ("recordings", "executions", "events", "rejects"):
            dump = json.dumps([list(map(str, row)) for row in connection.execute(text(f"SELECT * FROM {table}"))])
            assert API_KEY not in dump, table
    engine.dispose()


def test_a_missing_api_key_is_a_one_line_error(store_url: str, server: LoopbackVellum) -> None:
    result = record(store_url, server.base_url, key=None)
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: set VELLUM_API_KEY")


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (400, b'{"detail": "Input query is required"}', "application/json"),
        (404, b'{"detail": "Workflow Deployment not found"}', "application/json"),
        (500, b"<html>Internal Server Error</html>", "text/html"),
    ],
)
def test_an_http_error_is_recorded_with_its_status_and_body(store_url: str, server: LoopbackVellum, status: int, body: bytes, content_type: str) -> None:
    server.expect(REQUEST, Scenario(status=status, error_body=body, error_content_type=content_type))
    result = record(store_url, server.base_url)
    assert result.exit_code == 3
    assert f"HTTP {status}" in result.output and body.decode()[:20] in result.output
    recording = only_recording(store_url)
    assert (recording.outcome, recording.http_status) == ("http_error", status)
    assert body.decode() in recording.error
    assert recording.request["workflow_deployment_name"] == "support-agent"


def test_a_wrong_api_key_is_recorded_as_http_403(store_url: str, server: LoopbackVellum) -> None:
    result = record(store_url, server.base_url, key="wrong")
    assert result.exit_code == 3 and "HTTP 403" in result.output
    assert only_recording(store_url).http_status == 403


def test_connection_refused_is_a_connection_error(store_url: str) -> None:
    result = record(store_url, "http://127.0.0.1:9")
    assert result.exit_code == 4 and "connection refused" in result.output
    assert only_recording(store_url).outcome == "connection_error"


def test_an_unresolvable_host_is_a_connection_error(store_url: str) -> None:
    result = record(store_url, "http://no-such-host.invalid")
    assert result.exit_code == 4 and "could not be resolved" in result.output


def test_a_tls_failure_is_a_connection_error(store_url: str, server: LoopbackVellum) -> None:
    result = record(store_url, server.base_url.replace("http://", "https://"))
    assert result.exit_code == 4 and "TLS" in result.output


def test_no_first_byte_within_the_read_timeout_is_a_connection_error(store_url: str, server: LoopbackVellum, sample_lines) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines, first_byte_delay_s=2.0))
    result = record(store_url, server.base_url, "--read-timeout", "0.3")
    assert result.exit_code == 4 and "no response within 0.3 s" in result.output
    assert only_recording(store_url).outcome == "connection_error"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"cut_after": 40}, "closed the connection"),
        ({"stall_after": 40, "stall_s": 2.0}, "no data for 0.3 s"),
    ],
    ids=["server-closes-early", "read-timeout-between-events"],
)
def test_a_stream_cut_midway_keeps_every_received_event(store_url: str, server: LoopbackVellum, sample_lines, fault, message) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines, **fault))
    result = record(store_url, server.base_url, "--read-timeout", "0.3")
    assert result.exit_code == 5, result.output
    assert message in result.output
    with Store(store_url) as store:
        execution = store.execution("3161c940-7c63-47b9-a3b7-216f6ad28eb6")
        assert execution.status == "INCOMPLETE"
        assert [e.raw.encode() for e in store.events(execution.execution_id)] == sample_lines[:40]
    assert only_recording(store_url).outcome == "cut"


def test_a_connection_reset_midway_is_a_cut(store_url: str, server: LoopbackVellum, sample_lines) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines, reset_after=40, lines_per_chunk=1))
    result = record(store_url, server.base_url)
    assert result.exit_code == 5
    with Store(store_url) as store:
        events = store.events("3161c940-7c63-47b9-a3b7-216f6ad28eb6")
    # A reset may discard bytes still in flight; whatever arrived is stored, in order, from the start.
    assert [e.position for e in events] == list(range(len(events)))
    assert only_recording(store_url).outcome == "cut"


def test_a_stream_that_ends_cleanly_without_the_terminal_event_is_a_cut(store_url: str, server: LoopbackVellum, sample_lines) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines[:-1]))
    result = record(store_url, server.base_url)
    assert result.exit_code == 5
    assert only_recording(store_url).outcome == "cut"


def test_junk_and_unknown_lines_inside_a_good_stream_are_kept_and_the_stream_goes_on(store_url: str, server: LoopbackVellum, sample_lines) -> None:
    unknown = json.dumps({"execution_id": "3161c940-7c63-47b9-a3b7-216f6ad28eb6", "type": "NODE", "data": {"id": "x", "node_id": "n", "node_result_id": "r", "state": "PAUSED", "ts": None}}).encode()
    lines = [*sample_lines[:5], b"event: ping", unknown, *sample_lines[5:]]
    server.expect(REQUEST, Scenario(lines=lines))
    result = record(store_url, server.base_url)
    assert result.exit_code == 0
    with Store(store_url) as store:
        [reject] = store.rejects()
        assert (reject.position, reject.raw) == (5, "event: ping")
        events = store.events("3161c940-7c63-47b9-a3b7-216f6ad28eb6")
        assert len(events) == len(sample_lines) + 1
        assert events[5].flags == "unknown_state"


def test_json_mode_passes_the_exact_stream_through_to_stdout(store_url: str, server: LoopbackVellum, sample_lines) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines, lines_per_chunk=7))
    result = CliRunner().invoke(cli, ["--db", store_url, "record", *REQUEST_ARGS, "--base-url", server.base_url, "--json"],
                                env={"VELLUM_API_KEY": API_KEY})
    assert result.exit_code == 0
    assert result.stdout_bytes == b"".join(line + b"\n" for line in sample_lines)


def test_inputs_json_accepts_a_typed_list_or_a_plain_object(store_url: str, server: LoopbackVellum, sample_lines, tmp_path: Path) -> None:
    typed = [{"name": "query", "type": "STRING", "value": "hello"}, {"name": "limit", "type": "NUMBER", "value": 3}]
    plain = {"query": "hello", "limit": 3, "history": [{"role": "USER", "text": "hi"}], "options": {"a": 1}}
    (tmp_path / "typed.json").write_text(json.dumps(typed))
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    server.enqueue(Scenario(lines=sample_lines))
    server.enqueue(Scenario(lines=sample_lines))
    env = {"VELLUM_API_KEY": API_KEY}
    for name in ("typed", "plain"):
        CliRunner().invoke(cli, ["--db", store_url, "record", "--deployment", "d", "--inputs-json", str(tmp_path / f"{name}.json"),
                                 "--base-url", server.base_url], env=env)
    bodies = [json.loads(body) for method, path, headers, body in server.requests if method == "POST"]
    assert bodies[0]["inputs"] == typed
    assert [(i["name"], i["type"]) for i in bodies[1]["inputs"]] == [("query", "STRING"), ("limit", "NUMBER"), ("history", "CHAT_HISTORY"), ("options", "JSON")]
    assert bodies[0]["event_types"] == ["WORKFLOW", "NODE"]


def test_lines_are_committed_while_the_stream_is_still_flowing(store_url: str, server: LoopbackVellum, sample_lines) -> None:
    """The durability window: a received line is committed within the flush delay, not at the end."""
    server.expect(REQUEST, Scenario(lines=sample_lines, stall_after=30, stall_s=15.0))
    process = _spawn_record(store_url, server.base_url, "--flush-ms", "100")
    try:
        assert _wait_for_events(store_url, 30, within_s=10.0) == 30
        assert server.lines_sent == 30 and process.poll() is None  # still streaming: the stall goes on
    finally:
        process.kill()
        process.wait(timeout=30)


def _spawn_record(store_url: str, base_url: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "VELLUM_API_KEY": API_KEY}
    command = [sys.executable, "-m", "recorder.cli", "--db", store_url, "record", *REQUEST_ARGS, "--base-url", base_url, "--quiet", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _count_events(store_url: str) -> int:
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM events")).scalar_one()
    except Exception:  # noqa: BLE001 - the schema may not exist yet while the recorder starts
        return 0
    finally:
        engine.dispose()


def _wait_for_events(store_url: str, at_least: int, within_s: float) -> int:
    deadline = time.monotonic() + within_s
    count = 0
    while time.monotonic() < deadline:
        count = _count_events(store_url)
        if count >= at_least:
            return count
        time.sleep(0.05)
    return count


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_flushes_what_was_received_and_marks_the_recording_interrupted(store_url, server, sample_lines, signum, exit_code) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines, stall_after=30, stall_s=10.0))
    # A commit window far longer than the test: only the signal handling can have stored the lines.
    process = _spawn_record(store_url, server.base_url, "--flush-events", "1000", "--flush-ms", "600000")
    deadline = time.monotonic() + 10
    while server.lines_sent < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert _count_events(store_url) == 0
    process.send_signal(signum)
    assert process.wait(timeout=10) == exit_code
    assert only_recording(store_url).outcome == "interrupted"
    assert _count_events(store_url) == 30


def test_sigkill_midstream_leaves_a_consistent_store_that_reconcile_marks_cut(store_url, server, sample_lines) -> None:
    server.expect(REQUEST, Scenario(lines=sample_lines, stall_after=30, stall_s=30.0))
    process = _spawn_record(store_url, server.base_url, "--flush-ms", "50")
    assert _wait_for_events(store_url, 30, within_s=10.0) == 30
    process.kill()
    process.wait(timeout=10)
    with Store(store_url) as store:
        events = store.events("3161c940-7c63-47b9-a3b7-216f6ad28eb6")
        assert [e.raw.encode() for e in events] == sample_lines[:30]
        assert store.execution("3161c940-7c63-47b9-a3b7-216f6ad28eb6").status == "INCOMPLETE"
        if store.dialect == "sqlite":
            assert store.engine.connect().execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    assert only_recording(store_url).outcome == "in_progress"
    server.set_status("3161c940-7c63-47b9-a3b7-216f6ad28eb6", {"status": "FULFILLED", "execution_id": "3161c940-7c63-47b9-a3b7-216f6ad28eb6", "outputs": {"answer": "hi"}})
    result = CliRunner().invoke(cli, ["--db", store_url, "reconcile", "--abandoned-after", "0", "--base-url", server.base_url, "--json"],
                                env={"VELLUM_API_KEY": API_KEY})
    assert result.exit_code == 0, result.output
    recording = only_recording(store_url)
    assert recording.outcome == "cut" and "stopped without finishing" in recording.error


def read_only_url(store_url: str) -> str:
    """The same store through a connection that may only read."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///file:{store_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return f"{store_url}?options=-c%20default_transaction_read_only%3Don"


def test_a_store_that_cannot_take_a_recording_is_refused_before_the_workflow_runs(store_url: str, server: LoopbackVellum, sample_lines) -> None:
    server.enqueue(Scenario(sample_lines))
    result = record(read_only_url(store_url), server.base_url)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: cannot record into ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert server.requests == []  # the execution was never sent
    with Store(store_url) as store:
        assert store.executions() == [] and store.recordings_of("x") == []
