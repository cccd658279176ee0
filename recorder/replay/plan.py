"""What a replay sends for one cassette, and how the exchange ends, decided once for every replayer.

The replay server writes the plan to a socket, the transports hand it to httpx as a byte stream and
the line feed passes its lines to a callable; each applies the plan's timing and ending its own
way, none of them reads the cassette's fault itself. The fault is applied in the order `Fault`
documents: the first-byte delay, then an HTTP error instead of the recording, else the recorded
lines, cut after `cut_after_lines` of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from recorder.model.cassette import Cassette, Line
from recorder.model.vocabulary import Outcome
from recorder.replay.timing import Timing

# With instant timing the body goes out in pieces of this size: few writes, bounded memory per write.
_INSTANT_CHUNK = 1 << 16
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Chunk:
    at_s: float  # when it goes out, in seconds after the request (first-byte delay not included)
    data: bytes


@dataclass(frozen=True, slots=True)
class Plan:
    """`ending` is COMPLETE (the body ends), CUT (the connection breaks after `lines`) or HTTP_ERROR
    (`status` with `error_body` instead of the lines). `faulted` tells an error the cassette's fault
    injects from one the recording holds: the execute endpoint answers the first but reads its
    own answer from the lines of a recorded stream."""

    status: int
    headers: Mapping[str, str]
    ending: Outcome
    first_byte_delay_s: float = 0.0
    lines: tuple[Line, ...] = ()
    error_body: bytes = b""
    faulted: bool = False
    ends_with_newline: bool = True  # whether the last of `lines` is followed by `\n` on the wire

    def line_end(self, index: int) -> bytes:
        """What follows line `index` on the wire: `\\n`, or nothing after an unterminated last line."""
        return b"" if index == len(self.lines) - 1 and not self.ends_with_newline else b"\n"

    def body(self) -> bytes:
        """Everything the plan sends, at once."""
        if self.ending == Outcome.HTTP_ERROR:
            return self.error_body
        return b"".join(line.data + self.line_end(index) for index, line in enumerate(self.lines))

    def chunks(self, timing: Timing) -> tuple[Chunk, ...]:
        """The body as timed writes: lines that arrived together in the recording go out together."""
        if self.ending == Outcome.HTTP_ERROR:
            return (Chunk(0.0, self.error_body),)
        if not self.lines:
            return ()
        if timing.is_instant:
            body = self.body()
            return tuple(Chunk(0.0, body[start : start + _INSTANT_CHUNK]) for start in range(0, len(body), _INSTANT_CHUNK))
        chunks: list[Chunk] = []
        pending: list[bytes] = []
        pending_at: int | None = None
        for index, line in enumerate(self.lines):
            if pending_at is not None and line.at_us != pending_at:
                chunks.append(Chunk(timing.at_s(pending_at), b"".join(pending)))
                pending = []
            pending_at = line.at_us
            pending.append(line.data + self.line_end(index))
        if pending_at is not None:
            chunks.append(Chunk(timing.at_s(pending_at), b"".join(pending)))
        return tuple(chunks)

    def schedule(self, timing: Timing) -> Iterator[tuple[float, Line]]:
        """Each line with when it goes out, for consumers that take lines rather than bytes."""
        for line in self.lines:
            yield timing.at_s(line.at_us), line


def plan_replay(cassette: Cassette) -> Plan:
    """The cassette's response as recorded, with its fault applied."""
    fault = cassette.fault
    delay = fault.first_byte_delay_s if fault is not None else 0.0
    if fault is not None and fault.status is not None:
        body = fault.error_body()
        content_type = JSON_TYPE if _is_json(body) else "text/plain; charset=utf-8"
        return Plan(fault.status, {"content-type": content_type}, Outcome.HTTP_ERROR, delay, error_body=body, faulted=True)
    response = cassette.response
    if response.status >= 400:
        return Plan(response.status, response.headers, Outcome.HTTP_ERROR, delay, error_body=response.body())
    lines = response.lines
    cut = fault is not None and fault.cut_after_lines is not None
    if cut and fault.cut_after_lines < len(lines):
        lines = lines[: fault.cut_after_lines]
        ends_with_newline = True
    else:
        ends_with_newline = response.ends_with_newline
    return Plan(response.status, response.headers, Outcome.CUT if cut else Outcome.COMPLETE, delay, lines,
                ends_with_newline=ends_with_newline)


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True
