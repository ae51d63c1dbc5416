"""The job's record of its current training checkpoint (the file itself lives in GridFS)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.timeutil import utcnow
from app.training.documents import Checkpoint, TrainingJobDocument, TrainingStatus


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


async def record_checkpoint(*, job_id: UUID, run: str, checkpoint: Checkpoint) -> bool:
    """Make ``checkpoint`` the job's; False when ``run`` no longer holds the training step."""
    now = utcnow()
    # Not an event: nothing a watcher sees changes, and events per epoch would double.
    held = await _jobs().update_one(
        {"_id": job_id, "status": TrainingStatus.TRAINING.value, "lease.run": run},
        {"$set": {"checkpoint": checkpoint.model_dump(), "lease.heartbeat_at": now, "updated_at": now}},
    )
    return bool(held.matched_count)


__all__ = ["record_checkpoint"]
