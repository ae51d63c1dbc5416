"""The watchdog: no job stays in a state that nothing will move.

Beat runs :func:`sweep` every ``CHRONOS_WATCHDOG_INTERVAL_SECONDS``. For every job that has shown no
sign of life for ``CHRONOS_JOB_STALE_SECONDS``, whatever its phase, it decides what moves the job on,
and the task module sends it:

- ``PENDING`` (its orchestration never ran: the API died before queueing it, or the message was lost):
  the orchestration is sent again.
- ``COLLECTING_DATA``, ``PREPROCESSING``, ``TRAINING``: the step is sent again as *driven* (it may take
  the step over only while the step waits, never from a live run). A collection sends its missing
  chunks again, or its preprocessing when every chunk is in.
  - If the step's run held the lease (it was working, then went silent), its worker is lost: that
    counts one attempt, and after ``MAX_ATTEMPTS`` the job fails ``WORKER_LOST``.
  - If the step was waiting in a queue (lease inactive: handed off, handed back at a shutdown, or
    sent before), its message should still be there; it is sent again anyway, backing off (a stale
    window, then twice that, up to 64 times), since a duplicate costs only a dequeue.
- ``CANCEL_REQUESTED`` with nobody to finish it: ``CANCELLED``.

A job waiting for a worker while every worker is down is not failed: when workers return, the
redelivered or driven step resumes it (from its checkpoint when training). Models locked by a job
that has ended are released.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from app.models import repository as models
from app.timeutil import utcnow
from app.training import storage
from app.training.documents import ACTIVE_STATUSES, TrainingStatus
from app.training.repository import chunks, lifecycle, sweeps

Step = Literal["orchestrate", "chunks", "process", "train"]
MAX_BACKOFF_DOUBLINGS = 6
STEP_OF = {TrainingStatus.PREPROCESSING: "process", TrainingStatus.TRAINING: "train"}


@dataclass(frozen=True)
class Drive:
    """A step of a job to send again, as driven."""

    job_id: UUID
    step: Step
    chunks: tuple[int, ...] = ()


@dataclass
class Sweep:
    ended: list[UUID] = field(default_factory=list)
    drives: list[Drive] = field(default_factory=list)
    lost: list[UUID] = field(default_factory=list)  # silent runs counted as lost workers


async def sweep(*, stale_seconds: float) -> Sweep:
    now = utcnow()
    threshold = now - timedelta(seconds=stale_seconds)
    result = Sweep()
    result.ended += await _finish_abandoned_cancels(threshold)
    result.drives += [
        Drive(job_id, "orchestrate") for job_id in await sweeps.pick_stalled_pending(threshold, now)
    ]
    async for raw in sweeps.silent_steps(threshold):
        await _drive_silent(raw, now=now, stale_seconds=stale_seconds, into=result)
    await _release_orphaned_models(threshold)
    await _remove_leftovers()
    return result


async def _drive_silent(raw: dict[str, Any], *, now: datetime, stale_seconds: float, into: Sweep) -> None:
    job_id, lease = raw["_id"], raw.get("lease") or {}
    if not lease.get("active") and not _due(lease, now=now, stale_seconds=stale_seconds):
        return
    if lease.get("active") and int(lease.get("attempt", 1)) >= lifecycle.MAX_ATTEMPTS:
        failed = await lifecycle.fail_job(
            job_id=job_id,
            code="WORKER_LOST",
            message=(
                f"no heartbeat from worker {lease.get('worker', '?')} since {lease.get('heartbeat_at')}, "
                f"and its step was lost {lifecycle.MAX_ATTEMPTS} times: giving up"
            ),
        )
        if failed is not None:
            into.ended.append(job_id)
        return
    if not await sweeps.mark_driven(job_id, lease, now=now):
        return  # another watchdog got there first, or the step came back to life
    if lease.get("active"):
        into.lost.append(job_id)
    into.drives.append(
        await _next_step(job_id, TrainingStatus(raw["status"]), int(raw.get("chunks_total") or 0))
    )


def _due(lease: dict[str, Any], *, now: datetime, stale_seconds: float) -> bool:
    """A waiting step is sent again a stale window after the last send, then after twice that..."""
    driven_at = lease.get("driven_at")
    if driven_at is None:
        return True
    wait = stale_seconds * 2 ** min(int(lease.get("drives", 0)), MAX_BACKOFF_DOUBLINGS)
    return bool(now - _aware(driven_at) >= timedelta(seconds=wait))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


async def _next_step(job_id: UUID, status: TrainingStatus, chunks_total: int) -> Drive:
    if status is not TrainingStatus.COLLECTING_DATA:
        return Drive(job_id, STEP_OF[status])  # type: ignore[arg-type]
    if chunks_total == 0:
        return Drive(job_id, "orchestrate")  # it died before its plan was stored
    done = await chunks.completed_indexes(job_id)
    missing = tuple(index for index in range(chunks_total) if index not in done)
    return Drive(job_id, "chunks", missing) if missing else Drive(job_id, "process")


async def _finish_abandoned_cancels(threshold: datetime) -> list[UUID]:
    """A cancel whose step waits in a queue, or whose worker went silent, has nobody to finish it."""
    ended: list[UUID] = []
    async for job_id in sweeps.abandoned_cancels(threshold):
        if await lifecycle.finish_cancel(job_id=job_id) is not None:
            ended.append(job_id)
    return ended


async def _remove_leftovers() -> None:
    """Working data of jobs that have ended: a write in flight when its process died may land after
    the job's end removed everything (a checkpoint's file, a chunk)."""
    for job_id in await storage.working_data_owners():
        status = await lifecycle.job_status(job_id)
        if status is None or status not in ACTIVE_STATUSES:
            await lifecycle.clean_up(job_id=job_id)


async def _release_orphaned_models(threshold: datetime) -> None:
    # A model whose lock names a job that has ended (or vanished) is released; a young lock may
    # belong to an admission that has not stored its job yet.
    async for model_id, job_id in models.locks_older_than(threshold):
        status = await lifecycle.job_status(job_id)
        if status is None or status not in ACTIVE_STATUSES:
            completed = status is TrainingStatus.COMPLETED
            await models.release_model(model_id=model_id, job_id=job_id, completed=completed)


__all__ = ["Drive", "Sweep", "sweep"]
