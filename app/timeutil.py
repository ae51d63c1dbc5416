"""UTC clock with the millisecond precision BSON dates keep.

Truncating at creation means a value read back from MongoDB equals the one we wrote, which
keyset cursors built from ``created_at`` rely on.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def safely_in_range(value: datetime) -> bool:
    """Whether ``value`` and a day either side of it exist in UTC.

    Python's datetimes end at years 1 and 9999; a time zone offset or the millisecond steps of
    paging would push a value at either edge past it (OverflowError deep in a client).
    """
    try:
        instant = value.astimezone(UTC) if value.tzinfo is not None else value
    except OverflowError:
        return False
    return 1 < instant.year < 9999


__all__ = ["safely_in_range", "utcnow"]
