"""Data collection: plan the chunks from one STH count, then fill each chunk from its own task.

A chunk is a slice of offsets, tens of thousands of points wide, that its task pages with the STH
client's bounded concurrency and stores packed in its chunk document. Offsets count from the
oldest point, so points that arrive during collection never shift a planned slice.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import structlog

from app.timeutil import utcnow
from app.training import progress, storage
from app.training.config import required_points, series_of
from app.training.documents import (
    TrainingChunkDocument,
    TrainingConfig,
    TrainingJobDocument,
    TrainingStatus,
    chunk_id,
)
from app.training.failures import StepFailed, TaskIdentity
from app.training.repository import chunks as chunk_store
from app.training.repository import lifecycle
from fiware.history import Collected, PagedHistory

log = structlog.get_logger(__name__)

# Heartbeats (and the cancel check they carry) at most this often while pages stream in.
HEARTBEAT_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class CollectionPlan:
    indexes: list[int]
    run: str


def requested_points(*, total: int, last_n: int | None) -> int:
    """The points a job collects of the ``total`` STH holds: the newest ``last_n``, or all."""
    return total if last_n is None else min(last_n, total)


def check_enough(config: TrainingConfig, *, requested: int, admitted: int) -> None:
    """Fail the job when the series shrank below what its windows need since admission
    (``admitted`` points it held then)."""
    needed = required_points(config)
    if requested < needed:
        raise StepFailed(
            "INSUFFICIENT_DATA",
            f"The history store now holds {requested} points where {needed} are needed (it held "
            f"{admitted} when the job was admitted)",
        )


def chunk_slices(*, total: int, requested: int, chunk_points: int) -> list[tuple[int, int]]:
    """``(offset, limit)`` of each chunk over the newest ``requested`` of ``total`` points."""
    start = total - requested
    return [(offset, min(chunk_points, total - offset)) for offset in range(start, total, chunk_points)]


def chunk_documents(job_id: UUID, *, slices: list[tuple[int, int]]) -> list[TrainingChunkDocument]:
    """The job's chunk documents, one per ``(offset, limit)`` slice, indexed in order."""
    return [
        TrainingChunkDocument(
            id=chunk_id(job_id, index), job_id=job_id, index=index, h_offset=offset, h_limit=limit
        )
        for index, (offset, limit) in enumerate(slices)
    ]


def plan_values(*, total: int, requested: int, chunks: int) -> dict[str, Any]:
    """What the job records of its plan: counts reset, the chunks to wait for."""
    return {
        "points_available": total,
        "points_requested": requested,
        "points_collected": 0,
        "points_dropped": 0,
        "chunks_total": chunks,
        "chunks_done": 0,
        "progress.message": f"collecting {requested} points in {chunks} chunk(s)",
    }


async def begin_collection(
    *, job_id: UUID, me: TaskIdentity, history: PagedHistory, chunk_points: int
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
    if claim.resumed and claim.job.chunks_total > 0:
        # The plan was stored before this step's worker died: its chunks may be running or done,
        # so it is sent again as it is (done chunks skip themselves), never planned anew.
        return CollectionPlan(list(range(claim.job.chunks_total)), claim.run)
    indexes = await _plan(claim.job, history=history, chunk_points=chunk_points, run=claim.run)
    return None if indexes is None else CollectionPlan(indexes, claim.run)


async def _plan(
    job: TrainingJobDocument, *, history: PagedHistory, chunk_points: int, run: str
) -> list[int] | None:
    """Count the series, store its chunks and record the plan; None when the job stopped meanwhile."""
    series, tenant = series_of(job.config)
    total = await history.count(series, tenant, date_from=job.request.date_from, date_to=job.request.date_to)
    requested = requested_points(total=total, last_n=job.request.last_n)
    check_enough(job.config, requested=requested, admitted=job.points_available)
    # Chunks of an attempt that died before its plan was stored describe nothing: start over.
    await storage.delete_working_data(job_id=job.id)
    chunks = chunk_documents(
        job.id, slices=chunk_slices(total=total, requested=requested, chunk_points=chunk_points)
    )
    await chunk_store.insert_chunks(chunks)
    planned = await lifecycle.heartbeat(
        job_id=job.id,
        status=TrainingStatus.COLLECTING_DATA,
        run=run,
        values=plan_values(total=total, requested=requested, chunks=len(chunks)),
    )
    if not planned:
        await storage.delete_working_data(job_id=job.id)
        await lifecycle.finish_cancel(job_id=job.id)
        return None
    log.info("training.collection_planned", job_id=str(job.id), points=requested, chunks=len(chunks))
    return [chunk.index for chunk in chunks]


async def collect_chunk(*, job_id: UUID, index: int, me: TaskIdentity, history: PagedHistory) -> bool:
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
    chunk = await chunk_store.claim_chunk(job_id, index, me, mine)
    if chunk is None:
        return False
    await chunk_store.own_count(job_id, index, mine)
    if chunk.attempts >= lifecycle.MAX_ATTEMPTS:
        raise StepFailed(
            "WORKER_LOST", f"the worker collecting chunk {index} was lost {chunk.attempts} times; giving up"
        )
    lease_run = job.lease.run if job.lease else ""
    series, tenant = series_of(job.config)
    result = await history.read_range(
        series,
        tenant,
        offset=chunk.h_offset,
        limit=chunk.h_limit,
        date_from=job.request.date_from,
        date_to=job.request.date_to,
        should_continue=_still_wanted(job_id=job_id, index=index, mine=mine, lease_run=lease_run),
    )
    return await _store_chunk(job_id=job_id, chunk=chunk, mine=mine, lease_run=lease_run, result=result)


def _still_wanted(*, job_id: UUID, index: int, mine: str, lease_run: str) -> Callable[[int], Awaitable[bool]]:
    """The page callback of a chunk: a throttled heartbeat carrying its running count."""
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

    return still_wanted


def entries_received(result: Collected) -> int:
    """Entries STH answered for a chunk, whether kept, dropped or merged."""
    return len(result.points) + result.dropped + result.duplicates


async def _store_chunk(
    *, job_id: UUID, chunk: TrainingChunkDocument, mine: str, lease_run: str, result: Collected
) -> bool:
    index = chunk.index
    if (got := entries_received(result)) < chunk.h_limit:
        # Fewer entries than asked: points removed meanwhile (TTL) or a server capping its pages.
        log.warning(
            "training.chunk_short", job_id=str(job_id), index=index, asked=chunk.h_limit, received=got
        )
    values = [point.value for point in result.points]
    stored = await chunk_store.complete_chunk(
        chunk=chunk,
        mine=mine,
        dropped=result.dropped,
        timestamps=storage.pack([point.timestamp.timestamp() for point in result.points]),
        values=storage.pack(values),
        points=len(values),
    )
    if not stored:
        return False
    counted = await chunk_store.count_chunk_in(
        job_id=job_id, index=index, points=len(values), dropped=result.dropped
    )
    log.info("training.chunk_collected", job_id=str(job_id), index=index, points=len(values))
    if counted is None:
        return False
    await lifecycle.heartbeat(
        job_id=job_id,
        status=TrainingStatus.COLLECTING_DATA,
        run=lease_run,
        values=progress.collecting(collected=counted.collected, requested=max(1, counted.requested)),
    )
    # The one write that counted this chunk says whether it was the last: exactly one chunk sees it.
    return counted.done >= counted.total


__all__ = [
    "begin_collection",
    "check_enough",
    "chunk_documents",
    "chunk_slices",
    "collect_chunk",
    "entries_received",
    "plan_values",
    "requested_points",
]
