"""Node spans kept at ingest (recorder.store.span_upkeep) equal the spans the timeline derives from
the raw events, on both engines, however the stream is cut into batches and recordings.

The timeline is the contract (its rules are checked against the samples' truth files); these tests
hold the store's `node_spans` rows and the executions' span aggregates to it: for the 30 samples and
hand-built awkward streams, split into random batches (hypothesis), interleaved with other
executions, recorded again, cut and completed later, and with a conflicting line that leaves a gap.
Also the change cursor every write carries.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.api import Recorder
from recorder.model.lines import RawLine
from recorder.model.spans import fold_events
from recorder.store import Store
from recorder.store.event_rows import EVENT_COLUMNS
from recorder.store.span_rows import SPAN_COLUMNS
from recorder.stream.ingest import ingest_arriving_chunks, ingest_chunks
from tests.test_analytics_timeline import StreamBuilder
from tests.test_samples import SAMPLE_NAMES, load_truth

_COMPARED = (
    "node_id", "node_type", "state", "start_us", "end_us", "first_output_us", "streaming_events", "source_execution_id",
    "error_code", "start_pos", "end_pos", "parent_node_result_id", "depth", "ts_less", "first_output_ts_less",
    "paused_us", "node_name",
)
_ERROR = {"message": "boom", "code": "NODE_EXECUTION"}
_USAGE = {"execution_meta": {"model_name": "gpt-4o", "usage": {"input_token_count": 120, "output_token_count": 30},
                             "cost": {"value": 0.0125, "unit": "USD"}}}


def awkward_streams() -> list[StreamBuilder]:
    """Streams that stress the span rules: null ts, cut runs, lost INITIATED lines, loops, equal
    times, rejections with and without payload, containers named before and after their children."""
    return [
        StreamBuilder().workflow("INITIATED", 0)  # null ts on every node event: receive times stand in
        .node("n", "INITIATED", None, received_ms=3).node("n", "STREAMING", None, received_ms=4)
        .node("n", "FULFILLED", None, received_ms=9).workflow("FULFILLED", 10),
        StreamBuilder().workflow("INITIATED", 0)  # cut: an open run whose last event is STREAMING
        .node("p", "INITIATED", 1, node_type="PROMPT").node("p", "STREAMING", 2, node_type="PROMPT"),
        StreamBuilder().workflow("INITIATED", 0)  # a run that only ever streamed (its INITIATED was lost)
        .node("q", "STREAMING", 5, node_type="MAP").node("q", "FULFILLED", 8, node_type="MAP").workflow("FULFILLED", 9),
        StreamBuilder().workflow("INITIATED", 0)  # a loop, equal timestamps and a rejection without payload
        .run("i0", 1, 1, node_id="body").run("i1", 1, 1, node_id="body")
        .node("x", "INITIATED", 2, node_type=None).node("x", "REJECTED", 3, node_type=None, error=_ERROR)
        .workflow("REJECTED", 4, error=_ERROR),
        StreamBuilder().workflow("INITIATED", 0)  # parallel branches, PROMPT usage and cost, a late INITIATED
        .node("a", "INITIATED", 1, node_type="PROMPT").node("b", "INITIATED", 1, node_type="PROMPT")
        .node("a", "STREAMING", 2, node_type="PROMPT").node("b", "FULFILLED", 5, node_type="PROMPT", payload=_USAGE)
        .node("c", "STREAMING", 6).node("c", "INITIATED", 4).node("c", "FULFILLED", 7)
        .node("a", "FULFILLED", 8, node_type="PROMPT", payload=_USAGE).node("a", "FULFILLED", 9, node_type="PROMPT", payload=_USAGE)
        .workflow("FULFILLED", 10),
        StreamBuilder().workflow("INITIATED", 0)  # a subworkflow whose child's runs come before it names the child
        .run("inner", 2, 3, source="child-1")
        .node("sub", "INITIATED", 1, node_type="SUBWORKFLOW")
        .node("sub", "STREAMING", 4, node_type="SUBWORKFLOW", payload={"execution_id": "child-1"})
        .run("map", 5, 9, node_type="MAP", source="child-1", payload={"execution_ids": ["it-0", "it-1"]})
        .run("it", 6, 7, source="it-0").run("it2", 6, 8, source="it-1", node_id="node-it")
        .node("sub", "FULFILLED", 10, node_type="SUBWORKFLOW").workflow("FULFILLED", 11),
        StreamBuilder().workflow("INITIATED", 0)  # a run whose type changes midway: its first type decides
        .node("m", "INITIATED", 1, node_type="TEMPLATING", payload={"execution_id": "kid-a"})
        .node("m", "STREAMING", 2, node_type="MAP", payload={"execution_ids": ["kid-b"]})
        .node("m", "FULFILLED", 3, node_type="TEMPLATING", payload={"execution_id": "kid-c"})
        .run("k", 1.5, 2.5, source="kid-c").run("kb", 1.5, 2.5, source="kid-b").workflow("FULFILLED", 4),
        _with_orphan(StreamBuilder().workflow("INITIATED", 0)  # a node line without a run id, a rejected PROMPT
                     .node("r", "INITIATED", 1, node_type="PROMPT").node("r", "REJECTED", 2, node_type="PROMPT", error=_ERROR)),
    ]


def _with_orphan(stream: StreamBuilder) -> StreamBuilder:
    line = {"execution_id": stream.execution_id, "type": "NODE", "data": {"id": str(uuid.uuid4()), "state": "STREAMING"}}
    stream.lines.append((json.dumps(line), None))
    return stream


def sample_bodies(samples_dir: Path) -> list[tuple[list[bytes], dict]]:
    """Each sample's lines and its request."""
    return [
        ((samples_dir / f"{name}.ndjson").read_bytes().splitlines(), load_truth(samples_dir, name)["request"])
        for name in SAMPLE_NAMES
    ]


def assert_spans_match_timelines(store: Store, execution_ids: list[str]) -> None:
    """Every stored span equals the timeline's, field by field; the aggregates equal the fold's."""
    recorder = Recorder(store=store)
    for execution_id in execution_ids:
        expected = {span.node_result_id: span for span in recorder.timeline(execution_id).spans}
        stored = {row.node_result_id: row for row in store.spans(execution_id)}
        assert set(stored) == set(expected), execution_id
        for key, span in expected.items():
            row = stored[key]
            actual = {name: getattr(row, name) for name in _COMPARED if name != "ts_less"}
            actual["ts_less"] = row.start_ts_less or row.end_ts_less
            assert actual == {name: getattr(span, name) for name in _COMPARED}, (execution_id, key)
        events = [(e.position, e.type, e.state, e.ts_us, e.received_at_us, e.node_id, e.node_result_id, e.node_type,
                   e.source_execution_id, e.raw) for e in store.execution_events(execution_id)]
        totals = fold_events(execution_id, events).totals()
        execution = store.execution(execution_id)
        assert (execution.span_count, execution.prompt_input_tokens, execution.prompt_output_tokens, execution.first_output_us) == (
            totals.span_count, totals.prompt_input_tokens, totals.prompt_output_tokens, totals.first_output_us
        ), execution_id
        assert execution.prompt_cost_usd == pytest.approx(totals.prompt_cost_usd), execution_id


def record_in_batches(store: Store, lines: list[bytes], cuts: set[int], request: dict | None = None) -> None:
    """One recording of `lines`, committed at each cut (and at the end)."""
    writer = store.writer(source="test", request=request or {"workflow_deployment_name": "upkeep", "inputs": []})
    for position, line in enumerate(lines):
        writer.add(RawLine(position, line), autoflush=False)
        if position in cuts:
            writer.flush()
    writer.finish()


def stored_rows(store: Store, execution_ids: list[str]) -> dict[tuple[str, str], tuple]:
    """The spans as plain tuples (without the change cursor): what idempotence compares."""
    return {
        (row.execution_id, row.node_result_id): tuple(getattr(row, name) for name in SPAN_COLUMNS if name != "change_seq")
        for execution_id in execution_ids
        for row in store.spans(execution_id)
    }


def builder_lines(stream: StreamBuilder) -> list[bytes]:
    return [line.encode() for line, _ in stream.lines]


# -- the samples and the awkward cases -------------------------------------------------------------------------


def test_every_sample_and_awkward_stream_gets_the_timelines_spans(store: Store, samples_dir: Path) -> None:
    ids = []
    for lines, request in sample_bodies(samples_dir):
        ingest_chunks(store, [b"\n".join(lines) + b"\n"], source="sample", request=request)
        ids.append(json.loads(lines[0])["execution_id"])
    for stream in awkward_streams():
        ids.append(stream.record(store))
    assert_spans_match_timelines(store, ids)
    assert sum(len(store.spans(execution_id)) for execution_id in ids) > 250


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_batch_boundaries_and_interleaving_give_the_same_spans(store: Store, samples_dir: Path, data: st.DataObject) -> None:
    """A body of several executions, their lines interleaved at random (each keeps its order), is
    committed in random batches: the spans are those of the timeline, whatever the boundaries."""
    store.wipe()
    streams = [builder_lines(stream) for stream in awkward_streams()]
    picked = data.draw(st.lists(st.sampled_from(range(len(SAMPLE_NAMES))), min_size=1, max_size=3, unique=True), label="samples")
    streams += [(samples_dir / f"{SAMPLE_NAMES[index]}.ndjson").read_bytes().splitlines() for index in picked]
    seed = data.draw(st.integers(0, 2**32 - 1), label="interleaving")
    body = interleave(streams, random.Random(seed))
    cuts = set(data.draw(st.lists(st.integers(0, len(body) - 1), max_size=12), label="cuts"))
    record_in_batches(store, body, cuts)
    assert_spans_match_timelines(store, _execution_ids(body))


def test_the_live_consumer_keeps_spans_as_lines_arrive(store: Store, samples_dir: Path) -> None:
    """Lines committed within the live flush window (several flushes per run) give the same spans."""
    lines, request = sample_bodies(samples_dir)[3]
    chunks = [line + b"\n" for line in lines]
    ingest_arriving_chunks(store, iter(chunks), source="live", request=request)
    assert_spans_match_timelines(store, _execution_ids(lines))


# -- idempotence and recordings that overlap -------------------------------------------------------------------


def test_recording_the_same_body_again_changes_no_span(store: Store, samples_dir: Path) -> None:
    lines, request = sample_bodies(samples_dir)[7]
    body = b"\n".join(lines) + b"\n"
    ingest_chunks(store, [body], source="first", request=request)
    ids = _execution_ids(lines)
    before, cursor = stored_rows(store, ids), {row.change_seq for i in ids for row in store.spans(i)}
    # The same body again (recognised), and the same lines framed differently (blank lines between).
    ingest_chunks(store, [body], source="again", request=request)
    ingest_chunks(store, [b"\n\n".join(lines) + b"\n"], source="reframed", request=request)
    assert stored_rows(store, ids) == before
    assert {row.change_seq for i in ids for row in store.spans(i)} == cursor  # not even rewritten
    assert {store.execution(i).change_seq for i in ids} == cursor  # nor the executions: readers pull nothing


def test_a_cut_copy_then_the_full_stream_equal_the_full_stream_alone(store: Store, samples_dir: Path) -> None:
    lines, request = sample_bodies(samples_dir)[12]
    ids = _execution_ids(lines)
    cut = len(lines) // 2
    ingest_chunks(store, [b"\n".join(lines[:cut]) + b"\n"], source="cut", request=request)
    assert_spans_match_timelines(store, ids)
    ingest_chunks(store, [b"\n".join(lines) + b"\n"], source="full", request=request)
    assert_spans_match_timelines(store, ids)
    after_both = stored_rows(store, ids)
    # The full stream after the cut copy, and a cut copy after the full stream, change nothing more.
    ingest_chunks(store, [b"\n".join(lines[: cut - 3]) + b"\n"], source="cut again", request=request)
    assert stored_rows(store, ids) == after_both
    store.wipe()
    ingest_chunks(store, [b"\n".join(lines) + b"\n"], source="full only", request=request)
    assert stored_rows(store, ids) == after_both


def test_a_conflicting_line_is_kept_aside_and_the_spans_follow_what_was_stored(store: Store) -> None:
    """A second body of the same execution with a different line at a stored seq: that line is a
    conflict (kept as a reject); the spans stay those of the stored events."""
    stream = awkward_streams()[4]
    lines = builder_lines(stream)
    ingest_chunks(store, [b"\n".join(lines[:5]) + b"\n"], source="first")
    changed = json.loads(lines[3])
    changed["data"]["id"] = str(uuid.uuid4())
    other = lines[:3] + [json.dumps(changed).encode()] + lines[4:]
    result = ingest_chunks(store, [b"\n".join(other) + b"\n"], source="second")
    assert result.rejects == 1
    assert_spans_match_timelines(store, [stream.execution_id])


def test_rows_that_do_not_continue_the_stored_fold_refold_the_execution(store: Store) -> None:
    """The upkeep never folds rows onto spans they do not continue (a concurrent writer got there
    first): it folds the execution again from every stored event."""
    from recorder.store.executions import stored_executions
    from recorder.store.span_upkeep import SpanUpkeep

    stream = awkward_streams()[4]
    lines = builder_lines(stream)
    ingest_chunks(store, [b"\n".join(lines) + b"\n"], source="whole")
    expected = stored_rows(store, [stream.execution_id])
    with store.engine.begin() as connection:
        stored = stored_executions(connection, [stream.execution_id])
        upkeep = SpanUpkeep(store.backend)
        late = [event for event in store.events(stream.execution_id) if event.seq >= 7]
        rows = [tuple(getattr(event, name) for name in EVENT_COLUMNS) for event in late]
        upkeep.fold(connection, rows, stored, change_seq=store.change_state().change_seq)
    assert stored_rows(store, [stream.execution_id]) == expected
    assert_spans_match_timelines(store, [stream.execution_id])


def test_executions_of_a_long_bulk_body_cross_batch_boundaries(store: Store, samples_dir: Path) -> None:
    """A bulk body whose batches end mid-execution (50 lines per flush here)."""
    from recorder.store import FlushPolicy

    body = [line for lines, _ in sample_bodies(samples_dir)[:10] for line in lines]
    ingest_chunks(store, [b"\n".join(body) + b"\n"], source="bulk", policy=FlushPolicy(max_events=50, max_delay_s=None))
    assert_spans_match_timelines(store, _execution_ids(body))


def test_large_batches_take_the_bulk_upsert_path(store: Store, samples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many spans per flush (PostgreSQL COPYs them through a staging table past a threshold,
    lowered here so the samples cross it), some of them updates of runs an earlier flush wrote."""
    from recorder.store import FlushPolicy

    if store.dialect == "postgresql":
        monkeypatch.setattr(type(store.backend), "SMALL_SPAN_BATCH", 20)
    body = [line for lines, _ in sample_bodies(samples_dir) for line in lines]
    ingest_chunks(store, [b"\n".join(body) + b"\n"], source="bulk", policy=FlushPolicy(max_events=len(body) // 3, max_delay_s=None))
    assert_spans_match_timelines(store, _execution_ids(body))


def test_spans_off_leaves_the_table_empty_for_the_benchmark_baseline(store: Store, samples_dir: Path) -> None:
    lines, request = sample_bodies(samples_dir)[0]
    ingest_chunks(store, [b"\n".join(lines) + b"\n"], source="plain", request=request, spans=False)
    execution_id = _execution_ids(lines)[0]
    assert store.spans(execution_id) == [] and store.execution(execution_id).span_count == 0


# -- the change cursor ---------------------------------------------------------------------------------------


def test_every_flush_takes_the_next_change_and_stamps_what_it_wrote(store: Store) -> None:
    start = store.change_state()
    stream = awkward_streams()[4]
    lines = builder_lines(stream)
    record_in_batches(store, lines, cuts={2, 6})  # three flushes: two at the cuts, one in finish()
    state = store.change_state()
    assert state.store_id == start.store_id and state.change_seq == start.change_seq + 3
    events = store.events(stream.execution_id)
    assert [event.change_seq - start.change_seq for event in events] == [1] * 3 + [2] * 4 + [3] * (len(lines) - 7)
    spans = {row.node_result_id: row.change_seq - start.change_seq for row in store.spans(stream.execution_id)}
    assert spans == {"a": 3, "b": 2, "c": 3}
    assert store.execution(stream.execution_id).change_seq - start.change_seq == 3


def test_wiping_the_store_makes_it_a_new_store_to_readers(store: Store) -> None:
    StreamBuilder().workflow("INITIATED", 0).workflow("FULFILLED", 1).record(store)
    before = store.change_state()
    store.wipe()
    after = store.change_state()
    assert after.store_id != before.store_id and after.change_seq == 0


def test_span_row_layout_matches_the_table(store: Store) -> None:
    from recorder.store.schema import NodeSpan

    assert SPAN_COLUMNS == tuple(column.name for column in NodeSpan.__table__.columns)


def interleave(streams: list[list[bytes]], rng: random.Random) -> list[bytes]:
    queues = [list(lines) for lines in streams if lines]
    body = []
    while queues:
        queue = rng.choice(queues)
        body.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return body


def _execution_ids(lines: list[bytes]) -> list[str]:
    ids: dict[str, None] = {}
    for line in lines:
        try:
            execution_id = json.loads(line).get("execution_id")
        except ValueError:
            continue
        if isinstance(execution_id, str):
            ids[execution_id] = None
    return list(ids)
