"""Jobs as wholes: admission's insert, the deletes (one finished job, or every job of a model), and
the counting aggregations that read the collection raw."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

from app.training import storage
from app.training.documents import Challenge, TrainingJobDocument

JobRemoved = Callable[[TrainingJobDocument], Awaitable[None]]


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


async def insert_job(job: TrainingJobDocument) -> None:
    """Store an admitted job; ``DuplicateKeyError`` when its idempotency key is already taken."""
    await job.insert()


async def delete_finished_job(*, query: Mapping[str, Any]) -> TrainingJobDocument | None:
    """Remove the job ``query`` matches (its status among the finished ones) and answer it."""
    raw = await _jobs().find_one_and_delete(dict(query))
    if raw is None:
        return None
    removed: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
    return removed


async def delete_jobs_of_model(*, model_id: UUID, on_job_removed: JobRemoved | None = None) -> None:
    """Every job of a deleted model, with its files; ``on_job_removed`` sees each before it goes."""
    async for job in TrainingJobDocument.find(TrainingJobDocument.model_id == model_id):
        await storage.delete_job_files(job_id=job.id)
        if on_job_removed is not None:
            await on_job_removed(job)
    await TrainingJobDocument.find(TrainingJobDocument.model_id == model_id).delete()


async def record_challenge(*, job_id: UUID, challenge: Challenge) -> bool:
    """Store the contest's decision once: False when it was decided already (or the job is gone)."""
    result = await _jobs().update_one(
        {"_id": job_id, "challenge.decided_at": None},
        {"$set": {"challenge": challenge.model_dump(mode="python")}},
    )
    return bool(result.modified_count)


async def count_by(*, key: str, match: Mapping[str, Any] | None = None) -> dict[Any, int]:
    """How many jobs (among those ``match`` selects) hold each value of the field ``key``."""
    pipeline: list[dict[str, Any]] = [] if match is None else [{"$match": dict(match)}]
    pipeline.append({"$group": {"_id": f"${key}", "n": {"$sum": 1}}})
    cursor = await _jobs().aggregate(pipeline)
    return {row["_id"]: int(row["n"]) async for row in cursor}


__all__ = [
    "JobRemoved",
    "count_by",
    "delete_finished_job",
    "delete_jobs_of_model",
    "insert_job",
    "record_challenge",
]
