"""Replaying a cassette into any callable that consumes raw lines, for code without the official client.

    replay_lines(cassette, handler.on_line)                 # handler.on_line(str) per line
    await areplay_lines(cassette, handler.on_line_async)    # awaited when it returns an awaitable

Each received line is passed without its `\\n` (as text, or as bytes with `raw=True`), blank
lines included: the consumer sees the body as the wire carried it, not as a parser filtered it.
The cassette's plan applies (`recorder.replay.plan`), as it does for the server and the transports:
`first_byte_delay_s` waits before the first line, an HTTP error raises `ReplayedHTTPError` before
any line, and a cut raises `ReplayedCut` after the lines that came through.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from recorder.model.cassette import Cassette, read_cassette
from recorder.model.vocabulary import Outcome
from recorder.replay.plan import Plan, plan_replay
from recorder.replay.timing import Timing, asleep_until, sleep_until


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
    plan = plan_replay(_cassette(cassette))
    started = time.monotonic() + plan.first_byte_delay_s
    if plan.ending == Outcome.HTTP_ERROR:
        time.sleep(plan.first_byte_delay_s)
        raise ReplayedHTTPError(plan.status, plan.error_body)
    for at_s, line in plan.schedule(timing):
        sleep_until(started + at_s)
        consumer(line.data if raw else line.data.decode("utf-8", errors="replace"))
    return _ended(plan)


async def areplay_lines(
    cassette: Cassette | str | Path, consumer: Callable[[Any], Any | Awaitable[Any]], *, timing: Timing = Timing(), raw: bool = False
) -> int:
    """`replay_lines` for asyncio: waits with `asyncio.sleep` and awaits what the consumer returns."""
    plan = plan_replay(_cassette(cassette))
    started = time.monotonic() + plan.first_byte_delay_s
    if plan.ending == Outcome.HTTP_ERROR:
        await asyncio.sleep(plan.first_byte_delay_s)
        raise ReplayedHTTPError(plan.status, plan.error_body)
    for at_s, line in plan.schedule(timing):
        await asleep_until(started + at_s)
        result = consumer(line.data if raw else line.data.decode("utf-8", errors="replace"))
        if inspect.isawaitable(result):
            await result
    return _ended(plan)


def _cassette(cassette: Cassette | str | Path) -> Cassette:
    return cassette if isinstance(cassette, Cassette) else read_cassette(cassette)


def _ended(plan: Plan) -> int:
    """How many lines went through, or `ReplayedCut` when the stream breaks after them."""
    if plan.ending == Outcome.CUT:
        raise ReplayedCut(f"the replayed stream was cut after {len(plan.lines)} lines")
    return len(plan.lines)
