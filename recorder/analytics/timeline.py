"""The timeline of one execution: a span per node run, nesting, overhead and the critical path.

A span is one `node_result_id` (node_id repeats across loop and map iterations). Its start is the
`ts` of its INITIATED event and its end the `ts` of its FULFILLED or REJECTED event; NODE `ts` is
nullable on the wire, and then the time the line was received stands in (the span is marked
`ts_less`, and the timeline is no longer `exact`). A span with no terminal event (a cut stream) is
`open`: it has no end of its own, and interval math extends it to the execution's horizon, the
last instant the stream reported, because that is what the execution was still waiting for.

The indexed event columns give the times, states and ids; the verbatim text (authoritative) is
parsed only for what no column holds: a rejected node's error code, and the child executions a
SUBWORKFLOW or MAP node names, which is how nested spans find their parent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from recorder.analytics.intervals import Interval, covered_us, critical_path, overlap_counts, peak_concurrency
from recorder.analytics.meta import dig
from recorder.store.analytics_reads import EventRow, ExecutionRow
from recorder.model.events import load_json
from recorder.model.timestamps import us_to_iso
from recorder.model.vocabulary import TERMINAL_STATES

if TYPE_CHECKING:
    import polars as pl

CONTAINER_TYPES = frozenset({"SUBWORKFLOW", "MAP"})


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

    @property
    def open(self) -> bool:
        return self.end_us is None

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

    @property
    def duration_ms(self) -> float | None:
        if self.started_at_us is None or self.ended_at_us is None:
            return None
        return (self.ended_at_us - self.started_at_us) / 1000

    @property
    def overhead_ms(self) -> float | None:
        return None if self.overhead_us is None else self.overhead_us / 1000

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
        }

    def frame(self) -> pl.DataFrame:
        """The spans as a polars DataFrame (times as UTC datetimes, durations in ms)."""
        import polars as pl

        rows = [{**asdict(span), "duration_ms": span.duration_ms, "first_output_ms": span.first_output_ms,
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
    "first_output_ms": "Float64", "open": "Boolean", "on_critical_path": "Boolean",
}


class _SpanBuilder:
    """Collects the events of one node run, in stream order."""

    __slots__ = ("node_result_id", "node_id", "node_type", "source_execution_id", "first_pos", "first_us",
                 "first_ts_less", "start", "end", "state", "error_code", "streaming", "first_output", "children")

    def __init__(self, event: EventRow) -> None:
        self.node_result_id = event.node_result_id
        self.node_id = event.node_id
        self.node_type: str | None = None
        self.source_execution_id: str | None = None
        self.first_pos = event.position
        self.first_us, self.first_ts_less = _moment(event)
        self.start: tuple[int, bool, int] | None = None  # (us, ts_less, position)
        self.end: tuple[int, bool, int] | None = None
        self.state: str | None = None
        self.error_code: str | None = None
        self.streaming = 0
        self.first_output: tuple[int, bool] | None = None
        self.children: list[str] = []

    def add(self, event: EventRow) -> None:
        self.node_id = self.node_id or event.node_id
        self.node_type = self.node_type or event.node_type
        self.source_execution_id = self.source_execution_id or event.source_execution_id
        moment, ts_less = _moment(event)
        if event.state == "INITIATED" and self.start is None:
            self.start = (moment, ts_less, event.position)
        elif event.state == "STREAMING":
            self.streaming += 1
            if self.first_output is None:
                self.first_output = (moment, ts_less)
        elif event.state in TERMINAL_STATES and self.end is None:
            self.end = (moment, ts_less, event.position)
            self.state = event.state
            if event.state == "REJECTED":
                self.error_code = _error_code(event.raw)
        if self.end is None and event.state is not None and event.state not in TERMINAL_STATES:
            self.state = event.state  # an open run reports the state of its latest event
        if (event.node_type in CONTAINER_TYPES or self.node_type in CONTAINER_TYPES) and event.raw:
            self.children.extend(_child_execution_ids(event.raw))

    def build(self, parent: str | None, depth: int) -> Span:
        # A run whose INITIATED line was lost starts at its first event we have.
        start_us, start_less, start_pos = self.start or (self.first_us, self.first_ts_less, self.first_pos)
        end_us, end_less, end_pos = self.end or (None, False, None)
        first_us, first_less = self.first_output or (None, False)
        return Span(
            node_id=self.node_id,
            node_result_id=self.node_result_id,
            node_type=self.node_type,
            state=self.state,
            start_us=start_us,
            end_us=end_us,
            first_output_us=first_us,
            streaming_events=self.streaming,
            source_execution_id=self.source_execution_id,
            error_code=self.error_code,
            start_pos=start_pos,
            end_pos=end_pos,
            parent_node_result_id=parent,
            depth=depth,
            ts_less=start_less or end_less,
            first_output_ts_less=first_less,
        )


def build_timeline(execution: ExecutionRow, events: Iterable[EventRow]) -> Timeline:
    """The timeline of `execution` from its events (any order; stream order is restored)."""
    builders: dict[str, _SpanBuilder] = {}
    workflow_times: list[int] = []
    latest_us: int | None = None
    orphans = 0
    for event in sorted(events, key=lambda e: e.position):
        moment, _ = _moment(event)
        latest_us = moment if latest_us is None else max(latest_us, moment)
        if event.type == "WORKFLOW":
            if event.ts_us is not None:
                workflow_times.append(event.ts_us)
            continue
        if event.type != "NODE":
            continue
        if event.node_result_id is None:
            orphans += 1  # a NODE line without a run id cannot be placed on any span
            continue
        builder = builders.get(event.node_result_id)
        if builder is None:
            builder = builders[event.node_result_id] = _SpanBuilder(event)
        builder.add(event)

    spans = _nest(builders)
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
        overhead = (horizon - started) - covered_us(intervals, started, horizon)
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
    )


def _nest(builders: dict[str, _SpanBuilder]) -> list[Span]:
    """Spans with their parent run and depth: a nested run's `source_execution_id` is a child
    execution that a SUBWORKFLOW or MAP run names. A nested run whose container is unknown (its
    payload never named the child) still sits one level down, without a parent."""
    container_of: dict[str, str] = {}
    for builder in builders.values():
        for child in builder.children:
            container_of.setdefault(child, builder.node_result_id)
    parent_of: dict[str, str | None] = {}
    for key, builder in builders.items():
        source = builder.source_execution_id
        parent = container_of.get(source) if source is not None else None
        parent_of[key] = parent if parent != key else None
    depths = _depths(builders, parent_of)
    return [builder.build(parent_of[key], depths[key]) for key, builder in builders.items()]


def _depths(builders: dict[str, _SpanBuilder], parent_of: dict[str, str | None]) -> dict[str, int]:
    """Nesting depth of every run, iteratively (thousands of levels must not hit the recursion
    limit); a cycle of containers in bad data is cut where it closes instead of looping."""
    depths: dict[str, int] = {}
    for start in builders:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = start
        while current is not None and current not in depths and current not in on_path:
            path.append(current)
            on_path.add(current)
            current = parent_of[current]
        if current is None or current in on_path:
            top = path.pop()
            depths[top] = 0 if builders[top].source_execution_id is None else 1
        for key in reversed(path):
            depths[key] = depths[parent_of[key]] + 1
    return depths


def _effective_end(span: Span, horizon: int | None) -> int:
    if span.end_us is not None:
        return span.end_us
    return horizon if horizon is not None else span.start_us


def _moment(event: EventRow) -> tuple[int, bool]:
    """When the event happened: its `ts`, else (NODE ts is nullable) when its line was received."""
    if event.ts_us is not None:
        return event.ts_us, False
    return event.received_at_us, True


def _error_code(raw: str | None) -> str | None:
    body = _parse(raw)
    error = dig(body, "data", "error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _child_execution_ids(raw: str) -> list[str]:
    """Child executions a SUBWORKFLOW (`execution_id`) or MAP (`execution_ids`) payload names."""
    payload = dig(_parse(raw), "data", "data", "data")
    if not isinstance(payload, dict):
        return []
    ids = []
    single = payload.get("execution_id")
    if isinstance(single, str):
        ids.append(single)
    several = payload.get("execution_ids")
    if isinstance(several, list):
        ids.extend(item for item in several if isinstance(item, str))
    return ids


def _parse(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return load_json(raw)
    except ValueError:
        return None
