"""Newest-first keyset pagination over ``(created_at, _id)``, shared by every list.

Cursors are opaque URL-safe base64 of the last item's position, so pages stay correct while
items are added: walking with ``after`` never repeats or skips one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from beanie.odm.enums import SortDirection

from app.errors import ErrorCode, FieldError, ValidationFailed

MAX_PAGE_SIZE = 100
NEWEST_FIRST = [("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]
_PREFIX = "v1"

T = TypeVar("T")
Position = tuple[datetime, UUID]


def encode_cursor(created_at: datetime, item_id: UUID) -> str:
    millis = int(created_at.timestamp() * 1000)
    raw = f"{_PREFIX}:{millis}:{item_id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position | None:
    """The position a cursor names, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, millis, hex_id = raw.split(":")
        if prefix != _PREFIX:
            return None
        return datetime.fromtimestamp(int(millis) / 1000, UTC), UUID(hex=hex_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
        # Out-of-range times raise OverflowError or OSError: a forged cursor, not an outage.
        return None


@dataclass(frozen=True)
class Edge(Generic[T]):
    cursor: str
    node: T


@dataclass(frozen=True)
class Page(Generic[T]):
    edges: list[Edge[T]]
    has_next_page: bool
    # The filter without the position: what `totalCount` counts.
    query: dict[str, Any]

    @property
    def end_cursor(self) -> str | None:
        return self.edges[-1].cursor if self.edges else None


def position_of(first: int, after: str | None) -> Position | None:
    """Check the page arguments together; the position after which the page starts."""
    problems: list[FieldError] = []
    if not 0 <= first <= MAX_PAGE_SIZE:
        problems.append(
            FieldError(ErrorCode.VALIDATION_ERROR, f"must be between 0 and {MAX_PAGE_SIZE}", ("first",))
        )
    position = decode_cursor(after) if after is not None else None
    if after is not None and position is None:
        problems.append(FieldError(ErrorCode.VALIDATION_ERROR, "is not a cursor of this list", ("after",)))
    if problems:
        raise ValidationFailed(problems)
    return position


def after_position(query: dict[str, Any], position: Position | None) -> dict[str, Any]:
    if position is None:
        return query
    created_at, last_id = position
    older = {
        "$or": [{"created_at": {"$lt": created_at}}, {"created_at": created_at, "_id": {"$lt": last_id}}]
    }
    return {"$and": [query, older]} if query else older


def page_of(
    found: Sequence[T], *, first: int, query: dict[str, Any], key: Callable[[T], Position]
) -> Page[T]:
    """A page from up to ``first + 1`` items read: whether the extra one exists is `hasNextPage`."""
    edges = [Edge(encode_cursor(*key(item)), item) for item in found[:first]]
    return Page(edges=edges, has_next_page=len(found) > first, query=query)


__all__ = [
    "MAX_PAGE_SIZE",
    "NEWEST_FIRST",
    "Edge",
    "Page",
    "Position",
    "after_position",
    "decode_cursor",
    "encode_cursor",
    "page_of",
    "position_of",
]
