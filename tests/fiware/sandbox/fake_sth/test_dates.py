"""The STH-Comet sandbox's time rules: JavaScript Dates as whole milliseconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fiware.sandbox.fake_sth.dates import iso, parse_iso_date, parse_joi_date, to_ms


def test_naive_and_aware_datetimes_are_the_same_milliseconds() -> None:
    moment = datetime(2018, 6, 21, 12, 0, 0, 123456)
    assert to_ms(moment) == to_ms(moment.replace(tzinfo=UTC)) == 1529582400123


def test_iso_is_date_to_json() -> None:
    assert iso(1529582400123) == "2018-06-21T12:00:00.123Z"
    assert iso(0) == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1529582400123", 1529582400123, id="milliseconds"),
        pytest.param("-5", -5, id="negative"),
        pytest.param("1.9", 1, id="fraction-cut"),
        pytest.param("8640000000000001", None, id="beyond-js-dates"),
        pytest.param("2018-06-21T14:00:00+02:00", 1529582400000, id="iso-with-offset"),
        pytest.param("2018-06-21T12:00:00", 1529582400000, id="iso-without-offset-is-utc"),
        pytest.param("yesterday", None, id="not-a-date"),
    ],
)
def test_joi_dates(text: str, expected: int | None) -> None:
    assert parse_joi_date(text) == expected


def test_iso_dates_only() -> None:
    assert parse_iso_date("2018-06-21T12:00:00.5Z") == 1529582400500
    assert parse_iso_date("1529582400123") is None
