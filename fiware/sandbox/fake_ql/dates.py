"""Time in the QuantumLeap sandbox. QL keeps ``time_index`` in a ``timestamptz`` column, so everything is
an aware UTC ``datetime`` with microseconds, and answers render it as
``datetime.astimezone(UTC).isoformat(timespec='milliseconds')`` (QL ``src/translators/timescale.py``
``_get_isoformat``; ``src/reporter/tests/test_Headers.py`` expects ``1980-01-30T00:00:00.000+00:00``).

QL parses dates with python-dateutil: ``isoparse`` for ``fromDate``/``toDate`` and the ``DateTime``
casts, the lenient ``parser.parse`` for time index candidates (``src/utils/timestr.py``). This sandbox
reads both with ``datetime.fromisoformat`` (Python 3.11 takes the ISO 8601 forms dateutil's ``isoparse``
takes, ``Z`` included), so free-form dates such as ``Jan 5 2024`` are not time index candidates here. A
date-time without an offset is UTC, as on a PostgreSQL server running in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

PERIODS: Final = ("year", "month", "day", "hour", "minute", "second")


def parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_query_date(text: str) -> datetime | None:
    """``fromDate``/``toDate``: ``isoparse(value.strip('"'))``, so surrounding double quotes are
    tolerated (QL ``sql_translator.py`` ``_parse_date``; ``test_1T1E1A_fromDate_toDate_with_quotes``)."""
    return parse_iso(text.strip('"'))


def render(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def truncate(moment: datetime, period: str) -> datetime:
    """PostgreSQL ``DATE_TRUNC(period, time_index)`` in UTC: the start of the period."""
    moment = moment.astimezone(UTC)
    if period == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if period == "minute":
        return moment.replace(second=0, microsecond=0)
    return moment - timedelta(microseconds=moment.microsecond)


def now() -> datetime:
    return datetime.now(UTC)


__all__ = ["PERIODS", "now", "parse_iso", "parse_query_date", "render", "truncate"]
