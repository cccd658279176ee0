"""What the store indexes of a line: the parsed event (indexed fields + the verbatim text), the
reject, and the rules for what an index column can hold as it is on every engine.

Both event shapes are read into these (recorder.model.events for the legacy envelope,
recorder.model.sdk_events for the v2 stream's SDK-style events), so the store, the span rules
and analytics read one set of columns whichever endpoint a line came from.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

from recorder.model.exact_json import load_json
from recorder.model.timestamps import TimestampError, parse_ts_us
from recorder.model.vocabulary import Flag, StreamShape

# The longest id (execution_id, run_id, node and event ids) the store indexes: its id columns and
# PostgreSQL's B-tree entries must hold every one. A longer execution_id cannot key an event (the
# line is rejected); any other longer id is left unindexed (NULL, flagged) and stays in the line.
MAX_ID_LENGTH = 128
# external_id is free text the caller chose, indexed too: longer ones are left unindexed.
MAX_EXTERNAL_ID_LENGTH = 512
# JSON documents nested deeper than this are not copied into indexed columns: every engine, driver
# and serializer on the way (orjson writes at most 254 levels) takes them without recursing out.
MAX_INDEXED_DEPTH = 128


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
    # The line's JSON object when the parser built it; None until `body` reads it from `raw` (the
    # typed fast path, recorder.model.clean_lines, reads only the indexed fields of a line).
    parsed_body: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    shape: StreamShape = StreamShape.LEGACY
    # The legacy envelope's run_id and external_id where indexable (what the execution row copies).
    run_id: str | None = None
    external_id: str | None = None

    @property
    def body(self) -> dict[str, Any]:
        """The line's JSON object, read from the verbatim text the first time it is asked for:
        most lines are stored without anyone reading their payload."""
        body = self.parsed_body
        if body is None:
            body = self.parsed_body = load_json(self.raw)
        return body

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


def is_indexable_text(value: str) -> bool:
    """Whether a string can go into a text column as it is on every engine: PostgreSQL text
    holds neither NUL nor a lone surrogate (which no UTF-8 can encode)."""
    return why_not_indexable(value) is None


def indexable_id(value: Any, max_length: int | None = MAX_ID_LENGTH) -> str | None:
    """The id as the store can index it, or None."""
    return value if isinstance(value, str) and why_not_indexable(value, max_length) is None else None


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


def why_not_indexable(value: str, max_length: int | None = None) -> str | None:
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


def indexed_or_flagged(value: Any, flags: list[str], max_length: int = sys.maxsize) -> str | None:
    """`value` when it is a string the store can index as it is; else None, flagging the line
    when a string had to be left out. (Called for every field of every line: kept to one frame.)"""
    if value.__class__ is not str:
        return None
    if len(value) <= max_length and value.isascii() and "\x00" not in value:
        return value
    if why_not_indexable(value, max_length) is None:
        return value
    flags.append(Flag.UNINDEXABLE)
    return None


def unique_flags(flags: list[str]) -> tuple[str, ...]:
    """An event's flags, each once, in the order they were first raised."""
    # Most lines raise none, and dict.fromkeys of an empty list still costs ~0.2 us.
    return tuple(dict.fromkeys(flags)) if flags else ()


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
