"""Points in time as the analytics API accepts them, turned into the store's epoch microseconds."""

from __future__ import annotations

from datetime import UTC, datetime

from recorder.model.timestamps import parse_ts_us

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: int | datetime | str | None) -> int | None:
    """Epoch microseconds from an int (already microseconds), a datetime (naive read as UTC) or
    ISO-8601 text."""
    if moment is None or isinstance(moment, int):
        return moment
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        delta = aware - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(moment, str):
        return parse_ts_us(moment)[0]
    raise TypeError(f"not a point in time: {moment!r}")
