"""Ingest into the store on both engines: idempotent, lossless, nothing dropped, links kept right."""

from __future__ import annotations

import json

from sqlalchemy import select

from recorder.model.lines import split_body
from recorder.store import FlushPolicy, Outcome, Recording, Store
from recorder.stream.ingest import ingest_chunks


def wf(execution_id: str, state: str, ts: str, **data) -> str:
    body = {"id": f"w-{state}-{ts}", "state": state, "ts": ts, "output": None, "error": None, "outputs": None, "inputs": None}
    body.update(data)
    return json.dumps({"execution_id": execution_id, "run_id": None, "external_id": None, "type": "WORKFLOW", "data": body})


def node(execution_id: str, state: str, ts: str | None, result_id: str = "r1", node_type: str | None = "SEARCH") -> str:
    data = {"id": f"n-{result_id}-{state}", "node_id": "n1", "node_result_id": result_id, "state": state, "ts": ts,
            "data": None if node_type is None else {"type": node_type, "data": {}}, "source_execution_id": None}
    return json.dumps({"execution_id": execution_id, "run_id": "run-1", "external_id": None, "type": "NODE", "data": data})


def stream(execution_id: str, *, complete: bool = True) -> list[str]:
    lines = [
        wf(execution_id, "INITIATED", "2025-06-02T09:00:00.000000Z"),
        node(execution_id, "INITIATED", "2025-06-02T09:00:00.001000Z"),
        node(execution_id, "FULFILLED", "2025-06-02T09:00:00.201000Z"),
    ]
    if complete:
        lines.append(wf(execution_id, "FULFILLED", "2025-06-02T09:00:00.250000Z", outputs=[{"id": "o", "name": "answer", "type": "STRING", "value": "hi"}]))
    return lines


def ingest(store: Store, lines: list[str], request: dict | None = None, *, newline: bool = True):
    body = "\n".join(lines).encode() + (b"\n" if newline else b"")
    return ingest_chunks(store, [body], source="test", request=request)


def test_a_complete_stream_makes_a_fulfilled_execution(store: Store) -> None:
    result = ingest(store, stream("A"), {"workflow_deployment_name": "dep", "release_tag": "prod", "inputs": [], "metadata": {"user": "u1"}})
    assert (result.events_stored, result.duplicates, result.rejects) == (4, 0, 0)
    execution = store.execution("A")
    assert execution.status == "FULFILLED"
    assert execution.ended_at_us - execution.started_at_us == 250_000
    assert execution.outputs == [{"id": "o", "name": "answer", "type": "STRING", "value": "hi"}]
    assert (execution.workflow_deployment_name, execution.release_tag, execution.metadata_) == ("dep", "prod", {"user": "u1"})
    assert execution.run_id == "run-1"


def test_ingesting_the_same_stream_twice_adds_nothing(store: Store) -> None:
    ingest(store, stream("A"))
    again = ingest(store, stream("A"))
    assert (again.events_stored, again.duplicates) == (0, 4)
    assert again.already_recorded_as is not None
    assert len(store.events("A")) == 4
    with store.engine.connect() as connection:
        assert len(connection.execute(select(Recording.id)).all()) == 1


def test_a_cut_stream_is_incomplete_and_its_received_events_are_kept(store: Store) -> None:
    ingest(store, stream("A", complete=False))
    execution = store.execution("A")
    assert execution.status == "INCOMPLETE"
    assert execution.ended_at_us is None
    assert execution.event_count == 3


def test_the_full_stream_after_a_cut_one_adds_only_the_missing_events(store: Store) -> None:
    ingest(store, stream("A", complete=False))
    result = ingest(store, stream("A"))
    assert (result.events_stored, result.duplicates) == (1, 3)
    assert store.execution("A").status == "FULFILLED"
    assert store.execution("A").event_count == 4


def test_a_cut_copy_after_the_full_stream_does_not_downgrade_the_execution(store: Store) -> None:
    ingest(store, stream("A"))
    ingest(store, stream("A", complete=False))
    assert store.execution("A").status == "FULFILLED"


def test_malformed_lines_are_kept_as_rejects_and_the_stream_goes_on(store: Store) -> None:
    lines = stream("A")
    lines.insert(2, "<html>502 Bad Gateway</html>")
    lines.insert(3, '{"no": "execution"}')
    result = ingest(store, lines)
    assert (result.events_stored, result.rejects) == (4, 2)
    rejects = store.rejects()
    assert [(r.position, r.raw) for r in rejects] == [(2, "<html>502 Bad Gateway</html>"), (3, '{"no": "execution"}')]
    assert store.execution("A").status == "FULFILLED"


def test_invalid_utf8_and_nul_lines_are_kept_byte_exact(store: Store) -> None:
    body = "\n".join(stream("A")).encode() + b"\n\xff\xfe junk\nNUL\x00here\n"
    ingest_chunks(store, [body], source="test")
    rejects = store.rejects()
    assert [r.raw_bytes for r in rejects] == [b"\xff\xfe junk", b"NUL\x00here"]


def test_unknown_events_are_stored_with_flags(store: Store) -> None:
    lines = stream("A")
    lines.insert(1, json.dumps({"execution_id": "A", "type": "NODE", "data": {"id": "x", "node_id": "n", "node_result_id": "r9", "state": "PAUSED", "ts": None, "data": {"type": "GUARDRAIL"}}}))
    ingest(store, lines)
    flagged = [e for e in store.events("A") if e.flags]
    assert len(flagged) == 1
    assert set(flagged[0].flags.split(",")) == {"unknown_state", "unknown_node_type"}


def test_blank_lines_and_the_missing_final_newline_are_remembered(store: Store) -> None:
    lines = stream("A")
    body = ("\n" + lines[0] + "\n   \n" + "\n".join(lines[1:])).encode()
    result = ingest_chunks(store, [body], source="test")
    recording = next(r for r in store.recordings_of("A") if r.id == result.recording_id)
    assert recording.blank_lines == [[2, "   "]]
    assert recording.ends_with_newline is False
    assert recording.line_count == 6
    assert [e.position for e in store.events("A")] == [1, 3, 4, 5]


def test_small_flush_batches_store_the_same_rows(store: Store) -> None:
    writer = store.writer(source="test", policy=FlushPolicy(max_events=1, max_delay_s=None))
    for line in split_body(("\n".join(stream("A")) + "\n").encode()):
        writer.add(line)
        assert writer.pending == 0
    result = writer.finish()
    assert result.events_stored == 4 and store.execution("A").status == "FULFILLED"


def test_an_unfinished_recording_stays_in_progress_with_what_was_committed(store: Store) -> None:
    writer = store.writer(source="live", policy=FlushPolicy(max_events=2, max_delay_s=None))
    for line in split_body(("\n".join(stream("A")) + "\n").encode())[:3]:
        writer.add(line)
    # The process dies here: no finish(), the third line never committed.
    assert len(store.events("A")) == 2
    assert store.execution("A").status == "INCOMPLETE"
    recording = store.recordings_of("A")[0]
    assert recording.outcome == Outcome.IN_PROGRESS


def test_root_is_the_furthest_recorded_ancestor(store: Store) -> None:
    ingest(store, stream("A"), {"inputs": []})
    ingest(store, stream("B"), {"inputs": [], "previous_execution_id": "A"})
    ingest(store, stream("C"), {"inputs": [], "previous_execution_id": "B"})
    assert [store.execution(x).root_execution_id for x in "ABC"] == ["A", "A", "A"]


def test_an_unrecorded_parent_leaves_the_child_as_its_own_root(store: Store) -> None:
    ingest(store, stream("B"), {"inputs": [], "previous_execution_id": "never-recorded"})
    assert store.execution("B").root_execution_id == "B"


def test_roots_are_fixed_when_a_parent_is_recorded_after_its_children(store: Store) -> None:
    ingest(store, stream("C"), {"inputs": [], "previous_execution_id": "B"})
    ingest(store, stream("D"), {"inputs": [], "previous_execution_id": "C"})
    ingest(store, stream("B"), {"inputs": [], "previous_execution_id": "A"})
    assert [store.execution(x).root_execution_id for x in "BCD"] == ["B", "B", "B"]
    ingest(store, stream("A"), {"inputs": []})
    assert [store.execution(x).root_execution_id for x in "ABCD"] == ["A", "A", "A", "A"]


def test_a_cycle_in_previous_execution_id_terminates_with_a_stable_root(store: Store) -> None:
    ingest(store, stream("X"), {"inputs": [], "previous_execution_id": "Y"})
    ingest(store, stream("Y"), {"inputs": [], "previous_execution_id": "X"})
    roots = {store.execution(x).root_execution_id for x in "XY"}
    assert len(roots) == 1 and roots <= {"X", "Y"}


def test_a_request_given_later_fills_in_the_execution(store: Store) -> None:
    ingest(store, stream("A"))
    ingest(store, stream("B"))
    assert store.execution("B").workflow_deployment_name is None
    result = ingest(store, stream("B"), {"workflow_deployment_name": "dep", "inputs": [], "previous_execution_id": "A"})
    assert result.already_recorded_as is not None
    execution = store.execution("B")
    assert (execution.workflow_deployment_name, execution.previous_execution_id, execution.root_execution_id) == ("dep", "A", "A")
    assert store.recordings_of("B")[0].request["workflow_deployment_name"] == "dep"


def test_an_api_key_in_a_request_body_is_never_stored(store: Store) -> None:
    ingest(store, stream("A"), {"inputs": [], "api_key": "secret-key", "X-API-KEY": "secret-key"})
    with store.engine.connect() as connection:
        requests = connection.execute(select(Recording.request)).scalars().all()
    assert "secret-key" not in json.dumps(requests)


def test_a_body_with_events_of_two_executions_records_both(store: Store) -> None:
    ingest(store, stream("A") + stream("B"))
    assert store.execution("A").status == store.execution("B").status == "FULFILLED"
    assert [e.position for e in store.events("B")] == [4, 5, 6, 7]
