"""From a cassette to the store: the recorded exchange as it happened, not as it is read now.

Each line is stored with its recorded arrival time (`recorded_at` + its offset), the recording
gets the cassette's request, source, HTTP status, outcome and error, and its start is the
cassette's `recorded_at`; so store -> cassette -> store -> cassette gives the same cassette.
A `fault` is an instruction to replays, not something that was received: it is not stored
(the fault of a recorded cut follows from its outcome again on export).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import update

from recorder.model.cassette import Cassette, read_cassette
from recorder.model.lines import RawLine
from recorder.store import FlushPolicy, Outcome, Recording, RecordingResult, Store

_FINAL_OUTCOMES = {Outcome.COMPLETE, Outcome.CUT, Outcome.HTTP_ERROR, Outcome.CONNECTION_ERROR, Outcome.INTERRUPTED}


def ingest_cassette(
    store: Store,
    cassette: Cassette,
    *,
    request: dict[str, Any] | None = None,
    source: str | None = None,
    policy: FlushPolicy | None = None,
) -> RecordingResult:
    """Record the cassette's exchange. `request` overrides the cassette's request body; `source`
    is used when the cassette names none."""
    response = cassette.response
    writer = store.writer(
        source=cassette.source or source or "cassette",
        request=request if request is not None else cassette.request.body,
        policy=policy or FlushPolicy.bulk(),
    )
    started_us = cassette.recorded_at_us
    if response.status >= 400:
        # An error body is not a stream: the recorder keeps it in the recording's error, as live.
        error = response.error or f"HTTP {response.status}: {response.body().decode('utf-8', errors='replace')}"
        return writer.finish(Outcome.HTTP_ERROR, http_status=response.status, error=error)
    last = len(response.lines) - 1
    for position, line in enumerate(response.lines):
        terminated = position < last or response.ends_with_newline
        received_at_us = None if started_us is None else started_us + line.at_us
        writer.add(RawLine(position, line.data, terminated=terminated), received_at_us)
    # An in-progress recording exported mid-stream is, once copied, a stream that stopped there.
    outcome = response.outcome if response.outcome in _FINAL_OUTCOMES else Outcome.CUT
    result = writer.finish(outcome, http_status=response.status, error=response.error)
    if started_us is not None and result.already_recorded_as is None:
        ended_us = started_us + (response.lines[-1].at_us if response.lines else 0)
        with store.engine.begin() as connection:
            connection.execute(
                update(Recording).where(Recording.id == result.recording_id).values(started_at_us=started_us, ended_at_us=ended_us)
            )
    return result


def ingest_cassette_file(store: Store, path: str | Path, *, request: dict[str, Any] | None = None) -> RecordingResult:
    file = Path(path)
    return ingest_cassette(store, read_cassette(file), request=request, source=f"file:{file.resolve()}")
