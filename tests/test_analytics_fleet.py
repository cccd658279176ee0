"""Fleet analytics in DuckDB: node_spans agree with the timelines, percentiles interpolate like
polars, filters, release comparison, usage and cost, ad-hoc SQL, and the snapshot that is pulled
once and refreshed only where the store changed. Both backends, and the two agree exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recorder.analytics import Analytics, UnknownGrouping
from recorder.api import Recorder
from recorder.demo.workload import body_bytes, build_workload
from recorder.store import Store
from recorder.store.schema import Event
from recorder.stream.ingest import ingest_chunks, ingest_path
from tests.conftest import BACKENDS
from tests.test_analytics_timeline import StreamBuilder
from tests.test_samples import SAMPLE_NAMES, ingest_all_samples, load_truth
from tests.test_span_upkeep import awkward_streams

STATS = ["count", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms"]


def _module_store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp(name) / f'{name}.db'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture(scope="module", params=BACKENDS)
def samples(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Iterator[Recorder]:
    """The 30 samples, recorded once per backend (these tests only read)."""
    recorder = Recorder(_module_store_url(request, tmp_path_factory, "samples"))
    ingest_all_samples(recorder.store, samples_dir)
    yield recorder
    recorder.close()


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    """80 demo executions (two release tags per deployment, one of them slower on one node)."""
    recorder = Recorder(_module_store_url(request, tmp_path_factory, "demo"))
    for execution in build_workload(executions=80, seed=7):
        ingest_chunks(recorder.store, [body_bytes(execution)], source="demo", request=execution.request)
    yield recorder
    recorder.close()


def timeline_spans(recorder: Recorder, samples_dir: Path) -> pl.DataFrame:
    """Every sample span as the per-execution timeline computes it."""
    rows = []
    for name in SAMPLE_NAMES:
        timeline = recorder.timeline(load_truth(samples_dir, name)["execution_id"])
        rows += [{"execution_id": timeline.execution_id, **span.to_dict()} for span in timeline.spans]
    return pl.DataFrame(rows)


# -- node_spans and latency ------------------------------------------------------------------------------


def test_node_spans_view_agrees_with_every_timeline(samples: Recorder, samples_dir: Path) -> None:
    columns = ["execution_id", "node_result_id", "node_id", "node_type", "state", "start_us", "end_us", "duration_ms",
               "first_output_ms", "streaming_events", "source_execution_id", "error_code", "open", "start_pos", "end_pos",
               "ts_less", "first_output_ts_less"]
    expected = timeline_spans(samples, samples_dir).select(columns).sort("execution_id", "node_result_id")
    actual = samples.sql("SELECT * FROM node_spans").select(columns).sort("execution_id", "node_result_id")
    assert_frame_equal(actual, expected, check_dtypes=False)


def test_latency_by_node_type_interpolates_percentiles_like_polars(samples: Recorder, samples_dir: Path) -> None:
    spans = samples.sql("SELECT node_type_inferred AS node_type, duration_ms FROM node_spans WHERE duration_ms IS NOT NULL")
    expected = (
        spans.group_by("node_type")
        .agg(
            pl.len().alias("count"), pl.col("duration_ms").mean().alias("mean_ms"),
            *[pl.col("duration_ms").quantile(q, "linear").alias(f"p{round(q * 100)}_ms") for q in (0.5, 0.9, 0.95, 0.99)],
            pl.col("duration_ms").max().alias("max_ms"),
        )
        .sort("node_type")
    )
    actual = samples.latency("node_type")
    assert actual.columns == ["node_type", *STATS]
    assert actual["node_type"].to_list() == expected["node_type"].to_list()
    for column in STATS:
        assert actual[column].to_list() == pytest.approx(expected[column].to_list(), rel=1e-12), column


def test_latency_by_node_counts_every_finished_run_of_the_samples(samples: Recorder, samples_dir: Path) -> None:
    finished = sum(1 for name in SAMPLE_NAMES for span in load_truth(samples_dir, name)["timeline"]["spans"] if not span["open"])
    frame = samples.latency("node")
    assert frame.columns == ["node_id", "node_type", *STATS]
    assert frame["count"].sum() == finished


def test_a_failed_run_without_payload_still_groups_under_its_node_type(samples: Recorder, samples_dir: Path) -> None:
    truth = load_truth(samples_dir, "exec_0002")["timeline"]["spans"][0]
    assert truth["node_type_on_wire"] is None
    row = samples.sql("SELECT node_type, node_type_inferred FROM node_spans WHERE node_result_id = ?", [truth["node_result_id"]])
    assert row.row(0) == (None, truth["node_type"])


def test_latency_by_deployment_measures_whole_executions(samples: Recorder, samples_dir: Path) -> None:
    truths = [load_truth(samples_dir, name)["expected_execution"] for name in SAMPLE_NAMES]
    frame = samples.latency("deployment")
    for row in frame.iter_rows(named=True):
        durations = [t["duration_ms"] for t in truths if (t["workflow_deployment_name"] or t["workflow_deployment_id"]) == row["deployment"]]
        assert (row["count"], row["max_ms"]) == (len(durations), max(durations))


def test_time_to_first_output_covers_streaming_runs_only(samples: Recorder, samples_dir: Path) -> None:
    streamed = [span["first_output_ms"] for name in SAMPLE_NAMES for span in load_truth(samples_dir, name)["timeline"]["spans"]
                if span["node_type"] == "PROMPT" and span["first_output_ms"] is not None]
    row = samples.latency("node_type", metric="first_output").filter(pl.col("node_type") == "PROMPT").row(0, named=True)
    assert row["count"] == len(streamed)
    assert row["p50_ms"] == pytest.approx(pl.Series(streamed).quantile(0.5, "linear"))


def test_latency_filters_by_metadata_status_and_time(samples: Recorder, samples_dir: Path) -> None:
    truths = [load_truth(samples_dir, name) for name in SAMPLE_NAMES]
    acme = sum(1 for t in truths if (t["metadata"] or {}).get("tenant") == "acme")
    rejected = sum(1 for t in truths if t["expected_execution"]["status"] == "REJECTED")
    late = sum(1 for t in truths if t["expected_execution"]["started_at"] >= "2025-06-02T09:10:00")
    assert 0 < acme < len(truths) and 0 < rejected < len(truths) and 0 < late < len(truths)
    assert samples.latency("status", metadata={"tenant": "acme"})["count"].sum() == acme
    assert samples.latency("deployment", status="rejected")["count"].sum() == rejected
    assert samples.latency("deployment", since="2025-06-02T09:10:00Z")["count"].sum() == late


def test_latency_filters_by_deployment_and_release_tag(demo: Recorder) -> None:
    frame = demo.latency("deployment,release_tag", deployment="ticket-router", release_tag="v13")
    assert frame.select("deployment", "release_tag").rows() == [("ticket-router", "v13")]


def test_latency_by_hour_buckets_executions_by_their_start(samples: Recorder) -> None:
    frame = samples.latency("hour")
    assert frame["hour"].to_list() == ["2025-06-02T09:00:00Z"]
    assert frame["count"].sum() == len(SAMPLE_NAMES)


def test_grouping_by_an_unknown_key_is_refused(samples: Recorder) -> None:
    with pytest.raises(UnknownGrouping, match="cannot group by colour"):
        samples.latency("colour")


# -- compare, usage, sql ------------------------------------------------------------------------------------


def test_compare_puts_the_node_slowed_by_the_candidate_release_first(demo: Recorder) -> None:
    frame = demo.compare("ticket-router", "v12", "v13")
    worst = frame.row(0, named=True)
    # The demo's ticket-router v13 runs its CODE_EXECUTION node 3.5 times slower.
    assert worst["node_type"] == "CODE_EXECUTION" and worst["ratio_p50"] > 2
    assert "(workflow)" in frame["node_id"].to_list()


def test_usage_totals_match_what_the_samples_reported(samples: Recorder, samples_dir: Path) -> None:
    reported = [load_truth(samples_dir, name).get("prompt_usage_reported_total") or {} for name in SAMPLE_NAMES]
    frame = samples.usage("deployment")
    assert frame["input_tokens"].sum() == sum(r.get("input_tokens") or 0 for r in reported)
    assert frame["output_tokens"].sum() == sum(r.get("output_tokens") or 0 for r in reported)
    assert frame["cost_usd"].sum() == pytest.approx(sum(r.get("cost_usd") or 0 for r in reported))


def test_sql_runs_over_the_documented_views_with_parameters(samples: Recorder, samples_dir: Path) -> None:
    execution_id = load_truth(samples_dir, "exec_0003")["execution_id"]
    counts = samples.sql(
        "SELECT (SELECT count(*) FROM executions) AS executions, (SELECT count(*) FROM events WHERE execution_id = ?) AS events,"
        " (SELECT count(*) FROM node_spans WHERE execution_id = ?) AS spans", [execution_id, execution_id], events=True
    )
    assert counts.row(0) == (30, load_truth(samples_dir, "exec_0003")["event_count"], 16)


def test_the_events_view_is_there_only_when_asked_for(samples: Recorder) -> None:
    import duckdb

    with pytest.raises(duckdb.CatalogException):
        samples.sql("SELECT count(*) FROM events")
    assert samples.sql("SELECT count(*) FROM events", events=True).item() == samples.sql("SELECT sum(event_count) FROM executions").item()


def test_the_executions_view_carries_the_span_aggregates(samples: Recorder, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)
        row = samples.sql(
            "SELECT span_count, prompt_cost_usd, time_to_first_output_ms FROM executions WHERE execution_id = ?", [truth["execution_id"]]
        ).row(0, named=True)
        assert row["span_count"] == len(truth["timeline"]["spans"]), name
        reported = (truth.get("prompt_usage_reported_total") or {}).get("cost_usd")
        assert row["prompt_cost_usd"] == (pytest.approx(reported) if reported else None), name


# -- the snapshot (refresh modes, the copy on disk: see also tests/test_fleet_cache.py) ---------------------


def test_fleet_snapshot_is_pulled_once_and_reused_while_the_store_is_unchanged(store: Store, samples_dir: Path) -> None:
    ingest_all_samples(store, samples_dir)
    analytics = Analytics(store, persist=False)
    assert analytics.refresh().mode == "full"
    analytics.latency("node")
    assert analytics.refresh().mode == "unchanged"


def test_new_events_refresh_only_the_rows_they_wrote(store: Store, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES[:20]:
        ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=load_truth(samples_dir, name)["request"])
    analytics = Analytics(store, persist=False)
    analytics.refresh()
    cut = StreamBuilder().workflow("INITIATED", 0).node("p", "INITIATED", 5, node_type="PROMPT")
    cut.record(store)
    report = analytics.refresh()
    assert (report.mode, report.executions_pulled, report.spans_pulled) == ("incremental", 1, 1)
    assert analytics.sql("SELECT count(*) FROM node_spans WHERE open").item() == 1
    assert_frame_equal(analytics.latency("node_type"), Analytics(store, persist=False).latency("node_type"))


def test_a_snapshot_directory_lets_a_new_process_start_from_parquet(store: Store, samples_dir: Path, tmp_path: Path) -> None:
    ingest_all_samples(store, samples_dir)
    first = Analytics(store, snapshot_dir=tmp_path / "snapshot")
    expected = first.latency("node")
    second = Analytics(store, snapshot_dir=tmp_path / "snapshot")
    assert second.refresh().mode == "loaded"
    assert_frame_equal(second.latency("node"), expected)


def test_sqlite_and_postgresql_stores_give_identical_answers(
    postgres_server, tmp_path: Path, samples_dir: Path
) -> None:
    answers = []
    for url in (f"sqlite:///{tmp_path / 'agree.db'}", postgres_server.create_database()):
        with Recorder(url) as recorder:
            ingest_all_samples(recorder.store, samples_dir)
            spans = recorder.sql("SELECT * FROM node_spans ORDER BY execution_id, node_result_id")
            answers.append((spans, recorder.latency("node"), recorder.latency("deployment,release_tag"), recorder.usage("model")))
    for sqlite_frame, postgres_frame in zip(*answers):
        assert_frame_equal(sqlite_frame, postgres_frame)


def test_a_loaded_snapshot_catches_up_with_what_was_recorded_since(store: Store, samples_dir: Path, tmp_path: Path) -> None:
    for name in SAMPLE_NAMES[:10]:
        ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=load_truth(samples_dir, name)["request"])
    Analytics(store, snapshot_dir=tmp_path / "snapshot").refresh()
    for name in SAMPLE_NAMES[10:12]:
        ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=load_truth(samples_dir, name)["request"])
    later = Analytics(store, snapshot_dir=tmp_path / "snapshot")
    report = later.refresh()
    new_spans = sum(len(load_truth(samples_dir, name)["timeline"]["spans"]) for name in SAMPLE_NAMES[10:12])
    assert (report.mode, report.executions_pulled, report.spans_pulled) == ("incremental", 2, new_spans)
    assert_frame_equal(later.latency("node"), Analytics(store, persist=False).latency("node"))


def test_node_spans_view_agrees_with_timelines_on_the_awkward_cases(store: Store) -> None:
    streams = awkward_streams()[:4]  # null ts, a cut run, a lost INITIATED, a loop with a bare rejection
    recorder = Recorder(store=store)
    ids = [stream.record(store) for stream in streams]
    columns = ["node_result_id", "node_id", "node_type", "state", "start_us", "end_us", "first_output_ms", "streaming_events",
               "error_code", "open", "start_pos", "end_pos", "ts_less", "first_output_ts_less"]
    for execution_id in ids:
        expected = pl.DataFrame([span.to_dict() for span in recorder.timeline(execution_id).spans]).select(columns)
        actual = recorder.sql("SELECT * FROM node_spans WHERE execution_id = ? ORDER BY start_us, start_pos", [execution_id])
        assert_frame_equal(actual.select(columns), expected, check_dtypes=False)


def test_fleet_questions_read_spans_and_executions_never_events(store: Store, samples_dir: Path) -> None:
    ingest_all_samples(store, samples_dir)
    before = Analytics(store, persist=False)
    answers = (before.latency("node"), before.usage("model"), before.latency("deployment,release_tag"))
    with store.engine.begin() as connection:  # the events gone: only what ingest kept beside them is left
        connection.execute(Event.__table__.delete())
    after = Analytics(store, persist=False)
    for expected, actual in zip(answers, (after.latency("node"), after.usage("model"), after.latency("deployment,release_tag"))):
        assert_frame_equal(actual, expected)
