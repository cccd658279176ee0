"""Points in time as people and programs give them, turned into the store's epoch microseconds.

The CLI's `--since 2h` and the API's `since="2h"` go through the same function, so a notebook and
a terminal select the same executions. Ages are integer arithmetic on microseconds, so a huge one
is refused with a message instead of overflowing inside datetime.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from recorder.model.timestamps import TimestampError, now_us, parse_ts_us

Moment = int | datetime | str

_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}
# The earliest moment the store's microseconds can be shown as a date (0001-01-01T00:00:00Z).
_EARLIEST_US = parse_ts_us(datetime(1, 1, 1, tzinfo=UTC).isoformat())[0]


class MomentError(ValueError):
    """The value is neither epoch microseconds, a datetime, ISO-8601 text nor an age."""


def to_us(moment: Moment | None) -> int | None:
    """Epoch microseconds of `moment`: an int (already microseconds), a datetime (naive read as
    UTC), ISO-8601 text (`2025-06-02`, `2025-06-02T09:00:00Z`) or an age before now (`30m`, `2h`,
    `7d`; units s, m, h, d, w). None stays None."""
    if moment is None:
        return None
    if isinstance(moment, bool):
        raise MomentError(f"not a point in time: {moment!r}")
    if isinstance(moment, int):
        return moment
    if isinstance(moment, datetime):
        return parse_ts_us(moment.isoformat())[0]
    if isinstance(moment, str):
        return _text_to_us(moment)
    raise MomentError(f"not a point in time: {moment!r}")


def _text_to_us(value: str) -> int:
    text = value.strip()
    age = _AGE.match(text)
    if age:
        amount, unit = age.groups()
        moment = now_us() - int(amount) * _UNIT_US[unit]
        if moment < _EARLIEST_US:
            raise MomentError(f"{value!r} reaches back before the year 1; give a smaller age or an ISO-8601 time")
        return moment
    try:
        return parse_ts_us(text)[0]
    except TimestampError:
        raise MomentError(f"{value!r} is neither an ISO-8601 time (2025-06-02T09:00:00Z) nor an age (30m, 2h, 7d)") from None
