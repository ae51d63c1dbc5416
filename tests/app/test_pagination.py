from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.pagination import decode_cursor, encode_cursor


def test_round_trip_keeps_millisecond_time_and_id() -> None:
    created = datetime(2026, 11, 25, 9, 30, 1, 123000, tzinfo=UTC)
    item = uuid.uuid4()
    assert decode_cursor(encode_cursor(created, item)) == (created, item)


@pytest.mark.parametrize("cursor", ["", "garbage", "djI6MTox", "!!!", "YXJyYXljb25uZWN0aW9uOjE"])
def test_foreign_cursors_are_not_ours(cursor: str) -> None:
    assert decode_cursor(cursor) is None
