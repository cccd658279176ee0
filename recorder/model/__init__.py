"""The wire format as data: splitting a response body into lines and reading each line.

Owns: lines and events (lines.py; events.py and sdk_events.py, read exactly; clean_lines.py, the
typed fast path most lines take; exact_json.py, the one JSON reader), the request (request.py), cassettes
(cassette.py), the vocabularies (vocabulary.py), timestamps and moments, the one execution filter
(filters.py), what fleet questions group by (groupings.py), Vellum's endpoint names (endpoints.py) and
secret scrubbing (secrets.py).
May import: nothing else of the recorder. Nothing here touches a database or the network, so every
other stage can depend on it. The names below load on first use: `recorder.model.timestamps` (the
CLI's option parsing) needs no JSON parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.lazy import lazy_attributes

if TYPE_CHECKING:
    from recorder.model.events import ParsedEvent, RejectedLine, parse_line
    from recorder.model.lines import LineSplitter, RawLine, split_body
    from recorder.model.request import RecordedRequest

__all__ = [
    "LineSplitter",
    "ParsedEvent",
    "RawLine",
    "RecordedRequest",
    "RejectedLine",
    "parse_line",
    "split_body",
]

_LAZY = {
    "ParsedEvent": "recorder.model.events",
    "RejectedLine": "recorder.model.events",
    "parse_line": "recorder.model.events",
    "LineSplitter": "recorder.model.lines",
    "RawLine": "recorder.model.lines",
    "split_body": "recorder.model.lines",
    "RecordedRequest": "recorder.model.request",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
