"""The analytics commands end to end: the `--json` shapes scripts rely on, the tables people read,
and one-line errors. Both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorder.api import Recorder
from recorder.cli.main import cli
from recorder.store import Store
from tests.test_analytics_timeline import StreamBuilder, sample_recorder  # noqa: F401 - a module-scoped fixture
from tests.test_samples import load_truth

LATENCY_ROW = {"count", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms"}


def run(url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", url, *args])


def run_json(url: str, *args: str):
    result = run(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def samples_url(sample_recorder: Recorder) -> str:
    """The samples, recorded once per backend for this module (the commands here only read)."""
    return sample_recorder.url


def test_timeline_json_is_the_documented_object(samples_url: str, samples_dir: Path) -> None:
    truth = load_truth(samples_dir, "exec_0003")["timeline"]
    timeline = run_json(samples_url, "timeline", truth["execution_id"][:8])
    assert timeline["execution_id"] == truth["execution_id"]
    assert timeline["critical_path"] == truth["critical_path"]
    assert timeline["overhead_ms"] == pytest.approx(truth["overhead_ms"])
    assert [span["duration_ms"] for span in timeline["spans"]] == [span["duration_ms"] for span in truth["spans"]]
    assert {"execution_id", "status", "started_at", "ended_at", "duration_ms", "overhead_ms", "critical_path", "spans"} <= timeline.keys()


def test_timeline_prints_a_gantt_chart_and_the_span_table(samples_url: str, samples_dir: Path) -> None:
    execution_id = load_truth(samples_dir, "exec_0003")["execution_id"]
    result = run(samples_url, "timeline", execution_id)
    assert result.exit_code == 0
    assert "critical path" in result.output and "█" in result.output and "SUBWORKFLOW" in result.output


def test_timeline_of_an_unknown_execution_is_a_one_line_error(samples_url: str) -> None:
    result = run(samples_url, "timeline", "ffffffff-no-such")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no recorded execution matches 'ffffffff-no-such'"


def test_latency_json_lists_group_keys_and_statistics(samples_url: str) -> None:
    rows = run_json(samples_url, "latency", "--by", "node_type")
    assert rows and all(row.keys() == {"node_type"} | LATENCY_ROW for row in rows)
    by_two = run_json(samples_url, "latency", "--by", "deployment,status")
    assert all(row.keys() == {"deployment", "status"} | LATENCY_ROW for row in by_two)


def test_latency_filters_on_metadata_given_as_key_value(samples_url: str) -> None:
    everything = run_json(samples_url, "latency", "--by", "status")
    acme = run_json(samples_url, "latency", "--by", "status", "--meta", "tenant=acme")
    assert 0 < sum(row["count"] for row in acme) < sum(row["count"] for row in everything)


def test_latency_refuses_an_unknown_grouping(samples_url: str) -> None:
    result = run(samples_url, "latency", "--by", "colour")
    assert result.exit_code == 2 and "use one or more" in result.output


def test_lineage_json_is_the_documented_object(samples_url: str, samples_dir: Path) -> None:
    truth = load_truth(samples_dir, "exec_0014")["lineage"]
    lineage = run_json(samples_url, "lineage", truth["execution_id"])
    assert {key: lineage[key] for key in ("execution_id", "root_execution_id", "ancestors", "descendants", "missing", "cycle")} == {
        key: truth[key] for key in ("execution_id", "root_execution_id", "ancestors", "descendants", "missing", "cycle")
    }


def test_lineage_draws_the_chain_with_missing_links(store: Store, store_url: str) -> None:
    request = {"workflow_deployment_name": "chat", "inputs": [], "previous_execution_id": "gone-before-recording"}
    StreamBuilder("orphan-0001").workflow("INITIATED", 0).workflow("FULFILLED", 5).record(store, request)
    result = run(store_url, "lineage", "orphan")
    assert result.exit_code == 0
    assert "gone-bef missing" in result.output and "(this one)" in result.output


def test_compare_json_has_a_row_per_node_and_one_for_the_workflow(store: Store, store_url: str) -> None:
    for tag, duration in (("v1", 10), ("v1", 12), ("v2", 30), ("v2", 34)):
        request = {"workflow_deployment_name": "bot", "release_tag": tag, "inputs": []}
        StreamBuilder().workflow("INITIATED", 0).run("step", 1, 1 + duration, node_id="the-step").workflow("FULFILLED", 50).record(store, request)
    rows = run_json(store_url, "compare", "--deployment", "bot", "--baseline", "v1", "--candidate", "v2")
    step = next(row for row in rows if row["node_id"] == "the-step")
    assert (step["baseline_p50_ms"], step["candidate_p50_ms"], step["delta_p50_ms"]) == (11.0, 32.0, 21.0)
    assert rows[0]["node_id"] == "the-step"
    assert any(row["node_id"] == "(workflow)" for row in rows)


def test_usage_json_sums_tokens_and_cost_by_model(samples_url: str) -> None:
    rows = run_json(samples_url, "usage", "--by", "model")
    assert rows and all({"model", "runs", "input_tokens", "output_tokens", "cost_usd"} <= row.keys() for row in rows)


def test_sql_json_returns_rows_and_sql_errors_are_one_line(samples_url: str) -> None:
    rows = run_json(samples_url, "sql", "SELECT status, count(*) AS n FROM executions GROUP BY status ORDER BY status")
    assert [row["status"] for row in rows] == ["FULFILLED", "REJECTED"]
    result = run(samples_url, "sql", "SELECT nope FROM executions")
    assert result.exit_code == 1 and result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1


def test_sql_events_pulls_the_events_view_only_when_asked(samples_url: str, sample_recorder: Recorder) -> None:
    result = run(samples_url, "sql", "SELECT count(*) AS n FROM events")
    assert result.exit_code == 1 and "events" in result.output
    [row] = run_json(samples_url, "sql", "--events", "SELECT count(*) AS n FROM events")
    assert row["n"] == sample_recorder.sql("SELECT sum(event_count) FROM executions").item()
