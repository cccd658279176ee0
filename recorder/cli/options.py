"""Option types shared by commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from recorder.model.timestamps import parse_ts_us

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class MomentType(click.ParamType):
    """A point in time: ISO-8601 (`2025-06-02`, `2025-06-02T09:00:00Z`) or an age (`30m`, `2h`, `7d`).

    Converted to epoch microseconds, the unit the store keeps.
    """

    name = "TIME"

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        text = value.strip()
        relative = _RELATIVE.match(text)
        if relative:
            amount, unit = relative.groups()
            moment = datetime.now(UTC) - timedelta(**{_UNITS[unit]: int(amount)})
            return parse_ts_us(moment.isoformat())[0]
        try:
            return parse_ts_us(text)[0]
        except ValueError:
            self.fail(f"{value!r} is neither an ISO-8601 time (2025-06-02T09:00:00Z) nor an age (30m, 2h, 7d)", param, ctx)


MOMENT = MomentType()
