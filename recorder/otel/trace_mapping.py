"""A recorded execution as OpenTelemetry spans: one trace, the workflow as its root, node runs below.

Pure: the rows go in (the execution, its stored node spans, its STREAMING moments, its first event
line), `ReadableSpan`s come out; nothing here reads the store or the network.

Ids are deterministic, which is what makes exporting again idempotent: a receiver that keys spans
by id (Phoenix does) keeps one copy however often an execution is sent, and a link can name the
previous execution's root span without looking it up.

- trace id: the execution's own when its stream carries one (the newer, SDK-style stream puts a
  `trace_id` on every event line; it is read from the first stored line, as a UUID or 32 hex
  digits), else the execution id's 128 bits when it is a UUID, else the first 16 bytes of its
  SHA-256;
- span ids: 64 bits of SHA-256 over (execution id, node_result_id) for a node run, and over the
  execution id alone (with a prefix no node run can produce) for the root.

Times are the recorded ones (epoch microseconds, exported as nanoseconds), never the export's.
A node run without a terminal event (a run the stream never finished) ends at the execution's
end and carries `vellum.open`. INCOMPLETE executions are not mapped: the exporter waits until
they are terminal (see recorder.otel.exporter).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recorder.model.exact_json import load_json
from recorder.otel import conventions as keys

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan

    from recorder.store.export_cursors import StreamingMoment
    from recorder.store.schema import Execution, NodeSpan

# Span events kept per span: a prompt streaming for minutes can send tens of thousands of chunks,
# which no trace view shows usefully and receivers cap anyway. The span says how many were dropped.
MAX_STREAMING_EVENTS_PER_SPAN = 1_000

_ROOT_PREFIX = b"workflow\x00"  # node span ids hash "<execution_id>\x00<node_result_id>": never this
_INSTRUMENTATION_NAME = "workflow-recorder"


@dataclass(frozen=True, slots=True)
class RecordedExecution:
    """Everything the mapping reads about one execution, as the store keeps it."""

    execution: Execution
    spans: Sequence[NodeSpan] = ()
    streaming: Sequence[StreamingMoment] = ()
    # The first stored event line, verbatim: where a newer stream carries the trace id.
    first_line: str | None = None
    # The previous execution's trace id when it is recorded (its first line may name one); None:
    # derive it from previous_execution_id, as that execution's own export would.
    previous_trace_id: int | None = None


# -- ids -------------------------------------------------------------------------------------------


def trace_id_from_line(line: str | None) -> int | None:
    """The `trace_id` an event line carries (a UUID or 32 hex digits), or None."""
    if not line or '"trace_id"' not in line:
        return None
    try:
        body = load_json(line)
    except ValueError:
        return None
    value = body.get("trace_id") if isinstance(body, dict) else None
    return parse_trace_id(value)


def parse_trace_id(value: Any) -> int | None:
    """A 128-bit trace id from a UUID (any of its text forms) or 32 hex digits; None when it is
    neither, or zero (OpenTelemetry's invalid id)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        number = int(text, 16) if len(text) == 32 else uuid.UUID(text).int
    except ValueError:
        return None
    return number or None


def derived_trace_id(execution_id: str) -> int:
    """The trace id of an execution whose stream carries none: its UUID's bits, else a hash."""
    try:
        number = uuid.UUID(execution_id).int
    except ValueError:
        number = 0
    return number or _nonzero(int.from_bytes(hashlib.sha256(execution_id.encode("utf-8")).digest()[:16], "big"))


def trace_id_of(execution_id: str, first_line: str | None) -> int:
    return trace_id_from_line(first_line) or derived_trace_id(execution_id)


def root_span_id(execution_id: str) -> int:
    return _nonzero(int.from_bytes(hashlib.sha256(_ROOT_PREFIX + execution_id.encode("utf-8")).digest()[:8], "big"))


def node_span_id(execution_id: str, node_result_id: str) -> int:
    digest = hashlib.sha256(f"{execution_id}\x00{node_result_id}".encode()).digest()
    return _nonzero(int.from_bytes(digest[:8], "big"))


def _nonzero(number: int) -> int:
    return number or 1  # zero is OpenTelemetry's "invalid" id; 2^-64 odds, but never send it


# -- spans -----------------------------------------------------------------------------------------


def execution_spans(recorded: RecordedExecution, resource: Resource) -> list[ReadableSpan]:
    """The execution's trace: its root span first, then one span per node run."""
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

    from recorder.version import __version__

    execution = recorded.execution
    execution_id = execution.execution_id
    trace_id = trace_id_of(execution_id, recorded.first_line)
    flags = TraceFlags(TraceFlags.SAMPLED)
    scope = InstrumentationScope(_INSTRUMENTATION_NAME, __version__)

    def context(span_id: int) -> SpanContext:
        return SpanContext(trace_id=trace_id, span_id=span_id, is_remote=False, trace_flags=flags)

    start_us, end_us = _execution_bounds(execution, recorded.spans, recorded.streaming)
    moments = _moments_by_run(recorded.streaming)
    root_context = context(root_span_id(execution_id))

    links = []
    if execution.previous_execution_id:
        previous = execution.previous_execution_id
        previous_context = SpanContext(
            trace_id=recorded.previous_trace_id or derived_trace_id(previous),
            span_id=root_span_id(previous),
            is_remote=True,
            trace_flags=flags,
        )
        links.append(Link(previous_context, {keys.VELLUM_LINK_TYPE: "previous_execution", keys.VELLUM_PREVIOUS_EXECUTION_ID: previous}))

    root_events, root_event_attributes = _streaming_events(moments.get(None, ()))
    root = ReadableSpan(
        name=execution.workflow_deployment_name or "workflow",
        context=root_context,
        parent=None,
        resource=resource,
        attributes={**_workflow_attributes(execution), **root_event_attributes},
        events=root_events,
        links=links,
        kind=SpanKind.INTERNAL,
        status=_status(execution.status, _error_description(execution.error_code, execution.error_message)),
        start_time=start_us * 1_000,
        end_time=end_us * 1_000,
        instrumentation_scope=scope,
    )
    spans = [root]
    known_runs = {span.node_result_id for span in recorded.spans}
    for span in recorded.spans:
        parent_run = span.parent_node_result_id if span.parent_node_result_id in known_runs else None
        parent = context(node_span_id(execution_id, parent_run)) if parent_run else root_context
        events, event_attributes = _streaming_events(moments.get(span.node_result_id, ()))
        open_run = span.end_us is None
        run_end = span.end_us if span.end_us is not None else max(end_us, span.start_us)
        spans.append(
            ReadableSpan(
                name=_span_name(span),
                context=context(node_span_id(execution_id, span.node_result_id)),
                parent=parent,
                resource=resource,
                attributes={**_node_attributes(execution, span, open_run), **event_attributes},
                events=events,
                kind=SpanKind.INTERNAL,
                status=_status(span.state, span.error_code, open_run=open_run),
                start_time=span.start_us * 1_000,
                end_time=run_end * 1_000,
                instrumentation_scope=scope,
            )
        )
    return spans


def _execution_bounds(execution: Execution, spans: Sequence[NodeSpan], streaming: Sequence[StreamingMoment]) -> tuple[int, int]:
    """The root span's start and end: the execution's recorded times; where one is missing (a
    stream without its INITIATED or terminal WORKFLOW event), the runs' and events' extremes."""
    seen = [span.start_us for span in spans] + [span.end_us for span in spans if span.end_us is not None]
    seen += [moment.ts_us if moment.ts_us is not None else moment.received_at_us for moment in streaming]
    start = execution.started_at_us if execution.started_at_us is not None else min(seen, default=execution.ended_at_us)
    end = execution.ended_at_us if execution.ended_at_us is not None else max(seen, default=start)
    if start is None:
        start = end if end is not None else 0
    if end is None or end < start:
        end = start
    return start, end


def _moments_by_run(streaming: Iterable[StreamingMoment]) -> dict[str | None, list[StreamingMoment]]:
    by_run: dict[str | None, list[StreamingMoment]] = {}
    for moment in streaming:
        by_run.setdefault(moment.node_result_id, []).append(moment)
    return by_run


def _span_name(span: NodeSpan) -> str:
    """The node's class where the stream names it (v2), else its type and short id."""
    if span.node_name:
        return span.node_name
    return f"{span.node_type or 'NODE'} {span.node_id[:8] if span.node_id else span.node_result_id[:8]}"


def _streaming_events(moments: Sequence[StreamingMoment]) -> tuple[list[Any], dict[str, Any]]:
    """Span events for STREAMING events (the first MAX_STREAMING_EVENTS_PER_SPAN), and the
    attributes that count them."""
    from opentelemetry.sdk.trace import Event as SpanEvent

    if not moments:
        return [], {}
    kept = moments[:MAX_STREAMING_EVENTS_PER_SPAN]
    events = []
    for index, moment in enumerate(kept):
        attributes: dict[str, Any] = {"index": index}
        if moment.ts_us is None:
            attributes[keys.VELLUM_TS_LESS] = True
        moment_us = moment.ts_us if moment.ts_us is not None else moment.received_at_us
        events.append(SpanEvent(keys.STREAMING_EVENT_NAME, attributes, timestamp=moment_us * 1_000))
    total = max(len(moments), max(moment.of_total for moment in moments))
    counts: dict[str, Any] = {keys.VELLUM_STREAMING_EVENTS: total}
    if total > len(kept):
        counts[keys.VELLUM_STREAMING_EVENTS_DROPPED] = total - len(kept)
    return events, counts


def _status(state: str | None, description: str | None, *, open_run: bool = False) -> Any:
    from opentelemetry.trace import Status, StatusCode

    if state == "REJECTED":
        return Status(StatusCode.ERROR, description or "REJECTED")
    if state == "FULFILLED" and not open_run:
        return Status(StatusCode.OK)
    return Status(StatusCode.UNSET)


def _error_description(code: str | None, message: str | None) -> str | None:
    if code and message:
        return f"{code}: {message}"
    return code or message


def _workflow_attributes(execution: Execution) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        keys.OPENINFERENCE_SPAN_KIND: keys.CHAIN,
        keys.VELLUM_EXECUTION_ID: execution.execution_id,
        keys.VELLUM_STATUS: execution.status,
    }
    optional = {
        keys.VELLUM_DEPLOYMENT: execution.workflow_deployment_name,
        keys.VELLUM_DEPLOYMENT_ID: execution.workflow_deployment_id,
        keys.VELLUM_RELEASE_TAG: execution.release_tag,
        keys.VELLUM_EXTERNAL_ID: execution.external_id,
        keys.VELLUM_PREVIOUS_EXECUTION_ID: execution.previous_execution_id,
        keys.ERROR_TYPE: execution.error_code if execution.status == "REJECTED" else None,
        keys.VELLUM_ERROR_MESSAGE: execution.error_message if execution.status == "REJECTED" else None,
    }
    attributes.update({key: value for key, value in optional.items() if value is not None})
    if execution.metadata_ is not None:
        attributes[keys.METADATA] = json.dumps(execution.metadata_, ensure_ascii=False, sort_keys=True, default=str)
    return attributes


def _node_attributes(execution: Execution, span: NodeSpan, open_run: bool) -> dict[str, Any]:
    kind = keys.SPAN_KIND_OF_NODE_TYPE.get(span.node_type or "", keys.CHAIN)
    attributes: dict[str, Any] = {
        keys.OPENINFERENCE_SPAN_KIND: kind,
        keys.VELLUM_EXECUTION_ID: execution.execution_id,
        keys.VELLUM_NODE_RESULT_ID: span.node_result_id,
    }
    optional = {
        keys.VELLUM_NODE_ID: span.node_id,
        keys.VELLUM_NODE_TYPE: span.node_type,
        keys.VELLUM_NODE_NAME: span.node_name,
        keys.VELLUM_SOURCE_EXECUTION_ID: span.source_execution_id,
        keys.VELLUM_DEPLOYMENT: execution.workflow_deployment_name,
        keys.VELLUM_RELEASE_TAG: execution.release_tag,
        keys.ERROR_TYPE: span.error_code if span.state == "REJECTED" else None,
    }
    attributes.update({key: value for key, value in optional.items() if value is not None})
    if span.state == "REJECTED" and keys.ERROR_TYPE not in attributes:
        attributes[keys.ERROR_TYPE] = "REJECTED"
    if open_run:
        attributes[keys.VELLUM_OPEN] = True
    if span.start_ts_less or span.end_ts_less:
        attributes[keys.VELLUM_TS_LESS] = True
    if kind == keys.LLM:
        attributes.update(_llm_attributes(span))
    return attributes


def _llm_attributes(span: NodeSpan) -> dict[str, Any]:
    """GenAI and OpenInference attributes of a PROMPT run: model, tokens, cost, where reported."""
    attributes: dict[str, Any] = {keys.GEN_AI_SYSTEM: keys.GEN_AI_SYSTEM_VELLUM}
    if span.model_name:
        attributes[keys.GEN_AI_REQUEST_MODEL] = span.model_name
        attributes[keys.LLM_MODEL_NAME] = span.model_name
    if span.input_tokens is not None:
        attributes[keys.GEN_AI_USAGE_INPUT_TOKENS] = span.input_tokens
        attributes[keys.LLM_TOKEN_COUNT_PROMPT] = span.input_tokens
    if span.output_tokens is not None:
        attributes[keys.GEN_AI_USAGE_OUTPUT_TOKENS] = span.output_tokens
        attributes[keys.LLM_TOKEN_COUNT_COMPLETION] = span.output_tokens
    if span.input_tokens is not None or span.output_tokens is not None:
        attributes[keys.LLM_TOKEN_COUNT_TOTAL] = (span.input_tokens or 0) + (span.output_tokens or 0)
    if span.cost_usd is not None:
        attributes[keys.LLM_COST_TOTAL] = span.cost_usd
    return attributes
