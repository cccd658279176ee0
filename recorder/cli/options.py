"""Option types shared by commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import click

from recorder.model.timestamps import now_us, parse_ts_us

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}
# The earliest moment the store's microseconds can be shown as a date (0001-01-01T00:00:00Z).
_EARLIEST_US = parse_ts_us(datetime(1, 1, 1, tzinfo=UTC).isoformat())[0]


class MomentType(click.ParamType):
    """A point in time: ISO-8601 (`2025-06-02`, `2025-06-02T09:00:00Z`) or an age (`30m`, `2h`, `7d`).

    Converted to epoch microseconds, the unit the store keeps. Ages are integer arithmetic on
    microseconds, so a huge one is a usage error, not an overflow inside datetime.
    """

    name = "TIME"

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        text = value.strip()
        relative = _RELATIVE.match(text)
        if relative:
            amount, unit = relative.groups()
            moment = now_us() - int(amount) * _UNIT_US[unit]
            if moment < _EARLIEST_US:
                self.fail(f"{value!r} reaches back before the year 1; give a smaller age or an ISO-8601 time", param, ctx)
            return moment
        try:
            return parse_ts_us(text)[0]
        except ValueError:
            self.fail(f"{value!r} is neither an ISO-8601 time (2025-06-02T09:00:00Z) nor an age (30m, 2h, 7d)", param, ctx)


MOMENT = MomentType()
