"""Reading one line of a stream into an event (indexed fields + the verbatim text) or a reject.

The verbatim text is authoritative; the extracted fields are an index over it. A line is never
dropped: it becomes an event (flagged when it carries something unknown) or a reject with a reason.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import orjson

from recorder.model.lines import RawLine
from recorder.model.timestamps import TimestampError, parse_ts_us
from recorder.model.vocabulary import (
    NODE_STATES,
    NODE_TYPES,
    TERMINAL_STATES,
    VALUE_TYPES,
    WORKFLOW_STATES,
    Flag,
    StreamShape,
)

# The longest id (execution_id, run_id, node and event ids) the store indexes: its id columns and
# PostgreSQL's B-tree entries must hold every one. A longer execution_id cannot key an event (the
# line is rejected); any other longer id is left unindexed (NULL, flagged) and stays in the line.
MAX_ID_LENGTH = 128
# external_id is free text the caller chose, indexed too: longer ones are left unindexed.
MAX_EXTERNAL_ID_LENGTH = 512
# JSON documents nested deeper than this are not copied into indexed columns: every engine, driver
# and serializer on the way (orjson writes at most 254 levels) takes them without recursing out.
MAX_INDEXED_DEPTH = 128
# Lines nested deeper than this are not parsed (they become rejects): how deep a parser can go
# before Python's recursion limit depends on the caller's stack, and the line's fate must not.
MAX_PARSE_DEPTH = 512
# orjson reads integers wider than 64 bits as floats, silently: a line with a run of 19 digits
# goes to the exact parser. Found by mapping every byte to "0" (a digit) or " " (anything else):
# two C passes, several times cheaper than a regular expression.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


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
    shape: StreamShape = StreamShape.LEGACY

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
    if _indexed(execution_id, [], MAX_ID_LENGTH) is None:
        why = _why_not_indexable(execution_id, MAX_ID_LENGTH)
        return RejectedLine(line.position, f"execution_id cannot be indexed ({why})", text)
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type:
        return RejectedLine(line.position, "no type string", text)
    if _indexed(event_type, []) is None:
        return RejectedLine(line.position, f"type cannot be indexed ({_why_not_indexable(event_type)})", text)
    return _event(line.position, execution_id, event_type, body, text)


def load_json(text: str, utf8: bytes | None = None) -> Any:
    """Parse JSON exactly, or raise ValueError (never RecursionError, whatever the nesting).

    orjson is several times faster; json accepts the rare valid-but-odd input orjson refuses (lone
    surrogate escapes, NaN, 1e400) and keeps integers beyond 64 bits exact where orjson would
    turn them into floats. `utf8`, the text's own bytes when the caller has them (a received
    line), spares encoding it again for the two byte scans below.
    """
    data = utf8 if utf8 is not None else text.encode("utf-8", "surrogatepass")
    if _nesting_depth(text, data) > MAX_PARSE_DEPTH:
        raise ValueError(f"nested deeper than {MAX_PARSE_DEPTH} levels")
    try:
        if _LONG_DIGIT_RUN not in data.translate(_DIGITS_ONLY):
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def _nesting_depth(text: str, data: bytes) -> int:
    """How deep brackets nest outside strings (a bound is enough when there are few brackets)."""
    if data.count(b"[") + data.count(b"{") <= MAX_PARSE_DEPTH:
        return 0
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def is_indexable_text(value: str) -> bool:
    """Whether a string can go into a text column as it is on every engine: PostgreSQL text
    holds neither NUL nor a lone surrogate (which no UTF-8 can encode)."""
    return _why_not_indexable(value) is None


def indexable_id(value: Any, max_length: int | None = MAX_ID_LENGTH) -> str | None:
    """The id as the store can index it, or None."""
    return value if isinstance(value, str) and _why_not_indexable(value, max_length) is None else None


def indexable_text(value: Any) -> str | None:
    """Free text (an error message) as a text column can hold it, at any length, or None."""
    return indexable_id(value, max_length=None)


def is_indexable_json(value: Any) -> bool:
    """Whether a JSON value can be copied into a JSON column and read back equal on both engines.

    PostgreSQL's JSONB refuses \\u0000, NaN, infinities and lone surrogates, which SQLite's JSON
    text would take: a value with any of them (or nested beyond MAX_INDEXED_DEPTH) is left out
    everywhere, and the verbatim line keeps it. Walked with a stack, not recursion.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not is_indexable_text(item):
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, (dict, list)):
            if depth > MAX_INDEXED_DEPTH:
                return False
            if isinstance(item, dict):
                for key, child in item.items():
                    if not is_indexable_text(key):
                        return False
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return True


def indexable_json(value: Any) -> Any:
    return value if is_indexable_json(value) else None


def _why_not_indexable(value: str, max_length: int | None = None) -> str | None:
    if max_length is not None and len(value) > max_length:
        return f"longer than {max_length} characters"
    if "\x00" in value:
        return "it contains U+0000"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "it contains a lone surrogate"
    return None


def _reject(line: RawLine, reason: str) -> RejectedLine:
    text = line.data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return RejectedLine(line.position, reason, text, raw_bytes=line.data)


def _event(position: int, execution_id: str, event_type: str, body: dict, text: str) -> ParsedEvent:
    flags: list[str] = []
    data = body.get("data")
    if not isinstance(data, dict):
        flags.append(Flag.SCHEMA_DRIFT)
        data = {}
    state = _indexed(data.get("state"), flags)
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
                _indexed(error.get("code"), flags)
                _indexed(error.get("message"), flags)
    elif event_type == "NODE":
        if state not in NODE_STATES:
            flags.append(Flag.UNKNOWN_STATE)
        node_type = _node_type(data, flags)
        if not isinstance(data.get("node_result_id"), str) or not isinstance(data.get("node_id"), str):
            flags.append(Flag.SCHEMA_DRIFT)
    else:
        flags.append(Flag.UNKNOWN_TYPE)
    _indexed(body.get("run_id"), flags, MAX_ID_LENGTH)
    _indexed(body.get("external_id"), flags, MAX_EXTERNAL_ID_LENGTH)
    ts_us = timestamp_us(data.get("ts"), required=event_type != "NODE", flags=flags)
    if _has_unknown_value_type(data):
        flags.append(Flag.UNKNOWN_VALUE_TYPE)
    return ParsedEvent(
        position=position,
        execution_id=execution_id,
        type=event_type,
        state=state,
        ts_us=ts_us,
        event_id=_indexed(data.get("id"), flags, MAX_ID_LENGTH),
        node_id=_indexed(data.get("node_id"), flags, MAX_ID_LENGTH),
        node_result_id=_indexed(data.get("node_result_id"), flags, MAX_ID_LENGTH),
        node_type=node_type,
        source_execution_id=_indexed(data.get("source_execution_id"), flags, MAX_ID_LENGTH),
        flags=tuple(dict.fromkeys(flags)),
        raw=text,
        body=body,
    )


def _indexed(value: Any, flags: list[str], max_length: int = sys.maxsize) -> str | None:
    """`value` when it is a string the store can index as it is; else None, flagging the line
    when a string had to be left out. (Called for every field of every line: kept to one frame.)"""
    if value.__class__ is not str:
        return None
    if len(value) <= max_length and value.isascii() and "\x00" not in value:
        return value
    if _why_not_indexable(value, max_length) is None:
        return value
    flags.append(Flag.UNINDEXABLE)
    return None


# The SDK-style parser indexes its fields by the same rule.
indexed_or_flagged = _indexed


def _node_type(data: dict, flags: list[str]) -> str | None:
    payload = data.get("data")
    if not isinstance(payload, dict):
        return None
    node_type = payload.get("type")
    if not isinstance(node_type, str):
        flags.append(Flag.SCHEMA_DRIFT)
        return None
    node_type = _indexed(node_type, flags)
    if node_type is None:
        return None
    if node_type not in NODE_TYPES:
        flags.append(Flag.UNKNOWN_NODE_TYPE)
    return node_type


def timestamp_us(ts: Any, *, required: bool, flags: list[str]) -> int | None:
    """An event's time in epoch microseconds, flagging a missing (when `required`), bad or naive one.
    (NODE `ts` is nullable on the wire; a WORKFLOW event without one breaks the schema.)"""
    if ts is None:
        if required:
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


# The v2 stream's events build on this module's types (imported last: it imports them).
from recorder.model import sdk_events  # noqa: E402
