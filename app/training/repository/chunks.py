"""The chunk fan-in of collection: chunk documents (``training_chunks``) and the job's counts of them.

A chunk belongs to the execution that claimed it last (its ``run``): only that one may finish it,
and its running count on the job (``chunk_progress``) is replaced, never added to, by a newer one.
Finishing a chunk and counting it on the job are one write each, so exactly one chunk sees the set
complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from bson import Binary
from pymongo import ReturnDocument

from app.timeutil import utcnow
from app.training.documents import (
    ChunkStatus,
    TrainingChunkDocument,
    TrainingJobDocument,
    TrainingStatus,
    chunk_id,
)
from app.training.failures import TaskIdentity


@dataclass(frozen=True)
class ChunkCount:
    """The job's collection counts right after one chunk was counted in."""

    collected: int
    requested: int
    done: int
    total: int


def _chunks() -> Any:
    return TrainingChunkDocument.get_pymongo_collection()


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


async def insert_chunks(chunks: list[TrainingChunkDocument]) -> None:
    await TrainingChunkDocument.insert_many(chunks)


async def claim_chunk(job_id: UUID, index: int, me: TaskIdentity, mine: str) -> TrainingChunkDocument | None:
    """The chunk for this execution (``mine``): only the latest execution to claim it may finish it."""
    holders: list[dict[str, object]] = [{"status": ChunkStatus.PENDING.value}]
    if me.resumable:
        holders.append({"status": ChunkStatus.IN_PROGRESS.value, "task_id": me.task_id})
    raw = await _chunks().find_one_and_update(
        {"_id": chunk_id(job_id, index), "$or": holders},
        {
            "$set": {
                "status": ChunkStatus.IN_PROGRESS.value,
                "task_id": me.task_id,
                "run": mine,
                "updated_at": utcnow(),
            },
            "$inc": {"attempts": 1 if me.redelivered else 0},
        },
        return_document=ReturnDocument.AFTER,
    )
    return None if raw is None else TrainingChunkDocument.model_validate(raw)


async def own_count(job_id: UUID, index: int, mine: str) -> None:
    """This execution's entry for the chunk, at 0: a predecessor's count stops counting."""
    await _jobs().update_one(
        {"_id": job_id, "status": TrainingStatus.COLLECTING_DATA.value},
        {"$set": {f"chunk_progress.{index}": {"run": mine, "points": 0}}},
    )


async def complete_chunk(
    *, chunk: TrainingChunkDocument, mine: str, dropped: int, timestamps: Binary, values: Binary, points: int
) -> bool:
    """Store the chunk's packed points; False when a newer execution holds the chunk."""
    done = await _chunks().update_one(
        {"_id": chunk.id, "status": ChunkStatus.IN_PROGRESS.value, "run": mine},
        {
            "$set": {
                "status": ChunkStatus.COMPLETED.value,
                "points": points,
                "dropped": dropped,
                "timestamps": timestamps,
                "values": values,
                "updated_at": utcnow(),
            }
        },
    )
    return bool(done.matched_count)


async def count_chunk_in(*, job_id: UUID, index: int, points: int, dropped: int) -> ChunkCount | None:
    """Add a finished chunk to the job's counts; None when the job no longer collects."""
    now = utcnow()
    updated = await _jobs().find_one_and_update(
        {"_id": job_id, "status": TrainingStatus.COLLECTING_DATA.value},
        {
            "$inc": {
                "points_collected": points,
                "points_dropped": dropped,
                "chunks_done": 1,
                "progress_seq": 1,
            },
            # The exact count replaces the running one in the same write: nothing counts twice.
            "$unset": {f"chunk_progress.{index}": ""},
            # Other chunks still running turn it back on with their next heartbeat.
            "$set": {"lease.heartbeat_at": now, "lease.active": False, "updated_at": now},
        },
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        return None
    return ChunkCount(
        collected=int(updated["points_collected"]),
        requested=int(updated["points_requested"]),
        done=int(updated["chunks_done"]),
        total=int(updated["chunks_total"]),
    )


async def completed_indexes(job_id: UUID) -> set[int]:
    """Indexes of the job's chunks that are done."""
    found = _chunks().find({"job_id": job_id, "status": ChunkStatus.COMPLETED.value}, {"index": 1})
    return {raw["index"] async for raw in found}


async def delete_chunks(*, job_id: UUID) -> None:
    await TrainingChunkDocument.find(TrainingChunkDocument.job_id == job_id).delete()


async def chunk_owners() -> set[UUID]:
    """Jobs that have chunks stored."""
    return set(await _chunks().distinct("job_id"))


__all__ = [
    "ChunkCount",
    "chunk_owners",
    "claim_chunk",
    "complete_chunk",
    "completed_indexes",
    "count_chunk_in",
    "delete_chunks",
    "insert_chunks",
    "own_count",
]
