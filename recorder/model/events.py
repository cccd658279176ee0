"""Reading one line of a stream into an event (indexed fields + the verbatim text) or a reject.

The verbatim text is authoritative; the extracted fields are an index over it. A line is never
dropped: it becomes an event (flagged when it carries something unknown) or a reject with a reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from recorder.model.lines import RawLine
from recorder.model.timestamps import TimestampError, parse_ts_us
from recorder.model.vocabulary import (
    EVENT_TYPES,
    NODE_STATES,
    NODE_TYPES,
    VALUE_TYPES,
    WORKFLOW_STATES,
    Flag,
)


@dataclass(slots=True)
class ParsedEvent:
    """An event line: where it stands in its stream, what indexes it, and the exact text."""

    position: int
    execution_id: str
    type: str
    state: str | None
    ts_us: int | None
    event_id: str | None
    node_id: str | None
    node_result_id: str | None
    node_type: str | None
    source_execution_id: str | None
    flags: tuple[str, ...]
    raw: str
    body: dict[str, Any] = field(repr=False)

    @property
    def flags_text(self) -> str | None:
        return ",".join(self.flags) or None


@dataclass(slots=True)
class RejectedLine:
    """A line that cannot be an event, kept verbatim with the reason."""

    position: int
    reason: str
    raw: str
    # Only set when `raw` could not hold the bytes exactly (invalid UTF-8, NUL); then authoritative.
    raw_bytes: bytes | None = None


def parse_line(line: RawLine) -> ParsedEvent | RejectedLine | None:
    """Classify one line; None for a blank line (framing, not data)."""
    if line.is_blank:
        return None
    try:
        text = line.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _reject(line, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
    if "\x00" in text:
        return _reject(line, "contains a NUL byte, which is never valid JSON")
    try:
        body = load_json(text)
    except ValueError as exc:
        prefix = "" if line.terminated else "last line cut before its end: "
        return RejectedLine(line.position, f"{prefix}not JSON ({exc})", text)
    if not isinstance(body, dict):
        return RejectedLine(line.position, f"not a JSON object (a {type(body).__name__})", text)
    execution_id = body.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id:
        return RejectedLine(line.position, "no execution_id string", text)
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type:
        return RejectedLine(line.position, "no type string", text)
    return _event(line.position, execution_id, event_type, body, text)


def load_json(text: str) -> Any:
    # orjson is several times faster; json accepts the rare valid-but-odd input orjson refuses
    # (lone surrogate escapes, integers beyond 64 bits, NaN).
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _reject(line: RawLine, reason: str) -> RejectedLine:
    text = line.data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return RejectedLine(line.position, reason, text, raw_bytes=line.data)


def _event(position: int, execution_id: str, event_type: str, body: dict, text: str) -> ParsedEvent:
    flags: list[str] = []
    data = body.get("data")
    if not isinstance(data, dict):
        flags.append(Flag.SCHEMA_DRIFT)
        data = {}
    state = _str_or_none(data.get("state"))
    node_type = None
    if event_type == "WORKFLOW":
        if state not in WORKFLOW_STATES:
            flags.append(Flag.UNKNOWN_STATE)
    elif event_type == "NODE":
        if state not in NODE_STATES:
            flags.append(Flag.UNKNOWN_STATE)
        node_type = _node_type(data, flags)
        if not isinstance(data.get("node_result_id"), str) or not isinstance(data.get("node_id"), str):
            flags.append(Flag.SCHEMA_DRIFT)
    else:
        flags.append(Flag.UNKNOWN_TYPE)
    ts_us = _timestamp(data, event_type, flags)
    if _has_unknown_value_type(data):
        flags.append(Flag.UNKNOWN_VALUE_TYPE)
    return ParsedEvent(
        position=position,
        execution_id=execution_id,
        type=event_type,
        state=state,
        ts_us=ts_us,
        event_id=_str_or_none(data.get("id")),
        node_id=_str_or_none(data.get("node_id")),
        node_result_id=_str_or_none(data.get("node_result_id")),
        node_type=node_type,
        source_execution_id=_str_or_none(data.get("source_execution_id")),
        flags=tuple(dict.fromkeys(flags)),
        raw=text,
        body=body,
    )


def _node_type(data: dict, flags: list[str]) -> str | None:
    payload = data.get("data")
    if not isinstance(payload, dict):
        return None
    node_type = payload.get("type")
    if not isinstance(node_type, str):
        flags.append(Flag.SCHEMA_DRIFT)
        return None
    if node_type not in NODE_TYPES:
        flags.append(Flag.UNKNOWN_NODE_TYPE)
    return node_type


def _timestamp(data: dict, event_type: str, flags: list[str]) -> int | None:
    ts = data.get("ts")
    if ts is None:
        # NODE ts is nullable on the wire; a WORKFLOW event without one breaks the schema.
        if event_type != "NODE":
            flags.append(Flag.MISSING_TS)
        return None
    if not isinstance(ts, str):
        flags.append(Flag.BAD_TS)
        return None
    try:
        ts_us, naive = parse_ts_us(ts)
    except TimestampError:
        flags.append(Flag.BAD_TS)
        return None
    if naive:
        flags.append(Flag.NAIVE_TS)
    return ts_us


def _has_unknown_value_type(data: dict) -> bool:
    """Look at the typed values the client validates by tag; an unknown tag drops the event there."""
    candidates: list[Any] = []
    for key in ("inputs", "outputs", "input_values", "output_values"):
        items = data.get(key)
        if isinstance(items, list):
            candidates.extend(items)
    candidates.append(data.get("output"))
    payload = data.get("data")
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        candidates.append(payload["data"].get("output"))
    return any(
        isinstance(item, dict) and isinstance(item.get("type"), str) and item["type"] not in VALUE_TYPES
        for item in candidates
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
