"""Revision 0004 backfills a store made by revision 0003: the node spans and execution aggregates it
writes are the ones the span rules give for the stored events (what the timeline derives from them,
and what ingest keeps for the same bodies), on SQLite and PostgreSQL; and it comes down again.

The old store is filled the way revision-0003 code filled it, with plain Core inserts of the rows
its writer made (today's writer writes 0004 columns): the 30 shared samples and hand-built streams
with the awkward cases. Every line is given a fixed receive time, so a store that ingests the same
bodies today can be compared row for row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, func, insert, inspect, select

from recorder.api import Recorder
from recorder.analytics.timeline import Span
from recorder.model.events import ParsedEvent, parse_line
from recorder.model.facts import ExecutionFacts
from recorder.model.lines import RawLine, split_body
from recorder.model.spans import ExecutionFold, fold_events
from recorder.store import FlushPolicy, Store
from recorder.store.analytics_reads import execution_events
from recorder.store.engine import downgrade, head_revision
from recorder.store.event_rows import EVENT_COLUMNS, event_row
from recorder.store.schema import Event, Execution, NodeSpan, StoreState
from tests.test_analytics_timeline import T0, StreamBuilder
from tests.test_samples import SAMPLE_NAMES, load_truth

RECEIVED_T0 = T0 + 3_600_000_000  # receive times of lines the builder gave none: an hour later, 1 ms apart
AGGREGATES = ("span_count", "prompt_cost_usd", "prompt_input_tokens", "prompt_output_tokens", "first_output_us")
ADDED_TABLES = {"node_spans", "store_state"}
ADDED_EXECUTION_COLUMNS = {*AGGREGATES, "change_seq"}


# -- the bodies a 0003 store holds -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Body:
    """One recorded response body: its lines with their receive times, and its request."""

    name: str
    lines: tuple[tuple[RawLine, int], ...]
    request: dict[str, Any] | None = None

    @classmethod
    def of_bytes(cls, name: str, body: bytes, request: dict[str, Any] | None) -> Body:
        return cls(name, tuple((line, RECEIVED_T0 + line.position * 1000) for line in split_body(body)), request)

    @classmethod
    def of_builder(cls, name: str, builder: StreamBuilder) -> Body:
        lines = tuple(
            (RawLine(position, text.encode()), received if received is not None else RECEIVED_T0 + position * 1000)
            for position, (text, received) in enumerate(builder.lines)
        )
        return cls(name, lines, {"workflow_deployment_name": "builder", "inputs": []})


def sample_bodies(samples_dir: Path) -> list[Body]:
    return [
        Body.of_bytes(name, (samples_dir / f"{name}.ndjson").read_bytes(), load_truth(samples_dir, name)["request"])
        for name in SAMPLE_NAMES
    ]


def prompt_meta(model: str, input_tokens: int, output_tokens: int, cost: float | None, unit: str | None = "USD") -> dict:
    meta: dict[str, Any] = {"model_name": model, "usage": {"input_token_count": input_tokens, "output_token_count": output_tokens}}
    if cost is not None:
        meta["cost"] = {"value": cost, "unit": unit}
    return {"execution_meta": meta}


def edge_case_bodies() -> list[Body]:
    """Streams with every case the span rules treat specially, one execution each."""
    error = {"message": "boom", "code": "NODE_TIMEOUT", "raw_data": None, "stacktrace": None}
    cases = {
        "parallel branches": StreamBuilder().workflow("INITIATED", 0)
        .node("left", "INITIATED", 1).node("right", "INITIATED", 2).node("left", "FULFILLED", 30)
        .node("right", "FULFILLED", 40).run("join", 41, 50).workflow("FULFILLED", 55),
        "equal timestamps": StreamBuilder().workflow("INITIATED", 0)
        .run("first", 10, 20).run("second", 10, 20).run("third", 20, 20).workflow("FULFILLED", 20),
        "null node ts": StreamBuilder().workflow("INITIATED", 0)
        .node("late-clock", "INITIATED", None, received_ms=12).node("late-clock", "STREAMING", None, received_ms=20)
        .node("late-clock", "FULFILLED", 42).node("no-clock", "INITIATED", 43).node("no-clock", "FULFILLED", None, received_ms=47)
        .workflow("FULFILLED", 50),
        "map with repeated node ids": StreamBuilder().workflow("INITIATED", 0)
        .node("map", "INITIATED", 1, node_type="MAP", payload={"execution_ids": ["it-0", "it-1", "it-2"]})
        .run("body-0", 2, 10, node_id="map-body", source="it-0").run("body-1", 3, 12, node_id="map-body", source="it-1")
        .run("body-2", 4, 9, node_id="map-body", source="it-2")
        .node("map", "FULFILLED", 13, node_type="MAP", payload={"execution_ids": ["it-0", "it-1", "it-2"]})
        .workflow("FULFILLED", 14),
        "subworkflow with nested runs": StreamBuilder().workflow("INITIATED", 0)
        .node("sub", "INITIATED", 1, node_type="SUBWORKFLOW", payload={"execution_id": "child-1"})
        .run("inner-map", 2, 60, node_type="MAP", source="child-1", payload={"execution_ids": ["it-0", "it-1"]})
        .run("in-iteration-0", 3, 20, source="it-0").run("in-iteration-1", 4, 30, source="it-1")
        .run("nobody-named-me", 5, 6, source="unknown-child")
        .node("sub", "FULFILLED", 70, node_type="SUBWORKFLOW", payload={"execution_id": "child-1"})
        .workflow("FULFILLED", 80),
        "cut stream": StreamBuilder().workflow("INITIATED", 0).run("done", 5, 20)
        .node("prompt", "INITIATED", 25, node_type="PROMPT").node("prompt", "STREAMING", 40, node_type="PROMPT", payload={"delta": "Hel"}),
        "rejected node": StreamBuilder().workflow("INITIATED", 0)
        .node("api", "INITIATED", 1, node_type=None).node("api", "REJECTED", 9, node_type=None, error=error)
        .node("code", "INITIATED", 2, node_type="CODE_EXECUTION").node("code", "REJECTED", 9, node_type="CODE_EXECUTION", error=error)
        .workflow("REJECTED", 10, error=error),
        "prompts with usage and cost": StreamBuilder().workflow("INITIATED", 0).workflow("STREAMING", 3)
        .node("p1", "INITIATED", 1, node_type="PROMPT").node("p1", "STREAMING", 4, node_type="PROMPT", payload={"delta": "a"})
        .node("p1", "STREAMING", 5, node_type="PROMPT", payload={"delta": "b"})
        .node("p1", "FULFILLED", 9, node_type="PROMPT", payload=prompt_meta("gpt-4o", 120, 30, 0.0021))
        .node("p2", "INITIATED", 10, node_type="PROMPT")
        .node("p2", "FULFILLED", 19, node_type="PROMPT", payload=prompt_meta("claude", 80, 10, 0.0009))
        .node("p3", "INITIATED", 20, node_type="PROMPT")
        .node("p3", "FULFILLED", 29, node_type="PROMPT", payload=prompt_meta("local", 5, 5, 3.0, unit="EUR"))
        .node("p4", "INITIATED", 30, node_type="PROMPT").node("p4", "FULFILLED", 39, node_type="PROMPT", payload=prompt_meta("free", 7, 1, None))
        .workflow("FULFILLED", 40),
        "a run first seen after its start": StreamBuilder().workflow("INITIATED", 0)
        .node("early", "STREAMING", 5, node_type="PROMPT").node("early", "INITIATED", 2, node_type="PROMPT")
        .node("early", "FULFILLED", 9, node_type="PROMPT").workflow("FULFILLED", 10),
        # The run's type is SUBWORKFLOW; a later event that says otherwise still names children.
        "a container event under another type": StreamBuilder().workflow("INITIATED", 0)
        .node("sub", "INITIATED", 1, node_type="SUBWORKFLOW")
        .node("sub", "STREAMING", 2, node_type="TEMPLATING", payload={"execution_id": "child-2"})
        .run("inside", 3, 4, source="child-2").node("sub", "FULFILLED", 5, node_type="SUBWORKFLOW")
        .workflow("FULFILLED", 6),
        "node events without a run": StreamBuilder().workflow("INITIATED", 0)
        ._add({"execution_id": "", "type": "NODE", "data": {"id": "x", "state": "INITIATED", "ts": None}})
        .run("ok", 1, 2).workflow("FULFILLED", 3),
        "no node events": StreamBuilder().workflow("INITIATED", 0).workflow("FULFILLED", 25),
    }
    bodies = []
    for name, builder in cases.items():
        # The builder's lines name its execution; the orphan case's line is given it here.
        builder.lines = [(text.replace('"execution_id": ""', f'"execution_id": "{builder.execution_id}"'), at) for text, at in builder.lines]
        bodies.append(Body.of_builder(name, builder))
    return bodies


# -- filling a store as revision 0003 did ---------------------------------------------------------------------


@dataclass(slots=True)
class Filled:
    """What was put in the store: each body's executions, in the order they first appeared."""

    execution_ids: dict[str, list[str]] = field(default_factory=dict)

    @property
    def every_execution(self) -> list[str]:
        return [execution_id for ids in self.execution_ids.values() for execution_id in ids]


def store_at_0003(url: str) -> None:
    store = Store(url, ensure_schema=False)
    assert store.upgrade("0003") == "0003"
    store.close()


def fill_as_revision_0003(url: str, bodies: Sequence[Body]) -> Filled:
    """Insert the rows revision 0003's writer stored for `bodies`, through the tables as they are."""
    store = Store(url, ensure_schema=False)
    tables = MetaData()
    tables.reflect(store.engine, only=("recordings", "executions", "events"))
    recordings, executions, events = (tables.tables[name] for name in ("recordings", "executions", "events"))
    filled = Filled()
    with store.engine.begin() as connection:
        for body in bodies:
            recording_id = connection.execute(
                insert(recordings).values(
                    source=f"test:{body.name}", started_at_us=RECEIVED_T0, ended_at_us=RECEIVED_T0, outcome="complete",
                    line_count=len(body.lines), event_count=0, duplicate_count=0, reject_count=0, ends_with_newline=True,
                )
            ).inserted_primary_key[0]
            event_rows, facts = stored_rows(body, recording_id, set(events.columns.keys()))
            connection.execute(insert(events), event_rows)
            for item in facts.values():
                connection.execute(insert(executions).values(execution_row(item, body, recording_id, event_rows)))
            connection.execute(recordings.update().where(recordings.c.id == recording_id).values(event_count=len(event_rows)))
            filled.execution_ids[body.name] = list(facts)
    store.close()
    return filled


def stored_rows(body: Body, recording_id: int, columns: set[str]) -> tuple[list[dict[str, Any]], dict[str, ExecutionFacts]]:
    """The events rows (seq numbered per execution from 0) and execution facts of a body, as the writer
    makes them; only the columns the table has (today's event_row may carry later ones)."""
    rows: list[dict[str, Any]] = []
    facts: dict[str, ExecutionFacts] = {}
    next_seq: dict[str, int] = {}
    for line, received_at_us in body.lines:
        parsed = parse_line(line)
        assert parsed is None or isinstance(parsed, ParsedEvent), (body.name, parsed)
        if parsed is None:
            continue
        seq = next_seq.get(parsed.execution_id, 0)
        next_seq[parsed.execution_id] = seq + 1
        row = dict(zip(EVENT_COLUMNS, event_row(parsed, recording_id, received_at_us, seq), strict=False))
        rows.append({name: value for name, value in row.items() if name in columns})
        facts.setdefault(parsed.execution_id, ExecutionFacts(parsed.execution_id)).observe(parsed)
    return rows, facts


def execution_row(facts: ExecutionFacts, body: Body, recording_id: int, event_rows: list[dict[str, Any]]) -> dict[str, Any]:
    request = body.request or {}
    return {
        "execution_id": facts.execution_id,
        "recording_id": recording_id,
        "workflow_deployment_name": request.get("workflow_deployment_name"),
        "release_tag": request.get("release_tag"),
        "run_id": facts.run_id,
        "external_id": facts.external_id,
        "root_execution_id": facts.execution_id,
        "status": facts.status,
        "started_at_us": facts.start_us,
        "ended_at_us": facts.ended_at_us,
        "error_code": facts.error_code,
        "error_message": facts.error_message,
        "event_count": sum(1 for row in event_rows if row["execution_id"] == facts.execution_id),
    }


@pytest.fixture
def bodies(samples_dir: Path) -> list[Body]:
    return sample_bodies(samples_dir) + edge_case_bodies()


@pytest.fixture
def old_store(empty_database_url: str, bodies: list[Body]) -> Iterator[tuple[str, Filled]]:
    """A store made and filled by revision 0003."""
    store_at_0003(empty_database_url)
    yield empty_database_url, fill_as_revision_0003(empty_database_url, bodies)


@pytest.fixture
def migrated(old_store: tuple[str, Filled]) -> tuple[str, Filled]:
    """The old store, upgraded to head the way `recorder init` does."""
    url, filled = old_store
    with Store(url, ensure_schema=False) as store:
        assert store.upgrade() == head_revision()
    return url, filled


# -- what the store holds after the upgrade ---------------------------------------------------------------------


def span_rows(engine: Engine) -> dict[tuple[str, str], dict[str, Any]]:
    """Every node_spans row, by (execution_id, node_result_id)."""
    with engine.connect() as connection:
        rows = connection.execute(select(NodeSpan.__table__)).mappings()
        return {(row["execution_id"], row["node_result_id"]): dict(row) for row in rows}


def aggregate_rows(engine: Engine) -> dict[str, dict[str, Any]]:
    table = Execution.__table__
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.execution_id, *(table.c[name] for name in AGGREGATES)))
        return {row.execution_id: {name: getattr(row, name) for name in AGGREGATES} for row in rows}


def fold_of_stored_events(engine: Engine, execution_id: str) -> ExecutionFold:
    """The fold the timeline makes of the execution's stored events."""
    events = [
        (event.position, event.type, event.state, event.ts_us, event.received_at_us, event.node_id, event.node_result_id,
         event.node_type, event.source_execution_id, event.raw)
        for event in execution_events(engine, execution_id)
    ]
    return fold_events(execution_id, events)


def ingest_today(url: str, bodies: Sequence[Body], policy: FlushPolicy) -> None:
    """Record the bodies with today's writer (span upkeep on), each line at its receive time: one
    stream per body in the live consumer's small batches, or all bodies as one bulk stream (one
    batch of hundreds of spans: PostgreSQL upserts those through COPY)."""
    streams = [[body] for body in bodies] if policy.max_events < 1000 else [bodies]
    with Store(url) as store:
        for stream in streams:
            writer = store.writer(source="test", request=stream[0].request, policy=policy)
            lines = [line for body in stream for line in body.lines]
            for position, (line, received_at_us) in enumerate(lines):
                writer.add(RawLine(position, line.data, line.terminated), received_at_us=received_at_us)
            writer.finish()


def expected_span_rows(fold: ExecutionFold) -> dict[tuple[str, str], dict[str, Any]]:
    """Every node_spans column for each run of the fold (change_seq aside)."""
    nesting = fold.nesting()
    rows = {}
    for key, run in fold.runs.items():
        row = {name: getattr(run, name) for name in run.__slots__}
        row.update(execution_id=fold.execution_id, parent_node_result_id=nesting[key][0], depth=nesting[key][1],
                   child_execution_ids=list(run.child_execution_ids) or None)
        rows[(fold.execution_id, key)] = row
    return rows


def without(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in names}


def as_span(row: dict[str, Any]) -> Span:
    """A node_spans row as the timeline's Span (before overlaps, which only the timeline computes)."""
    return Span(
        node_id=row["node_id"], node_result_id=row["node_result_id"], node_type=row["node_type"], state=row["state"],
        start_us=row["start_us"], end_us=row["end_us"], first_output_us=row["first_output_us"],
        streaming_events=row["streaming_events"], source_execution_id=row["source_execution_id"],
        error_code=row["error_code"], start_pos=row["start_pos"], end_pos=row["end_pos"],
        parent_node_result_id=row["parent_node_result_id"], depth=row["depth"],
        ts_less=row["start_ts_less"] or row["end_ts_less"], first_output_ts_less=row["first_output_ts_less"],
    )


# -- the backfill ----------------------------------------------------------------------------------------------


def test_backfilled_spans_equal_the_spans_the_timeline_derives(migrated: tuple[str, Filled]) -> None:
    url, filled = migrated
    with Recorder(url) as recorder:
        stored = span_rows(recorder.store.engine)
        derived_count = 0
        for execution_id in filled.every_execution:
            derived = {span.node_result_id: replace(span, overlaps=0) for span in recorder.timeline(execution_id).spans}
            backfilled = {key[1]: as_span(row) for key, row in stored.items() if key[0] == execution_id}
            assert backfilled == derived, execution_id
            derived_count += len(derived)
    assert len(stored) == derived_count > 0


def test_backfilled_rows_hold_every_field_of_the_fold_of_the_stored_events(migrated: tuple[str, Filled]) -> None:
    url, filled = migrated
    with Store(url) as store:
        stored = span_rows(store.engine)
        expected: dict[tuple[str, str], dict[str, Any]] = {}
        for execution_id in filled.every_execution:
            expected |= expected_span_rows(fold_of_stored_events(store.engine, execution_id))
    assert {key: without(row, "change_seq") for key, row in stored.items()} == expected


def test_backfilled_aggregates_equal_the_totals_of_the_fold(migrated: tuple[str, Filled]) -> None:
    url, filled = migrated
    with Store(url) as store:
        stored = aggregate_rows(store.engine)
        for execution_id in filled.every_execution:
            totals = fold_of_stored_events(store.engine, execution_id).totals()
            assert stored[execution_id] == {name: getattr(totals, name) for name in AGGREGATES}, execution_id
    assert set(stored) == set(filled.every_execution)


@pytest.mark.parametrize("policy", [FlushPolicy(), FlushPolicy.bulk()], ids=["live-batches", "bulk-batches"])
def test_backfilled_rows_equal_the_rows_ingest_keeps_for_the_same_bodies(
    migrated: tuple[str, Filled], store_url: str, bodies: list[Body], policy: FlushPolicy
) -> None:
    """The backfill and the upkeep at ingest fold alike: a store migrated from 0003 and a new store
    that records the same bodies (in small live batches, or one bulk batch) hold the same rows,
    change cursor aside."""
    url, _ = migrated
    ingest_today(store_url, bodies, policy)
    with Store(url) as backfilled, Store(store_url) as ingested:
        expected = {key: without(row, "change_seq") for key, row in span_rows(ingested.engine).items()}
        assert {key: without(row, "change_seq") for key, row in span_rows(backfilled.engine).items()} == expected
        assert aggregate_rows(backfilled.engine) == aggregate_rows(ingested.engine)
        # Both read back as None in Python: no children is SQL NULL in both, not the JSON null.
        assert childless(backfilled.engine) == childless(ingested.engine) == sum(
            row["child_execution_ids"] is None for row in expected.values()
        )
    assert len(expected) > 0


def childless(engine: Engine) -> int:
    table = NodeSpan.__table__
    with engine.connect() as connection:
        return connection.execute(select(func.count()).where(table.c.child_execution_ids.is_(None))).scalar_one()


def test_the_edge_cases_come_out_as_the_span_rules_say(migrated: tuple[str, Filled]) -> None:
    """A few fields spelled out, so a rule broken the same way in fold and backfill still shows."""
    url, filled = migrated
    with Store(url) as store:
        stored = span_rows(store.engine)
        aggregates = aggregate_rows(store.engine)

    def runs(case: str) -> dict[str, dict[str, Any]]:
        [execution_id] = filled.execution_ids[case]
        return {key[1]: row for key, row in stored.items() if key[0] == execution_id}

    nested = runs("subworkflow with nested runs")
    assert {key: (row["parent_node_result_id"], row["depth"]) for key, row in nested.items()} == {
        "sub": (None, 0), "inner-map": ("sub", 1), "in-iteration-0": ("inner-map", 2), "in-iteration-1": ("inner-map", 2),
        "nobody-named-me": (None, 1),
    }
    assert nested["sub"]["child_execution_ids"] == ["child-1", "child-1"]
    assert nested["in-iteration-0"]["child_execution_ids"] is None
    assert {row["node_id"] for row in runs("map with repeated node ids").values() if row["depth"] == 1} == {"map-body"}
    assert runs("a container event under another type")["inside"]["parent_node_result_id"] == "sub"
    cut = runs("cut stream")["prompt"]
    assert (cut["state"], cut["end_us"], cut["end_pos"], cut["streaming_events"]) == ("STREAMING", None, None, 1)
    assert {key: (row["state"], row["error_code"]) for key, row in runs("rejected node").items()} == {
        "api": ("REJECTED", "NODE_TIMEOUT"), "code": ("REJECTED", "NODE_TIMEOUT")
    }
    late = runs("null node ts")["late-clock"]
    assert (late["start_ts_less"], late["end_ts_less"], late["first_output_ts_less"]) == (True, False, True)
    early = runs("a run first seen after its start")["early"]
    assert (early["initiated"], early["first_seq"], early["start_pos"]) == (True, 1, 2)
    prompts = runs("prompts with usage and cost")
    assert {key: (row["model_name"], row["input_tokens"], row["output_tokens"], row["cost_usd"]) for key, row in prompts.items()} == {
        "p1": ("gpt-4o", 120, 30, 0.0021), "p2": ("claude", 80, 10, 0.0009), "p3": ("local", 5, 5, None), "p4": ("free", 7, 1, None)
    }
    [prompts_execution] = filled.execution_ids["prompts with usage and cost"]
    assert aggregates[prompts_execution]["span_count"] == 4
    assert aggregates[prompts_execution]["prompt_cost_usd"] == pytest.approx(0.0030)
    assert (aggregates[prompts_execution]["prompt_input_tokens"], aggregates[prompts_execution]["prompt_output_tokens"]) == (212, 46)
    [quiet] = filled.execution_ids["no node events"]
    assert aggregates[quiet] == {"span_count": 0, "prompt_cost_usd": None, "prompt_input_tokens": None,
                                 "prompt_output_tokens": None, "first_output_us": None}


def test_the_backfill_stamps_the_first_change_on_spans_and_executions_and_none_on_events(migrated: tuple[str, Filled]) -> None:
    url, _ = migrated
    with Store(url) as store, store.engine.connect() as connection:
        assert connection.execute(select(func.count()).where(Event.__table__.c.change_seq.is_not(None))).scalar_one() == 0
        assert set(connection.execute(select(Execution.__table__.c.change_seq).distinct()).scalars()) == {1}
        assert set(connection.execute(select(NodeSpan.__table__.c.change_seq).distinct()).scalars()) == {1}
        assert connection.execute(select(StoreState.__table__.c.id, StoreState.__table__.c.change_seq)).all() == [(1, 1)]
        assert store.change_state().change_seq == 1


def test_a_store_larger_than_a_write_batch_is_backfilled_whole(empty_database_url: str) -> None:
    """Enough spans to take several batches on the way in (and the cursor several round trips)."""
    from recorder.demo.workload import body_bytes, iter_workload

    demo = [Body.of_bytes(f"demo-{index}", body_bytes(execution), execution.request)
            for index, execution in enumerate(iter_workload(executions=800, seed=12))]
    store_at_0003(empty_database_url)
    filled = fill_as_revision_0003(empty_database_url, demo)
    with Store(empty_database_url, ensure_schema=False) as store:
        store.upgrade()
        stored = span_rows(store.engine)
        expected: dict[tuple[str, str], dict[str, Any]] = {}
        for execution_id in filled.every_execution:
            expected |= expected_span_rows(fold_of_stored_events(store.engine, execution_id))
    assert len(stored) > 5_000  # the migration writes 5,000 spans a batch; its cursor reads 10,000 events a trip
    assert {key: without(row, "change_seq") for key, row in stored.items()} == expected


# -- and back ----------------------------------------------------------------------------------------------


def test_downgrade_to_0003_drops_what_0004_added_and_keeps_the_events(old_store: tuple[str, Filled]) -> None:
    url, _ = old_store
    count_events = select(func.count()).select_from(Event.__table__)
    store = Store(url, ensure_schema=False)
    with store.engine.connect() as connection:
        events_before = connection.execute(count_events).scalar_one()
    store.upgrade()
    downgrade(store.engine, "0003")
    assert store.revision() == "0003"
    found = inspect(store.engine)
    assert not ADDED_TABLES & set(found.get_table_names())
    assert not ADDED_EXECUTION_COLUMNS & {column["name"] for column in found.get_columns("executions")}
    assert "change_seq" not in {column["name"] for column in found.get_columns("events")}
    with store.engine.connect() as connection:
        assert connection.execute(count_events).scalar_one() == events_before
    store.close()


def test_upgrading_again_after_a_downgrade_gives_the_same_rows(old_store: tuple[str, Filled]) -> None:
    url, _ = old_store
    with Store(url, ensure_schema=False) as store:
        store.upgrade()
        first_spans, first_aggregates = span_rows(store.engine), aggregate_rows(store.engine)
        downgrade(store.engine, "0003")
        store.upgrade()
        assert span_rows(store.engine) == first_spans
        assert aggregate_rows(store.engine) == first_aggregates
