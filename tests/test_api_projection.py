"""The CLI is the API, printed: `Recorder.init()` and `Recorder.demo()` do what `recorder init` and
`recorder demo` do, and the API takes points in time exactly as the CLI's --since does. Both
backends; the demo streams over a real loopback socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from recorder.api import Recorder
from recorder.cli.main import cli
from recorder.demo.workload import body_bytes, build_workload
from recorder.model.events import ParsedEvent
from recorder.model.filters import ExecutionFilter
from recorder.model.moments import MomentError, to_us
from recorder.model.timestamps import now_us
from recorder.store.engine import head_revision
from recorder.stream.ingest import ingest_chunks

HOUR_US = 3_600_000_000


def test_init_creates_the_schema_and_then_finds_it_at_head(empty_database_url: str) -> None:
    first = Recorder.init(empty_database_url)
    assert (first.before, first.after, first.head, first.migrated) == (None, head_revision(), head_revision(), True)
    again = Recorder.init(empty_database_url)
    assert (again.before, again.after, again.migrated) == (head_revision(), head_revision(), False)
    with Recorder(empty_database_url) as recorder:
        assert recorder.list_executions() == []


def test_the_init_command_prints_what_the_api_did(empty_database_url: str) -> None:
    Recorder.init(empty_database_url)
    output = CliRunner().invoke(cli, ["--db", empty_database_url, "init"]).output
    assert f"schema already at revision {head_revision()} (head)" in output


def test_demo_records_the_workload_live_and_reports_it(store_url: str) -> None:
    served: list[str] = []
    parsed: list[ParsedEvent] = []
    results = []
    with Recorder(store_url) as recorder:
        run = recorder.demo(executions=6, speed=200, on_serving=served.append, on_parsed=parsed.append, on_recorded=results.append)
        again = recorder.demo(executions=6, speed=200)
    workload = build_workload(executions=6)
    assert [execution.execution_id for execution in run.workload] == [execution.execution_id for execution in workload]
    assert served and served[0].startswith("http://127.0.0.1:")
    assert len(results) == 6 and {result.execution_id for result in results} == {e.execution_id for e in workload}
    assert parsed and {event.execution_id for event in parsed if isinstance(event, ParsedEvent)} == {workload[0].execution_id}
    assert len(run.recorded) == 6 and run.new_executions == 6 and again.new_executions == 0
    # Every line served is an event; one execution in four was served through the v2 stream, as SDK events.
    assert run.events == sum(len(execution.lines) for execution in run.workload)
    assert run.statuses == dict(again.statuses)
    assert sum(run.statuses.values()) == 6


def test_the_demo_command_prints_the_api_summary(store_url: str) -> None:
    printed = json.loads(CliRunner().invoke(cli, ["--db", store_url, "demo", "--executions", "4", "--speed", "200", "--json"]).output)
    with Recorder(store_url) as recorder:
        summary = recorder.demo(executions=4, speed=200).to_dict()
    summary.pop("new_executions")
    assert printed == summary


@pytest.fixture
def recent(store_url: str) -> Iterator[Recorder]:
    """30 demo executions spread over the last three hours and a half."""
    start = datetime.now(UTC) - timedelta(hours=3.5)
    with Recorder(store_url) as recorder:
        for execution in build_workload(executions=30, start=start):
            ingest_chunks(recorder.store, [body_bytes(execution)], source="demo", request=execution.request)
        yield recorder


def test_since_takes_an_age_through_the_api_as_the_cli_does(recent: Recorder) -> None:
    everything = recent.list_executions(limit=None)
    last_two_hours = recent.list_executions(since="2h", limit=None)
    assert 0 < len(last_two_hours) < len(everything)
    assert all(row["started_at"] >= _iso(now_us() - 2 * HOUR_US) for row in last_two_hours)
    printed = CliRunner().invoke(cli, ["--db", recent.url, "executions", "--since", "2h", "--limit", "0", "--json"]).output
    assert [row["execution_id"] for row in json.loads(printed)] == [row["execution_id"] for row in last_two_hours]


def test_the_fleet_questions_take_the_same_ages(recent: Recorder) -> None:
    listed = recent.list_executions(since="2h", limit=None)
    assert recent.latency("deployment", since="2h")["count"].sum() == len(listed)
    assert recent.executions(since="2h").height == len(listed)
    assert recent.usage("deployment", since="2h")["executions"].sum() <= len(listed)
    assert recent.latency("deployment", since="7d")["count"].sum() == len(recent.list_executions(limit=None))


def test_a_point_in_time_reads_alike_as_microseconds_datetime_and_text(recent: Recorder) -> None:
    moment = datetime.now(UTC) - timedelta(hours=1, minutes=30)
    as_us = to_us(moment)
    listings = [recent.list_executions(since=value, limit=None) for value in (as_us, moment, moment.isoformat(), moment.replace(tzinfo=None))]
    assert listings[0] and all(listing == listings[0] for listing in listings)


def test_export_takes_the_faults_the_export_command_offers(recent: Recorder) -> None:
    execution_id = recent.list_executions(limit=1)[0]["execution_id"]
    plain = recent.export(execution_id)
    assert plain.fault is None
    cut = recent.export(execution_id, cut_after_lines=2)
    assert cut.fault is not None and cut.fault.cut_after_lines == 2 and cut.body() == plain.body()
    both = cut.adding_fault(status=503)
    assert (both.fault.cut_after_lines, both.fault.status) == (2, 503)  # a fault already there is kept
    cli_cassette = CliRunner().invoke(cli, ["--db", recent.url, "export", execution_id[:8], "--cut-after", "2"]).stdout_bytes
    assert cli_cassette == cut.dumps()


def test_an_age_counts_back_from_now() -> None:
    before = now_us()
    two_hours_ago = to_us("2h")
    assert before - 2 * HOUR_US <= two_hours_ago <= now_us() - 2 * HOUR_US
    assert to_us("7d") < to_us("30m") < to_us("10s")


@pytest.mark.parametrize("value", ["yesterday", "2 fortnights", "99999999999d", True, 1.5])
def test_what_is_not_a_point_in_time_is_refused(value: object) -> None:
    with pytest.raises(MomentError):
        to_us(value)  # type: ignore[arg-type]


def test_an_unknown_filter_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        ExecutionFilter.of(colour="blue")  # type: ignore[call-arg]


def test_the_listing_keeps_its_default_of_a_hundred_rows() -> None:
    assert ExecutionFilter().limit == 100 and ExecutionFilter.of().limit == 100


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(timespec="microseconds")
