"""What the watchdog reads and moves: silent steps, PENDING jobs nobody took, abandoned cancels.

Every move is a compare-and-set on what was read, so two watchdogs (or a step coming back to
life) never both act on one job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from app.training.documents import RUNNING_STATUSES, TrainingJobDocument, TrainingStatus


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


async def silent_steps(threshold: datetime) -> AsyncIterator[dict[str, Any]]:
    """Running jobs without a heartbeat since ``threshold``: id, status, lease and chunks_total."""
    silent = {
        "status": {"$in": [s.value for s in RUNNING_STATUSES]},
        "lease.heartbeat_at": {"$lt": threshold},
    }
    async for raw in _jobs().find(silent, {"_id": 1, "status": 1, "lease": 1, "chunks_total": 1}):
        yield raw


async def mark_driven(job_id: UUID, lease: dict[str, Any], *, now: datetime) -> bool:
    """One compare-and-set on what was read: a lost run counts one attempt and stops holding the step."""
    update: dict[str, Any] = {
        "$set": {"lease.active": False, "lease.driven_at": now},
        "$inc": {"lease.drives": 1},
    }
    if lease.get("active"):
        update["$inc"]["lease.attempt"] = 1
    moved = await _jobs().update_one(
        {
            "_id": job_id,
            "lease.run": lease.get("run"),
            "lease.heartbeat_at": lease.get("heartbeat_at"),
            "lease.driven_at": lease.get("driven_at"),
        },
        update,
    )
    return bool(moved.modified_count)


async def pick_stalled_pending(threshold: datetime, now: datetime) -> list[UUID]:
    """PENDING jobs no worker took since ``threshold``, each picked at most once a stale window."""
    picked: list[UUID] = []
    pending = {"status": TrainingStatus.PENDING.value, "updated_at": {"$lt": threshold}}
    async for raw in _jobs().find(pending, {"_id": 1}):
        moved = await _jobs().update_one({**pending, "_id": raw["_id"]}, {"$set": {"updated_at": now}})
        if moved.modified_count:
            picked.append(raw["_id"])
    return picked


async def abandoned_cancels(threshold: datetime) -> AsyncIterator[UUID]:
    """Cancels whose step waits in a queue, or whose worker went silent: nobody will finish them."""
    abandoned = {
        "status": TrainingStatus.CANCEL_REQUESTED.value,
        "$or": [{"lease.active": False}, {"lease.heartbeat_at": {"$lt": threshold}}, {"lease": None}],
    }
    async for raw in _jobs().find(abandoned, {"_id": 1}):
        yield raw["_id"]


__all__ = ["abandoned_cancels", "mark_driven", "pick_stalled_pending", "silent_steps"]
