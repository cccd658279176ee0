"""Hostile lines, generated: whatever a body holds (deep nesting, lone surrogates, NUL, 1e400, NaN,
30-digit integers, huge strings, over-long ids, bytes that are not UTF-8), `ingest` and live
`record` raise nothing, account for every line, export it byte for byte, and SQLite and
PostgreSQL store the same thing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from recorder.demo.server import LoopbackVellum, Scenario
from recorder.replay.export import export_cassette
from recorder.store import Event, Execution, Recording, Reject, Store
from recorder.stream.http import execute_and_record
from recorder.stream.ingest import ingest_chunks

API_KEY = "fuzz-key"
REQUEST = {"workflow_deployment_name": "fuzz", "inputs": []}
EXECUTIONS = ("fz-1", "fz-2")
PLACEHOLDER = "@@HOSTILE@@"

# JSON text as it would arrive on the wire.
HOSTILE = [
    '"\\ud800"', '"x\\udfff"', '"\\ud83d"', '"a\\u0000b"', '"\\u0000"', "1e400", "-1e400", "NaN", "Infinity",
    "123456789012345678901234567890", "-98765432109876543210987654321", '"' + "i" * 129 + '"', '"' + "h" * 5000 + '"',
    "[" * 600 + "]" * 600, "[" * 300 + "]" * 300, '{"k": ["\\ud83d", 1e400]}', '"\\ud83d\\ude00"', "3", '"ok"', "null",
]
FIELDS = [
    ("execution_id",), ("type",), ("run_id",), ("external_id",), ("data", "id"), ("data", "state"), ("data", "ts"),
    ("data", "node_id"), ("data", "node_result_id"), ("data", "source_execution_id"), ("data", "data", "type"),
    ("data", "outputs", 0, "value"), ("data", "error", "message"), ("data", "error", "code"),
]
JUNK = [b"event: ping", b"\xff\xfe not utf-8", b'{"execution_id": "fz-1"\x00}', b"   ", b"", b"\r", b"[1, 2]",
        b'{"execution_id": 5, "type": "NODE"}', b"NaN", b'{"execution_id": "fz-1", "type": "NODE", "data": ']


def put(document: dict[str, Any], path: tuple, value: Any) -> None:
    """Set `value` at `path`, making the dicts and lists on the way."""
    target: Any = document
    for key, next_key in zip(path, path[1:]):
        kind = list if isinstance(next_key, int) else dict
        child = target[key] if isinstance(target, list) else target.get(key)
        if not isinstance(child, kind):
            child = target[key] = kind()
        if isinstance(child, list) and len(child) <= next_key:
            child.extend([None] * (next_key + 1 - len(child)))
        target = child
    target[path[-1]] = value


def event_line(execution_id: str, event_type: str, state: str, index: int, field: tuple | None, hostile_index: int) -> bytes:
    data: dict[str, Any] = {"id": f"{execution_id}-{index}", "state": state, "ts": f"2025-06-02T09:00:{index % 60:02d}.000000Z"}
    if event_type == "NODE":
        data.update(node_id="n1", node_result_id=f"r{index}", source_execution_id=None, data={"type": "SEARCH", "data": {}})
    else:
        data.update(outputs=[{"id": "o", "name": "answer", "type": "JSON", "value": 1}], error={"code": "E", "message": "m"})
    envelope: dict[str, Any] = {"execution_id": execution_id, "run_id": "run", "external_id": None, "type": event_type, "data": data}
    if field is not None:
        put(envelope, field, PLACEHOLDER)
    return json.dumps(envelope).replace(f'"{PLACEHOLDER}"', HOSTILE[hostile_index]).encode()


events = st.builds(
    event_line,
    st.sampled_from(EXECUTIONS),
    st.sampled_from(["WORKFLOW", "NODE"]),
    st.sampled_from(["INITIATED", "STREAMING", "FULFILLED", "REJECTED"]),
    st.integers(0, 99),
    st.none() | st.sampled_from(FIELDS),
    st.integers(0, len(HOSTILE) - 1),
)
bodies = st.tuples(st.lists(events | st.sampled_from(JUNK), min_size=1, max_size=10), st.booleans())


def wipe(url: str) -> None:
    with Store(url) as store:
        store.wipe()


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory, postgres_store_url: str) -> Iterator[dict[str, str]]:
    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    Store(sqlite_url).close()
    yield {"sqlite": sqlite_url, "postgresql": postgres_store_url}


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackVellum]:
    with LoopbackVellum(api_key=API_KEY) as running:
        yield running


def what_is_stored(store: Store) -> dict[str, Any]:
    """Everything an engine stored, minus arrival times."""
    with Session(store.engine) as session:
        return {
            "events": [
                (e.execution_id, e.seq, e.position, e.type, e.state, e.ts_us, e.event_id, e.node_id, e.node_result_id,
                 e.node_type, e.source_execution_id, e.flags, e.raw)
                for e in session.scalars(select(Event).order_by(Event.execution_id, Event.seq))
            ],
            "rejects": [
                (r.position, r.reason, r.raw, r.raw_bytes, r.line_key)
                for r in session.scalars(select(Reject).order_by(Reject.position))
            ],
            "executions": [
                (x.execution_id, x.status, x.run_id, x.external_id, x.started_at_us, x.ended_at_us, x.error_code,
                 x.error_message, x.outputs, x.event_count)
                for x in session.scalars(select(Execution).order_by(Execution.execution_id))
            ],
            "recordings": [
                (r.outcome, r.line_count, r.event_count, r.duplicate_count, r.reject_count, r.blank_lines, r.ends_with_newline,
                 r.body_sha256, r.stored_elsewhere)
                for r in session.scalars(select(Recording))
            ],
        }


def record_body(url: str, lines: list[bytes], ends_with_newline: bool, live: bool, server: LoopbackVellum) -> bytes:
    with Store(url) as store:
        if live:
            server.expect(REQUEST, Scenario(lines=lines, lines_per_chunk=2))
            result = execute_and_record(store, REQUEST, api_key=API_KEY, base_url=server.base_url).recording
            body = b"".join(line + b"\n" for line in lines)
        else:
            body = b"\n".join(lines) + (b"\n" if ends_with_newline else b"")
            result = ingest_chunks(store, [body], source="fuzz")
        received = body.split(b"\n") if body else []  # an empty body holds no line, not one empty line
        if body.endswith(b"\n"):
            received.pop()
        blank = sum(1 for line in received if not line.strip())
        assert result.lines == len(received)
        assert result.events_stored + result.duplicates + result.rejects + blank == len(received)
        assert result.duplicates == 0
        for execution_id in result.execution_ids:
            assert export_cassette(store, execution_id).body() == body
    return body


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies, live=st.booleans())
def test_hostile_bodies_are_kept_whole_and_alike_on_both_engines(engines: dict[str, str], server: LoopbackVellum, body, live: bool) -> None:
    lines, ends_with_newline = body
    stored = {}
    for name, url in engines.items():
        wipe(url)
        record_body(url, lines, ends_with_newline, live, server)
        with Store(url) as store:
            stored[name] = what_is_stored(store)
    assert stored["sqlite"] == stored["postgresql"]
