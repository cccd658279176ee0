"""The demo speaks the v2 stream too: its loopback server answers
`POST /v1/workflow-deployments/{id}/execute-stream` with SDK events the official client parses, and
the demo workload records one execution in four through it, by `recorder record`'s own path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from vellum.client.core.pydantic_utilities import parse_obj_as
from vellum.client.types import WorkflowEvent

from recorder.api import Recorder
from recorder.demo.live_recording import DEMO_API_KEY
from recorder.demo.server import LoopbackVellum, Scenario
from recorder.demo.v2_stream import V2_EVERY, as_v2_execution, sent_through_v2
from recorder.demo.workload import build_workload
from recorder.model.request import RecordedRequest
from tests.test_sdk_wire_support import environment

WORKLOAD = build_workload(executions=48, seed=11)


def test_every_line_the_demo_sends_on_the_v2_stream_parses_as_a_workflow_event() -> None:
    for execution in WORKLOAD:
        told = as_v2_execution(execution)
        events = [parse_obj_as(WorkflowEvent, json.loads(line)) for line in told.lines]  # type: ignore[arg-type]
        assert len(events) == len(told.lines) == len(told.offsets_s)
        assert events[0].name == "workflow.execution.initiated" and events[0].span_id == execution.execution_id
        assert list(told.offsets_s) == sorted(told.offsets_s)


def test_the_official_client_executes_a_demo_deployment_on_the_v2_stream_of_the_loopback_server() -> None:
    from vellum import Vellum

    told = [as_v2_execution(execution) for execution in WORKLOAD[:6]]
    with LoopbackVellum(api_key=DEMO_API_KEY) as server:
        for execution in told:
            server.expect(execution.request, Scenario.from_text_lines(list(execution.lines)))
        client = Vellum(api_key=DEMO_API_KEY, environment=environment(server.base_url))
        for execution in told:
            request = RecordedRequest.for_stream(execution.request)
            body = request.wire_body
            deployment = request.body.get("workflow_deployment_name") or request.body["workflow_deployment_id"]
            events = list(client.workflow_deployments.execute_stream(
                deployment, **{key: body[key] for key in ("inputs", "release_tag", "external_id", "metadata", "previous_execution_id") if key in body}))
            assert events == [parse_obj_as(WorkflowEvent, json.loads(line)) for line in execution.lines]  # type: ignore[arg-type]
        posted = [path for method, path, _, _ in server.requests if method == "POST"]
        assert all(path.startswith("/v1/workflow-deployments/") and path.endswith("/execute-stream") for path in posted)


def test_the_demo_records_one_execution_in_four_through_the_v2_stream(store_url: str) -> None:
    with Recorder(store_url) as recorder:
        run = recorder.demo(executions=8, speed=200)
        requests = dict(recorder.store.execution_requests())
        served = {execution.execution_id: execution for execution in run.workload}
        v2_ids = {execution.execution_id for index, execution in enumerate(build_workload(executions=8)) if sent_through_v2(index)}
        assert len(v2_ids) == 8 // V2_EVERY
        assert {i for i, request in requests.items() if request and request.get("stream") == "v2"} == v2_ids
        for execution_id in v2_ids:
            assert [event.raw for event in recorder.store.events(execution_id)] == list(served[execution_id].lines)
        rows = {row["execution_id"]: row for row in run.recorded}
        assert set(rows) == set(served)
        assert all(rows[i]["status"] == served[i].final_state for i in served)
        assert all(rows[i]["workflow_deployment_name"] or rows[i]["workflow_deployment_id"] for i in v2_ids)
        assert run.events == sum(len(execution.lines) for execution in run.workload)


@pytest.mark.parametrize("module", ["recorder.demo.live_recording", "recorder.demo.v2_stream", "recorder.demo.server"])
def test_the_demo_does_not_import_the_official_client(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if any(name == 'vellum' or name.startswith('vellum.') for name in sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_demo_says_how_many_executions_went_through_each_stream(store_url: str) -> None:
    from click.testing import CliRunner

    from recorder.cli.main import cli

    summary = json.loads(CliRunner().invoke(cli, ["--db", store_url, "demo", "--executions", "9", "--speed", "200", "--json"]).stdout)
    assert summary["streams"] == {"v1": 7, "v2": 2} and summary["executions"] == 9
    printed = CliRunner().invoke(cli, ["--db", store_url, "demo", "--executions", "9", "--speed", "200", "--report", ""]).stdout
    assert "2 of them went through the v2 stream" in printed
