"""`recorder reconcile` and `recorder actuals`: facts from Vellum recorded beside the events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorder.cli.main import cli
from recorder.demo.server import LoopbackVellum
from recorder.store import Store
from recorder.stream.ingest import ingest_chunks

API_KEY = "k-reconcile"
EXECUTION_ID = "3161c940-7c63-47b9-a3b7-216f6ad28eb6"


@pytest.fixture
def server():
    with LoopbackVellum(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def cut_execution(store_url: str, samples_dir: Path) -> str:
    lines = (samples_dir / "exec_0003.ndjson").read_bytes().splitlines(keepends=True)[:20]
    with Store(store_url) as store:
        ingest_chunks(store, [b"".join(lines)], source="test")
    return EXECUTION_ID


def invoke(store_url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", store_url, *args], env={"VELLUM_API_KEY": API_KEY})


def test_reconcile_records_what_the_status_endpoint_reports_without_touching_events(store_url, server, cut_execution) -> None:
    server.set_status(EXECUTION_ID, {"status": "FULFILLED", "execution_id": EXECUTION_ID, "outputs": {"answer": "done"}})
    result = invoke(store_url, "reconcile", "--base-url", server.base_url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"execution_id": EXECUTION_ID, "recorded_status": "INCOMPLETE", "reported_status": "FULFILLED", "error_code": None, "error": None}
    ]
    audit = json.loads(invoke(store_url, "show", EXECUTION_ID, "--json").output)
    assert audit["status"] == "INCOMPLETE" and len(audit["events"]) == 20
    [check] = audit["status_checks"]
    assert (check["status"], check["outputs"], check["http_status"]) == ("FULFILLED", {"answer": "done"}, 200)
    assert check["source"].startswith(server.base_url)


def test_reconcile_records_a_reported_failure_with_its_error(store_url, server, cut_execution) -> None:
    server.set_status(EXECUTION_ID, {"status": "REJECTED", "execution_id": EXECUTION_ID, "error": {"code": "NODE_TIMEOUT", "message": "slow"}})
    [row] = json.loads(invoke(store_url, "reconcile", EXECUTION_ID[:8], "--base-url", server.base_url, "--json").output)
    assert (row["reported_status"], row["error_code"]) == ("REJECTED", "NODE_TIMEOUT")


def test_reconcile_records_an_unknown_execution_as_an_http_error(store_url, server, cut_execution) -> None:
    [row] = json.loads(invoke(store_url, "reconcile", "--base-url", server.base_url, "--json").output)
    assert row["reported_status"] is None and row["error"].startswith("HTTP 404")
    audit = json.loads(invoke(store_url, "show", EXECUTION_ID, "--json").output)
    assert audit["status_checks"][0]["http_status"] == 404


def test_reconcile_with_nothing_incomplete_says_so(store_url, server) -> None:
    result = invoke(store_url, "reconcile", "--base-url", server.base_url)
    assert result.exit_code == 0 and "no INCOMPLETE executions" in result.output


def test_actuals_are_posted_and_recorded_beside_the_execution(store_url, server, cut_execution) -> None:
    result = invoke(store_url, "actuals", EXECUTION_ID[:8], "--output", "answer", "--quality", "0.8", "--value", "a better answer",
                    "--base-url", server.base_url)
    assert result.exit_code == 0, result.output
    [posted] = server.actuals
    assert posted["execution_id"] == EXECUTION_ID
    [actual] = posted["actuals"]
    assert (actual["output_key"], actual["output_type"], actual["quality"], actual["desired_output_value"]) == ("answer", "STRING", 0.8, "a better answer")
    audit = json.loads(invoke(store_url, "show", EXECUTION_ID, "--json").output)
    [stored] = audit["actuals"]
    assert (stored["output"], stored["quality"], stored["value"], stored["http_status"], stored["error"]) == ("answer", 0.8, "a better answer", 204, None)


def test_json_actuals_values_are_parsed(store_url, server, cut_execution) -> None:
    invoke(store_url, "actuals", EXECUTION_ID, "--output", "items", "--type", "JSON", "--value", '{"a": [1, 2]}', "--base-url", server.base_url)
    assert server.actuals[0]["actuals"][0]["desired_output_value"] == {"a": [1, 2]}


def test_a_rejected_actual_is_an_error_and_is_still_recorded(store_url, server, cut_execution) -> None:
    server.actuals_status = 400
    result = invoke(store_url, "actuals", EXECUTION_ID, "--output", "answer", "--quality", "1", "--base-url", server.base_url)
    assert result.exit_code == 1 and "HTTP 400" in result.output
    audit = json.loads(invoke(store_url, "show", EXECUTION_ID, "--json").output)
    assert audit["actuals"][0]["http_status"] == 400


def test_actuals_for_an_unrecorded_execution_is_a_one_line_error(store_url, server) -> None:
    result = invoke(store_url, "actuals", "nope", "--output", "answer", "--quality", "1", "--base-url", server.base_url)
    assert result.exit_code == 1 and result.output.strip() == "Error: no recorded execution matches 'nope'"
    assert server.actuals == []
