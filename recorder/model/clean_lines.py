"""The fast path of `parse_line`: a legacy event line that raises no flag, read in one typed decode.

Nearly every line of a stream is a NODE event or a non-terminal WORKFLOW event whose indexed fields
are short ids, a known state, node type and value tags, and a timestamp with an offset. msgspec
decodes such a line straight into those few fields, checking their types, lengths and vocabularies
in C while it skips the rest of the payload, which is never built as Python objects (the event's
`body` is read from the verbatim text only if something asks for it). The exact path
(recorder.model.events) builds the whole object and walks it in Python, about twice the cost.

The fast path may decline but never answer differently: any line it is not sure of (a flag to
raise, a field of another type, a terminal WORKFLOW event whose outputs and error must be checked,
an SDK-style event, anything that is not JSON) gets None, and the exact path decides.
tests/test_clean_lines.py holds it to that.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from recorder.model.exact_json import MAX_PARSE_DEPTH
from recorder.model.indexed import MAX_EXTERNAL_ID_LENGTH, MAX_ID_LENGTH, ParsedEvent
from recorder.model.timestamps import TimestampError, parse_ts_us
from recorder.model.vocabulary import NODE_STATES, NODE_TYPES, TERMINAL_STATES, VALUE_TYPES, WORKFLOW_STATES, StreamShape

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
# An escaped NUL is the one thing msgspec lets into a string that an index column cannot hold.
_ESCAPED_NUL = b"\\u0000"


def read_clean_event(position: int, data: bytes) -> ParsedEvent | None:
    """The event of a clean legacy line, exactly as the exact path would read it; else None."""
    # Without a backslash there is no escape to look for (one memchr); deep nesting is the exact
    # path's to refuse (msgspec would skip it), and a line too short to open and close more than
    # MAX_PARSE_DEPTH brackets, or opening fewer, cannot nest deeper.
    if b"\\" in data and _ESCAPED_NUL in data:
        return None
    if len(data) > 2 * MAX_PARSE_DEPTH and data.count(b"[") + data.count(b"{") > MAX_PARSE_DEPTH:
        return None
    try:
        envelope = _DECODER.decode(data)
        text = data.decode("utf-8")  # msgspec does not check the bytes of what it skips
    except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
        return None
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
        ts = fields.ts
        ts_us = None
    else:
        if state not in _OPEN_WORKFLOW_STATES or fields.ts is None:
            return None
        node_type, ts = None, fields.ts
    if ts is not None:
        try:
            ts_us, naive = parse_ts_us(ts)
        except TimestampError:
            return None
        if naive:
            return None
    # In field order, positionally (see recorder.model.events).
    return ParsedEvent(
        position, envelope.execution_id, envelope.type, state, ts_us, fields.id, fields.node_id, fields.node_result_id,
        node_type, fields.source_execution_id, (), text, None, StreamShape.LEGACY, envelope.run_id, envelope.external_id,
    )
