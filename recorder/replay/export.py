"""From the store to a cassette: one execution's recorded stream, rebuilt byte for byte.

The body is rebuilt from what the store keeps of the recording that carried it: every event
(`events.raw`, authoritative), every reject (`rejects.raw_bytes` when set, else `raw`), the
whitespace-only lines (`recordings.blank_lines`), the lines another recording stored first
(`recordings.stored_elsewhere`), empty lines (positions nothing else holds) and whether the body
ended in `\\n` (`recordings.ends_with_newline`). When the recording has a body SHA-256, the
rebuilt body must hash to it, or the export fails rather than hand out other bytes.

Arrival offsets come from `received_at_us` relative to the recording's start (when the request
was sent, for a live recording). Lines that carry no arrival time (blank lines, and events first
stored by an earlier recording of the same execution) take the offset of the line before them;
offsets never go backwards.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from recorder.model.cassette import NDJSON, STREAM_PATH, Cassette, Fault, Line, Request, Response
from recorder.model.endpoints import deployment_stream_path
from recorder.model.events import ParsedEvent, parse_line
from recorder.model.lines import RawLine
from recorder.model.request import RecordedRequest
from recorder.model.sdk_events import deployment_context, is_sdk_event
from recorder.replay.redaction import redact
from recorder.store import Execution, Outcome, Recording, Store

# The writer's reason for a body that ended cleanly before its terminal event (recorder.store.writer):
# such a stream is replayed as it ended, cleanly; any other cut broke the connection.
_CLEAN_END = "the stream ended before the terminal WORKFLOW event"
# How many readings of an ambiguous body are tried against its hash before giving up.
_MAX_READINGS = 4096


class ExportError(LookupError):
    """The execution is not recorded, or its body cannot be rebuilt exactly."""


@dataclass(frozen=True, slots=True)
class _Row:
    position: int
    data: bytes
    received_at_us: int | None  # None: no arrival time of this recording's own


def export_cassette(store: Store, execution_id: str, *, redact_keys: Sequence[str] = ()) -> Cassette:
    """The cassette of an execution (its full id), from the best recording of its stream."""
    execution = store.execution(execution_id)
    if execution is None:
        raise ExportError(f"no recorded execution has the id {execution_id!r}")
    recordings = store.recordings_of(execution_id)
    referring = store.recordings_referring_to(execution_id, excluding=[recording.id for recording in recordings])
    carrying = _recordings_with_lines([*recordings, *referring])
    if not carrying:
        raise ExportError(f"execution {execution_id} has no recorded stream to export")
    recording = carrying[0]
    lines, ends_with_newline = rebuild_lines(store, recording, execution_id)
    describing = next((r for r in recordings if r.id == execution.recording_id), None)
    kept = RecordedRequest.from_body(recording.request if recording.request is not None else (describing.request if describing else None))
    # The request as it went over the wire: a v2 stream's path names the deployment, its body does not.
    try:
        path, request_body = (kept.wire_path, kept.wire_body) if kept is not None else _unrecorded_request(execution, lines)
    except ValueError:  # a v2 request naming no deployment (hand-written): the events name it
        path, request_body = _unrecorded_request(execution, lines)
    response = Response(
        status=recording.http_status or 200,
        headers={"content-type": NDJSON},
        lines=lines,
        ends_with_newline=ends_with_newline,
        outcome=recording.outcome,
        error=recording.error,
    )
    cassette = Cassette(
        request=Request(method="POST", path=path, body=request_body),
        response=response,
        execution_id=execution_id,
        recorded_at_us=recording.started_at_us,
        source=recording.source,
        fault=fault_of_ending(recording.outcome, recording.error, len(lines)),
    )
    if redact_keys:
        cassette = redact(cassette, redact_keys).cassette
    return cassette


def _unrecorded_request(execution: Execution, lines: Sequence[Line]) -> tuple[str, dict | None]:
    """The endpoint of a body recorded without a usable request (`recorder ingest` of a bare body):
    SDK events came from the v2 stream, whose path needs a deployment: the execution's, else the
    one the events' WORKFLOW_RELEASE_TAG context names. Its body is unknown, so matching has only
    the deployment to go on."""
    first = next((parsed for position, line in enumerate(lines)
                  if isinstance(parsed := parse_line(RawLine(position, line.data)), ParsedEvent)), None)
    if first is None or not is_sdk_event(first.body):
        return STREAM_PATH, None
    context = deployment_context(first.body) or {}
    named = (execution.workflow_deployment_id or execution.workflow_deployment_name
             or context.get("deployment_id") or context.get("deployment_name"))
    return (deployment_stream_path(named), {}) if isinstance(named, str) and named else (STREAM_PATH, None)


def fault_of_ending(outcome: str, error: str | None, line_count: int) -> Fault | None:
    """A stream whose connection broke is replayed breaking the same way, after the same lines."""
    if outcome in (Outcome.CUT, Outcome.INTERRUPTED) and not (error or "").startswith(_CLEAN_END):
        return Fault(cut_after_lines=line_count)
    return None


def rebuild_lines(store: Store, recording: Recording, execution_id: str) -> tuple[tuple[Line, ...], bool]:
    """The recording's lines in stream order with their arrival offsets, verified against its hash."""
    if recording.stored_elsewhere is None and recording.duplicate_count:
        return _rebuild_by_guessing(store, recording, execution_id)
    own, _ = _rows_of(store, recording, execution_id)
    own.update(_rows_stored_elsewhere(store, recording))
    lines = _timed([own.get(p) or _Row(p, b"", None) for p in range(recording.line_count)], recording.started_at_us)
    ends_with_newline = bool(recording.ends_with_newline)
    body = Response(lines=lines, ends_with_newline=ends_with_newline).body()
    if recording.body_sha256 is not None and hashlib.sha256(body).hexdigest() != recording.body_sha256:
        raise ExportError(
            f"recording {recording.id} of execution {execution_id} cannot be rebuilt byte for byte "
            "(its stored lines do not have the recorded SHA-256)"
        )
    return lines, ends_with_newline


def _rows_stored_elsewhere(store: Store, recording: Recording) -> dict[int, _Row]:
    """The lines of the recording that another recording stored (`recordings.stored_elsewhere`)."""
    elsewhere = recording.stored_elsewhere or {}
    rows: dict[int, _Row] = {}
    runs = elsewhere.get("events", ())  # [position, count, execution_id, seq] per run
    stored_runs = store.event_runs([(execution_id, seq, count) for _start, count, execution_id, seq in runs])
    for (start, _count, _execution_id, seq), stored in zip(runs, stored_runs):
        for stored_seq, raw in stored:
            position = start + stored_seq - seq
            rows[position] = _Row(position, raw.encode("utf-8"), None)
    reject_positions = {reject_id: position for position, reject_id in elsewhere.get("rejects", ())}
    for reject_id, raw, raw_bytes in store.reject_lines(list(reject_positions)):
        position = reject_positions[reject_id]
        rows[position] = _Row(position, raw_bytes if raw_bytes is not None else raw.encode("utf-8"), None)
    return rows


def _rebuild_by_guessing(store: Store, recording: Recording, execution_id: str) -> tuple[tuple[Line, ...], bool]:
    """Recordings made before `stored_elsewhere` existed do not say which of their lines another
    recording stored: a position nothing of this recording holds is an empty line or such an
    event. Exactly `duplicate_count` of the gaps where such an event exists are that event; the
    choice whose body has the recorded hash is the body."""
    own, others = _rows_of(store, recording, execution_id)
    candidates = sorted(position for position in others if position not in own)
    duplicates = min(recording.duplicate_count or 0, len(candidates))
    ends_with_newline = bool(recording.ends_with_newline)
    for chosen in _choices(candidates, duplicates):
        rows = [own.get(p) or (others[p] if p in chosen else _Row(p, b"", None)) for p in range(recording.line_count)]
        lines = _timed(rows, recording.started_at_us)
        body = Response(lines=lines, ends_with_newline=ends_with_newline).body()
        if recording.body_sha256 is None or hashlib.sha256(body).hexdigest() == recording.body_sha256:
            return lines, ends_with_newline
    raise ExportError(
        f"recording {recording.id} of execution {execution_id} cannot be rebuilt byte for byte "
        "(no reading of its stored lines has the recorded SHA-256)"
    )


def _choices(candidates: list[int], count: int) -> Iterator[set[int]]:
    if count == len(candidates):
        yield set(candidates)
        return
    yield from (set(chosen) for chosen in itertools.islice(itertools.combinations(candidates, count), _MAX_READINGS))


def _timed(rows: list[_Row], started_at_us: int) -> tuple[Line, ...]:
    lines: list[Line] = []
    offset = 0
    for row in rows:
        if row.received_at_us is not None:
            offset = max(offset, row.received_at_us - started_at_us)
        lines.append(Line(offset, row.data))
    return tuple(lines)


def _recordings_with_lines(recordings: Sequence[Recording]) -> list[Recording]:
    """Recordings that carried a body, best first: complete ones, then the longest, then the oldest."""
    carrying = [r for r in recordings if r.line_count]
    return sorted(carrying, key=lambda r: (r.outcome != Outcome.COMPLETE, -r.line_count, r.id))


def _rows_of(store: Store, recording: Recording, execution_id: str) -> tuple[dict[int, _Row], dict[int, _Row]]:
    """The recording's own lines by position (events, rejects, blank lines), and the events other
    recordings stored for the executions it carried."""
    own: dict[int, _Row] = {}
    others: dict[int, _Row] = {}
    events, rejects = store.recording_lines(recording, execution_id)
    for position, raw, received_at_us, recording_id in events:
        if recording_id == recording.id:
            own[position] = _Row(position, raw.encode("utf-8"), received_at_us)
        else:
            others.setdefault(position, _Row(position, raw.encode("utf-8"), None))
    for position, raw, raw_bytes, received_at_us in rejects:
        own[position] = _Row(position, raw_bytes if raw_bytes is not None else raw.encode("utf-8"), received_at_us)
    for position, text in recording.blank_lines or ():
        own[position] = _Row(position, text.encode("utf-8"), None)
    return own, others
