"""OpenTelemetry export, proved against a real receiver: Arize Phoenix, run as a subprocess on
loopback ports, with its own SQLite store, read back through Phoenix's own client.

One Phoenix serves the module (it takes about 20 s to start). Phoenix keys spans by span id across
all its projects, so each test sends to a project of its own (OTEL_RESOURCE_ATTRIBUTES'
`openinference.project.name`, which the export's resource honours) and deletes it afterwards,
which deletes its traces: the next test (the other store engine) can send the same ids again.

Failures that Phoenix cannot be made to produce (a receiver that refuses one batch, or is down)
use a small stdlib HTTP server in this file: real HTTP over a socket, answering as told.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from recorder import Recorder
from recorder.cli.main import cli
from recorder.otel import conventions as keys
from recorder.otel.exporter import (
    DEFAULT_ENDPOINT,
    OtlpExportFailed,
    export_executions,
    resolve_endpoint,
    resolve_headers,
    target_key,
)
from recorder.otel.trace_mapping import (
    MAX_STREAMING_EVENTS_PER_SPAN,
    RecordedExecution,
    derived_trace_id,
    execution_spans,
    node_span_id,
    parse_trace_id,
    root_span_id,
    trace_id_from_line,
)
from recorder.store import Store
from recorder.store.export_cursors import StreamingMoment
from recorder.stream.ingest import ingest_path
from tests.test_samples import SAMPLE_NAMES, load_truth


PROJECT_ENV = "OTEL_RESOURCE_ATTRIBUTES"
STARTUP_S = 120.0
ARRIVAL_S = 60.0


# -- the receiver -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Phoenix:
    base_url: str
    process: subprocess.Popen
    log: Path

    @property
    def traces_endpoint(self) -> str:
        return f"{self.base_url}/v1/traces"

    def client(self) -> Any:
        from phoenix.client import Client

        return Client(base_url=self.base_url)

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span Phoenix holds in `project` (none when the project does not exist yet)."""
        try:
            return list(self.client().spans.get_spans(project_identifier=project, limit=100_000))
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return []
            raise

    def wait_for_spans(self, project: str, count: int) -> list[dict[str, Any]]:
        """Phoenix inserts what it received in the background: poll until `count` spans are there."""
        deadline = time.monotonic() + ARRIVAL_S
        spans: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            spans = self.spans(project)
            if len(spans) >= count:
                return spans
            time.sleep(0.25)
        pytest.fail(f"Phoenix holds {len(spans)} spans in {project}, expected {count} within {ARRIVAL_S} s")

    def delete_project(self, project: str) -> None:
        try:
            self.client().projects.delete(project_name=project)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 404:
                raise


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    """Arize Phoenix on free loopback ports, with its own SQLite store in a temporary folder."""
    working_dir = tmp_path_factory.mktemp("phoenix")
    port, grpc_port = free_port(), free_port()
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("PHOENIX_", "OTEL_"))  # nothing of the caller's own Phoenix or OTel setup
    }
    env.update(
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_WORKING_DIR=str(working_dir),
        PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",  # no web fonts, telemetry or sandbox download: loopback only
    )
    log = working_dir / "phoenix.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "phoenix.server.main", "serve"], env=env, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Phoenix(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"Phoenix exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Phoenix did not answer /healthz within {STARTUP_S} s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture
def project(phoenix: Phoenix, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Phoenix project of this test's own: the export's resource names it."""
    name = f"recorder-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv(PROJECT_ENV, f"openinference.project.name={name}")
    for variable in ("OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        monkeypatch.delenv(variable, raising=False)
    yield name
    phoenix.delete_project(name)


# -- helpers ----------------------------------------------------------------------------------------


def ingest_samples(store_url: str, samples_dir: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    truths = {}
    with Store(store_url) as store:
        for name in names:
            truth = load_truth(samples_dir, name)
            ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=truth["request"])
            truths[truth["execution_id"]] = truth
    return truths


def span_count(truths: dict[str, dict[str, Any]]) -> int:
    return sum(1 + len(truth["timeline"]["spans"]) for truth in truths.values())


def microseconds(moment: str) -> int:
    parsed = datetime.fromisoformat(moment)
    return int(parsed.timestamp()) * 1_000_000 + parsed.microsecond


def run_cli(url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", url, *args], catch_exceptions=False)


# -- the round trip -----------------------------------------------------------------------------------


def test_every_sample_arrives_in_phoenix_as_its_timeline(store_url: str, samples_dir: Path, phoenix: Phoenix, project: str) -> None:
    truths = ingest_samples(store_url, samples_dir, SAMPLE_NAMES)
    with Recorder(store_url) as recorder:
        result = recorder.export_otlp(endpoint=phoenix.traces_endpoint)
    assert (result.executions, result.spans, result.batches) == (30, span_count(truths), 1)
    spans = phoenix.wait_for_spans(project, span_count(truths))
    assert len({span["context"]["span_id"] for span in spans}) == len(spans)

    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span["context"]["trace_id"], []).append(span)
    assert len(by_trace) == 30
    checked_tokens = 0
    for execution_id, truth in truths.items():
        trace = by_trace[uuid.UUID(execution_id).hex]  # the samples carry no trace id: the UUID's bits
        timeline = truth["timeline"]
        assert len(trace) == 1 + len(timeline["spans"]), execution_id

        [root] = [span for span in trace if span.get("parent_id") is None]
        recorded = truth["expected_execution"]
        assert root["name"] == (recorded["workflow_deployment_name"] or "workflow")
        assert root["span_kind"] == "CHAIN"  # Phoenix keeps openinference.span.kind as the span's kind
        assert root["attributes"][keys.VELLUM_EXECUTION_ID] == execution_id
        assert root["attributes"].get(keys.VELLUM_DEPLOYMENT) == recorded["workflow_deployment_name"]
        assert root["attributes"].get(keys.VELLUM_RELEASE_TAG) == recorded["release_tag"]
        assert (microseconds(root["start_time"]), microseconds(root["end_time"])) == (
            truth["workflow"]["start_us"], truth["workflow"]["end_us"],
        )
        rejected = truth["workflow"]["final_state"] == "REJECTED"
        assert root["status_code"] == ("ERROR" if rejected else "OK")
        if rejected:
            assert root["status_message"].startswith(truth["workflow"]["error"]["code"])

        node_spans = {span["attributes"][keys.VELLUM_NODE_RESULT_ID]: span for span in trace if span is not root}
        nodes = {node["node_result_id"]: node for node in truth["nodes"]}
        assert set(node_spans) == {span["node_result_id"] for span in timeline["spans"]}
        for expected in timeline["spans"]:
            run = expected["node_result_id"]
            span = node_spans[run]
            parent_run = nodes[run]["parent_node_result_id"]
            expected_parent = node_spans[parent_run]["context"]["span_id"] if parent_run else root["context"]["span_id"]
            assert span["parent_id"] == expected_parent, (execution_id, run)
            assert (microseconds(span["start_time"]), microseconds(span["end_time"])) == (expected["start_us"], expected["end_us"])
            if expected["state"] == "REJECTED":
                assert (span["status_code"], span["status_message"]) == ("ERROR", expected["error_code"])
                assert span["attributes"][keys.ERROR_TYPE] == expected["error_code"]
            else:
                assert span["status_code"] == "OK"
            # The type as the wire said it: a run rejected before any payload has none (and is a CHAIN step).
            assert span["attributes"].get(keys.VELLUM_NODE_TYPE) == expected["node_type_on_wire"]
            assert len(span.get("events") or []) == min(expected["streaming_events"], MAX_STREAMING_EVENTS_PER_SPAN)
            if expected["node_type_on_wire"] == "PROMPT":
                assert span["span_kind"] == "LLM"
            reported = nodes[run].get("reported_on_wire") or {}
            attributes = span["attributes"]
            if reported.get("usage"):
                usage = nodes[run]["usage"]
                assert attributes[keys.GEN_AI_USAGE_INPUT_TOKENS] == usage["input_token_count"] == attributes[keys.LLM_TOKEN_COUNT_PROMPT]
                assert attributes[keys.GEN_AI_USAGE_OUTPUT_TOKENS] == usage["output_token_count"] == attributes[keys.LLM_TOKEN_COUNT_COMPLETION]
                checked_tokens += 1
            else:
                assert keys.GEN_AI_USAGE_INPUT_TOKENS not in attributes
            if reported.get("model_name"):
                assert attributes[keys.GEN_AI_REQUEST_MODEL] == nodes[run]["model_name"] == attributes[keys.LLM_MODEL_NAME]
            if reported.get("cost"):
                assert attributes[keys.LLM_COST_TOTAL] == pytest.approx(nodes[run]["cost_usd"])
    assert checked_tokens >= 10  # the samples report usage on many PROMPT runs: the check above did bite


def test_exporting_again_sends_only_what_is_new_and_all_resends_without_duplicates(
    store_url: str, samples_dir: Path, phoenix: Phoenix, project: str
) -> None:
    first = ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:28])
    sent = json.loads(run_cli(store_url, "otlp", "export", "--endpoint", phoenix.traces_endpoint, "--json").output)
    assert (sent["executions"], sent["spans"], sent["endpoint"]) == (28, span_count(first), phoenix.traces_endpoint)
    phoenix.wait_for_spans(project, span_count(first))

    again = json.loads(run_cli(store_url, "otlp", "export", "--endpoint", phoenix.traces_endpoint, "--json").output)
    assert (again["executions"], again["spans"], again["batches"]) == (0, 0, 0)
    assert again["cursor"] == again["resumed_from"] == sent["cursor"]

    later = ingest_samples(store_url, samples_dir, SAMPLE_NAMES[28:29])
    resumed = json.loads(run_cli(store_url, "otlp", "export", "--endpoint", phoenix.traces_endpoint, "--json").output)
    assert (resumed["executions"], resumed["spans"], resumed["resumed_from"]) == (1, span_count(later), sent["cursor"])
    assert resumed["cursor"] > sent["cursor"]

    everything = json.loads(run_cli(store_url, "otlp", "export", "--all", "--endpoint", phoenix.traces_endpoint, "--json").output)
    assert (everything["executions"], everything["resumed_from"]) == (29, None)
    assert everything["cursor"] == resumed["cursor"]  # never moved backwards

    # One more execution sent after the duplicates: once it is in, Phoenix has handled what came before.
    last = ingest_samples(store_url, samples_dir, SAMPLE_NAMES[29:])
    assert json.loads(run_cli(store_url, "otlp", "export", "--endpoint", phoenix.traces_endpoint, "--json").output)["executions"] == 1
    expected = span_count(first) + span_count(later) + span_count(last)
    spans = phoenix.wait_for_spans(project, expected)
    time.sleep(2)  # and give any late duplicate its chance to show up
    spans = phoenix.spans(project)
    assert len(spans) == expected
    assert len({span["context"]["span_id"] for span in spans}) == expected


def test_a_stream_that_carries_its_trace_id_keeps_it(store_url: str, phoenix: Phoenix, project: str) -> None:
    """The newer stream puts a trace_id on every line: the trace in Phoenix has that id."""
    execution_id, trace_id = str(uuid.uuid4()), uuid.uuid4()
    node = {"node_id": "n-1", "node_result_id": "run-1"}

    def line(kind: str, state: str, ts: str, **data: Any) -> str:
        body = {"id": str(uuid.uuid4()), "state": state, "ts": f"2025-06-02T10:00:{ts}Z", **data}
        return json.dumps({"execution_id": execution_id, "trace_id": str(trace_id), "type": kind, "data": body})

    with Recorder(store_url) as recorder:
        recorder.ingest_lines([
            line("WORKFLOW", "INITIATED", "00.000001"), line("NODE", "INITIATED", "00.250000", **node),
            line("NODE", "FULFILLED", "01.500000", **node), line("WORKFLOW", "FULFILLED", "02.000002"),
        ])
        assert recorder.export_otlp(endpoint=phoenix.traces_endpoint).spans == 2
    spans = phoenix.wait_for_spans(project, 2)
    assert {span["context"]["trace_id"] for span in spans} == {trace_id.hex}
    [root] = [span for span in spans if span.get("parent_id") is None]
    assert (root["start_time"], root["end_time"]) == ("2025-06-02T10:00:00.000001+00:00", "2025-06-02T10:00:02.000002+00:00")


def test_a_dry_run_counts_without_sending_or_moving_the_cursor(store_url: str, samples_dir: Path, phoenix: Phoenix, project: str) -> None:
    truths = ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:5])
    result = json.loads(run_cli(store_url, "otlp", "export", "--dry-run", "--endpoint", phoenix.traces_endpoint, "--json").output)
    assert (result["executions"], result["spans"], result["dry_run"], result["cursor"]) == (5, span_count(truths), True, None)
    with Store(store_url) as store:
        assert store.export_cursor(target_key(phoenix.traces_endpoint)) is None
    time.sleep(2)
    assert phoenix.spans(project) == []


# -- failures: a receiver that refuses, or is down --------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP endpoint that answers each POST as `answers` says (200 once the list is used
    up), and remembers the headers it was sent."""

    daemon_threads = True

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.headers_seen: list[dict[str, str]] = []
        self.requests = 0
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.requests += 1
        self.server.headers_seen.append({key.lower(): value for key, value in self.headers.items()})
        status = self.server.answers.pop(0) if self.server.answers else 200
        body = b"" if status == 200 else b"receiver says no"
        self.send_response(status)
        self.send_header("content-type", "application/x-protobuf" if status == 200 else "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


def test_a_receiver_that_is_down_fails_in_one_line_and_leaves_the_cursor(store_url: str, samples_dir: Path, receiver: Receiver) -> None:
    ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:3])
    first = json.loads(run_cli(store_url, "otlp", "export", "--endpoint", receiver.endpoint, "--json").output)
    assert first["executions"] == 3
    ingest_samples(store_url, samples_dir, SAMPLE_NAMES[3:5])
    endpoint = receiver.endpoint
    receiver.stop()

    failed = CliRunner().invoke(cli, ["--db", store_url, "otlp", "export", "--endpoint", endpoint, "--timeout", "2"])
    assert failed.exit_code == 1
    message = failed.output.strip()
    assert len(message.splitlines()) == 1
    assert message.startswith(f"Error: OTLP export to {endpoint} failed at batch 1 (2 executions")
    assert "cannot connect (Connection refused)" in message
    assert f"the cursor stays at {first['cursor']}" in message
    with Store(store_url) as store:
        assert store.export_cursor(target_key(endpoint)).change_seq == first["cursor"]


def test_a_refused_batch_stops_the_export_after_the_last_good_one(store_url: str, samples_dir: Path, receiver: Receiver) -> None:
    ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:6])
    receiver.answers = [200, 400]
    with Store(store_url) as store:
        with pytest.raises(OtlpExportFailed, match=r"failed at batch 2 .*: HTTP 400 ") as failure:
            export_executions(store, endpoint=receiver.endpoint, batch_spans=1)  # one execution per batch
        assert (failure.value.executions_sent, failure.value.batches_sent) == (1, 1)
        kept = store.export_cursor(target_key(receiver.endpoint))
        assert kept is not None and kept.change_seq == failure.value.cursor and kept.executions_sent == 1

        receiver.answers = []
        resumed = export_executions(store, endpoint=receiver.endpoint, batch_spans=1)
    # Each sample was ingested in a transaction of its own: the cursor after batch 1 covers exactly it.
    assert (resumed.executions, resumed.resumed_from) == (5, failure.value.cursor)
    assert receiver.requests == 2 + 5


def test_header_values_are_sent_and_never_printed(store_url: str, samples_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:1])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme%20corp,authorization=from-env")
    receiver.answers = [200, 401]
    ok = run_cli(store_url, "otlp", "export", "--endpoint", receiver.endpoint, "--headers", "authorization=Bearer s3cr3t-token")
    assert ok.exit_code == 0 and "s3cr3t" not in ok.output
    assert receiver.headers_seen[0]["authorization"] == "Bearer s3cr3t-token"  # the option wins over the environment
    assert receiver.headers_seen[0]["x-tenant"] == "acme corp"

    refused = CliRunner().invoke(cli, ["--db", store_url, "otlp", "export", "--all", "--endpoint", receiver.endpoint,
                                       "--headers", "authorization=Bearer s3cr3t-token"])
    assert refused.exit_code == 1 and "HTTP 401" in refused.output
    assert "s3cr3t" not in refused.output and "from-env" not in refused.output


def test_a_malformed_header_is_refused_without_showing_it(store_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", store_url, "otlp", "export", "--headers", "Authorization: Bearer s3cr3t"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --headers takes NAME=VALUE; header 1 has no '=' or no name (its text is not shown)"


def test_credentials_in_the_endpoint_stay_out_of_the_cursor_and_the_output(store_url: str, samples_dir: Path, receiver: Receiver) -> None:
    ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:1])
    port = receiver.server_address[1]
    result = run_cli(store_url, "otlp", "export", "--endpoint", f"http://user:pa55word@127.0.0.1:{port}/v1/traces?key=k3y", "--json")
    assert "pa55word" not in result.output and "k3y" not in result.output
    assert json.loads(result.output)["endpoint"] == f"http://127.0.0.1:{port}/v1/traces"
    with Store(store_url) as store:
        assert store.export_cursor(f"http://127.0.0.1:{port}/v1/traces") is not None


def test_a_cursor_of_another_store_is_ignored(store_url: str, samples_dir: Path, receiver: Receiver) -> None:
    """A cursor whose store_id is not this store's (the store was replaced at this URL, or its
    table copied from another store) says nothing about this store's executions."""
    ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:2])
    with Store(store_url) as store:
        state = store.change_state()
        key = target_key(receiver.endpoint)
        store.save_export_cursor(key, store_id=str(uuid.uuid4()), change_seq=state.change_seq, executions_sent=7, exported_at_us=0)
        again = export_executions(store, endpoint=receiver.endpoint)
        kept = store.export_cursor(key)
    assert (again.executions, again.resumed_from) == (2, None)
    assert (kept.store_id, kept.change_seq, kept.executions_sent) == (state.store_id, state.change_seq, 2)


def test_executions_written_together_are_never_split_by_the_cursor(store_url: str, samples_dir: Path, tmp_path: Path, receiver: Receiver) -> None:
    """Two executions in one body are stored by one transaction (one change_seq): a batch boundary
    between them must leave the cursor below both, so a failure after the first resends both."""
    body = tmp_path / "two.ndjson"
    body.write_bytes((samples_dir / "exec_0000.ndjson").read_bytes() + (samples_dir / "exec_0001.ndjson").read_bytes())
    with Store(store_url) as store:
        before = store.change_state().change_seq
        ingest_path(store, str(body))
        assert {execution.change_seq for execution in store.executions_to_export(
            after=None, up_to=store.change_state().change_seq, where=_no_filter(), resume_from=None, limit=10)} == {before + 1}
        receiver.answers = [200, 503, 503, 503]
        with pytest.raises(OtlpExportFailed) as failure:
            export_executions(store, endpoint=receiver.endpoint, batch_spans=1, timeout_s=1.5)
        assert failure.value.batches_sent == 1 and failure.value.cursor == before
        receiver.answers = []
        resumed = export_executions(store, endpoint=receiver.endpoint, batch_spans=1, page_executions=1)
    assert (resumed.executions, resumed.batches, resumed.resumed_from) == (2, 2, before)


def test_a_cursor_ahead_of_the_store_is_ignored(store_url: str, samples_dir: Path, receiver: Receiver) -> None:
    """A store restored from an older copy has a smaller change cursor than an export saw."""
    ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:3])
    with Store(store_url) as store:
        state = store.change_state()
        key = target_key(receiver.endpoint)
        store.save_export_cursor(key, store_id=state.store_id, change_seq=state.change_seq + 50, executions_sent=9, exported_at_us=0)
        result = export_executions(store, endpoint=receiver.endpoint)
        assert (result.executions, result.resumed_from, result.cursor) == (3, None, state.change_seq)
        assert store.export_cursor(key).executions_sent == 3


def test_only_the_first_thousand_streaming_events_of_a_run_are_read(store_url: str) -> None:
    execution_id = str(uuid.uuid4())
    node = {"node_id": "n-1", "node_result_id": "run-1"}

    def line(kind: str, state: str, second: float, **data: Any) -> str:
        ts = f"2025-06-02T09:{int(second) // 60:02d}:{second % 60:09.6f}Z"
        return json.dumps({"execution_id": execution_id, "type": kind, "data": {"id": str(uuid.uuid4()), "state": state, "ts": ts, **data}})

    streamed = MAX_STREAMING_EVENTS_PER_SPAN + 30
    lines = [line("WORKFLOW", "INITIATED", 0), line("NODE", "INITIATED", 0.1, **node)]
    lines += [line("NODE", "STREAMING", 0.2 + index / 1000, **node) for index in range(streamed)]
    lines += [line("WORKFLOW", "STREAMING", 1.5), line("NODE", "FULFILLED", 2, **node), line("WORKFLOW", "FULFILLED", 3)]
    with Recorder(store_url) as recorder:
        recorder.ingest_lines(lines)
        store = recorder.store
        details = store.export_details([execution_id], per_run_limit=MAX_STREAMING_EVENTS_PER_SPAN)
        [execution] = store.executions_to_export(after=None, up_to=store.change_state().change_seq, where=_no_filter(), resume_from=None, limit=5)
    moments = details.streaming[execution_id]
    assert len(moments) == MAX_STREAMING_EVENTS_PER_SPAN + 1
    assert {moment.of_total for moment in moments if moment.node_result_id == "run-1"} == {streamed}
    from opentelemetry.sdk.resources import Resource

    recorded = RecordedExecution(execution=execution, spans=details.spans[execution_id], streaming=moments)
    root, run = execution_spans(recorded, Resource.create({}))
    assert len(run.events) == MAX_STREAMING_EVENTS_PER_SPAN
    assert (run.attributes[keys.VELLUM_STREAMING_EVENTS], run.attributes[keys.VELLUM_STREAMING_EVENTS_DROPPED]) == (streamed, 30)
    assert [event.timestamp for event in run.events][:2] == [moments[0].ts_us * 1000, moments[1].ts_us * 1000]
    assert len(root.events) == 1 and keys.VELLUM_STREAMING_EVENTS_DROPPED not in root.attributes


def test_the_otel_extra_missing_is_a_one_line_error(store_url: str) -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from recorder.cli.main import run\n"
        f"sys.argv = ['recorder', '--db', {store_url!r}, 'otlp', 'export']\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: recorder otlp export needs opentelemetry: pip install 'workflow-recorder[otel]'"


# -- the mapping alone --------------------------------------------------------------------------------


def test_endpoint_and_headers_come_from_the_environment_as_the_sdk_reads_them() -> None:
    assert resolve_endpoint(None, {}) == DEFAULT_ENDPOINT == "http://localhost:6006/v1/traces"
    assert resolve_endpoint(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/"}) == "https://collector:4318/v1/traces"
    assert resolve_endpoint(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/x"}) == "https://b/x"
    assert resolve_endpoint("http://given/v1/traces", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/x"}) == "http://given/v1/traces"
    assert resolve_headers({"X-Key": "given"}, {"OTEL_EXPORTER_OTLP_HEADERS": "x-key=env,other=o%3Dk"}) == {"x-key": "given", "other": "o=k"}
    assert target_key("HTTPS://u:p@Collector.example:4318/v1/traces?token=t#f") == "https://collector.example:4318/v1/traces"


def test_trace_ids_come_from_the_stream_when_it_carries_one() -> None:
    hex_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parse_trace_id(hex_id) == int(hex_id, 16)
    assert parse_trace_id(str(uuid.UUID(hex_id))) == int(hex_id, 16)
    assert parse_trace_id("0" * 32) is None and parse_trace_id("not an id") is None and parse_trace_id(7) is None
    line = json.dumps({"id": "e1", "name": "workflow.execution.initiated", "trace_id": str(uuid.UUID(hex_id)), "span_id": "x"})
    assert trace_id_from_line(line) == int(hex_id, 16)
    assert trace_id_from_line('{"execution_id":"e","type":"WORKFLOW"}') is None
    assert derived_trace_id("not-a-uuid") == derived_trace_id("not-a-uuid") != 0
    assert derived_trace_id("37626da9-b2da-4553-9d4a-ae39778326b7") == 0x37626DA9B2DA45539D4AAE39778326B7


def test_the_mapping_of_one_sample_is_deterministic_and_links_its_previous_execution(store_url: str, samples_dir: Path) -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.trace import StatusCode

    [truth] = ingest_samples(store_url, samples_dir, ["exec_0005"]).values()
    execution_id = truth["execution_id"]
    with Store(store_url) as store:
        [execution] = store.executions_to_export(after=None, up_to=store.change_state().change_seq, where=_no_filter(), resume_from=None, limit=10)
        details = store.export_details([execution_id])
    recorded = RecordedExecution(
        execution=execution, spans=details.spans[execution_id], streaming=details.streaming[execution_id],
        first_line=details.first_lines[execution_id],
    )
    resource = Resource.create({"service.name": "workflow-recorder"})
    spans = execution_spans(recorded, resource)
    again = execution_spans(recorded, resource)
    assert [(s.context.trace_id, s.context.span_id) for s in spans] == [(s.context.trace_id, s.context.span_id) for s in again]

    root = spans[0]
    assert root.context.span_id == root_span_id(execution_id) and root.parent is None
    assert root.status.status_code is StatusCode.OK
    [link] = root.links
    previous = truth["previous_execution_id"]
    assert (link.context.trace_id, link.context.span_id) == (uuid.UUID(previous).int, root_span_id(previous))
    assert root.attributes[keys.VELLUM_PREVIOUS_EXECUTION_ID] == previous
    assert root.resource.attributes["service.name"] == "workflow-recorder"
    by_run = {span.attributes[keys.VELLUM_NODE_RESULT_ID]: span for span in spans[1:]}
    for node in truth["nodes"]:
        span = by_run[node["node_result_id"]]
        assert span.context.span_id == node_span_id(execution_id, node["node_result_id"])
        parent = node["parent_node_result_id"]
        assert span.parent.span_id == (node_span_id(execution_id, parent) if parent else root.context.span_id)
        assert (span.start_time, span.end_time) == (node["start_us"] * 1000, node["end_us"] * 1000)
    assert keys.VELLUM_STREAMING_EVENTS_DROPPED not in root.attributes


def test_streaming_events_beyond_the_cap_are_counted_not_sent(store_url: str, samples_dir: Path) -> None:
    from opentelemetry.sdk.resources import Resource

    [truth] = ingest_samples(store_url, samples_dir, ["exec_0003"]).values()
    execution_id = truth["execution_id"]
    with Store(store_url) as store:
        [execution] = store.executions_to_export(after=None, up_to=store.change_state().change_seq, where=_no_filter(), resume_from=None, limit=10)
    start = truth["workflow"]["start_us"]
    many = [StreamingMoment(execution_id, None, start + index, start + index) for index in range(MAX_STREAMING_EVENTS_PER_SPAN + 25)]
    [root] = execution_spans(RecordedExecution(execution=execution, streaming=many), Resource.create({}))
    assert len(root.events) == MAX_STREAMING_EVENTS_PER_SPAN
    assert root.attributes[keys.VELLUM_STREAMING_EVENTS] == MAX_STREAMING_EVENTS_PER_SPAN + 25
    assert root.attributes[keys.VELLUM_STREAMING_EVENTS_DROPPED] == 25


def _no_filter():
    from recorder.model.filters import ExecutionFilter

    return ExecutionFilter(limit=None)


def test_a_prune_keeps_the_cursor_so_survivors_are_not_sent_again(store_url: str, samples_dir: Path, receiver: Receiver) -> None:
    """A prune gives the store a new id (fleet snapshots rebuild) but only deletes: the export
    cursor moves with the store, so the next export sends only survivors a prune re-rooted."""
    ingest_samples(store_url, samples_dir, SAMPLE_NAMES[:6])
    with Store(store_url) as store:
        first = export_executions(store, endpoint=receiver.endpoint)
        before = store.change_state()
        started = sorted(row.started_at_us for row in store.executions())
        report = Recorder(store=store).prune(older_than=started[2])  # the two oldest go
        after = store.change_state()
        again = export_executions(store, endpoint=receiver.endpoint)
        cursor = store.export_cursor(target_key(receiver.endpoint))
    assert (first.executions, report.executions) == (6, 2)
    assert after.store_id != before.store_id and cursor.store_id == after.store_id
    assert again.resumed_from == first.cursor
    assert again.executions == report.repointed  # only the re-rooted survivors carry a new change number
