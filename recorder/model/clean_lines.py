"""The fast paths of `parse_line`: an event line that raises no flag, read in one typed decode.

Nearly every line of a stream is a clean event: on the legacy stream a NODE event or a non-terminal
WORKFLOW event, on the v2 stream a node's event or a nested workflow's under its root; their
indexed fields are short ids, a known state, node type and value tags, and a timestamp with an
offset. msgspec decodes such a line straight into those few fields, checking their types, lengths
and vocabularies in C while it skips the rest of the payload, which is never built as Python
objects (the event's `body` is read from the verbatim text only if something asks for it). The
exact path (recorder.model.events, recorder.model.sdk_events) builds the whole object and walks it
in Python, about twice the cost.

A fast path may decline but never answer differently: any line it is not sure of (a flag to raise,
a field of another type, a root workflow's terminal event whose outputs must be checked, the other
stream's shape, anything that is not JSON) gets None, and the exact path decides.
tests/test_clean_lines.py holds both to that.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from recorder.model.exact_json import MAX_PARSE_DEPTH
from recorder.model.indexed import MAX_EXTERNAL_ID_LENGTH, MAX_ID_LENGTH, ParsedEvent
from recorder.model.sdk_events import _MAX_CHAIN, NODE_PREFIX, WORKFLOW_PREFIX
from recorder.model.timestamps import TimestampError, parse_ts_us
from recorder.model.vocabulary import (
    NESTED_WORKFLOW,
    NODE_STATES,
    NODE_TYPES,
    SDK_NODE_STATES,
    SDK_WORKFLOW_STATES,
    TERMINAL_STATES,
    VALUE_TYPES,
    WORKFLOW_STATES,
    StreamShape,
)

# Literal over a frozenset's members: msgspec checks membership while decoding.
_ValueTag = Literal[tuple(sorted(VALUE_TYPES))]  # type: ignore[valid-type]
_State = Literal[tuple(sorted(NODE_STATES | WORKFLOW_STATES))]  # type: ignore[valid-type]
_Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]
_ExecutionId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
_ExternalId = Annotated[str, msgspec.Meta(max_length=MAX_EXTERNAL_ID_LENGTH)]
# The WORKFLOW states whose event the execution row copies nothing from but its start.
_OPEN_WORKFLOW_STATES = WORKFLOW_STATES - TERMINAL_STATES


class _Tagged(msgspec.Struct):
    """A typed value (B.7): only its tag matters here, and an unknown tag is the exact path's."""

    type: _ValueTag | None = None


class _Result(msgspec.Struct):
    output: _Tagged | None = None


class _Payload(msgspec.Struct):
    """A NODE event's `data.data`: the node type and the result it carries."""

    type: str | None = None
    data: _Result | None = None


class _Data(msgspec.Struct):
    state: _State
    id: _Id | None = None
    ts: str | None = None
    node_id: _Id | None = None
    node_result_id: _Id | None = None
    source_execution_id: _Id | None = None
    data: _Payload | None = None
    inputs: list[_Tagged] | None = None
    outputs: list[_Tagged] | None = None
    input_values: list[_Tagged] | None = None
    output_values: list[_Tagged] | None = None
    output: _Tagged | None = None


class _Envelope(msgspec.Struct):
    execution_id: _ExecutionId
    type: Literal["NODE", "WORKFLOW"]
    data: _Data
    run_id: _Id | None = None
    external_id: _ExternalId | None = None


_DECODER = msgspec.json.Decoder(_Envelope)


class _Context(msgspec.Struct):
    """One context of an SDK-style event's `parent` chain (section D): what indexing reads of it."""

    type: str | None = None
    span_id: _Id | None = None
    external_id: _ExternalId | None = None
    parent: _Context | None = None


class _Definition(msgspec.Struct):
    id: _Id | None = None


class _SdkPayload(msgspec.Struct):
    node_definition: _Definition | None = None
    workflow_definition: _Definition | None = None


class _SdkEvent(msgspec.Struct):
    name: str
    body: _SdkPayload
    timestamp: str
    # A legacy envelope's key: a line with it is not an SDK event (recorder.model.sdk_events).
    execution_id: msgspec.UnsetType = msgspec.UNSET
    id: _Id | None = None
    span_id: _Id | None = None
    parent: _Context | None = None


_SDK_DECODER = msgspec.json.Decoder(_SdkEvent)
_OPEN_SDK_WORKFLOW_STATES = SDK_WORKFLOW_STATES - TERMINAL_STATES
_EXECUTION_ID_KEY = b'"execution_id"'
# An escaped NUL is the one thing msgspec lets into a string that an index column cannot hold.
_ESCAPED_NUL = b"\\u0000"


def _decoded(decoder: msgspec.json.Decoder[Any], data: bytes) -> tuple[Any, str] | None:
    """The line decoded into the fast path's structs, and its text; None where the exact path must
    look (or the line does not fit the structs)."""
    # Without a backslash there is no escape to look for (one memchr); deep nesting is the exact
    # path's to refuse (msgspec would skip it), and a line too short to open and close more than
    # MAX_PARSE_DEPTH brackets, or opening fewer, cannot nest deeper.
    if b"\\" in data and _ESCAPED_NUL in data:
        return None
    if len(data) > 2 * MAX_PARSE_DEPTH and data.count(b"[") + data.count(b"{") > MAX_PARSE_DEPTH:
        return None
    try:
        return decoder.decode(data), data.decode("utf-8")  # msgspec does not check the bytes of what it skips
    except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
        return None


def read_clean_line(position: int, data: bytes) -> ParsedEvent | None:
    """The event of a clean line of either stream, exactly as the exact path would read it; else
    None. A legacy envelope names its execution_id, an SDK-style event never: one search spares
    most lines the other shape's decode (a line that misleads it only costs the second decode)."""
    legacy = _EXECUTION_ID_KEY in data and read_clean_event(position, data)
    return legacy or read_clean_sdk_event(position, data)


def read_clean_event(position: int, data: bytes) -> ParsedEvent | None:
    """The event of a clean legacy line, exactly as the exact path would read it; else None."""
    decoded = _decoded(_DECODER, data)
    if decoded is None:
        return None
    envelope, text = decoded
    fields = envelope.data
    state, payload = fields.state, fields.data
    if envelope.type == "NODE":
        if state not in NODE_STATES or fields.node_id is None or fields.node_result_id is None:
            return None
        node_type = None
        if payload is not None:
            if payload.type not in NODE_TYPES:
                return None
            node_type = payload.type
        ts_us = None
        if fields.ts is not None:
            ts_us = _aware_us(fields.ts)
            if ts_us is None:
                return None
    else:
        if state not in _OPEN_WORKFLOW_STATES or fields.ts is None:
            return None
        node_type, ts_us = None, _aware_us(fields.ts)
        if ts_us is None:
            return None
    # In field order, positionally (see recorder.model.events).
    return ParsedEvent(
        position, envelope.execution_id, envelope.type, state, ts_us, fields.id, fields.node_id, fields.node_result_id,
        node_type, fields.source_execution_id, (), text, None, StreamShape.LEGACY, envelope.run_id, envelope.external_id,
    )


def read_clean_sdk_event(position: int, data: bytes) -> ParsedEvent | None:
    """The event of a clean v2 stream line (an SDK-style event in a known family and state, not the
    root workflow's terminal event, in a chain that names its root), exactly as
    recorder.model.sdk_events reads it; else None."""
    decoded = _decoded(_SDK_DECODER, data)
    if decoded is None:
        return None
    event, text = decoded
    # The chain, nearest first: its outermost WORKFLOW is the root. (Every context's external_id is
    # held to the index's rules by the struct, the release tag's among them.)
    around = event.parent
    root_workflow = None
    context, depth = around, 0
    while context is not None:
        depth += 1
        if depth > _MAX_CHAIN:
            return None  # walked only so far by the exact path
        if context.type == "WORKFLOW":
            root_workflow = context
        context = context.parent
    name, payload = event.name, event.body
    if root_workflow is None:  # the root workflow's own event (a node outside any is the exact path's)
        execution_id = event.span_id
        if not execution_id or not name.startswith(WORKFLOW_PREFIX):
            return None
        state = name[len(WORKFLOW_PREFIX):].upper()
        if state not in _OPEN_SDK_WORKFLOW_STATES:
            return None  # a terminal one's outputs are checked by the exact path
        return _sdk_event(position, event, text, execution_id, "WORKFLOW", state, None, None, None, None)
    execution_id = root_workflow.span_id
    if not execution_id:
        return None
    source = around.span_id if around is not None and around.span_id != execution_id else None  # type: ignore[union-attr]
    if name.startswith(NODE_PREFIX):
        event_type, state, node_type = "NODE", name[len(NODE_PREFIX):].upper(), None
        if state not in SDK_NODE_STATES:
            return None
        definition = payload.node_definition
    elif name.startswith(WORKFLOW_PREFIX):  # nested (a root workflow's events have no WORKFLOW context)
        event_type, state, node_type = "NODE", name[len(WORKFLOW_PREFIX):].upper(), NESTED_WORKFLOW
        if state not in SDK_WORKFLOW_STATES:
            return None
        definition = payload.workflow_definition
    else:
        return None
    if definition is None:
        return None
    return _sdk_event(position, event, text, execution_id, event_type, state, definition.id, event.span_id, node_type, source)


def _aware_us(ts: str) -> int | None:
    """A timestamp with an offset in epoch microseconds; None for one the exact path flags (bad or naive)."""
    try:
        ts_us, naive = parse_ts_us(ts)
    except TimestampError:
        return None
    return None if naive else ts_us


def _sdk_event(
    position: int, event: _SdkEvent, text: str, execution_id: str, event_type: str, state: str,
    node_id: str | None, node_result_id: str | None, node_type: str | None, source: str | None,
) -> ParsedEvent | None:
    ts_us = _aware_us(event.timestamp)
    if ts_us is None:
        return None
    return ParsedEvent(
        position, execution_id, event_type, state, ts_us, event.id, node_id, node_result_id, node_type, source, (),
        text, None, StreamShape.SDK,
    )
