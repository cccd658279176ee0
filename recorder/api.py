"""The Python API: what notebooks, scripts and the CLI call. The CLI is a thin projection of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from recorder.store import ExecutionFilter, RecordingResult, Store
from recorder.store.serialize import event_to_dict, execution_to_dict, recording_to_dict, reject_to_dict
from recorder.stream.ingest import ingest_chunks, ingest_path


class ExecutionNotFound(LookupError):
    """No recorded execution has this id (or the prefix is ambiguous)."""


class Recorder:
    """A recorder store and everything done with it. `Recorder()` uses RECORDER_DATABASE_URL or
    ./recorder.db; `Recorder("postgresql://...")` a server."""

    def __init__(self, url: str | None = None, *, store: Store | None = None) -> None:
        self.store = store or Store(url)

    @property
    def url(self) -> str:
        return self.store.url

    # -- recording ------------------------------------------------------------------------------

    def ingest(
        self, path: str, *, request: dict[str, Any] | None = None, on_bytes: Callable[[int], None] | None = None
    ) -> RecordingResult:
        """Record a saved response body (NDJSON file, or `-` for stdin)."""
        return ingest_path(self.store, path, request=request, on_bytes=on_bytes)

    def ingest_lines(self, lines: Iterable[bytes | str], *, request: dict[str, Any] | None = None, source: str = "api") -> RecordingResult:
        """Record any iterable of raw lines (without their newlines) as one stream."""
        chunks = ((line.encode("utf-8") if isinstance(line, str) else line) + b"\n" for line in lines)
        return ingest_chunks(self.store, chunks, source=source, request=request)

    # -- auditing -------------------------------------------------------------------------------

    def resolve(self, execution_id: str) -> str:
        """The full id of an execution given its id or a unique prefix."""
        resolved = self.store.resolve_execution_id(execution_id)
        if resolved is None:
            raise ExecutionNotFound(f"no recorded execution matches {execution_id!r}")
        return resolved

    def list_executions(self, where: ExecutionFilter = ExecutionFilter()) -> list[dict[str, Any]]:
        return [execution_to_dict(execution) for execution in self.store.executions(where)]

    def executions(self, where: ExecutionFilter = ExecutionFilter(limit=None)) -> pl.DataFrame:
        """Executions as a polars DataFrame (times as UTC datetimes)."""
        rows = self.list_executions(where)
        frame = pl.DataFrame(rows, schema_overrides={"metadata": pl.Object}) if rows else pl.DataFrame()
        for column in ("started_at", "ended_at"):
            if column in frame.columns:
                frame = frame.with_columns(pl.col(column).str.to_datetime(time_zone="UTC"))
        return frame

    def audit(self, execution_id: str) -> dict[str, Any]:
        """Everything recorded about one execution: request, inputs, outputs, error, events in order."""
        execution = self.store.execution(self.resolve(execution_id))
        assert execution is not None
        recordings = self.store.recordings_of(execution.execution_id)
        describing = next((r for r in recordings if r.id == execution.recording_id), None)
        rejects = self.store.rejects([recording.id for recording in recordings])
        error = None
        if execution.error_code or execution.error_message:
            error = {"code": execution.error_code, "message": execution.error_message}
        return {
            **execution_to_dict(execution),
            "request": describing.request if describing is not None else None,
            "inputs": execution.inputs,
            "outputs": execution.outputs,
            "error": error,
            "recordings": [recording_to_dict(recording) for recording in recordings],
            "rejects": [reject_to_dict(reject) for reject in rejects],
            "events": [event_to_dict(event) for event in self.store.events(execution.execution_id)],
        }

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
