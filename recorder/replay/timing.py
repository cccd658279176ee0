"""When replayed bytes go out: at once, or at their recorded arrival offsets (optionally faster)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from recorder.replay.vocabulary import TimingMode

INSTANT, RECORDED = TimingMode.INSTANT, TimingMode.RECORDED


@dataclass(frozen=True, slots=True)
class Timing:
    """`instant`: every line as fast as the connection takes it. `recorded`: each line when it
    arrived in the recording, measured from the request, divided by `speed` (2.0: twice as fast)."""

    mode: TimingMode = INSTANT
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in TimingMode.__members__.values():
            raise ValueError(f"timing must be {INSTANT.value!r} or {RECORDED.value!r}, not {self.mode!r}")
        object.__setattr__(self, "mode", TimingMode(self.mode))
        if not self.speed > 0:
            raise ValueError(f"speed must be above 0, not {self.speed!r}")

    @classmethod
    def instant(cls) -> Timing:
        return cls(INSTANT)

    @classmethod
    def recorded(cls, speed: float = 1.0) -> Timing:
        return cls(RECORDED, speed)

    @property
    def is_instant(self) -> bool:
        return self.mode == INSTANT

    def at_s(self, offset_us: int) -> float:
        """Seconds after the request at which a line recorded at `offset_us` goes out."""
        return 0.0 if self.is_instant else offset_us / 1_000_000 / self.speed

    def describe(self) -> str:
        if self.is_instant:
            return "instant"
        return "recorded gaps" if self.speed == 1 else f"recorded gaps at {self.speed:g}x speed"


def sleep_until(moment: float) -> None:
    """Wait until `time.monotonic()` reaches `moment`; a moment already past does not wait."""
    wait = moment - time.monotonic()
    if wait > 0:
        time.sleep(wait)


async def asleep_until(moment: float) -> None:
    """`sleep_until` for asyncio."""
    wait = moment - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
