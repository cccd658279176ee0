"""The store as a replay library: every recorded execution's stream, exported on first use."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from recorder.model.cassette import Cassette
from recorder.model.endpoints import DEPLOYMENT_STREAM_PATH, STREAM_PATH, WorkflowStream
from recorder.model.request import RecordedRequest
from recorder.replay.export import ExportError, export_cassette
from recorder.replay.matching import Candidate
from recorder.store import Outcome, Store


class StoreLibrary:
    """Recorded executions, oldest first, matched by the request their stream was recorded with."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._candidates: list[Candidate] = []
        self._cassettes: dict[str, Cassette] = {}
        self.version = 0
        self.refresh()

    def describe(self) -> str:
        return f"{len(self._candidates)} recorded executions in {self.store.url}"

    def candidates(self, method: str, path: str) -> Sequence[Candidate]:
        """The executions recorded from that stream: a v1 request is never answered with a v2 body."""
        stream = {("POST", STREAM_PATH): WorkflowStream.V1, ("POST", DEPLOYMENT_STREAM_PATH): WorkflowStream.V2}.get((method, path))
        if stream is None:
            return []
        with self._lock:
            return [candidate for candidate in self._candidates if _stream_of(candidate.body) is stream]

    def cassette(self, candidate: Candidate) -> Cassette:
        assert candidate.execution_id is not None
        cassette = self.by_execution_id(candidate.execution_id)
        if cassette is None:
            raise ExportError(f"execution {candidate.execution_id} has no recorded stream")
        return cassette

    def by_execution_id(self, execution_id: str) -> Cassette | None:
        with self._lock:
            cached = self._cassettes.get(execution_id)
        if cached is not None:
            return cached
        try:
            cassette = export_cassette(self.store, execution_id)
        except ExportError:
            return None
        with self._lock:
            # Only a complete stream is kept: one still being recorded, or cut (a full copy may be
            # recorded later), is exported again next time.
            if cassette.response.outcome == Outcome.COMPLETE:
                self._cassettes[execution_id] = cassette
        return cassette

    def refresh(self) -> bool:
        candidates = [Candidate(f"execution {execution_id}", request, execution_id) for execution_id, request in self.store.execution_requests()]
        with self._lock:
            changed = [(c.execution_id, c.body) for c in candidates] != [(c.execution_id, c.body) for c in self._candidates]
            if changed:
                self._candidates = candidates
                self.version += 1
        return changed


def _stream_of(body: dict | None) -> WorkflowStream:
    request = RecordedRequest.from_body(body)
    return WorkflowStream.V1 if request is None else request.stream
