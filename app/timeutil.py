"""UTC clock with the millisecond precision BSON dates keep.

Truncating at creation means a value read back from MongoDB equals the one we wrote, which
keyset cursors built from ``created_at`` rely on.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


__all__ = ["utcnow"]
