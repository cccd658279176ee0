"""Timelines: one span per node run, overhead and critical path, against the samples' truth and
hand-built streams with the awkward cases (parallel branches, equal timestamps, null ts, loops,
nesting, cut streams). Every store-backed test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recorder.analytics.intervals import Interval, covered_us, critical_path, overlap_counts, peak_concurrency
from recorder.api import ExecutionNotFound, Recorder
from recorder.model.lines import RawLine
from recorder.model.timestamps import us_to_iso
from recorder.store import Store
from tests.conftest import BACKENDS
from tests.test_samples import SAMPLE_NAMES, ingest_all_samples, load_truth

T0 = 1_750_000_000_000_000  # epoch microseconds of every hand-built stream's start

SPAN_KEYS = ("node_id", "node_result_id", "state", "duration_ms", "first_output_ms", "streaming_events",
             "source_execution_id", "error_code", "open", "start_us", "end_us", "start_pos", "end_pos", "depth",
             "ts_less", "first_output_ts_less")


# -- hand-built streams --------------------------------------------------------------------------------


class StreamBuilder:
    """Wire-format lines for one execution; times are milliseconds after T0 (None: ts null)."""

    def __init__(self, execution_id: str | None = None) -> None:
        self.execution_id = execution_id or str(uuid.uuid4())
        self.lines: list[tuple[str, int | None]] = []  # (line, received_at_us or None)

    def workflow(self, state: str, at_ms: float, **data: Any) -> StreamBuilder:
        body = {"id": str(uuid.uuid4()), "state": state, "ts": _ts(at_ms), **data}
        return self._add({"execution_id": self.execution_id, "type": "WORKFLOW", "data": body})

    def node(
        self, run: str, state: str, at_ms: float | None, *, node_id: str | None = None, node_type: str | None = "TEMPLATING",
        source: str | None = None, payload: dict | None = None, received_ms: float | None = None, **extra: Any,
    ) -> StreamBuilder:
        data = {
            "id": str(uuid.uuid4()), "node_id": node_id or f"node-{run}", "node_result_id": run, "state": state,
            "ts": None if at_ms is None else _ts(at_ms),
            "data": None if node_type is None else {"type": node_type, "data": payload or {}},
            "source_execution_id": source, **extra,
        }
        received = None if received_ms is None else T0 + int(received_ms * 1000)
        return self._add({"execution_id": self.execution_id, "type": "NODE", "data": data}, received)

    def run(self, run: str, start_ms: float, end_ms: float, **options: Any) -> StreamBuilder:
        """An INITIATED and a FULFILLED event for one node run."""
        return self.node(run, "INITIATED", start_ms, **options).node(run, "FULFILLED", end_ms, **options)

    def record(self, store: Store, request: dict | None = None) -> str:
        """Through the real writer, with the given receive times (or 'now' for the others)."""
        writer = store.writer(source="test", request=request or {"workflow_deployment_name": "builder", "inputs": []})
        for position, (line, received) in enumerate(self.lines):
            writer.add(RawLine(position, line.encode()), received_at_us=received)
        writer.finish()
        return self.execution_id

    def _add(self, event: dict, received: int | None = None) -> StreamBuilder:
        self.lines.append((json.dumps(event), received))
        return self


def _ts(at_ms: float) -> str:
    return us_to_iso(T0 + int(round(at_ms * 1000)))


def us(at_ms: float) -> int:
    return T0 + int(round(at_ms * 1000))


@pytest.fixture
def recorder(store: Store) -> Iterator[Recorder]:
    yield Recorder(store=store)


@pytest.fixture(scope="module", params=BACKENDS)
def sample_recorder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Iterator[Recorder]:
    """The 30 samples recorded once per backend for the read-only tests of this module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('samples') / 'samples.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    recorder = Recorder(url)
    ingest_all_samples(recorder.store, samples_dir)
    yield recorder
    recorder.close()


# -- the samples' truth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_spans_match_truth(sample_recorder: Recorder, samples_dir: Path, name: str) -> None:
    truth = load_truth(samples_dir, name)["timeline"]
    timeline = sample_recorder.timeline(truth["execution_id"]).to_dict()
    assert [span["node_result_id"] for span in timeline["spans"]] == [span["node_result_id"] for span in truth["spans"]]
    for actual, expected in zip(timeline["spans"], truth["spans"]):
        assert {key: actual[key] for key in SPAN_KEYS} == {key: expected[key] for key in SPAN_KEYS}
        # node_type is what the wire said: a run that failed before sending a payload has none.
        assert actual["node_type"] == expected["node_type_on_wire"]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_overhead_and_critical_path_match_truth(sample_recorder: Recorder, samples_dir: Path, name: str) -> None:
    truth = load_truth(samples_dir, name)["timeline"]
    timeline = sample_recorder.timeline(truth["execution_id"]).to_dict()
    assert timeline["critical_path"] == truth["critical_path"]
    assert timeline["overhead_ms"] == pytest.approx(truth["overhead_ms"], abs=1e-9)
    assert (timeline["status"], timeline["duration_ms"], timeline["exact"]) == (truth["status"], truth["duration_ms"], truth["exact"])


def test_timeline_json_has_the_contract_keys(sample_recorder: Recorder, samples_dir: Path) -> None:
    timeline = sample_recorder.timeline(load_truth(samples_dir, "exec_0003")["execution_id"]).to_dict()
    assert {"execution_id", "status", "started_at", "ended_at", "duration_ms", "overhead_ms", "critical_path", "spans"} <= timeline.keys()
    contract = {"node_id", "node_result_id", "node_type", "state", "start", "end", "duration_ms", "first_output_ms",
                "streaming_events", "source_execution_id", "error_code", "open"}
    assert all(contract <= span.keys() for span in timeline["spans"])
    assert timeline["started_at"].endswith("+00:00")


def test_critical_path_share_is_its_time_over_the_execution_time(sample_recorder: Recorder, samples_dir: Path) -> None:
    timeline = sample_recorder.timeline(load_truth(samples_dir, "exec_0003")["execution_id"])
    chain = [timeline.span(key) for key in timeline.critical_path]
    assert timeline.critical_path_ms == pytest.approx(sum(span.duration_ms for span in chain))
    assert timeline.critical_path_share == pytest.approx(timeline.critical_path_ms / timeline.duration_ms)


def test_timeline_accepts_a_unique_prefix(sample_recorder: Recorder, samples_dir: Path) -> None:
    execution_id = load_truth(samples_dir, "exec_0005")["execution_id"]
    assert sample_recorder.timeline(execution_id[:8]).execution_id == execution_id


def test_timeline_of_an_unknown_execution_raises_not_found(sample_recorder: Recorder) -> None:
    with pytest.raises(ExecutionNotFound):
        sample_recorder.timeline("no-such-execution")


def test_timeline_frame_has_one_row_per_span_with_utc_times(sample_recorder: Recorder, samples_dir: Path) -> None:
    timeline = sample_recorder.timeline(load_truth(samples_dir, "exec_0022")["execution_id"])
    frame = timeline.frame()
    assert frame.height == len(timeline.spans)
    assert frame["node_result_id"].to_list() == [span.node_result_id for span in timeline.spans]
    assert str(frame.schema["start"]) == "Datetime(time_unit='us', time_zone='UTC')"
    assert frame.filter(frame["on_critical_path"]).height == len(timeline.critical_path)


# -- hand-built edge cases -----------------------------------------------------------------------------------


def test_parallel_branches_overlap_and_leave_only_the_gaps_as_overhead(store: Store, recorder: Recorder) -> None:
    execution_id = (
        StreamBuilder().workflow("INITIATED", 0)
        .node("a", "INITIATED", 10).node("b", "INITIATED", 20)
        .node("a", "FULFILLED", 100).node("b", "FULFILLED", 150)
        .workflow("FULFILLED", 200)
        .record(store)
    )
    timeline = recorder.timeline(execution_id)
    assert timeline.overhead_ms == pytest.approx(10 + 50)  # 0-10 before a, 150-200 after b
    assert [span.overlaps for span in timeline.spans] == [1, 1]
    assert timeline.max_concurrency == 2
    assert timeline.critical_path == ("b",)


def test_equal_start_timestamps_keep_stream_order(store: Store, recorder: Recorder) -> None:
    execution_id = (
        StreamBuilder().workflow("INITIATED", 0)
        .node("second-listed", "INITIATED", 10).node("first-listed", "INITIATED", 5).node("third-listed", "INITIATED", 10)
        .node("second-listed", "FULFILLED", 20).node("first-listed", "FULFILLED", 20).node("third-listed", "FULFILLED", 20)
        .workflow("FULFILLED", 30)
        .record(store)
    )
    spans = recorder.timeline(execution_id).spans
    assert [span.node_result_id for span in spans] == ["first-listed", "second-listed", "third-listed"]


def test_critical_path_takes_the_span_reported_later_when_ends_tie(store: Store, recorder: Recorder) -> None:
    execution_id = (
        StreamBuilder().workflow("INITIATED", 0)
        .node("early", "INITIATED", 5).node("long", "INITIATED", 1)
        .node("long", "FULFILLED", 50).node("early", "FULFILLED", 50)
        .workflow("FULFILLED", 60)
        .record(store)
    )
    assert recorder.timeline(execution_id).critical_path == ("early",)


def test_critical_path_steps_back_through_the_chain_of_dependencies(store: Store, recorder: Recorder) -> None:
    execution_id = (
        StreamBuilder().workflow("INITIATED", 0)
        .run("fetch", 1, 40).run("side", 2, 30).run("think", 41, 90).run("answer", 91, 95)
        .workflow("FULFILLED", 100)
        .record(store)
    )
    timeline = recorder.timeline(execution_id)
    assert timeline.critical_path == ("fetch", "think", "answer")
    assert timeline.critical_path_ms == pytest.approx(39 + 49 + 4)


def test_null_node_ts_falls_back_to_the_received_time(store: Store, recorder: Recorder) -> None:
    execution_id = (
        StreamBuilder().workflow("INITIATED", 0)
        .node("late-clock", "INITIATED", None, received_ms=12)
        .node("late-clock", "FULFILLED", None, received_ms=42)
        .workflow("FULFILLED", 50)
        .record(store)
    )
    timeline = recorder.timeline(execution_id)
    [span] = timeline.spans
    assert (span.start_us, span.end_us, span.duration_ms) == (us(12), us(42), 30.0)
    assert span.ts_less and not timeline.exact


def test_a_node_run_repeated_in_a_loop_gives_one_span_per_run(store: Store, recorder: Recorder) -> None:
    builder = StreamBuilder().workflow("INITIATED", 0)
    for index in range(3):
        builder.run(f"iteration-{index}", 10 + index * 20, 25 + index * 20, node_id="the-loop-body")
    execution_id = builder.workflow("FULFILLED", 100).record(store)
    spans = recorder.timeline(execution_id).spans
    assert [(span.node_id, span.node_result_id, span.duration_ms) for span in spans] == [
        ("the-loop-body", "iteration-0", 15.0), ("the-loop-body", "iteration-1", 15.0), ("the-loop-body", "iteration-2", 15.0)
    ]


def test_subworkflow_and_map_children_nest_under_their_container(store: Store, recorder: Recorder) -> None:
    execution_id = (
        StreamBuilder().workflow("INITIATED", 0)
        .node("sub", "INITIATED", 1, node_type="SUBWORKFLOW", payload={"execution_id": "child-1"})
        .run("inner-map", 2, 60, node_type="MAP", source="child-1", payload={"execution_ids": ["it-0", "it-1"]})
        .run("in-iteration-0", 3, 20, source="it-0")
        .run("in-iteration-1", 4, 30, source="it-1")
        .node("sub", "FULFILLED", 70, node_type="SUBWORKFLOW", payload={"execution_id": "child-1"})
        .workflow("FULFILLED", 80)
        .record(store)
    )
    spans = {span.node_result_id: span for span in recorder.timeline(execution_id).spans}
    assert {key: (span.parent_node_result_id, span.depth) for key, span in spans.items()} == {
        "sub": (None, 0), "inner-map": ("sub", 1), "in-iteration-0": ("inner-map", 2), "in-iteration-1": ("inner-map", 2)
    }


def test_a_nested_run_whose_container_never_named_it_sits_one_level_down(store: Store, recorder: Recorder) -> None:
    execution_id = StreamBuilder().workflow("INITIATED", 0).run("orphan", 1, 2, source="unknown-child").workflow("FULFILLED", 3).record(store)
    [span] = recorder.timeline(execution_id).spans
    assert (span.parent_node_result_id, span.depth) == (None, 1)


def test_a_cut_stream_leaves_open_spans_running_to_its_last_event(store: Store, recorder: Recorder) -> None:
    execution_id = (
        StreamBuilder().workflow("INITIATED", 0)
        .run("done", 5, 20)
        .node("prompt", "INITIATED", 25, node_type="PROMPT")
        .node("prompt", "STREAMING", 40, node_type="PROMPT", payload={"delta": "Hel"})
        .record(store)  # no terminal NODE or WORKFLOW event: the stream was cut here
    )
    timeline = recorder.timeline(execution_id)
    prompt = timeline.span("prompt")
    assert (timeline.status, timeline.ended_at_us, timeline.duration_ms) == ("INCOMPLETE", None, None)
    assert (prompt.open, prompt.state, prompt.end_us, prompt.duration_ms) == (True, "STREAMING", None, None)
    assert timeline.horizon_us == us(40)
    assert timeline.overhead_ms == pytest.approx(5 + 5)  # 0-5 and 20-25; the open prompt covers 25-40
    assert timeline.critical_path == ("done", "prompt")
    assert timeline.to_dict()["spans"][-1]["open"] is True


def test_streaming_events_are_counted_and_time_to_first_output_measured(store: Store, recorder: Recorder) -> None:
    builder = StreamBuilder().workflow("INITIATED", 0).node("p", "INITIATED", 10, node_type="PROMPT")
    for at in (250, 260, 275):
        builder.node("p", "STREAMING", at, node_type="PROMPT", payload={"delta": "x"})
    execution_id = builder.node("p", "FULFILLED", 300, node_type="PROMPT").workflow("FULFILLED", 310).record(store)
    [span] = recorder.timeline(execution_id).spans
    assert (span.streaming_events, span.first_output_ms, span.duration_ms) == (3, 240.0, 290.0)


def test_a_rejected_run_reports_its_error_code(store: Store, recorder: Recorder) -> None:
    error = {"message": "boom", "code": "NODE_TIMEOUT", "raw_data": None, "stacktrace": None}
    execution_id = (
        StreamBuilder().workflow("INITIATED", 0)
        .node("api", "INITIATED", 1, node_type=None).node("api", "REJECTED", 9, node_type=None, error=error)
        .workflow("REJECTED", 10, error=error)
        .record(store)
    )
    [span] = recorder.timeline(execution_id).spans
    assert (span.state, span.error_code, span.node_type) == ("REJECTED", "NODE_TIMEOUT", None)


def test_an_execution_without_node_events_has_no_spans_and_is_all_overhead(store: Store, recorder: Recorder) -> None:
    execution_id = StreamBuilder().workflow("INITIATED", 0).workflow("FULFILLED", 25).record(store)
    timeline = recorder.timeline(execution_id)
    assert (timeline.spans, timeline.critical_path, timeline.overhead_ms) == ((), (), 25.0)


# -- interval rules, without a store ---------------------------------------------------------------------------


def test_critical_path_never_loops_on_zero_length_spans_at_the_same_instant() -> None:
    spans = [Interval(f"z{index}", 100, 100, index) for index in range(5)]
    assert [item.key for item in critical_path(spans, 100)] == ["z0", "z1", "z2", "z3", "z4"]


def test_covered_time_is_the_union_clipped_to_the_window() -> None:
    spans = [Interval("a", 0, 50, 0), Interval("b", 40, 60, 1), Interval("c", 80, 200, 2)]
    assert covered_us(spans, 10, 100) == (60 - 10) + (100 - 80)


def test_touching_spans_do_not_overlap() -> None:
    spans = [Interval("a", 0, 10, 0), Interval("b", 10, 20, 1), Interval("c", 5, 15, 2)]
    assert overlap_counts(spans) == {"a": 1, "b": 1, "c": 2}
    assert peak_concurrency(spans) == 2


def test_a_zero_length_span_inside_another_overlaps_nothing_either_way() -> None:
    spans = [Interval("long", 0, 100, 0), Interval("instant", 50, 50, 1), Interval("other", 60, 70, 2)]
    counts = overlap_counts(spans)
    assert counts == {"long": 1, "instant": 0, "other": 1}
    # Overlap is symmetric: the sum of the counts is twice the number of overlapping pairs.
    assert sum(counts.values()) % 2 == 0
