"""Reading one line of a stream into an event (indexed fields + the verbatim text) or a reject.

`parse_line` reads any line; a legacy WORKFLOW/NODE envelope is indexed here (most of them by the
typed fast path of recorder.model.clean_lines), an SDK-style event of the v2 stream by
recorder.model.sdk_events, both into the forms of recorder.model.indexed
(ParsedEvent and RejectedLine are named here too, where callers of `parse_line` take them from).

The verbatim text is authoritative; the extracted fields are an index over it. A line is never
dropped: it becomes an event (flagged when it carries something unknown) or a reject with a reason.
"""

from __future__ import annotations

from typing import Any

from recorder.model import sdk_events
from recorder.model.clean_lines import read_clean_line
from recorder.model.exact_json import load_json
from recorder.model.indexed import (
    MAX_EXTERNAL_ID_LENGTH,
    MAX_ID_LENGTH,
    ParsedEvent,
    RejectedLine,
    indexed_or_flagged,
    is_indexable_json,
    timestamp_us,
    unique_flags,
    why_not_indexable,
)
from recorder.model.lines import RawLine
from recorder.model.vocabulary import NODE_STATES, NODE_TYPES, TERMINAL_STATES, VALUE_TYPES, WORKFLOW_STATES, Flag, StreamShape


def parse_line(line: RawLine) -> ParsedEvent | RejectedLine | None:
    """Classify one line; None for a blank line (framing, not data). A clean event of either stream
    (most lines) is read by a typed fast path (recorder.model.clean_lines); every other line, and any
    a fast path is unsure of, exactly."""
    event = read_clean_line(line.position, line.data)
    return event if event is not None else parse_line_exactly(line)


def parse_line_exactly(line: RawLine) -> ParsedEvent | RejectedLine | None:
    """`parse_line` without the fast path: the whole line parsed, and every rule checked in Python."""
    if line.is_blank:
        return None
    try:
        text = line.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _reject(line, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
    if "\x00" in text:
        return _reject(line, "contains a NUL byte, which is never valid JSON")
    try:
        body = load_json(text, line.data)
    except ValueError as exc:
        prefix = "" if line.terminated else "last line cut before its end: "
        return RejectedLine(line.position, f"{prefix}not JSON ({exc})", text)
    if not isinstance(body, dict):
        return RejectedLine(line.position, f"not a JSON object (a {type(body).__name__})", text)
    if sdk_events.is_sdk_event(body):
        return sdk_events.parse_sdk_event(line.position, body, text)
    execution_id = body.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id:
        return RejectedLine(line.position, "no execution_id string", text)
    if indexed_or_flagged(execution_id, [], MAX_ID_LENGTH) is None:
        why = why_not_indexable(execution_id, MAX_ID_LENGTH)
        return RejectedLine(line.position, f"execution_id cannot be indexed ({why})", text)
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type:
        return RejectedLine(line.position, "no type string", text)
    if indexed_or_flagged(event_type, []) is None:
        return RejectedLine(line.position, f"type cannot be indexed ({why_not_indexable(event_type)})", text)
    return _event(line.position, execution_id, event_type, body, text)


def _reject(line: RawLine, reason: str) -> RejectedLine:
    text = line.data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return RejectedLine(line.position, reason, text, raw_bytes=line.data)


def _event(position: int, execution_id: str, event_type: str, body: dict, text: str) -> ParsedEvent:
    flags: list[str] = []
    data = body.get("data")
    if not isinstance(data, dict):
        flags.append(Flag.SCHEMA_DRIFT)
        data = {}
    state = indexed_or_flagged(data.get("state"), flags)
    node_type = None
    if event_type == "WORKFLOW":
        if state not in WORKFLOW_STATES:
            flags.append(Flag.UNKNOWN_STATE)
        if state in TERMINAL_STATES:
            # What the execution row copies from its terminal event (recorder.model.facts).
            if not is_indexable_json(data.get("outputs")):
                flags.append(Flag.UNINDEXABLE)
            error = data.get("error")
            if isinstance(error, dict):
                indexed_or_flagged(error.get("code"), flags)
                indexed_or_flagged(error.get("message"), flags)
    elif event_type == "NODE":
        if state not in NODE_STATES:
            flags.append(Flag.UNKNOWN_STATE)
        node_type = _node_type(data, flags)
        if not isinstance(data.get("node_result_id"), str) or not isinstance(data.get("node_id"), str):
            flags.append(Flag.SCHEMA_DRIFT)
    else:
        flags.append(Flag.UNKNOWN_TYPE)
    run_id = indexed_or_flagged(body.get("run_id"), flags, MAX_ID_LENGTH)
    external_id = indexed_or_flagged(body.get("external_id"), flags, MAX_EXTERNAL_ID_LENGTH)
    ts_us = timestamp_us(data.get("ts"), required=event_type != "NODE", flags=flags)
    if _has_unknown_value_type(data):
        flags.append(Flag.UNKNOWN_VALUE_TYPE)
    event_id = indexed_or_flagged(data.get("id"), flags, MAX_ID_LENGTH)
    node_id = indexed_or_flagged(data.get("node_id"), flags, MAX_ID_LENGTH)
    node_result_id = indexed_or_flagged(data.get("node_result_id"), flags, MAX_ID_LENGTH)
    source_execution_id = indexed_or_flagged(data.get("source_execution_id"), flags, MAX_ID_LENGTH)
    # In field order, positionally: called with keywords, a dataclass packs them into a dict first (~0.6 us a line).
    return ParsedEvent(
        position, execution_id, event_type, state, ts_us, event_id, node_id, node_result_id, node_type,
        source_execution_id, unique_flags(flags), text, body, StreamShape.LEGACY, run_id, external_id,
    )


def _node_type(data: dict, flags: list[str]) -> str | None:
    payload = data.get("data")
    if not isinstance(payload, dict):
        return None
    node_type = payload.get("type")
    if not isinstance(node_type, str):
        flags.append(Flag.SCHEMA_DRIFT)
        return None
    node_type = indexed_or_flagged(node_type, flags)
    if node_type is None:
        return None
    if node_type not in NODE_TYPES:
        flags.append(Flag.UNKNOWN_NODE_TYPE)
    return node_type


def _has_unknown_value_type(data: dict) -> bool:
    """Look at the typed values the client validates by tag; an unknown tag drops the event there.
    (A plain loop: every line passes here, and a generator under any() cost it ~0.3 us more.)"""
    candidates: list[Any] = []
    for key in ("inputs", "outputs", "input_values", "output_values"):
        items = data.get(key)
        if isinstance(items, list):
            candidates += items
    candidates.append(data.get("output"))
    payload = data.get("data")
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        candidates.append(payload["data"].get("output"))
    for item in candidates:
        if isinstance(item, dict):
            tag = item.get("type")
            if isinstance(tag, str) and tag not in VALUE_TYPES:
                return True
    return False

