"""Re-ingesting bodies: duplicates are the same line of the same execution, whatever the framing;
every recording can still be exported byte for byte, also after a kill -9 or a concurrent ingest
of the same body. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recorder.model.lines import split_body
from recorder.replay.export import export_cassette, rebuild_lines
from recorder.store import Event, FlushPolicy, Recording, Reject, Store
from recorder.stream.ingest import ingest_chunks

A = "aaaaaaaa-1111-4111-8111-000000000001"
B = "bbbbbbbb-2222-4222-8222-000000000002"


def line(execution_id: str, event_type: str, state: str, index: int) -> bytes:
    data = {"id": f"{execution_id[:4]}-{index}", "state": state, "ts": f"2025-06-02T09:00:{index:02d}.000000Z"}
    if event_type == "NODE":
        data.update(node_id="n1", node_result_id=f"r{index}", data=None)
    return json.dumps({"execution_id": execution_id, "type": event_type, "data": data}).encode()


def body(execution_id: str, *, junk: bool = False) -> bytes:
    lines = [line(execution_id, "WORKFLOW", "INITIATED", 0), line(execution_id, "NODE", "INITIATED", 1)]
    if junk:
        lines.append(b"event: ping")
    lines += [b"", line(execution_id, "NODE", "FULFILLED", 2), line(execution_id, "WORKFLOW", "FULFILLED", 3)]
    return b"\n".join(lines) + b"\n"


def ingest(store: Store, data: bytes, source: str = "test"):
    return ingest_chunks(store, [data], source=source)


def recording(store: Store, recording_id: int) -> Recording:
    with Session(store.engine) as session:
        return session.get(Recording, recording_id)


def rebuilt(store: Store, recording_id: int, execution_id: str) -> bytes:
    from recorder.model.cassette import Response

    lines, ends_with_newline = rebuild_lines(store, recording(store, recording_id), execution_id)
    return Response(lines=lines, ends_with_newline=ends_with_newline).body()


def orphans(store: Store) -> int:
    """Events or rejects whose recording does not exist."""
    with Session(store.engine) as session:
        recordings = select(Recording.id)
        events = session.scalar(select(func.count()).select_from(Event).where(Event.recording_id.not_in(recordings)))
        rejects = session.scalar(select(func.count()).select_from(Reject).where(Reject.recording_id.not_in(recordings)))
    return events + rejects


def test_a_body_then_a_longer_body_holding_it_exports_both_executions(store: Store) -> None:
    first, both = body(A), body(A) + body(B)
    earlier = ingest(store, first)
    result = ingest(store, both)
    assert (result.events_stored, result.duplicates) == (4, 4)
    assert export_cassette(store, B).body() == both
    # A's best recording is now the longer complete body, which carried it too.
    assert export_cassette(store, A).body() == both
    assert rebuilt(store, earlier.recording_id, A) == first


def test_a_body_shifted_by_a_blank_line_is_all_duplicates_and_both_rebuild(store: Store) -> None:
    original = body(A)
    first = ingest(store, original)
    shifted = ingest(store, b"\n" + original)
    assert (shifted.events_stored, shifted.duplicates) == (0, 4)
    assert len(store.events(A)) == 4
    assert rebuilt(store, first.recording_id, A) == original
    assert rebuilt(store, shifted.recording_id, A) == b"\n" + original


def test_fewer_blank_lines_in_a_longer_copy_adds_only_the_new_events(store: Store) -> None:
    lines = body(A).split(b"\n")
    cut = b"\n\n\n".join(lines[:2]) + b"\n"  # blank lines where the full body has none
    ingest(store, cut)
    full = ingest(store, body(A))
    assert (full.events_stored, full.duplicates, full.rejects) == (2, 2, 0)
    assert [e.raw.encode() for e in store.events(A)] == [lines[0], lines[1], lines[3], lines[4]]
    assert export_cassette(store, A).body() == body(A)


def test_a_killed_ingest_then_the_same_body_again_exports_and_stores_each_reject_once(store: Store) -> None:
    data = body(A, junk=True) + body(B, junk=True)
    killed = store.writer(source="killed", policy=FlushPolicy(max_events=3, max_delay_s=None))
    for raw_line in split_body(data)[:9]:
        killed.add(raw_line)
    # kill -9: what was flushed stays, the writer never finishes.
    again = ingest(store, data)
    assert again.outcome == "complete"
    assert export_cassette(store, B).body() == data
    assert export_cassette(store, A).body() == data
    with Session(store.engine) as session:
        assert sorted(session.scalars(select(Reject.raw))) == ["event: ping", "event: ping"]
    assert again.rejects == 2 and again.events_stored + again.duplicates == 8


def test_the_same_body_ingested_twice_at_once_leaves_a_consistent_store(store: Store) -> None:
    data = body(A, junk=True) + body(B)
    lines = split_body(data)
    policy = FlushPolicy(max_events=2, max_delay_s=None)
    one = store.writer(source="one", policy=policy)
    two = store.writer(source="two", policy=policy)
    # Interleaved as two processes would: each stores some lines first and skips the other's.
    for index in range(0, len(lines), 3):
        for raw_line in lines[index : index + 3]:
            (one if index % 2 else two).add(raw_line)
        for raw_line in lines[index : index + 3]:
            (two if index % 2 else one).add(raw_line)
    first, second = one.finish(), two.finish()
    assert second.already_recorded_as == first.recording_id
    assert orphans(store) == 0
    assert export_cassette(store, A).body() == data
    assert export_cassette(store, B).body() == data
    kept = recording(store, first.recording_id)
    assert (kept.event_count, kept.duplicate_count) == (8, 0)
    assert len(store.events(A)) == len(store.events(B)) == 4


def test_a_different_line_claiming_a_stored_event_is_kept_as_a_reject(store: Store) -> None:
    ingest(store, body(A))
    other = body(A).replace(b'"aaaa-1"', b'"aaaa-X"')
    assert other != body(A)
    result = ingest(store, other)
    assert (result.events_stored, result.duplicates, result.rejects) == (0, 3, 1)
    [conflict] = store.rejects()
    assert "already has a different event #1" in conflict.reason
    assert conflict.raw.encode() == other.split(b"\n")[1]
    assert rebuilt(store, result.recording_id, A) == other
    again = ingest(store, other, source="again")
    assert again.already_recorded_as == result.recording_id
    assert len(store.rejects()) == 1


def test_migration_0003_numbers_stored_events_and_goes_back(empty_database_url: str) -> None:
    from sqlalchemy import inspect, text

    from recorder.store.engine import create_store_engine, downgrade, upgrade

    engine = create_store_engine(empty_database_url)
    upgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO recordings (id, source, started_at_us, outcome, line_count, event_count, duplicate_count, reject_count, "
            "ends_with_newline) VALUES (1, 'old', 0, 'complete', 9, 5, 0, 0, true)"
        ))
        for execution_id, position in (("x", 5), ("x", 0), ("y", 1), ("x", 2), ("y", 7)):
            connection.execute(
                text("INSERT INTO events (execution_id, position, recording_id, type, received_at_us, raw) "
                     "VALUES (:e, :p, 1, 'NODE', 0, :raw)"),
                {"e": execution_id, "p": position, "raw": f"{execution_id}@{position}"},
            )
    upgrade(engine)
    with engine.connect() as connection:
        numbered = connection.execute(text("SELECT execution_id, position, seq FROM events ORDER BY execution_id, seq")).all()
    assert [tuple(row) for row in numbered] == [("x", 0, 0), ("x", 2, 1), ("x", 5, 2), ("y", 1, 0), ("y", 7, 1)]
    downgrade(engine, "0002")
    assert "seq" not in {column["name"] for column in inspect(engine).get_columns("events")}
    assert "stored_elsewhere" not in {column["name"] for column in inspect(engine).get_columns("recordings")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM events")).scalar_one() == 5
    upgrade(engine)
    engine.dispose()


def test_ingest_from_stdin_killed_then_the_whole_body_again_exports_exactly(store_url: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    data = body(A, junk=True) + body(B, junk=True)
    sent = data[: data.index(b"event: ping", data.index(b"event: ping") + 1) + len(b"event: ping\n")]
    Store(store_url).close()
    process = subprocess.Popen([sys.executable, "-m", "recorder.cli", "--db", store_url, "ingest", "-"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        process.stdin.write(sent)
        process.stdin.flush()
        deadline = time.monotonic() + 15
        with Store(store_url) as store:
            while len(store.rejects()) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(store.rejects()) == 2
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with Store(store_url) as store:
        again = ingest(store, data)
        assert (again.outcome, again.rejects) == ("complete", 2)
        assert len(store.rejects()) == 2
        assert export_cassette(store, A).body() == data
        assert export_cassette(store, B).body() == data
        assert len(store.events(A)) == len(store.events(B)) == 4


def test_two_threads_ingesting_the_same_body_at_once_leave_one_consistent_recording(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    data = b"".join(body(f"{index:08d}-cccc-4ccc-8ccc-000000000000", junk=True) for index in range(30))
    policy = FlushPolicy(max_events=5, max_delay_s=None)

    def ingest_once(source: str):
        return ingest_chunks(store, (data[i : i + 97] for i in range(0, len(data), 97)), source=source, policy=policy)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(ingest_once, ["one", "two"]))
    assert sorted(r.already_recorded_as is None for r in results) == [False, True]
    assert orphans(store) == 0
    with Session(store.engine) as session:
        assert session.scalar(select(func.count()).select_from(Recording)) == 1
        assert session.scalar(select(func.count()).select_from(Reject)) == 30
        assert session.scalar(select(func.count()).select_from(Event)) == 120
    assert export_cassette(store, "00000007-cccc-4ccc-8ccc-000000000000").body() == data


def test_events_come_back_in_stream_order_whichever_body_stored_them(store: Store) -> None:
    lines = body(A).split(b"\n")
    events = [lines[0], lines[1], lines[3], lines[4]]
    ingest(store, b"event: ping\n" * 5 + b"\n".join(events[:2]) + b"\n")
    ingest(store, body(A))
    stored = store.events(A)
    assert [e.raw.encode() for e in stored] == events
    assert [e.seq for e in stored] == [0, 1, 2, 3]
