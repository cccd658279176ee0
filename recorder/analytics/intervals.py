"""Interval arithmetic over node spans: covered time, overlaps and the critical path.

Pure functions over integer microseconds, so the rules are testable without a store and give the
same answer whichever engine the spans came from.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Interval:
    """One span as interval math sees it. `order` breaks ties between equal ends: the stream
    position of the span's last event, so the span reported later counts as finishing later."""

    key: str
    start_us: int
    end_us: int
    order: int


def covered_us(intervals: Sequence[Interval], lower_us: int, upper_us: int) -> int:
    """Microseconds of [lower, upper] inside at least one interval (their union, clipped)."""
    clipped = sorted(
        (max(lower_us, item.start_us), min(upper_us, item.end_us))
        for item in intervals
        if min(upper_us, item.end_us) > max(lower_us, item.start_us)
    )
    total = 0
    run_start = run_end = None
    for start, end in clipped:
        if run_end is None or start > run_end:
            if run_end is not None:
                total += run_end - run_start
            run_start, run_end = start, end
        elif end > run_end:
            run_end = end
    if run_end is not None:
        total += run_end - run_start
    return total


def overlap_counts(intervals: Sequence[Interval]) -> dict[str, int]:
    """For each interval, how many others share some instant with it (touching ends do not count).

    O(n log n): the others overlapping [s, e) are those starting before e, minus those ending at or
    before s. A zero-length interval holds no instant, so it overlaps nothing and nothing overlaps
    it: it is left out of the counts both ways (overlap is symmetric).
    """
    lasting = [item for item in intervals if item.end_us > item.start_us]
    starts = sorted(item.start_us for item in lasting)
    ends = sorted(item.end_us for item in lasting)
    counts: dict[str, int] = {}
    for item in intervals:
        if item.end_us <= item.start_us:
            counts[item.key] = 0
            continue
        others = bisect_left(starts, item.end_us) - bisect_right(ends, item.start_us) - 1
        counts[item.key] = max(others, 0)
    return counts


def peak_concurrency(intervals: Sequence[Interval]) -> int:
    """The largest number of intervals in flight at one instant (an end frees its slot first)."""
    changes = sorted([(item.start_us, 1) for item in intervals if item.end_us > item.start_us]
                     + [(item.end_us, -1) for item in intervals if item.end_us > item.start_us])
    peak = current = 0
    for _, step in changes:
        current += step
        peak = max(peak, current)
    return peak


def critical_path(intervals: Sequence[Interval], end_us: int) -> list[Interval]:
    """The chain of spans that decided when the workflow ended, earliest first.

    From `end_us`, repeatedly take the span that finished last at or before the current point
    (ties: the later `order`) and step to its start. The current point never increases, so a span
    passed over once (it ended after the point) can never be chosen later: one pass over the spans
    sorted by end, latest first, finds the whole chain. Each span is taken at most once, so
    zero-length spans and equal timestamps cannot loop.
    """
    point = end_us
    chain: list[Interval] = []
    for item in sorted(intervals, key=lambda i: (i.end_us, i.order), reverse=True):
        if item.end_us <= point:
            chain.append(item)
            point = min(point, item.start_us)
    chain.reverse()
    return chain
