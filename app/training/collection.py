"""Data collection: plan the chunks from one STH count, then fill each chunk from its own task.

A chunk is a slice of offsets, tens of thousands of points wide, that its task pages with the STH
client's bounded concurrency and stores packed in its chunk document. Offsets count from the
oldest point, so points that arrive during collection never shift a planned slice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID, uuid4

import structlog
from pymongo import ReturnDocument

from app.timeutil import utcnow
from app.training import lifecycle, progress, storage
from app.training.config import required_points, series_of
from app.training.documents import (
    ChunkStatus,
    TrainingChunkDocument,
    TrainingJobDocument,
    TrainingStatus,
    chunk_id,
)
from app.training.failures import StepFailed, TaskIdentity
from fiware.sth import Collected, SthClient

log = structlog.get_logger(__name__)

# Heartbeats (and the cancel check they carry) at most this often while pages stream in.
HEARTBEAT_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class CollectionPlan:
    indexes: list[int]
    run: str


async def begin_collection(
    *, job_id: UUID, me: TaskIdentity, sth: SthClient, chunk_points: int
) -> CollectionPlan | None:
    """Claim a PENDING job and plan its chunks; None when there is nothing for this task to do."""
    claim = await lifecycle.claim_step(
        job_id=job_id,
        expected=TrainingStatus.PENDING,
        becomes=TrainingStatus.COLLECTING_DATA,
        opens="collecting",
        closes=None,
        me=me,
        extra={"started_at": utcnow(), "progress.message": "counting points in STH-Comet"},
    )
    if claim is None:
        return None
    job = claim.job
    if claim.resumed and job.chunks_total > 0:
        # The plan was stored before this step's worker died: its chunks may be running or done,
        # so it is sent again as it is (done chunks skip themselves), never planned anew.
        return CollectionPlan(list(range(job.chunks_total)), claim.run)
    series, tenant = series_of(job.config)
    total = await sth.count(series, tenant, date_from=job.request.date_from, date_to=job.request.date_to)
    requested = total if job.request.last_n is None else min(job.request.last_n, total)
    needed = required_points(job.config)
    if requested < needed:
        raise StepFailed(
            "INSUFFICIENT_DATA",
            f"STH-Comet now holds {requested} points where {needed} are needed (it held "
            f"{job.points_available} when the job was admitted)",
        )
    start = total - requested
    # Chunks of an attempt that died before its plan was stored describe nothing: start over.
    await storage.delete_working_data(job_id=job_id)
    chunks = [
        TrainingChunkDocument(
            id=chunk_id(job_id, index),
            job_id=job_id,
            index=index,
            h_offset=offset,
            h_limit=min(chunk_points, total - offset),
        )
        for index, offset in enumerate(range(start, total, chunk_points))
    ]
    await TrainingChunkDocument.insert_many(chunks)
    planned = await lifecycle.heartbeat(
        job_id=job_id,
        status=TrainingStatus.COLLECTING_DATA,
        run=claim.run,
        values={
            "points_available": total,
            "points_requested": requested,
            "points_collected": 0,
            "points_dropped": 0,
            "chunks_total": len(chunks),
            "chunks_done": 0,
            "progress.message": f"collecting {requested} points in {len(chunks)} chunk(s)",
        },
    )
    if not planned:
        await storage.delete_working_data(job_id=job_id)
        await lifecycle.finish_cancel(job_id=job_id)
        return None
    log.info("training.collection_planned", job_id=str(job_id), points=requested, chunks=len(chunks))
    return CollectionPlan([chunk.index for chunk in chunks], claim.run)


async def _own_count(job_id: UUID, index: int, mine: str) -> None:
    """This execution's entry for the chunk, at 0: a predecessor's count stops counting."""
    await TrainingJobDocument.get_pymongo_collection().update_one(
        {"_id": job_id, "status": TrainingStatus.COLLECTING_DATA.value},
        {"$set": {f"chunk_progress.{index}": {"run": mine, "points": 0}}},
    )


async def _claim_chunk(job_id: UUID, index: int, me: TaskIdentity, mine: str) -> TrainingChunkDocument | None:
    """The chunk for this execution (``mine``): only the latest execution to claim it may finish it."""
    chunks = TrainingChunkDocument.get_pymongo_collection()
    holders: list[dict[str, object]] = [{"status": ChunkStatus.PENDING.value}]
    if me.resumable:
        holders.append({"status": ChunkStatus.IN_PROGRESS.value, "task_id": me.task_id})
    raw = await chunks.find_one_and_update(
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


async def collect_chunk(*, job_id: UUID, index: int, me: TaskIdentity, sth: SthClient) -> bool:
    """Fill one chunk; True when it was the last chunk of the set, so preprocessing is to be queued.

    False too when the job stopped collecting (cancelled, failed) or the chunk was done already.

    While its pages arrive, the chunk's running count is on the job (``chunk_progress``, at most
    once a second with the heartbeat), so points collected rise within a chunk. Count and chunk
    belong to the execution that claimed the chunk last: a retried or redelivered execution
    replaces the count instead of adding to it, an older one still running stops at its next
    heartbeat and can no longer finish the chunk, and finishing swaps the count for the exact one.
    """
    job = await lifecycle.job_in(job_id, TrainingStatus.COLLECTING_DATA)
    if job is None:
        return False
    mine = uuid4().hex
    chunk = await _claim_chunk(job_id, index, me, mine)
    if chunk is None:
        return False
    await _own_count(job_id, index, mine)
    if chunk.attempts >= lifecycle.MAX_ATTEMPTS:
        raise StepFailed(
            "WORKER_LOST", f"the worker collecting chunk {index} was lost {chunk.attempts} times; giving up"
        )
    lease_run = job.lease.run if job.lease else ""
    last_beat = 0.0

    async def still_wanted(received: int) -> bool:
        nonlocal last_beat
        now = time.monotonic()
        if now - last_beat < HEARTBEAT_EVERY_SECONDS:
            return True
        last_beat = now
        # The job's lease belongs to the orchestration task; chunks keep it alive on its behalf.
        # A newer execution of this chunk owns its entry now: this one stops.
        return await lifecycle.heartbeat(
            job_id=job_id,
            status=TrainingStatus.COLLECTING_DATA,
            run=lease_run,
            values={"lease.active": True, f"chunk_progress.{index}.points": received},
            also={f"chunk_progress.{index}.run": mine},
        )

    series, tenant = series_of(job.config)
    result = await sth.read_range(
        series,
        tenant,
        offset=chunk.h_offset,
        limit=chunk.h_limit,
        date_from=job.request.date_from,
        date_to=job.request.date_to,
        should_continue=still_wanted,
    )
    return await _store_chunk(job_id=job_id, chunk=chunk, mine=mine, lease_run=lease_run, result=result)


async def _store_chunk(
    *, job_id: UUID, chunk: TrainingChunkDocument, mine: str, lease_run: str, result: Collected
) -> bool:
    index = chunk.index
    received = len(result.points) + result.dropped + result.duplicates
    if received < chunk.h_limit:
        # Fewer entries than asked: points removed meanwhile (TTL) or a server capping its pages.
        log.warning(
            "training.chunk_short", job_id=str(job_id), index=index, asked=chunk.h_limit, received=received
        )
    timestamps = [point.timestamp.timestamp() for point in result.points]
    values = [point.value for point in result.points]
    chunks = TrainingChunkDocument.get_pymongo_collection()
    done = await chunks.update_one(
        {"_id": chunk.id, "status": ChunkStatus.IN_PROGRESS.value, "run": mine},
        {
            "$set": {
                "status": ChunkStatus.COMPLETED.value,
                "points": len(values),
                "dropped": result.dropped,
                "timestamps": storage.pack(timestamps),
                "values": storage.pack(values),
                "updated_at": utcnow(),
            }
        },
    )
    if not done.matched_count:
        return False
    now = utcnow()
    updated = await TrainingJobDocument.get_pymongo_collection().find_one_and_update(
        {"_id": job_id, "status": TrainingStatus.COLLECTING_DATA.value},
        {
            "$inc": {
                "points_collected": len(values),
                "points_dropped": result.dropped,
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
    log.info("training.chunk_collected", job_id=str(job_id), index=index, points=len(values))
    if updated is None:
        return False
    collected = int(updated["points_collected"])
    requested = max(1, int(updated["points_requested"]))
    await lifecycle.heartbeat(
        job_id=job_id,
        status=TrainingStatus.COLLECTING_DATA,
        run=lease_run,
        values=progress.collecting(collected=collected, requested=requested),
    )
    # The one write that counted this chunk says whether it was the last: exactly one chunk sees it.
    return int(updated["chunks_done"]) >= int(updated["chunks_total"])


__all__ = ["begin_collection", "collect_chunk"]
