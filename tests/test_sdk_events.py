"""The v2 stream's SDK-style events are recorded and read as the legacy stream's are.

`tests/data/sdk_samples/` holds the 30 legacy samples told as SDK-style events (built through the
official client's models by tests/data/make_sdk_samples.py): the same execution ids, run ids,
times and outcomes, so the legacy truth files are the truth for them too. On both engines: every
line is stored verbatim as a clean event; the execution row, the timeline and the stored spans equal
the legacy truth; nested workflows nest; paused time is waiting, not work, across any flush
boundaries; unknown names are kept and flagged.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.api import Recorder
from recorder.demo.sdk_stream import sdk_error_code
from recorder.model.events import ParsedEvent, RejectedLine, parse_line
from recorder.model.lines import RawLine
from recorder.model.timestamps import parse_ts_us
from recorder.model.vocabulary import Flag, StreamShape
from recorder.store import Store
from recorder.stream.ingest import ingest_chunks
from tests.sdk_streams import SdkStream, at_us
from tests.test_samples import SAMPLE_NAMES, load_truth
from tests.test_span_upkeep import interleave, assert_spans_match_timelines, record_in_batches

SDK_SAMPLES = Path(__file__).parent / "data" / "sdk_samples"


def sdk_lines(name: str) -> list[bytes]:
    return (SDK_SAMPLES / f"{name}.ndjson").read_bytes().splitlines()


def us(iso: str | None) -> int | None:
    return None if iso is None else parse_ts_us(iso)[0]


def paused_stream() -> SdkStream:
    """A workflow that waits 5 s for a human (node `ask` and the workflow both paused), with a log
    line and a snapshot on the way, then finishes."""
    return (
        SdkStream().workflow("initiated", 0)
        .node("ask", "initiated", 10).node("ask", "log", 20).node("ask", "paused", 100)
        .workflow("paused", 100).workflow("snapshotted", 150).workflow("resumed", 5100)
        .node("ask", "resumed", 5100).node("ask", "fulfilled", 5200)
        .node("answer", "initiated", 5210).node("answer", "streaming", 5300).node("answer", "fulfilled", 5400)
        .workflow("fulfilled", 5450)
    )


def nested_stream(with_nested_events: bool) -> SdkStream:
    """A subworkflow node running a nested workflow of two nodes (with or without the nested
    workflow's own events: an event filter may leave them out)."""
    stream = SdkStream().workflow("initiated", 0).node("sub", "initiated", 5)
    stream.nested["inner"] = ("sub", None)
    if with_nested_events:
        stream.nested_workflow("inner", "initiated", 6, container="sub")
    stream.node("a", "initiated", 7, within="inner").node("a", "fulfilled", 9, within="inner")
    stream.node("b", "initiated", 9, within="inner").node("b", "rejected", 12, within="inner")
    if with_nested_events:
        stream.nested_workflow("inner", "rejected", 12, container="sub")
    return stream.node("sub", "rejected", 13).workflow("rejected", 14)


# -- parsing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_sample_line_is_a_clean_event_of_the_root_workflows_execution(name: str) -> None:
    truth = load_truth(Path(__file__).parent / "data" / "samples", name)
    parsed = [parse_line(RawLine(position, line)) for position, line in enumerate(sdk_lines(name))]
    assert all(isinstance(event, ParsedEvent) for event in parsed)
    assert {event.execution_id for event in parsed} == {truth["timeline"]["execution_id"]}
    assert [event.flags for event in parsed] == [()] * len(parsed)
    assert {event.shape for event in parsed} == {StreamShape.SDK}
    legacy_runs = {span["node_result_id"] for span in truth["timeline"]["spans"]}
    node_runs = {event.node_result_id for event in parsed if event.type == "NODE" and event.node_type is None}
    assert node_runs == legacy_runs


def test_unknown_names_are_kept_and_flagged_and_lines_without_a_root_are_rejected() -> None:
    stream = SdkStream().workflow("initiated", 0).node("n", "initiated", 1)
    root = json.loads(stream.lines[0])
    node = json.loads(stream.lines[1])
    unknown_state = {**node, "name": "node.execution.teleported", "id": "e-1"}
    unknown_family = {**root, "name": "vembda.execution.initiated", "id": "e-2", "body": {"sdk_version": "1.14.8"}}
    no_span = {"name": "workflow.execution.initiated", "id": "e-3", "timestamp": "2025-03-01T12:00:00Z", "body": {}}
    events = [parse_line(RawLine(i, json.dumps(line).encode())) for i, line in enumerate((unknown_state, unknown_family, no_span))]
    assert isinstance(events[0], ParsedEvent)
    assert (events[0].type, events[0].state, events[0].node_result_id, events[0].flags) == (
        "NODE", "TELEPORTED", node["span_id"], (Flag.UNKNOWN_STATE,))
    assert isinstance(events[1], ParsedEvent)
    assert (events[1].execution_id, events[1].type, events[1].flags) == (stream.execution_id, "vembda.execution.initiated", (Flag.UNKNOWN_TYPE,))
    assert isinstance(events[2], RejectedLine) and "root workflow span_id" in events[2].reason


# -- the store and analytics read either stream the same -------------------------------------------------------------


def test_each_sample_records_the_execution_its_legacy_twin_records(store: Store, samples_dir: Path) -> None:
    recorder = Recorder(store=store)
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)
        result = ingest_chunks(store, [(SDK_SAMPLES / f"{name}.ndjson").read_bytes()], source=name)
        assert (result.rejects, result.events_stored) == (0, len(sdk_lines(name)))
        expected, request = truth["expected_execution"], truth["request"]
        row = store.execution(truth["timeline"]["execution_id"])
        assert (row.status, row.started_at_us, row.ended_at_us) == (
            expected["status"], us(expected["started_at"]), us(expected["ended_at"])), name
        assert row.error_code == (sdk_error_code(expected["error_code"]) if expected.get("error_code") else None), name
        # The stream's own deployment context names the deployment (by id and name, always both).
        for column in ("workflow_deployment_name", "workflow_deployment_id"):
            if request.get(column):
                assert getattr(row, column) == request[column], name
        assert row.external_id == request.get("external_id"), name
        assert row.metadata_ == request.get("metadata"), name
        timeline = recorder.timeline(row.execution_id)
        spans = {span.node_result_id: span for span in timeline.spans}
        for want in truth["timeline"]["spans"]:
            got = spans[want["node_result_id"]]
            assert (got.node_id, got.state, got.duration_ms, got.first_output_ms, got.streaming_events) == (
                want["node_id"], want["state"], want["duration_ms"], want["first_output_ms"], want["streaming_events"]), name
            assert got.error_code == (sdk_error_code(want["error_code"]) if want["error_code"] else None), name
            if want.get("parent_node_result_id"):  # a nested run sits (deeper) under its legacy container
                assert want["parent_node_result_id"] in _ancestors(spans, got), name
        assert timeline.overhead_ms == pytest.approx(truth["timeline"]["overhead_ms"]), name
        assert list(timeline.critical_path) == truth["timeline"]["critical_path"], name
        assert_spans_match_timelines(store, [row.execution_id])


def test_nested_workflows_nest_with_or_without_their_own_events(store: Store) -> None:
    recorder = Recorder(store=store)
    full, filtered = nested_stream(True), nested_stream(False)
    for stream in (full, filtered):
        ingest_chunks(store, [stream.body()], source="nested")
    spans = {span.node_result_id: span for span in recorder.timeline(full.execution_id).spans}
    inner, sub = full.span("inner"), full.span("sub")
    assert (spans[inner].node_type, spans[inner].parent_node_result_id, spans[inner].depth) == ("WORKFLOW", sub, 1)
    assert (spans[inner].state, spans[inner].error_code) == ("REJECTED", "NODE_EXECUTION")
    for label in ("a", "b"):
        assert (spans[full.span(label)].parent_node_result_id, spans[full.span(label)].depth) == (inner, 2)
    # Without the nested workflow's events its runs still sit below the top level.
    spans = {span.node_result_id: span for span in recorder.timeline(filtered.execution_id).spans}
    assert {spans[filtered.span(label)].depth for label in ("a", "b")} == {1}
    assert store.execution(full.execution_id).status == "REJECTED"
    assert_spans_match_timelines(store, [full.execution_id, filtered.execution_id])


def test_paused_time_is_waiting_not_work(store: Store) -> None:
    stream = paused_stream()
    ingest_chunks(store, [stream.body()], source="paused")
    timeline = Recorder(store=store).timeline(stream.execution_id)
    ask = timeline.span(stream.span("ask"))
    assert (ask.state, ask.duration_ms, ask.waiting_ms, ask.work_ms) == ("FULFILLED", 5190.0, 5000.0, 190.0)
    assert timeline.span(stream.span("answer")).waiting_ms == 0
    assert timeline.waiting_ms == 5000.0
    # The node covers its own pause, so the gaps between runs are all the overhead there is.
    assert timeline.overhead_ms == pytest.approx(10 + 10 + 50)
    row = store.execution(stream.execution_id)
    assert (row.status, row.paused_us, row.paused_since_us) == ("FULFILLED", 5_000_000, None)
    assert {span.node_result_id: span.paused_us for span in store.spans(stream.execution_id)} == {
        stream.span("ask"): 5_000_000, stream.span("answer"): 0}
    payload = timeline.to_dict()
    assert payload["waiting_ms"] == 5000.0
    assert [span["work_ms"] for span in payload["spans"]] == [190.0, 190.0]


def test_a_workflow_still_paused_waits_up_to_its_latest_event(store: Store) -> None:
    stream = SdkStream().workflow("initiated", 0).node("ask", "initiated", 10).node("ask", "paused", 20).workflow("paused", 20)
    stream.workflow("snapshotted", 900)
    ingest_chunks(store, [stream.body()], source="cut")
    timeline = Recorder(store=store).timeline(stream.execution_id)
    assert (timeline.status, timeline.waiting_ms) == ("INCOMPLETE", 880.0)
    span = timeline.span(stream.span("ask"))
    assert (span.open, span.state) == (True, "PAUSED")
    row = store.execution(stream.execution_id)
    assert (row.paused_us, row.paused_since_us) == (0, at_us(20))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_flush_boundaries_give_the_spans_and_waits_of_one_pass(store: Store, data: st.DataObject) -> None:
    store.wipe()
    streams = [paused_stream(), nested_stream(True), nested_stream(False)]
    picked = data.draw(st.sampled_from(SAMPLE_NAMES), label="sample")
    bodies = [stream.line_bytes() for stream in streams] + [sdk_lines(picked)]
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="interleaving"))
    body = interleave(bodies, rng)
    cuts = set(data.draw(st.lists(st.integers(0, len(body) - 1), max_size=15), label="cuts"))
    record_in_batches(store, body, cuts)
    execution_ids = [stream.execution_id for stream in streams] + [json.loads(sdk_lines(picked)[0])["span_id"]]
    assert_spans_match_timelines(store, execution_ids)
    recorder = Recorder(store=store)
    for execution_id in execution_ids:
        waits = {span.node_result_id: span.paused_us for span in recorder.timeline(execution_id).spans}
        assert {row.node_result_id: row.paused_us for row in store.spans(execution_id)} == waits
    assert store.execution(streams[0].execution_id).paused_us == 5_000_000


def test_recording_a_sample_again_stores_nothing_new(store: Store) -> None:
    body = (SDK_SAMPLES / "exec_0007.ndjson").read_bytes()
    first = ingest_chunks(store, [body], source="first")
    again = ingest_chunks(store, [body], source="again")
    assert first.events_stored == len(body.splitlines())
    assert (again.events_stored, again.already_recorded_as) == (0, first.recording_id)


def _ancestors(spans: dict, span) -> list[str]:
    found = []
    while span.parent_node_result_id is not None and span.parent_node_result_id not in found:
        found.append(span.parent_node_result_id)
        span = spans[span.parent_node_result_id]
    return found



def test_fleet_analytics_read_the_same_from_either_stream(backend: str, tmp_path: Path, request: pytest.FixtureRequest, samples_dir: Path) -> None:
    """The legacy samples in one store, their SDK-style twins in another: every node's latency and
    every execution's duration agree (the SDK store has the nested workflows' spans besides)."""
    if backend == "sqlite":
        urls = [f"sqlite:///{tmp_path / 'legacy.db'}", f"sqlite:///{tmp_path / 'sdk.db'}"]
    else:
        server = request.getfixturevalue("postgres_server")
        urls = [server.create_database(), server.create_database()]
    legacy, sdk = (Recorder(url) for url in urls)
    for name in SAMPLE_NAMES:
        legacy.ingest(str(samples_dir / f"{name}.ndjson"), request=load_truth(samples_dir, name)["request"])
        sdk.ingest(str(SDK_SAMPLES / f"{name}.ndjson"))
    by_node = {row["node_id"]: row for row in legacy.latency("node").to_dicts()}
    sdk_by_node = {row["node_id"]: row for row in sdk.latency("node").to_dicts() if row["node_id"] in by_node}
    assert set(sdk_by_node) == set(by_node)
    for node_id, row in by_node.items():
        other = sdk_by_node[node_id]
        assert other["count"] == row["count"]
        for column in ("mean_ms", "p50_ms", "p95_ms", "max_ms"):
            assert other[column] == pytest.approx(row[column]), (node_id, column)
    durations = dict(zip(*legacy.executions().select("execution_id", "duration_ms").to_dict(as_series=False).values()))
    sdk_durations = dict(zip(*sdk.executions().select("execution_id", "duration_ms").to_dict(as_series=False).values()))
    assert sdk_durations == durations
    for recorder in (legacy, sdk):
        recorder.store.close()


@pytest.mark.parametrize("together", [False, True], ids=["one-by-one", "one-body"])
def test_lineage_comes_from_the_streams_own_previous_span_link(store: Store, samples_dir: Path, together: bool) -> None:
    """No request recorded: each SDK stream's PREVIOUS_SPAN link gives the lineage, the same as the
    legacy samples' requests give it, whether the streams come one by one or in one body."""
    bodies = [(SDK_SAMPLES / f"{name}.ndjson").read_bytes() for name in SAMPLE_NAMES]
    if together:
        ingest_chunks(store, [b"".join(bodies)], source="all")
    else:
        for name, body in zip(SAMPLE_NAMES, bodies):
            ingest_chunks(store, [body], source=name)
    recorder = Recorder(store=store)
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)["lineage"]
        lineage = recorder.lineage(truth["execution_id"]).to_dict()
        for key in ("root_execution_id", "ancestors", "descendants", "missing", "cycle", "depth", "children"):
            assert lineage[key] == truth[key], (name, key)


def test_each_run_is_named_by_its_node_class_however_it_is_folded(store: Store) -> None:
    """The name comes from the events' definitions: kept at ingest (line by line or in one batch)
    and found again by the timeline's own fold of the stored text."""
    stream = nested_stream(True)
    record_in_batches(store, stream.line_bytes(), set(range(len(stream.lines))))
    names = {span.node_result_id: span.node_name for span in Recorder(store=store).timeline(stream.execution_id).spans}
    assert names == {stream.span("sub"): "SubNode", stream.span("inner"): "Nested", stream.span("a"): "ANode", stream.span("b"): "BNode"}
    assert {row.node_result_id: row.node_name for row in store.spans(stream.execution_id)} == names


def test_fleet_work_leaves_out_the_time_paused(store: Store) -> None:
    """`--metric work` is the duration less the time paused, for runs and whole executions; the
    fleet's node_spans view names each v2 run's node."""
    stream = paused_stream()
    ingest_chunks(store, [stream.body()], source="paused")
    recorder = Recorder(store=store)
    by_node = {row["node_id"]: row for row in recorder.latency("node", metric="work").to_dicts()}
    ask_id = json.loads(stream.lines[1])["body"]["node_definition"]["id"]
    assert by_node[ask_id]["max_ms"] == 190.0
    assert recorder.latency("node", metric="duration").filter(pl.col("node_id") == ask_id)["max_ms"].item() == 5190.0
    whole = recorder.latency("deployment", metric="work").to_dicts()
    assert [(row["deployment"], row["max_ms"]) for row in whole] == [("sdk-demo", 450.0)]
    names = recorder.sql("SELECT node_name, waiting_ms FROM node_spans ORDER BY start_us").rows()
    assert names == [("AskNode", 5000.0), ("AnswerNode", 0.0)]
