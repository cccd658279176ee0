"""Reading a line's JSON exactly, whatever it holds: the one JSON reader of recorded text.

A stream's lines are read with orjson, several times faster than json; the few valid lines orjson
refuses or would read inexactly go to json. Nesting is bounded so that a line's fate never depends
on the caller's stack.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Lines nested deeper than this are not parsed (they become rejects): how deep a parser can go
# before Python's recursion limit depends on the caller's stack, and the line's fate must not.
MAX_PARSE_DEPTH = 512
# orjson reads integers wider than 64 bits as floats, silently: a line with a run of 19 digits
# goes to the exact parser. One C pass maps every byte to its class, "0" (a digit), "[" (an
# opening bracket, counted for MAX_PARSE_DEPTH) or " " (anything else), and both questions are
# asked of the result: several times cheaper than a regular expression, and one pass fewer than
# counting the brackets in the line itself.
_BYTE_CLASSES = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x5B if byte in b"[{" else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def load_json(text: str, utf8: bytes | None = None) -> Any:
    """Parse JSON exactly, or raise ValueError (never RecursionError, whatever the nesting).

    orjson is several times faster; json accepts the rare valid-but-odd input orjson refuses (lone
    surrogate escapes, NaN, 1e400) and keeps integers beyond 64 bits exact where orjson would
    turn them into floats. `utf8`, the text's own bytes when the caller has them (a received
    line), spares encoding it again for the byte scan below.
    """
    data = utf8 if utf8 is not None else text.encode("utf-8", "surrogatepass")
    classes = data.translate(_BYTE_CLASSES)
    try:
        if _LONG_DIGIT_RUN not in classes:
            try:
                body = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
            else:
                # A document nested deeper than MAX_PARSE_DEPTH opens that many brackets and closes
                # them all: one orjson read whole and shorter than that (most lines) needs no count.
                if len(data) < 2 * (MAX_PARSE_DEPTH + 1) or not _too_deep(text, classes):
                    return body
                raise ValueError(f"nested deeper than {MAX_PARSE_DEPTH} levels")
        if _too_deep(text, classes):
            raise ValueError(f"nested deeper than {MAX_PARSE_DEPTH} levels")
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def _too_deep(text: str, classes: bytes) -> bool:
    """Whether brackets nest deeper than MAX_PARSE_DEPTH outside strings; counting them (in the
    line's byte classes) bounds the depth, so only a line with many is measured exactly."""
    return classes.count(b"[") > MAX_PARSE_DEPTH and _nesting_depth(text) > MAX_PARSE_DEPTH


def _nesting_depth(text: str) -> int:
    """How deep brackets nest outside strings."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest
