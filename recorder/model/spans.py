"""The span rules: how a node run's events fold into one span, and an execution's runs into aggregates.

One set of rules serves two readers that must agree exactly: the timeline, which folds an
execution's stored events when asked, and the store, which folds each batch of new events into
`node_spans` as they are written (so fleet queries never re-read raw events). A fold is a left
fold over events in stream order (`events.seq`), and every field it keeps is stored, so a fold
interrupted after any event and resumed from the stored row gives the row a single pass gives.

A span is one `node_result_id` (node_id repeats across loop and map iterations). It starts at its
INITIATED event and ends at its first FULFILLED or REJECTED event; NODE `ts` is nullable on the
wire, and then the time the line was received stands in (the span is `ts_less` there). A run
whose INITIATED line never came starts at its first event until an INITIATED arrives. Without a
terminal event the span is open, in the state of its latest event.

The v2 stream's runs can pause (a node or workflow waiting on a human or an event): the time
between PAUSED and the next RESUMED (or the run's end) is `paused_us`, waiting rather than work;
LOG and SNAPSHOTTED events are notes that do not move a run on.

A rejected run's error code, the child executions a SUBWORKFLOW or MAP run names (how nested runs
find their container) and a fulfilled PROMPT run's model, tokens and cost live only in the event
payload: `RunDetails` carries them, read from the payload once, where the caller has it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recorder.model.exact_json import load_json
from recorder.model.indexed import is_indexable_text
from recorder.model.sdk_events import is_sdk_event
from recorder.model.vocabulary import NOTE_STATES, TERMINAL_STATES

CONTAINER_TYPES = frozenset({"SUBWORKFLOW", "MAP"})
_PROMPT = "PROMPT"


@dataclass(frozen=True, slots=True)
class RunDetails:
    """What a node event's payload adds to its run (see `run_details`)."""

    error_code: str | None = None
    child_execution_ids: tuple[str, ...] = ()
    model_name: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # only costs reported in USD (or without a unit) count
    has_usage: bool = False
    node_name: str | None = None  # the node's class, as a v2 stream event names it


def needs_details(event_type: str | None, state: str | None, node_type: str | None, run_type: str | None = None) -> bool:
    """Whether a node event's payload holds something its run keeps: the payload is parsed only then."""
    if event_type != "NODE":
        return False
    return (
        state == "REJECTED"
        or (state == "FULFILLED" and node_type == _PROMPT)
        or node_type in CONTAINER_TYPES
        or run_type in CONTAINER_TYPES
    )


def run_details(body: Any, state: str | None, node_type: str | None) -> RunDetails | None:
    """What the parsed event `body` adds to its run: the error code of a REJECTED event, the child
    executions a container run names, the `execution_meta` of a fulfilled PROMPT event."""
    if not isinstance(body, Mapping):
        return None
    error_code = None
    if state == "REJECTED":
        # The legacy envelope keeps it in `data`, the SDK-style event in `body` (recorder.model.sdk_events).
        error = _dig(body, "data", "error") or _dig(body, "body", "error")
        code = error.get("code") if isinstance(error, Mapping) else None
        error_code = code if isinstance(code, str) else None
    payload = _dig(body, "data", "data", "data")
    children = _child_execution_ids(payload)
    usage: dict[str, Any] = {}
    if state == "FULFILLED" and node_type == _PROMPT and isinstance(payload, Mapping):
        usage = _usage(payload.get("execution_meta"))
    name = sdk_node_name(body)
    if error_code is None and not children and not usage and name is None:
        return None
    return RunDetails(error_code=error_code, child_execution_ids=children, node_name=name, **usage)


def sdk_node_name(body: Mapping[str, Any]) -> str | None:
    """The class a v2 stream event names for its run: the node's, or a nested workflow's."""
    payload = body.get("body")
    if not isinstance(payload, Mapping):
        return None
    definition = payload.get("node_definition") or payload.get("workflow_definition")
    name = definition.get("name") if isinstance(definition, Mapping) else None
    return name if isinstance(name, str) and is_indexable_text(name) else None


class RunFold:
    """One node run, folded from its events in stream order. Its fields are the `node_spans` row."""

    __slots__ = (
        "node_result_id", "node_id", "node_type", "source_execution_id", "first_seq", "initiated",
        "start_us", "start_pos", "start_ts_less", "end_us", "end_pos", "end_ts_less", "state", "error_code",
        "streaming_events", "first_output_us", "first_output_ts_less", "child_execution_ids",
        "model_name", "input_tokens", "output_tokens", "cost_usd", "paused_us", "paused_since_us", "node_name",
    )

    def __init__(self, node_result_id: str, first_seq: int) -> None:
        self.node_result_id = node_result_id
        self.node_id: str | None = None
        self.node_type: str | None = None
        self.source_execution_id: str | None = None
        self.first_seq = first_seq
        self.initiated = False  # whether the start is the INITIATED event's (else the first event's)
        self.start_us: int | None = None
        self.start_pos: int | None = None
        self.start_ts_less = False
        self.end_us: int | None = None
        self.end_pos: int | None = None
        self.end_ts_less = False
        self.state: str | None = None
        self.error_code: str | None = None
        self.streaming_events = 0
        self.first_output_us: int | None = None
        self.first_output_ts_less = False
        self.child_execution_ids: tuple[str, ...] = ()
        self.model_name: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cost_usd: float | None = None
        self.paused_us = 0  # time spent PAUSED, closed by RESUMED or the run's end
        self.paused_since_us: int | None = None  # set while the run is paused
        self.node_name: str | None = None

    @property
    def open(self) -> bool:
        return self.end_pos is None

    @property
    def ts_less(self) -> bool:
        return self.start_ts_less or self.end_ts_less

    def add(
        self,
        seq: int,
        state: str | None,
        moment_us: int,
        ts_less: bool,
        node_id: str | None,
        node_type: str | None,
        source_execution_id: str | None,
        details: RunDetails | None,
    ) -> None:
        """Fold one event of this run (events come in stream order)."""
        if self.node_id is None:
            self.node_id = node_id
        if self.node_type is None:
            self.node_type = node_type
        if self.source_execution_id is None:
            self.source_execution_id = source_execution_id
        if self.start_pos is None:
            self.start_us, self.start_pos, self.start_ts_less = moment_us, seq, ts_less
        if state == "INITIATED":
            if not self.initiated:
                self.initiated = True
                self.start_us, self.start_pos, self.start_ts_less = moment_us, seq, ts_less
        elif state == "STREAMING":
            self.streaming_events += 1
            if self.first_output_us is None:
                self.first_output_us, self.first_output_ts_less = moment_us, ts_less
        elif state in TERMINAL_STATES and self.end_pos is None:
            self.end_us, self.end_pos, self.end_ts_less = moment_us, seq, ts_less
            self.state = state
            self._resume_at(moment_us)
            if details is not None:
                self.error_code = details.error_code
                if details.has_usage:
                    self.model_name = details.model_name
                    self.input_tokens = details.input_tokens
                    self.output_tokens = details.output_tokens
                    self.cost_usd = details.cost_usd
        elif state == "PAUSED":
            if self.paused_since_us is None and self.end_pos is None:
                self.paused_since_us = moment_us
        elif state == "RESUMED":
            self._resume_at(moment_us)
        if self.end_pos is None and state is not None and state not in TERMINAL_STATES and state not in NOTE_STATES:
            self.state = state  # an open run reports the state of its latest event
        if details is not None:
            if details.child_execution_ids:
                self.child_execution_ids += details.child_execution_ids
            if self.node_name is None:
                self.node_name = details.node_name

    def _resume_at(self, moment_us: int) -> None:
        if self.paused_since_us is not None:
            self.paused_us += max(0, moment_us - self.paused_since_us)
            self.paused_since_us = None


class ExecutionFold:
    """The node runs of one execution and its span aggregates, folded event by event.

    `folded` counts the execution's events folded so far: they are its events with seq below it,
    so a fold resumed from stored rows must be given exactly the events from that seq on.
    """

    __slots__ = (
        "execution_id", "runs", "folded", "first_output_us", "orphan_node_events", "paused_us", "paused_since_us", "pauses",
    )

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.runs: dict[str, RunFold] = {}
        self.folded = 0
        self.first_output_us: int | None = None
        self.orphan_node_events = 0  # NODE lines without a run id: no span can hold them
        # The workflow's own waiting (WORKFLOW PAUSED until RESUMED or its end), as for a run.
        self.paused_us = 0
        self.paused_since_us: int | None = None
        # The workflow's closed pauses as (start, end), those this fold saw itself: a fold resumed
        # from stored rows starts with none (the timeline, which folds every event, reads them).
        self.pauses: list[tuple[int, int]] = []

    @classmethod
    def resumed(
        cls,
        execution_id: str,
        runs: Iterable[RunFold],
        folded: int,
        first_output_us: int | None,
        paused_us: int | None = 0,
        paused_since_us: int | None = None,
    ) -> ExecutionFold:
        """A fold continued from what the store holds (`runs` in the order of their first event)."""
        fold = cls(execution_id)
        fold.runs = {run.node_result_id: run for run in sorted(runs, key=lambda run: run.first_seq)}
        fold.folded = folded
        fold.first_output_us = first_output_us
        fold.paused_us = paused_us or 0
        fold.paused_since_us = paused_since_us
        return fold

    def add(
        self,
        seq: int,
        event_type: str,
        state: str | None,
        ts_us: int | None,
        received_at_us: int,
        node_id: str | None = None,
        node_result_id: str | None = None,
        node_type: str | None = None,
        source_execution_id: str | None = None,
        details: RunDetails | None = None,
    ) -> RunFold | None:
        """Fold the execution's event `seq`; returns the run it changed, if any."""
        self.folded = seq + 1
        moment_us, ts_less = (ts_us, False) if ts_us is not None else (received_at_us, True)
        if state == "STREAMING" and (self.first_output_us is None or moment_us < self.first_output_us):
            self.first_output_us = moment_us
        if event_type != "NODE":
            if event_type == "WORKFLOW":
                self._workflow_event(state, moment_us)
            return None
        if node_result_id is None:
            self.orphan_node_events += 1
            return None
        run = self.runs.get(node_result_id)
        if run is None:
            run = self.runs[node_result_id] = RunFold(node_result_id, seq)
        run.add(seq, state, moment_us, ts_less, node_id, node_type, source_execution_id, details)
        return run

    def _workflow_event(self, state: str | None, moment_us: int) -> None:
        if state == "PAUSED" and self.paused_since_us is None:
            self.paused_since_us = moment_us
        elif self.paused_since_us is not None and (state == "RESUMED" or state in TERMINAL_STATES):
            self.paused_us += max(0, moment_us - self.paused_since_us)
            self.pauses.append((self.paused_since_us, max(self.paused_since_us, moment_us)))
            self.paused_since_us = None

    def details_from_text(
        self,
        event_type: str | None,
        state: str | None,
        node_result_id: str | None,
        node_type: str | None,
        raw: str | None,
        sdk: bool = False,
    ) -> RunDetails | None:
        """What the event's verbatim text adds to its run, parsed only if the run keeps something
        (`sdk`: the execution came on the v2 stream, whose events name their run's node)."""
        if node_result_id is None or not raw:
            return None
        run = self.runs.get(node_result_id)
        named = not sdk or event_type != "NODE" or (run is not None and run.node_name is not None)
        if named and not needs_details(event_type, state, node_type, run.node_type if run is not None else None):
            return None
        try:
            body = load_json(raw)
        except ValueError:
            return None
        return run_details(body, state, node_type)

    def nesting(self) -> dict[str, tuple[str | None, int]]:
        """Each run's container run and depth. A nested run's `source_execution_id` is a child
        execution a SUBWORKFLOW or MAP run names; one whose container is unknown (its payload never
        named the child) still sits one level down, without a parent. In the v2 stream's
        stream a run's `source_execution_id` is the span around it, itself a run: that run is
        its container (recorder.model.sdk_events)."""
        if not any(run.source_execution_id is not None for run in self.runs.values()):
            return dict.fromkeys(self.runs, (None, 0))  # nothing nested: the common case, quickly
        container_of: dict[str, str] = {}
        for run in self.runs.values():
            for child in run.child_execution_ids:
                container_of.setdefault(child, run.node_result_id)
        parent_of: dict[str, str | None] = {}
        for key, run in self.runs.items():
            source = run.source_execution_id
            parent = container_of.get(source) if source is not None else None
            if parent is None and source in self.runs:
                parent = source
            parent_of[key] = parent if parent != key else None
        depths = _depths(self.runs, parent_of)
        return {key: (parent_of[key], depths[key]) for key in self.runs}

    def totals(self) -> SpanTotals:
        """The execution's span aggregates, as `executions` keeps them."""
        cost = input_tokens = output_tokens = None
        for run in self.runs.values():
            if run.cost_usd is not None:
                cost = (cost or 0.0) + run.cost_usd
            if run.input_tokens is not None:
                input_tokens = (input_tokens or 0) + run.input_tokens
            if run.output_tokens is not None:
                output_tokens = (output_tokens or 0) + run.output_tokens
        return SpanTotals(len(self.runs), cost, input_tokens, output_tokens, self.first_output_us,
                          self.paused_us, self.paused_since_us)


def fold_events(execution_id: str, events: Iterable[Sequence[Any]]) -> ExecutionFold:
    """The fold of an execution's stored events, in stream order. Each event is (seq, type, state,
    ts_us, received_at_us, node_id, node_result_id, node_type, source_execution_id, raw); the
    verbatim `raw` is parsed only for the events whose run keeps something from their payload."""
    fold = ExecutionFold(execution_id)
    sdk: bool | None = None
    for seq, event_type, state, ts_us, received_at_us, node_id, node_result_id, node_type, source, raw in events:
        if sdk is None:
            sdk = is_sdk_text(raw)
        details = fold.details_from_text(event_type, state, node_result_id, node_type, raw, sdk)
        fold.add(seq, event_type, state, ts_us, received_at_us, node_id, node_result_id, node_type, source, details)
    return fold


def is_sdk_text(raw: str | None) -> bool:
    """Whether an execution's first stored line is a v2 stream event (all its lines then are)."""
    try:
        body = load_json(raw) if raw else None
    except ValueError:
        return False
    return isinstance(body, dict) and is_sdk_event(body)


@dataclass(frozen=True, slots=True)
class SpanTotals:
    span_count: int
    prompt_cost_usd: float | None
    prompt_input_tokens: int | None
    prompt_output_tokens: int | None
    first_output_us: int | None
    paused_us: int = 0
    paused_since_us: int | None = None


def _depths(runs: Mapping[str, RunFold], parent_of: Mapping[str, str | None]) -> dict[str, int]:
    """Nesting depth of every run, iteratively (thousands of levels must not hit the recursion
    limit); a cycle of containers in bad data is cut where it closes instead of looping."""
    depths: dict[str, int] = {}
    for start in runs:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = start
        while current is not None and current not in depths and current not in on_path:
            path.append(current)
            on_path.add(current)
            current = parent_of[current]
        if current is None or current in on_path:
            top = path.pop()
            depths[top] = 0 if runs[top].source_execution_id is None else 1
        for key in reversed(path):
            depths[key] = depths[parent_of[key]] + 1
    return depths


def _child_execution_ids(payload: Any) -> tuple[str, ...]:
    """Child executions a SUBWORKFLOW (`execution_id`) or MAP (`execution_ids`) payload names."""
    if not isinstance(payload, Mapping):
        return ()
    ids: list[str] = []
    single = payload.get("execution_id")
    if isinstance(single, str):
        ids.append(single)
    several = payload.get("execution_ids")
    if isinstance(several, list):
        ids.extend(item for item in several if isinstance(item, str))
    return tuple(ids)


def _usage(meta: Any) -> dict[str, Any]:
    """`execution_meta` of a fulfilled PROMPT run (docs/wire-format.md B.6): model, tokens, cost."""
    if not isinstance(meta, Mapping):
        return {}
    usage = meta.get("usage") if isinstance(meta.get("usage"), Mapping) else {}
    cost = meta.get("cost") if isinstance(meta.get("cost"), Mapping) else {}
    value = cost.get("value")
    model = meta.get("model_name")
    return {
        "model_name": model if isinstance(model, str) else None,
        "input_tokens": _int(usage.get("input_token_count")),
        "output_tokens": _int(usage.get("output_token_count")),
        "cost_usd": float(value) if _number(value) and cost.get("unit") in (None, "USD") else None,
        "has_usage": True,
    }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value: Any) -> int | None:
    return int(value) if _number(value) else None


def _dig(value: Any, *keys: str) -> Any:
    """The value under nested keys of parsed event JSON, or None where any level is missing."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
