"""Reading one SDK-style event line (the newer `execute-stream` endpoint) into the same indexed event.

`POST /v1/workflow-deployments/{id}/execute-stream` streams `workflow.execution.*` and
`node.execution.*` events (docs/wire-format.md, section D): no envelope `execution_id`, a `name`
instead of type and state, and a `parent` chain of contexts instead of `source_execution_id`. The
store, the span rules and analytics read one set of indexed columns, so each line is indexed as
the legacy stream's line for the same fact would be (section D.2):

| column                | from the SDK event                                                       |
|-----------------------|--------------------------------------------------------------------------|
| `execution_id`        | the root workflow's `span_id`: the outermost WORKFLOW context of `parent`, or the event's own `span_id` when it is the root workflow's event |
| `type`, `state`       | `workflow.execution.fulfilled` of the root: WORKFLOW, FULFILLED; `node.execution.paused`: NODE, PAUSED |
| `node_result_id`      | a node's `span_id` (one run)                                              |
| `node_id`             | `body.node_definition.id`                                                 |
| `source_execution_id` | the span the run sits in, when that is not the root workflow: a node's nested workflow, a nested workflow's WORKFLOW_NODE (how the span rules nest runs) |
| `ts_us`, `event_id`   | `timestamp`, `id`                                                         |

A nested workflow's own events (a subworkflow or map iteration, when the stream carries them) are a
run of their own, of node type WORKFLOW, under the node that ran it: the root workflow's events
alone say how the execution ended. A name outside both families is kept as an event of that type
(flagged `unknown_type`), under the root its `parent` chain names, or its own `span_id`.
"""

from __future__ import annotations

from typing import Any

from recorder.model.indexed import (
    MAX_EXTERNAL_ID_LENGTH,
    MAX_ID_LENGTH,
    ParsedEvent,
    RejectedLine,
    indexed_or_flagged,
    is_indexable_json,
    timestamp_us,
    unique_flags,
)
from recorder.model.vocabulary import (
    NESTED_WORKFLOW,
    SDK_NODE_STATES,
    SDK_WORKFLOW_STATES,
    TERMINAL_STATES,
    Flag,
    StreamShape,
)

WORKFLOW_PREFIX = "workflow.execution."
NODE_PREFIX = "node.execution."
# Parent chains are short (a few levels per nested workflow); a longer one is walked this far only.
_MAX_CHAIN = 256


def is_sdk_event(body: dict[str, Any]) -> bool:
    """Whether a JSON object is an SDK-style event rather than a legacy envelope."""
    return "execution_id" not in body and isinstance(body.get("name"), str)


def contexts_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's parent chain, nearest first (contexts that are not objects end it)."""
    chain: list[dict[str, Any]] = []
    context = body.get("parent")
    while isinstance(context, dict) and len(chain) < _MAX_CHAIN:
        chain.append(context)
        context = context.get("parent")
    return chain


def deployment_context(body: dict[str, Any], chain: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The WORKFLOW_RELEASE_TAG context of the event's chain (`chain`, when the caller walked it
    already): the deployment, release tag, external_id and metadata the execution ran with."""
    contexts = contexts_of(body) if chain is None else chain
    return next((context for context in contexts if context.get("type") == "WORKFLOW_RELEASE_TAG"), None)


def previous_span_of(body: dict[str, Any]) -> str | None:
    """The execution this one continues: the root workflow's PREVIOUS_SPAN link, which the SDK
    adds to `workflow.execution.initiated` when the request named a `previous_execution_id`."""
    links = body.get("links")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("type") == "PREVIOUS_SPAN" and isinstance(link.get("span_context"), dict):
            span_id = link["span_context"].get("span_id")
            if isinstance(span_id, str) and span_id and len(span_id) <= MAX_ID_LENGTH:
                return span_id
    return None


def parse_sdk_event(position: int, body: dict[str, Any], text: str) -> ParsedEvent | RejectedLine:
    name: str = body["name"]
    flags: list[str] = []
    span_id = indexed_or_flagged(body.get("span_id"), flags, MAX_ID_LENGTH)
    chain = contexts_of(body)
    # One look at each context: the outermost WORKFLOW is the root, the nearest WORKFLOW_RELEASE_TAG
    # the deployment (what deployment_context finds).
    root_workflow = release = None
    for context in chain:
        kind = context.get("type")
        if kind == "WORKFLOW":
            root_workflow = context
        elif kind == "WORKFLOW_RELEASE_TAG" and release is None:
            release = context
    nested = root_workflow is not None  # the event sits in a workflow: it is not the root workflow's own
    root = root_workflow.get("span_id") if nested else span_id
    execution_id = indexed_or_flagged(root, flags, MAX_ID_LENGTH)
    if execution_id is None or not execution_id:
        return RejectedLine(position, "an SDK event without a root workflow span_id string", text)
    payload = body.get("body")
    if not isinstance(payload, dict):
        flags.append(Flag.SCHEMA_DRIFT)
        payload = {}
    # The span the run sits in (its nearest context), unless that is the root workflow.
    around = chain[0].get("span_id") if chain else None
    source = around if isinstance(around, str) and around != execution_id else None

    node_id = node_type = node_result_id = None
    if name.startswith(NODE_PREFIX):  # first: most events are a node's
        event_type, state = "NODE", name[len(NODE_PREFIX):].upper()
        node_result_id = span_id
        if not nested:  # no workflow around it: keyed by its own span, which names no execution
            flags.append(Flag.SCHEMA_DRIFT)
        node_id = _definition_id(payload.get("node_definition"), flags)
        if state not in SDK_NODE_STATES:
            flags.append(Flag.UNKNOWN_STATE)
    elif name.startswith(WORKFLOW_PREFIX) and not nested:
        event_type, state = "WORKFLOW", name[len(WORKFLOW_PREFIX):].upper()
        source = None
        if state not in SDK_WORKFLOW_STATES:
            flags.append(Flag.UNKNOWN_STATE)
        if state in TERMINAL_STATES and not is_indexable_json(payload.get("outputs")):
            flags.append(Flag.UNINDEXABLE)
    elif name.startswith(WORKFLOW_PREFIX):  # a nested workflow: a run of its own
        event_type, state = "NODE", name[len(WORKFLOW_PREFIX):].upper()
        node_result_id, node_type = span_id, NESTED_WORKFLOW
        node_id = _definition_id(payload.get("workflow_definition"), flags)
        if state not in SDK_WORKFLOW_STATES:
            flags.append(Flag.UNKNOWN_STATE)
    else:  # kept under the name it came with, which must then be indexable
        event_type, state = name, None
        flags.append(Flag.UNKNOWN_TYPE)
        if indexed_or_flagged(name, flags) is None:
            return RejectedLine(position, "an SDK event name that cannot be indexed", text)
    if state is not None:
        state = indexed_or_flagged(state, flags)
    if release is not None:
        indexed_or_flagged(release.get("external_id"), flags, MAX_EXTERNAL_ID_LENGTH)
    ts_us = timestamp_us(body.get("timestamp"), required=True, flags=flags)
    event_id = indexed_or_flagged(body.get("id"), flags, MAX_ID_LENGTH)
    source_execution_id = indexed_or_flagged(source, flags, MAX_ID_LENGTH)
    # In field order, positionally: called with keywords, a dataclass packs them into a dict first (~0.6 us a line).
    return ParsedEvent(
        position, execution_id, event_type, state, ts_us, event_id, node_id, node_result_id, node_type,
        source_execution_id, unique_flags(flags), text, body, StreamShape.SDK,
    )


def _definition_id(definition: Any, flags: list[str]) -> str | None:
    if not isinstance(definition, dict):
        flags.append(Flag.SCHEMA_DRIFT)
        return None
    return indexed_or_flagged(definition.get("id"), flags, MAX_ID_LENGTH)
