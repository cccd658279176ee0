"""Wire timestamps as integer microseconds since the Unix epoch (UTC).

Integers keep microsecond precision identical on SQLite, PostgreSQL, DuckDB and polars, and make
ordering and durations plain arithmetic. A timestamp without an offset is read as UTC (and the
event is flagged), because the server writes UTC and a local-time guess would be worse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


class TimestampError(ValueError):
    """The value is not an ISO-8601 date-time."""


def parse_ts_us(value: str) -> tuple[int, bool]:
    """Epoch microseconds of an ISO-8601 string, and whether it carried no offset (naive)."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise TimestampError(f"not an ISO-8601 timestamp: {value!r}") from exc
    naive = moment.tzinfo is None
    if naive:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_US, naive


def us_to_datetime(us: int | None) -> datetime | None:
    """The aware UTC datetime of epoch microseconds (None stays None)."""
    if us is None:
        return None
    return _EPOCH + timedelta(microseconds=us)


def us_to_iso(us: int | None) -> str | None:
    """ISO-8601 with microseconds and an explicit +00:00 offset, for JSON output."""
    moment = us_to_datetime(us)
    return None if moment is None else moment.isoformat(timespec="microseconds")


def now_us() -> int:
    return (datetime.now(UTC) - _EPOCH) // _ONE_US
