"""The wire format as data: splitting a response body into lines and reading each line.

Nothing here touches a database or the network, so every other stage can depend on it.
"""

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
