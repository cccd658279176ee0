"""Which recordings are one: identical non-empty bodies fold together; every HTTP or connection
error, and every empty body, stays its own recording with its status, error and request."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from recorder.demo.server import LoopbackVellum, Scenario
from recorder.model.cassette import Cassette, Request, Response
from recorder.stream.ingest import ingest_cassette
from recorder.store import Recording, Store
from recorder.stream.http import execute_and_record
from recorder.stream.ingest import ingest_chunks

API_KEY = "identity-test-key"


def recordings(store: Store) -> list[Recording]:
    with Session(store.engine) as session:
        return list(session.scalars(select(Recording).order_by(Recording.id)))


def test_every_live_http_error_is_its_own_recording(store: Store) -> None:
    answers = [(400, b'{"detail": "Input query is required"}'), (404, b'{"detail": "no such deployment"}'), (500, b"")]
    requests = [{"workflow_deployment_name": f"dep-{status}", "inputs": []} for status, _ in answers]
    with LoopbackVellum(api_key=API_KEY) as server:
        for request, (status, body) in zip(requests, answers):
            server.expect(request, Scenario(status=status, error_body=body))
            live = execute_and_record(store, request, api_key=API_KEY, base_url=server.base_url)
            assert live.recording.already_recorded_as is None
    stored = recordings(store)
    assert [(r.outcome, r.http_status, r.request["workflow_deployment_name"]) for r in stored] == [
        ("http_error", status, request["workflow_deployment_name"]) for request, (status, _) in zip(requests, answers)
    ]
    for recording, (_, body) in zip(stored, answers):
        assert body.decode() in recording.error


def test_error_cassettes_ingested_one_after_another_are_all_kept(store: Store) -> None:
    for status in (403, 429):
        cassette = Cassette(
            request=Request(body={"workflow_deployment_name": f"dep-{status}"}),
            response=Response(status=status, lines=(), ends_with_newline=False, outcome="http_error", error=f"HTTP {status}"),
        )
        ingest_cassette(store, cassette)
    assert [(r.http_status, r.error) for r in recordings(store)] == [(403, "HTTP 403"), (429, "HTTP 429")]


def test_empty_bodies_are_separate_recordings_and_identical_bodies_fold(store: Store) -> None:
    ingest_chunks(store, [b""], source="first empty")
    ingest_chunks(store, [b""], source="second empty")
    body = b'{"execution_id": "e", "type": "WORKFLOW", "data": {"id": "1", "state": "INITIATED", "ts": "2025-06-02T09:00:00Z"}}\n'
    first = ingest_chunks(store, [body], source="body")
    again = ingest_chunks(store, [body], source="body again")
    assert again.already_recorded_as == first.recording_id
    assert [r.source for r in recordings(store)] == ["first empty", "second empty", "body"]
