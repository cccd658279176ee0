"""Replaying a cassette into any callable that consumes raw lines, for code without the official client.

    replay_lines(cassette, handler.on_line)                 # handler.on_line(str) per line
    await areplay_lines(cassette, handler.on_line_async)    # awaited when it returns an awaitable

Each received line is passed without its `\\n` (as text, or as bytes with `raw=True`), blank
lines included: the consumer sees the body as the wire carried it, not as a parser filtered it.
The cassette's timing and faults apply: `first_byte_delay_s` waits before the first line, an HTTP
error raises `ReplayedHTTPError` before any line, and a cut raises `ReplayedCut` after the lines
that came through.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from recorder.model.cassette import Cassette, read_cassette
from recorder.replay.timing import Timing


class ReplayedHTTPError(Exception):
    """The replayed exchange is an HTTP error (recorded, or a fault)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body.decode('utf-8', errors='replace')[:300]}")
        self.status = status
        self.body = body


class ReplayedCut(ConnectionError):
    """The replayed stream breaks here, as the recorded (or faulted) connection did."""


def replay_lines(cassette: Cassette | str | Path, consumer: Callable[[Any], Any], *, timing: Timing = Timing(), raw: bool = False) -> int:
    """Call `consumer` with each line in order; returns how many lines it got."""
    cassette = _cassette(cassette)
    lines, cut, error = _plan(cassette)
    started = time.monotonic()
    if error is not None:
        time.sleep(_delay(cassette))
        raise error
    for line in lines:
        wait = started + _delay(cassette) + timing.at_s(line.at_us) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        consumer(line.data if raw else line.data.decode("utf-8", errors="replace"))
    if cut:
        raise ReplayedCut(f"the replayed stream was cut after {len(lines)} lines")
    return len(lines)


async def areplay_lines(
    cassette: Cassette | str | Path, consumer: Callable[[Any], Any | Awaitable[Any]], *, timing: Timing = Timing(), raw: bool = False
) -> int:
    """`replay_lines` for asyncio: waits with `asyncio.sleep` and awaits what the consumer returns."""
    cassette = _cassette(cassette)
    lines, cut, error = _plan(cassette)
    started = time.monotonic()
    if error is not None:
        await asyncio.sleep(_delay(cassette))
        raise error
    for line in lines:
        wait = started + _delay(cassette) + timing.at_s(line.at_us) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        result = consumer(line.data if raw else line.data.decode("utf-8", errors="replace"))
        if inspect.isawaitable(result):
            await result
    if cut:
        raise ReplayedCut(f"the replayed stream was cut after {len(lines)} lines")
    return len(lines)


def _cassette(cassette: Cassette | str | Path) -> Cassette:
    return cassette if isinstance(cassette, Cassette) else read_cassette(cassette)


def _plan(cassette: Cassette) -> tuple[list[Any], bool, ReplayedHTTPError | None]:
    """The lines that come through, whether the stream breaks after them, or the HTTP error instead."""
    fault = cassette.fault
    if fault is not None and fault.status is not None:
        return [], False, ReplayedHTTPError(fault.status, fault.error_body())
    if cassette.response.status >= 400:
        return [], False, ReplayedHTTPError(cassette.response.status, cassette.body())
    lines = list(cassette.response.lines)
    cut = fault is not None and fault.cut_after_lines is not None
    if cut:
        lines = lines[: fault.cut_after_lines]
    return lines, cut, None


def _delay(cassette: Cassette) -> float:
    return cassette.fault.first_byte_delay_s if cassette.fault is not None else 0.0
