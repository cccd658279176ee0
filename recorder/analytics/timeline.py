"""The timeline of one execution: a span per node run, nesting, overhead and the critical path.

A span is one `node_result_id` (node_id repeats across loop and map iterations). Its start is the
`ts` of its INITIATED event and its end the `ts` of its FULFILLED or REJECTED event; NODE `ts` is
nullable on the wire, and then the time the line was received stands in (the span is marked
`ts_less`, and the timeline is no longer `exact`). A span with no terminal event (a cut stream) is
`open`: it has no end of its own, and interval math extends it to the execution's horizon, the
last instant the stream reported, because that is what the execution was still waiting for.

The v2 stream's runs and workflows can pause (waiting on a human or an event): a span's
`waiting_ms` is its time paused and `work_ms` the rest; the workflow's own paused time is
`waiting_ms` on the timeline and is not counted as overhead, since nothing was due then.

The indexed event columns give the times, states and ids; the verbatim text (authoritative) is
parsed only for what no column holds: a rejected node's error code, and the child executions a
SUBWORKFLOW or MAP node names, which is how nested spans find their parent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from recorder.analytics.intervals import Interval, covered_us, critical_path, overlap_counts, peak_concurrency
from recorder.store.analytics_reads import EventRow, ExecutionRow
from recorder.model.spans import ExecutionFold, RunFold, fold_events
from recorder.model.timestamps import us_to_iso

if TYPE_CHECKING:
    import polars as pl

@dataclass(frozen=True, slots=True)
class Span:
    """One node run. Times are epoch microseconds; `end_us` is None while the span is open."""

    node_id: str | None
    node_result_id: str
    node_type: str | None
    state: str | None
    start_us: int
    end_us: int | None
    first_output_us: int | None
    streaming_events: int
    source_execution_id: str | None
    error_code: str | None
    start_pos: int
    end_pos: int | None
    parent_node_result_id: str | None = None
    depth: int = 0
    ts_less: bool = False
    first_output_ts_less: bool = False
    overlaps: int = 0
    paused_us: int = 0
    node_name: str | None = None  # the node's class (v2 stream only)

    @property
    def open(self) -> bool:
        return self.end_us is None

    @property
    def waiting_ms(self) -> float:
        return self.paused_us / 1000

    @property
    def work_ms(self) -> float | None:
        """The span's duration less its time paused: what the node itself took."""
        return None if self.end_us is None else (self.end_us - self.start_us - self.paused_us) / 1000

    @property
    def duration_ms(self) -> float | None:
        return None if self.end_us is None else (self.end_us - self.start_us) / 1000

    @property
    def first_output_ms(self) -> float | None:
        return None if self.first_output_us is None else (self.first_output_us - self.start_us) / 1000

    def to_dict(self) -> dict[str, Any]:
        """The `--json` shape of a span (the contract keys first, then what explains them)."""
        return {
            "node_id": self.node_id,
            "node_result_id": self.node_result_id,
            "node_type": self.node_type,
            "node_name": self.node_name,
            "state": self.state,
            "start": us_to_iso(self.start_us),
            "end": us_to_iso(self.end_us),
            "duration_ms": self.duration_ms,
            "first_output_ms": self.first_output_ms,
            "streaming_events": self.streaming_events,
            "source_execution_id": self.source_execution_id,
            "error_code": self.error_code,
            "open": self.open,
            "start_us": self.start_us,
            "end_us": self.end_us,
            "start_pos": self.start_pos,
            "end_pos": self.end_pos,
            "parent_node_result_id": self.parent_node_result_id,
            "depth": self.depth,
            "ts_less": self.ts_less,
            "first_output_ts_less": self.first_output_ts_less,
            "overlaps": self.overlaps,
            "waiting_ms": self.waiting_ms,
            "work_ms": self.work_ms,
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    """What happened in one execution, and when."""

    execution_id: str
    status: str
    started_at_us: int | None
    ended_at_us: int | None
    # The last instant the stream reported: the end for a finished execution, else its latest event.
    horizon_us: int | None
    spans: tuple[Span, ...]
    overhead_us: int | None
    critical_path: tuple[str, ...]
    critical_path_us: int
    max_concurrency: int
    # True when every time came from the server's `ts`, none from the receiving clock.
    exact: bool
    deployment: str | None = None
    release_tag: str | None = None
    node_events_without_run: int = 0
    # Time the workflow itself was paused (v2 stream): waiting, so neither work nor overhead.
    waiting_us: int = 0

    @property
    def duration_ms(self) -> float | None:
        if self.started_at_us is None or self.ended_at_us is None:
            return None
        return (self.ended_at_us - self.started_at_us) / 1000

    @property
    def overhead_ms(self) -> float | None:
        return None if self.overhead_us is None else self.overhead_us / 1000

    @property
    def waiting_ms(self) -> float:
        return self.waiting_us / 1000

    @property
    def critical_path_ms(self) -> float:
        return self.critical_path_us / 1000

    @property
    def critical_path_share(self) -> float | None:
        """The critical path's part of the execution's time (to the horizon while it runs)."""
        if self.started_at_us is None or self.horizon_us is None or self.horizon_us <= self.started_at_us:
            return None
        return self.critical_path_us / (self.horizon_us - self.started_at_us)

    def span(self, node_result_id: str) -> Span:
        return next(span for span in self.spans if span.node_result_id == node_result_id)

    def to_dict(self) -> dict[str, Any]:
        """The `recorder timeline --json` object."""
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "started_at": us_to_iso(self.started_at_us),
            "ended_at": us_to_iso(self.ended_at_us),
            "duration_ms": self.duration_ms,
            "overhead_ms": self.overhead_ms,
            "critical_path": list(self.critical_path),
            "spans": [span.to_dict() for span in self.spans],
            "critical_path_ms": self.critical_path_ms,
            "critical_path_share": self.critical_path_share,
            "max_concurrency": self.max_concurrency,
            "exact": self.exact,
            "deployment": self.deployment,
            "release_tag": self.release_tag,
            "waiting_ms": self.waiting_ms,
        }

    def frame(self) -> pl.DataFrame:
        """The spans as a polars DataFrame (times as UTC datetimes, durations in ms)."""
        import polars as pl

        rows = [{**asdict(span), "duration_ms": span.duration_ms, "first_output_ms": span.first_output_ms,
                 "waiting_ms": span.waiting_ms, "work_ms": span.work_ms,
                 "open": span.open, "on_critical_path": span.node_result_id in self.critical_path}
                for span in self.spans]
        schema = {name: getattr(pl, dtype) for name, dtype in _FRAME_COLUMNS.items()}
        frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
        return frame.with_columns(
            pl.from_epoch("start_us", time_unit="us").dt.replace_time_zone("UTC").alias("start"),
            pl.from_epoch("end_us", time_unit="us").dt.replace_time_zone("UTC").alias("end"),
        ).drop("first_output_us")


_FRAME_COLUMNS = {
    "node_id": "String", "node_result_id": "String", "node_type": "String", "state": "String",
    "start_us": "Int64", "end_us": "Int64", "first_output_us": "Int64", "streaming_events": "Int64",
    "source_execution_id": "String", "error_code": "String", "start_pos": "Int64", "end_pos": "Int64",
    "parent_node_result_id": "String", "depth": "Int64", "ts_less": "Boolean",
    "first_output_ts_less": "Boolean", "overlaps": "Int64", "duration_ms": "Float64",
    "first_output_ms": "Float64", "open": "Boolean", "on_critical_path": "Boolean", "paused_us": "Int64",
    "waiting_ms": "Float64", "work_ms": "Float64", "node_name": "String",
}


def build_timeline(execution: ExecutionRow, events: Iterable[EventRow]) -> Timeline:
    """The timeline of `execution` from its events (any order; stream order is restored)."""
    events = sorted(events, key=lambda e: e.position)
    fold = fold_events(execution.execution_id, (_event_tuple(event) for event in events))
    workflow_times = [event.ts_us for event in events if event.type == "WORKFLOW" and event.ts_us is not None]
    moments = [event.ts_us if event.ts_us is not None else event.received_at_us for event in events]
    latest_us = max(moments) if moments else None
    orphans = fold.orphan_node_events

    spans = spans_of(fold)
    started = execution.started_at_us
    if started is None:
        candidates = workflow_times + [span.start_us for span in spans]
        started = min(candidates) if candidates else None
    ended = execution.ended_at_us
    horizon = ended if ended is not None else latest_us
    intervals = [
        Interval(span.node_result_id, span.start_us, max(span.start_us, _effective_end(span, horizon)),
                 span.end_pos if span.end_pos is not None else span.start_pos)
        for span in spans
    ]
    overlaps = overlap_counts(intervals)
    spans = sorted(
        (replace(span, overlaps=overlaps[span.node_result_id]) for span in spans),
        key=lambda span: (span.start_us, span.start_pos),
    )
    overhead = None
    chain: list[Interval] = []
    if started is not None and horizon is not None:
        waits = _workflow_waits(fold, horizon)
        overhead = (horizon - started) - covered_us([*intervals, *waits], started, horizon)
        chain = critical_path(intervals, horizon)
    return Timeline(
        execution_id=execution.execution_id,
        status=execution.status,
        started_at_us=started,
        ended_at_us=ended,
        horizon_us=horizon,
        spans=tuple(spans),
        overhead_us=overhead,
        critical_path=tuple(item.key for item in chain),
        critical_path_us=sum(item.end_us - item.start_us for item in chain),
        max_concurrency=peak_concurrency(intervals),
        exact=not any(span.ts_less or span.first_output_ts_less for span in spans),
        deployment=execution.deployment,
        release_tag=execution.release_tag,
        node_events_without_run=orphans,
        waiting_us=_waiting_us(fold, horizon),
    )


def spans_of(fold: ExecutionFold) -> list[Span]:
    """The spans of a folded execution, with their container run and depth."""
    nesting = fold.nesting()
    return [span_of(run, *nesting[key]) for key, run in fold.runs.items()]


def span_of(run: RunFold, parent: str | None, depth: int) -> Span:
    return Span(
        node_id=run.node_id,
        node_result_id=run.node_result_id,
        node_type=run.node_type,
        state=run.state,
        start_us=run.start_us,
        end_us=run.end_us,
        first_output_us=run.first_output_us,
        streaming_events=run.streaming_events,
        source_execution_id=run.source_execution_id,
        error_code=run.error_code,
        start_pos=run.start_pos,
        end_pos=run.end_pos,
        parent_node_result_id=parent,
        depth=depth,
        ts_less=run.ts_less,
        first_output_ts_less=run.first_output_ts_less,
        paused_us=run.paused_us,
        node_name=run.node_name,
    )


def _waiting_us(fold: ExecutionFold, horizon_us: int | None) -> int:
    """The workflow's time paused, counting a pause still open up to the horizon."""
    if fold.paused_since_us is None or horizon_us is None:
        return fold.paused_us
    return fold.paused_us + max(0, horizon_us - fold.paused_since_us)


def _workflow_waits(fold: ExecutionFold, horizon_us: int) -> list[Interval]:
    """The workflow's paused stretches, a pause still open lasting up to the horizon."""
    waits = [Interval("paused", start, end, 0) for start, end in fold.pauses]
    if fold.paused_since_us is not None:
        waits.append(Interval("paused", fold.paused_since_us, max(fold.paused_since_us, horizon_us), 0))
    return waits


def _effective_end(span: Span, horizon: int | None) -> int:
    if span.end_us is not None:
        return span.end_us
    return horizon if horizon is not None else span.start_us


def _event_tuple(event: EventRow) -> tuple[Any, ...]:
    return (event.position, event.type, event.state, event.ts_us, event.received_at_us, event.node_id,
            event.node_result_id, event.node_type, event.source_execution_id, event.raw)
