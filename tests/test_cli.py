"""The command line, end to end on a real store: what users type and what scripts parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from recorder.cli.main import cli
from tests.test_samples import load_truth

EXECUTION_KEYS = {
    "execution_id", "workflow_deployment_name", "workflow_deployment_id", "release_tag", "external_id",
    "previous_execution_id", "root_execution_id", "status", "started_at", "ended_at", "duration_ms",
    "event_count", "error_code", "metadata",
}


def run(url: str, *args: str, input: bytes | None = None):
    result = CliRunner().invoke(cli, ["--db", url, *args], input=input, catch_exceptions=False)
    return result


def ingest_sample(url: str, samples_dir: Path, name: str, tmp_path: Path):
    request = tmp_path / f"{name}.request.json"
    request.write_text(json.dumps(load_truth(samples_dir, name)["request"]))
    return run(url, "ingest", str(samples_dir / f"{name}.ndjson"), "--request", str(request))


def test_init_creates_then_reports_the_schema(store_url: str) -> None:
    first = run(store_url, "init")
    assert first.exit_code == 0 and "head" in first.output
    assert "already at revision" in run(store_url, "init").output


def test_ingest_prints_counts_of_stored_duplicate_and_rejected(store_url: str, samples_dir: Path, tmp_path: Path) -> None:
    result = ingest_sample(store_url, samples_dir, "exec_0002", tmp_path)
    assert result.exit_code == 0
    assert "4 events stored, 0 duplicates skipped, 0 lines rejected" in result.output
    again = ingest_sample(store_url, samples_dir, "exec_0002", tmp_path)
    assert "0 events stored, 4 duplicates skipped" in again.output


def test_ingest_reads_stdin(store_url: str, samples_dir: Path) -> None:
    body = (samples_dir / "exec_0002.ndjson").read_bytes() + b"not json\n"
    result = run(store_url, "ingest", "-", "--json", input=body)
    [row] = json.loads(result.output)
    assert (row["events_stored"], row["rejects"]) == (4, 1)


def test_ingest_of_a_missing_file_is_a_one_line_error(store_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", store_url, "ingest", "/nonexistent.ndjson"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: /nonexistent.ndjson: no such file"


def test_executions_json_lists_the_documented_fields(store_url: str, samples_dir: Path, tmp_path: Path) -> None:
    for name in ("exec_0004", "exec_0005"):
        ingest_sample(store_url, samples_dir, name, tmp_path)
    rows = json.loads(run(store_url, "executions", "--json").output)
    assert [row["execution_id"] for row in rows] == [load_truth(samples_dir, n)["execution_id"] for n in ("exec_0005", "exec_0004")]
    assert all(EXECUTION_KEYS <= row.keys() for row in rows)
    assert rows[0]["previous_execution_id"] == rows[1]["execution_id"] == rows[0]["root_execution_id"]
    assert rows[0]["started_at"].endswith("+00:00")


def test_executions_filters_by_status_deployment_and_time(store_url: str, samples_dir: Path, tmp_path: Path) -> None:
    for name in ("exec_0001", "exec_0002", "exec_0003"):
        ingest_sample(store_url, samples_dir, name, tmp_path)
    rejected = json.loads(run(store_url, "executions", "--status", "rejected", "--json").output)
    assert {r["status"] for r in rejected} == {"REJECTED"} and len(rejected) == 2
    by_deployment = json.loads(run(store_url, "executions", "--deployment", "support-agent-v1", "--json").output)
    assert [r["workflow_deployment_name"] for r in by_deployment] == ["support-agent-v1"]
    since = json.loads(run(store_url, "executions", "--since", "2025-06-02T09:02:17Z", "--json").output)
    assert len(since) == 2
    until = json.loads(run(store_url, "executions", "--until", "2025-06-02T09:02:17Z", "--json").output)
    assert len(until) == 1


def test_an_incomplete_execution_has_null_end_and_duration(store_url: str, samples_dir: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.ndjson"
    cut.write_bytes(b"\n".join((samples_dir / "exec_0003.ndjson").read_bytes().split(b"\n")[:10]))
    run(store_url, "ingest", str(cut))
    [row] = json.loads(run(store_url, "executions", "--json").output)
    assert (row["status"], row["ended_at"], row["duration_ms"]) == ("INCOMPLETE", None, None)


def test_show_json_gives_request_outputs_and_events_in_order(store_url: str, samples_dir: Path, tmp_path: Path) -> None:
    ingest_sample(store_url, samples_dir, "exec_0004", tmp_path)
    truth = load_truth(samples_dir, "exec_0004")
    audit = json.loads(run(store_url, "show", truth["execution_id"][:8], "--json").output)
    assert audit["execution_id"] == truth["execution_id"]
    assert audit["request"] == truth["request"]
    assert audit["inputs"] == truth["request"]["inputs"]
    assert {o["name"]: o["value"] for o in audit["outputs"]} == {k: v["value"] for k, v in truth["workflow"]["outputs"].items()}
    assert [e["position"] for e in audit["events"]] == list(range(truth["event_count"]))
    assert [e["event"]["data"]["id"] for e in audit["events"]] == truth["event_ids"]


def test_show_of_a_failed_execution_names_the_error(store_url: str, samples_dir: Path, tmp_path: Path) -> None:
    ingest_sample(store_url, samples_dir, "exec_0002", tmp_path)
    output = run(store_url, "show", "3ce4af0c").output
    assert "NODE_EXECUTION: Search node failed unexpectedly" in output


def test_show_of_an_unknown_execution_is_a_one_line_error(store_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", store_url, "show", "nope"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no recorded execution matches 'nope'"


def test_demo_records_a_workload_with_every_feature(store_url: str) -> None:
    summary = json.loads(run(store_url, "demo", "--executions", "30", "--speed", "200", "--json").output)
    assert summary["executions"] == 30 and summary["events"] > 30 * 4
    assert set(summary["statuses"]) == {"FULFILLED", "REJECTED"}
    rows = json.loads(run(store_url, "executions", "--limit", "0", "--json").output)
    assert len(rows) == 30
    assert {"FULFILLED", "REJECTED"} <= {r["status"] for r in rows}
    assert len({r["workflow_deployment_name"] for r in rows}) >= 3
    assert len({r["release_tag"] for r in rows}) >= 2
    assert any(r["previous_execution_id"] for r in rows)
    assert any(r["metadata"] for r in rows)


def test_running_the_demo_twice_adds_nothing(store_url: str) -> None:
    first = json.loads(run(store_url, "demo", "--executions", "5", "--speed", "200", "--json").output)
    again = json.loads(run(store_url, "demo", "--executions", "5", "--speed", "200", "--json").output)
    assert again == first
    assert len(json.loads(run(store_url, "executions", "--json").output)) == 5


def test_the_installed_command_runs_the_demo_on_the_default_sqlite_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RECORDER_DATABASE_URL"}
    recorder = Path(sys.executable).with_name("recorder")
    done = subprocess.run([str(recorder), "demo", "--executions", "8", "--speed", "100"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Recorded 8 executions" in done.stdout
    assert (tmp_path / "recorder.db").is_file()
