"""Time in the STH-Comet sandbox: STH keeps JavaScript Dates, so everything is whole milliseconds since
the epoch. JavaScript ``Date.parse`` formats beyond ISO 8601 are not implemented; a date-time without
an offset is read as UTC (as a server running in UTC does)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_ONE_MS = timedelta(milliseconds=1)
# The range of a JavaScript Date; beyond it `new Date(n)` is an Invalid Date.
_JS_DATE_LIMIT_MS = 8.64e15
_JS_TIMESTAMP = re.compile(r"[+-]?\d+(\.\d+)?")


def to_ms(moment: datetime) -> int:
    return (moment - (_EPOCH_NAIVE if moment.tzinfo is None else _EPOCH)) // _ONE_MS


def iso(ms: int) -> str:
    """``Date.prototype.toJSON``: what STH's JSON bodies show for ``recvTime``."""
    return (_EPOCH_NAIVE + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def parse_iso_date(text: str) -> int | None:
    try:
        return to_ms(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


def parse_joi_date(text: str) -> int | None:
    """``joi.date()``: digits are milliseconds since the epoch, anything else a date string."""
    if _JS_TIMESTAMP.fullmatch(text):
        value = float(text)
        return int(value) if abs(value) <= _JS_DATE_LIMIT_MS else None
    return parse_iso_date(text)


def now_ms() -> int:
    return to_ms(datetime.now(UTC))
