"""The `Store` contract, run unchanged on SQLite and PostgreSQL (the `store` fixture gives each).

Every public Store method is exercised here against a real database, so an engine whose dialect
behaves differently fails the same test on one backend only. Tests of engine behaviour (the
dialects' bulk paths, URL spelling, upserts) live here and nowhere else.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from recorder.model.lines import RawLine
from recorder.store import Dialect, EventRow, ExecutionFilter, ExecutionRow, FlushPolicy, LinkRow, Outcome, Store
from recorder.store.analytics_reads import events_schema, events_select, spans_schema
from recorder.store.arrow_tables import fetch_dbapi
from recorder.store.dialects import PostgresDialect, SqliteDialect, dialect_named, dialect_of
from recorder.store.engine import resolve_url
from recorder.store.schema import Execution, Recording
from recorder.stream.ingest import ingest_chunks, ingest_path
from tests.test_samples import SAMPLE_NAMES, ingest_all_samples, load_truth

ID_A = "aaaa1111-0000-4000-8000-000000000001"
ID_B = "aaaa2222-0000-4000-8000-000000000002"
ID_C = "bbbb1111-0000-4000-8000-000000000003"


def workflow(execution_id: str, state: str, second: int, **data: object) -> str:
    body = {"id": f"w-{state}-{second}", "state": state, "ts": f"2025-06-02T09:00:{second:02d}.000000Z", "outputs": None, **data}
    return json.dumps({"execution_id": execution_id, "type": "WORKFLOW", "data": body})


def node(execution_id: str, state: str, second: int, node_type: str = "SEARCH", **extra: object) -> str:
    data = {"id": f"n-{state}-{second}", "node_id": "n1", "node_result_id": "r1", "state": state,
            "ts": f"2025-06-02T09:00:{second:02d}.000000Z", "data": {"type": node_type, "data": {}}, **extra}
    return json.dumps({"execution_id": execution_id, "run_id": "run-1", "type": "NODE", "data": data})


def stream(execution_id: str, *, node_type: str = "SEARCH", complete: bool = True) -> list[str]:
    meta = {"execution_meta": {"usage": {"input_token_count": 3}, "cost": {"value": 0.25, "unit": "USD"}}}
    fulfilled = {"data": {"type": node_type, "data": meta}} if node_type == "PROMPT" else {}
    lines = [workflow(execution_id, "INITIATED", 0), node(execution_id, "INITIATED", 1, node_type),
             node(execution_id, "FULFILLED", 2, node_type, **fulfilled)]
    return lines + [workflow(execution_id, "FULFILLED", 3)] if complete else lines


def ingest(store: Store, lines: list[str], request: dict | None = None, source: str = "contract"):
    return ingest_chunks(store, ["\n".join(lines).encode() + b"\n"], source=source, request=request)


class TestStoreContract:
    """One class, both engines: what every Store promises whatever database is behind it."""

    # -- schema and wipe ---------------------------------------------------------------------------

    def test_the_store_knows_its_engine_and_revision(self, store: Store, backend: str) -> None:
        assert store.dialect == backend
        assert isinstance(store.backend, Dialect) and store.backend.name == backend
        assert store.revision() is not None

    def test_wipe_empties_every_table_and_keeps_the_schema(self, store: Store) -> None:
        revision = store.revision()
        first = ingest(store, stream(ID_A) + ["not json"], {"workflow_deployment_name": "dep"})
        store.add_status_check(execution_id=ID_A, source="test", http_status=200, status="FULFILLED")
        store.add_actual(execution_id=ID_A, output_key="answer", output_type="STRING", source="test")
        store.wipe()
        assert store.revision() == revision
        assert list(store.executions()) == [] and list(store.rejects()) == []
        assert store.recording(first.recording_id) is None
        assert store.status_checks_of([ID_A]) == {} and list(store.actuals_of(ID_A)) == []
        assert store.pull_executions().num_rows == 0 and store.pull_spans().num_rows == 0
        # Ids start again, on both engines.
        assert ingest(store, stream(ID_A)).recording_id == first.recording_id

    # -- writes and point reads --------------------------------------------------------------------

    def test_a_written_stream_reads_back(self, store: Store) -> None:
        writer = store.writer(source="contract", request={"workflow_deployment_name": "dep", "release_tag": "v1"})
        for position, line in enumerate([*stream(ID_A), "", "not json"]):
            writer.add(RawLine(position, line.encode()))
        result = writer.finish()
        assert (result.outcome, result.events_stored, result.rejects, result.execution_ids) == (Outcome.COMPLETE, 4, 1, [ID_A])
        execution = store.execution(ID_A)
        assert (execution.status, execution.workflow_deployment_name, execution.release_tag) == ("FULFILLED", "dep", "v1")
        assert [event.seq for event in store.events(ID_A)] == [0, 1, 2, 3]
        recording = store.recording(result.recording_id)
        assert (recording.line_count, recording.event_count, recording.reject_count) == (6, 4, 1)
        assert [r.id for r in store.recordings_of(ID_A)] == [result.recording_id]
        [reject] = store.rejects([result.recording_id])
        assert (reject.position, reject.raw) == (5, "not json")
        assert store.execution("nope") is None

    def test_executions_are_filtered_and_newest_first(self, store: Store) -> None:
        ingest(store, stream(ID_A), {"workflow_deployment_name": "one"})
        ingest(store, [line.replace("09:00:", "10:00:") for line in stream(ID_B, complete=False)], {"workflow_deployment_name": "two"})
        assert [e.execution_id for e in store.executions()] == [ID_B, ID_A]
        assert [e.execution_id for e in store.executions(ExecutionFilter(deployment="one"))] == [ID_A]
        assert [e.execution_id for e in store.executions(ExecutionFilter(status="incomplete"))] == [ID_B]
        assert len(store.executions(ExecutionFilter(limit=1))) == 1

    def test_reingesting_a_body_is_idempotent(self, store: Store) -> None:
        first = ingest(store, stream(ID_A))
        again = ingest(store, stream(ID_A))
        assert (again.events_stored, again.duplicates, again.already_recorded_as) == (0, 4, first.recording_id)
        assert len(store.events(ID_A)) == 4
        assert store.execution(ID_A).event_count == 4

    def test_a_different_line_at_a_stored_place_is_kept_as_a_reject(self, store: Store) -> None:
        ingest(store, stream(ID_A))
        other = stream(ID_A)
        other[1] = node(ID_A, "INITIATED", 9)
        result = ingest(store, other)
        assert result.rejects == 1 and result.events_stored == 0
        [reject] = store.rejects([result.recording_id])
        assert reject.raw == other[1]

    def test_finish_can_take_the_times_of_an_earlier_exchange(self, store: Store) -> None:
        writer = store.writer(source="cassette", policy=FlushPolicy.bulk())
        for position, line in enumerate(stream(ID_A)):
            writer.add(RawLine(position, line.encode()), 1_000 + position)
        result = writer.finish(started_at_us=1_000, ended_at_us=1_003)
        recording = store.recording(result.recording_id)
        assert (recording.started_at_us, recording.ended_at_us) == (1_000, 1_003)

    def test_add_parsed_stores_what_add_would(self, store: Store) -> None:
        from recorder.model.events import parse_line

        writer = store.writer(source="parsed")
        for position, line in enumerate(stream(ID_A)):
            writer.add_parsed(parse_line(RawLine(position, line.encode())), 1_000)
        result = writer.finish()
        assert (result.events_stored, result.lines) == (4, 4)
        assert store.execution(ID_A).status == "FULFILLED"

    # -- prefixes ----------------------------------------------------------------------------------

    def test_prefixes_resolve_only_when_unique(self, store: Store) -> None:
        for execution_id in (ID_A, ID_B, ID_C):
            ingest(store, stream(execution_id))
        assert store.resolve_execution_id(ID_A) == ID_A
        assert store.resolve_execution_id("bbbb") == ID_C
        assert store.resolve_execution_id("aaaa") is None
        assert store.resolve_execution_id("cccc") is None
        assert store.find_execution_ids("aaaa") == [ID_A, ID_B]
        assert store.find_execution_ids("aaaa", limit=1) == [ID_A]
        # LIKE's wildcards in a prefix are characters, not patterns.
        assert store.find_execution_ids("aaaa_") == [] and store.find_execution_ids("%") == []

    # -- facts beside the events -------------------------------------------------------------------

    def test_status_checks_and_actuals(self, store: Store) -> None:
        ingest(store, stream(ID_A))
        first = store.add_status_check(execution_id=ID_A, source="s", http_status=200, status="FULFILLED", outputs={"a": 1})
        second = store.add_status_check(execution_id=ID_A, source="s", http_status=None, response="refused")
        checks = store.status_checks_of([ID_A, ID_B])
        assert [check.id for check in checks[ID_A]] == [first, second] and ID_B not in checks
        assert checks[ID_A][0].outputs == {"a": 1}
        assert store.status_checks_of([]) == {}
        actual = store.add_actual(execution_id=ID_A, output_key="answer", output_type="STRING", quality=0.5, metadata_={"k": "v"}, source="s")
        [stored] = store.actuals_of(ID_A)
        assert (stored.id, stored.quality, stored.metadata_) == (actual, 0.5, {"k": "v"})

    def test_incomplete_executions_and_abandoned_recordings(self, store: Store) -> None:
        ingest(store, stream(ID_A))
        writer = store.writer(source="killed", policy=FlushPolicy(max_events=1, max_delay_s=None))
        writer.add(RawLine(0, workflow(ID_B, "INITIATED", 0).encode()))
        assert store.incomplete_execution_ids() == [ID_B]
        assert store.incomplete_execution_ids(limit=1) == [ID_B]
        assert store.mark_abandoned_recordings(silent_for_s=3600) == []
        assert store.mark_abandoned_recordings(silent_for_s=0) == [writer.recording_id]
        recording = store.recording(writer.recording_id)
        assert recording.outcome == Outcome.CUT and "no heartbeat" in recording.error
        assert len(store.events(ID_B)) == 1

    # -- what analytics reads ----------------------------------------------------------------------

    def test_point_reads_for_analytics(self, store: Store) -> None:
        ingest(store, stream(ID_A, node_type="PROMPT"), {"workflow_deployment_name": "dep", "release_tag": "v2"})
        row = store.execution_row(ID_A)
        assert isinstance(row, ExecutionRow)
        assert (row.execution_id, row.status, row.deployment, row.release_tag, row.root_execution_id) == (ID_A, "FULFILLED", "dep", "v2", ID_A)
        assert row.ended_at_us - row.started_at_us == 3_000_000
        assert store.execution_row(ID_B) is None
        events = store.execution_events(ID_A)
        assert all(isinstance(event, EventRow) for event in events)
        assert [(e.position, e.type, e.state) for e in events] == [
            (0, "WORKFLOW", "INITIATED"), (1, "NODE", "INITIATED"), (2, "NODE", "FULFILLED"), (3, "WORKFLOW", "FULFILLED")]
        [link] = store.lineage_family(ID_A)
        assert (link.prompt_cost_usd, link.prompt_input_tokens) == (0.25, 3)  # the execution's aggregates

    def test_pulls_after_a_cursor_bring_only_the_rows_written_since(self, store: Store) -> None:
        pytest.importorskip("pyarrow")
        ingest(store, stream(ID_A))
        cursor = store.change_state().change_seq
        assert store.pull_executions(after=cursor).num_rows == 0 and store.pull_spans(after=cursor).num_rows == 0
        ingest(store, stream(ID_B))
        assert store.pull_executions(after=cursor).column("execution_id").to_pylist() == [ID_B]
        assert store.pull_spans(after=cursor).column("execution_id").to_pylist() == [ID_B]
        assert store.pull_executions().num_rows == 2 and store.pull_spans().num_rows == 2
        later = store.change_state().change_seq
        assert later > cursor and store.pull_executions(after=later).num_rows == 0

    def test_lineage_family_follows_both_ways_and_ends_on_a_cycle(self, store: Store) -> None:
        ingest(store, stream(ID_A))
        ingest(store, stream(ID_B), {"previous_execution_id": ID_A})
        ingest(store, stream(ID_C), {"previous_execution_id": ID_B})
        family = store.lineage_family(ID_B)
        assert all(isinstance(link, LinkRow) for link in family)
        assert sorted((link.execution_id, link.previous_execution_id) for link in family) == [(ID_A, None), (ID_B, ID_A), (ID_C, ID_B)]
        # Bad data: A's parent is C, closing a cycle. Both recursions still end.
        with store.engine.begin() as connection:
            connection.execute(Execution.__table__.update().where(Execution.execution_id == ID_A).values(previous_execution_id=ID_C))
        assert sorted(link.execution_id for link in store.lineage_family(ID_A)) == [ID_A, ID_B, ID_C]
        assert store.lineage_family("missing") == []

    def test_arrow_pulls(self, store: Store) -> None:
        pytest.importorskip("pyarrow")
        ingest(store, stream(ID_A, node_type="PROMPT"), {"workflow_deployment_name": "dep", "metadata": {"user": "u1"}})
        ingest(store, stream(ID_B))
        executions = store.pull_executions()
        assert executions.num_rows == 2
        metadata = dict(zip(executions.column("execution_id").to_pylist(), executions.column("metadata").to_pylist()))
        assert json.loads(metadata[ID_A]) == {"user": "u1"} and metadata[ID_B] is None
        costs = dict(zip(executions.column("execution_id").to_pylist(), executions.column("prompt_cost_usd").to_pylist()))
        assert costs == {ID_A: 0.25, ID_B: None}
        spans = store.pull_spans()
        assert spans.num_rows == 2 and spans.schema.names == spans_schema().names
        assert sorted(spans.column("cost_usd").to_pylist(), key=str) == [0.25, None]
        assert spans.column("start_ts_less").to_pylist() == [False, False]
        everything = store.pull_events()
        assert everything.num_rows == 8 and everything.schema.names == events_schema().names  # never the text
        assert store.pull_events(expected_rows=10**9).num_rows == 8

    # -- what replay reads -------------------------------------------------------------------------

    def test_replay_reads(self, store: Store) -> None:
        first = ingest(store, [*stream(ID_A), "not json"], {"workflow_deployment_name": "dep"})
        ingest(store, stream(ID_B))
        assert store.execution_requests() == [(ID_A, {"workflow_deployment_name": "dep"}), (ID_B, None)]
        recording = store.recording(first.recording_id)
        events, rejects = store.recording_lines(recording, ID_A)
        assert [(position, recording_id) for position, _raw, _at, recording_id in events] == [(p, first.recording_id) for p in range(4)]
        assert [(position, raw) for position, raw, _bytes, _at in rejects] == [(4, "not json")]
        [reject] = store.rejects([first.recording_id])
        assert store.reject_lines([reject.id]) == [(reject.id, "not json", None)]
        assert store.reject_lines([]) == []
        assert store.event_runs([(ID_A, 1, 2), (ID_B, 3, 5)]) == [
            [(1, stream(ID_A)[1]), (2, stream(ID_A)[2])], [(3, stream(ID_B)[3])]]

    def test_recordings_referring_to_an_execution_they_did_not_store(self, store: Store) -> None:
        first = ingest(store, stream(ID_A))
        # The same events behind a different first line: a different body, whose events were stored first elsewhere.
        second = ingest(store, ["", *stream(ID_A)])
        assert second.already_recorded_as is None and second.duplicates == 4
        assert [r.id for r in store.recordings_of(ID_A)] == [first.recording_id]
        assert [r.id for r in store.recordings_referring_to(ID_A, excluding=[first.recording_id])] == [second.recording_id]
        assert store.recordings_referring_to(ID_B) == []
        assert store.recording(second.recording_id).stored_elsewhere["events"] == [[1, 4, ID_A, 0]]


# -- the dialects ------------------------------------------------------------------------------------


def test_dialects_are_found_by_url_and_engine(store: Store, backend: str) -> None:
    assert dialect_of(store.engine) is store.backend is dialect_named(backend)
    assert dialect_of(make_url(store.url)) is store.backend
    assert dialect_named("postgres") is dialect_named("postgresql")
    assert dialect_named("mysql") is None


def test_urls_are_spelled_for_their_driver() -> None:
    assert resolve_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"
    assert PostgresDialect().libpq_url("postgresql+psycopg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
    assert SqliteDialect().database_file(make_url("sqlite:///folder/x.db")) == Path("folder/x.db")
    assert SqliteDialect().database_file(make_url("sqlite:///:memory:")) is None
    assert SqliteDialect().database_file(make_url("sqlite:///file:x.db?mode=ro&uri=true")) == Path("x.db")


def test_the_bulk_row_layout_is_the_events_table_column_order() -> None:
    from recorder.store.event_rows import EVENT_COLUMNS
    from recorder.store.schema import Event

    assert EVENT_COLUMNS == tuple(column.name for column in Event.__table__.columns)


def test_insert_ignore_counts_only_new_rows(store: Store) -> None:
    row = {"source": "t", "started_at_us": 1, "outcome": "complete", "body_sha256": "f" * 64}
    with store.engine.begin() as connection:
        assert store.backend.insert_ignore(connection, Recording.__table__, [row]) == 1
        assert store.backend.insert_ignore(connection, Recording.__table__, [row]) == 0
        assert store.backend.insert_ignore(connection, Recording.__table__, []) == 0
        assert len(connection.execute(select(Recording.id)).all()) == 1


def test_postgresql_pulls_agree_between_adbc_and_copy(postgres_server, samples_dir: Path) -> None:
    pytest.importorskip("adbc_driver_postgresql")
    with Store(postgres_server.create_database()) as store:
        ingest_all_samples(store, samples_dir)
        sql, schema = str(events_select().compile(store.engine)), events_schema()
        fast = store.backend.fetch_adbc(store.engine, sql, schema)
        plain = store.backend.copy_csv(store.engine, sql, schema)
    assert fast.num_rows == plain.num_rows > 0
    order = [("execution_id", "ascending"), ("position", "ascending")]
    assert fast.cast(schema).sort_by(order).to_pylist() == plain.cast(schema).sort_by(order).to_pylist()


def test_sqlite_pulls_agree_between_the_adbc_child_process_and_sqlite3(tmp_path: Path, samples_dir: Path) -> None:
    pytest.importorskip("adbc_driver_sqlite")
    with Store(f"sqlite:///{tmp_path / 'pull.db'}") as store:
        ingest_all_samples(store, samples_dir)
        sql, schema = str(events_select().compile(store.engine)), events_schema()
        exported = store.backend.export_in_child(store.engine, sql, schema)
        fetched = fetch_dbapi(store.engine, sql, schema)
    assert exported.num_rows == fetched.num_rows > 0
    assert exported.cast(schema).to_pylist() == fetched.cast(schema).to_pylist()


def test_the_adbc_child_process_cannot_deadlock_on_a_chatty_stderr(tmp_path: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A verbose interpreter writes ~200 KB to stderr before any Arrow reaches stdout: more than a
    pipe holds, so a parent reading stdout first must not leave stderr as an unread pipe."""
    pytest.importorskip("adbc_driver_sqlite")
    with Store(f"sqlite:///{tmp_path / 'pull.db'}") as store:
        for name in SAMPLE_NAMES[:2]:
            ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=load_truth(samples_dir, name)["request"])
        sql, schema = str(events_select().compile(store.engine)), events_schema()
        monkeypatch.setenv("PYTHONVERBOSE", "1")
        results: list[object] = []
        reader = threading.Thread(target=lambda: results.append(store.backend.export_in_child(store.engine, sql, schema)), daemon=True)
        reader.start()
        reader.join(120)
        assert not reader.is_alive(), "the pull is stuck on the child's stderr"
        monkeypatch.delenv("PYTHONVERBOSE")
        expected = fetch_dbapi(store.engine, sql, schema)
    [exported] = results
    assert exported.cast(schema).to_pylist() == expected.cast(schema).to_pylist()
