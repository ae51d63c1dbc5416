"""Opaque keyset cursors for newest-first lists: ``(created_at, id)`` in URL-safe base64."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

_PREFIX = "v1"


def encode_cursor(created_at: datetime, item_id: UUID) -> str:
    millis = int(created_at.timestamp() * 1000)
    raw = f"{_PREFIX}:{millis}:{item_id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID] | None:
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


__all__ = ["decode_cursor", "encode_cursor"]
