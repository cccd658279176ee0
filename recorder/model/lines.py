"""Splitting a response body into lines exactly as the server framed them.

The official client splits with `str.splitlines`, which also breaks on U+2028, U+2029, U+0085 and
a few control characters that may legally appear raw inside a JSON string; the event is then lost.
We split on `\\n` only and keep every byte between separators (a trailing `\\r` included), so the
body can be rebuilt byte for byte from what is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RawLine:
    """One line of a body: its bytes without the `\\n`, and its 0-based index in the stream."""

    position: int
    data: bytes
    terminated: bool = True

    @property
    def is_blank(self) -> bool:
        """Blank lines (empty or whitespace only) separate events; they are not events."""
        return not self.data.strip()


class LineSplitter:
    """Turns chunks of a body, as they arrive, into complete lines.

    Chunk boundaries fall anywhere (inside a line, inside a UTF-8 sequence): bytes are buffered
    until their `\\n` arrives. `finish()` returns the last line when the body does not end in `\\n`
    (a cut stream usually ends this way).
    """

    def __init__(self, start_position: int = 0) -> None:
        self._pending = bytearray()
        self._next_position = start_position

    @property
    def lines_seen(self) -> int:
        return self._next_position

    @property
    def pending(self) -> bytes:
        """Bytes received after the last `\\n`: a line still in transit."""
        return bytes(self._pending)

    def feed(self, chunk: bytes) -> list[RawLine]:
        if not chunk:
            return []
        self._pending += chunk
        if b"\n" not in chunk:
            return []
        *complete, rest = self._pending.split(b"\n")
        self._pending = bytearray(rest)
        lines = [RawLine(self._next_position + i, bytes(data)) for i, data in enumerate(complete)]
        self._next_position += len(lines)
        return lines

    def finish(self) -> RawLine | None:
        if not self._pending:
            return None
        line = RawLine(self._next_position, bytes(self._pending), terminated=False)
        self._pending.clear()
        self._next_position += 1
        return line


def split_body(body: bytes) -> list[RawLine]:
    """All lines of a complete body."""
    return list(iter_lines([body]))


def iter_lines(chunks: Iterable[bytes]) -> Iterator[RawLine]:
    """Lines of a body that arrives in chunks, yielded as soon as each is complete."""
    splitter = LineSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    last = splitter.finish()
    if last is not None:
        yield last
