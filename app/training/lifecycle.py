"""Every status change of a training job, each one a single conditional update.

A worker step starts by *claiming* the job (``find_one_and_update`` on the status it expects), so
a duplicated or redelivered message finds nothing to claim and does nothing. Terminal changes
(complete, fail, cancel) match only statuses they may leave, so a failed job never flips back to
running, and each one releases the model's lock exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

import structlog
from pymongo import ReturnDocument

from app.models.documents import ModelDocument
from app.models.enums import ModelStatus
from app.timeutil import utcnow
from app.training import events, storage
from app.training.documents import (
    ACTIVE_STATUSES,
    RUNNING_STATUSES,
    JobError,
    TrainingJobDocument,
    TrainingStatus,
)
from app.training.failures import TaskIdentity

log = structlog.get_logger(__name__)

Phase = Literal["collecting", "preprocessing", "training"]
# A job whose worker died this many times in one step is failed instead of being tried again.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Claim:
    """A task's right to run one step of a job (the job as the claim left it)."""

    job: TrainingJobDocument
    run: str
    resumed: bool


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


def _models() -> Any:
    return ModelDocument.get_pymongo_collection()


def _values(statuses: Iterable[TrainingStatus]) -> list[str]:
    return [status.value for status in statuses]


def _lease(task_id: str, run: str, worker: str, now: datetime) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "run": run,
        "worker": worker,
        "heartbeat_at": now,
        "attempt": 1,
        "active": True,
    }


async def claim_step(
    *,
    job_id: UUID,
    expected: TrainingStatus,
    becomes: TrainingStatus,
    opens: Phase | None,
    closes: Phase | None,
    me: TaskIdentity,
    extra: Mapping[str, Any] | None = None,
) -> Claim | None:
    """Move the job from ``expected`` to ``becomes`` for this task, or resume its own step.

    A redelivered message (its worker died mid-step) or a retry may take the step over again when
    the lease names the same task id. Redeliveries count as attempts: after :data:`MAX_ATTEMPTS`
    the job fails instead of looping on a task that kills its worker (retries do not count).
    """
    task_id, worker = me.task_id, me.worker
    run = uuid4().hex
    now = utcnow()
    values: dict[str, Any] = {
        "status": becomes.value,
        "lease": _lease(task_id, run, worker, now),
        "updated_at": now,
        **(extra or {}),
    }
    if opens is not None:
        values[f"phases.{opens}.started_at"] = now
    if closes is not None:
        values[f"phases.{closes}.ended_at"] = now
    raw = await _jobs().find_one_and_update(
        {"_id": job_id, "status": expected.value},
        {"$set": values, "$inc": {"progress_seq": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if raw is not None:
        claimed: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
        await events.announce(claimed, status_changed=True)
        return Claim(claimed, run, resumed=False)
    if not me.resumable:
        return None
    mine: dict[str, Any] = {"_id": job_id, "status": becomes.value, "lease.task_id": task_id}
    if me.redelivered:
        mine["lease.attempt"] = {"$lt": MAX_ATTEMPTS}
    raw = await _jobs().find_one_and_update(
        mine,
        {
            "$set": {
                "lease.run": run,
                "lease.worker": worker,
                "lease.heartbeat_at": now,
                "lease.active": True,
                "updated_at": now,
                **(extra or {}),
            },
            "$inc": {"lease.attempt": 1 if me.redelivered else 0, "progress_seq": 1},
        },
        return_document=ReturnDocument.AFTER,
    )
    if raw is not None:
        log.warning("training.step_resumed", job_id=str(job_id), status=becomes.value, task_id=task_id)
        resumed: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
        await events.announce(resumed, status_changed=False)
        return Claim(resumed, run, resumed=True)
    current = await _jobs().find_one({"_id": job_id}, {"status": 1, "lease": 1})
    if (
        me.redelivered
        and current
        and current.get("status") == becomes.value
        and (current.get("lease") or {}).get("task_id") == task_id
    ):
        await fail_job(
            job_id=job_id,
            code="WORKER_LOST",
            message=f"the worker running this job was lost {MAX_ATTEMPTS} times; giving up",
        )
    return None


async def heartbeat(
    *,
    job_id: UUID,
    status: TrainingStatus,
    run: str,
    values: Mapping[str, Any] | None = None,
    push: Mapping[str, Any] | None = None,
    also: Mapping[str, Any] | None = None,
) -> bool:
    """Record signs of life (and progress); False when the job is no longer this task's to run.

    The same update tells a worker to stop: a cancel or the watchdog moves the status away.
    ``also`` narrows it further (a chunk's own entry, which a newer execution of it replaces).
    """
    now = utcnow()
    update: dict[str, Any] = {
        "$set": {"lease.heartbeat_at": now, "updated_at": now, **(values or {})},
        "$inc": {"progress_seq": 1},
    }
    if push:
        update["$push"] = dict(push)
    raw = await _jobs().find_one_and_update(
        {"_id": job_id, "status": status.value, "lease.run": run, **(also or {})},
        update,
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        return False
    await events.announce(TrainingJobDocument.model_validate(raw), status_changed=False)
    return True


async def hand_off(*, job_id: UUID, status: TrainingStatus, run: str) -> None:
    """The step queued the next one: until a task takes it, silence is not a lost worker."""
    await heartbeat(job_id=job_id, status=status, run=run, values={"lease.active": False})


async def job_in(job_id: UUID, status: TrainingStatus) -> TrainingJobDocument | None:
    """The job when it is in ``status``; a job found asked to cancel is ended on the way."""
    job = await TrainingJobDocument.get(job_id)
    if job is not None and job.status is TrainingStatus.CANCEL_REQUESTED:
        await finish_cancel(job_id=job_id)
        return None
    return job if job is not None and job.status is status else None


async def job_status(job_id: UUID) -> TrainingStatus | None:
    raw = await _jobs().find_one({"_id": job_id}, {"status": 1})
    return None if raw is None else TrainingStatus(raw["status"])


async def release_model(*, model_id: UUID, job_id: UUID, completed: bool) -> None:
    """Give the model back: TRAINED once any job completed, else DRAFT. Only the holder can."""
    models = _models()
    held = {"_id": model_id, "active_job_id": job_id}
    if completed:
        await models.update_one(
            held,
            {
                "$set": {
                    "active_job_id": None,
                    "active_since": None,
                    "status": ModelStatus.TRAINED.value,
                    "has_successful_training": True,
                }
            },
        )
        return
    result = await models.update_one(
        {**held, "has_successful_training": True},
        {"$set": {"active_job_id": None, "active_since": None, "status": ModelStatus.TRAINED.value}},
    )
    if result.matched_count == 0:
        await models.update_one(
            held, {"$set": {"active_job_id": None, "active_since": None, "status": ModelStatus.DRAFT.value}}
        )


async def _finish(
    *,
    job_id: UUID,
    statuses: Iterable[TrainingStatus],
    becomes: TrainingStatus,
    values: Mapping[str, Any],
    extra_filter: Mapping[str, Any] | None = None,
) -> TrainingJobDocument | None:
    now = utcnow()
    raw = await _jobs().find_one_and_update(
        {"_id": job_id, "status": {"$in": _values(statuses)}, **(extra_filter or {})},
        {
            "$set": {
                "status": becomes.value,
                "finished_at": now,
                "updated_at": now,
                "lease": None,
                # Working state of the steps, deleted with the working data below.
                "chunk_progress": {},
                "checkpoint": None,
                **values,
            },
            "$inc": {"progress_seq": 1},
        },
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        return None
    job: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
    await events.announce(job, status_changed=True)
    await release_model(model_id=job.model_id, job_id=job.id, completed=becomes is TrainingStatus.COMPLETED)
    await storage.delete_working_data(job_id=job.id)
    if becomes is not TrainingStatus.COMPLETED:
        await storage.delete_artifacts(job_id=job.id)
    log.info("training.finished", job_id=str(job_id), status=becomes.value)
    return job


def _close_open_phases(job: TrainingJobDocument | None, now: datetime) -> dict[str, Any]:
    if job is None:
        return {}
    return {
        f"phases.{name}.ended_at": now
        for name, times in job.phases
        if times.started_at is not None and times.ended_at is None
    }


async def fail_job(*, job_id: UUID, code: str, message: str) -> TrainingJobDocument | None:
    """Record a failure with its reason. A job already asked to cancel ends CANCELLED instead."""
    current = await TrainingJobDocument.get(job_id)
    values = {
        "error": JobError(code=code, message=message).model_dump(),
        "progress.message": message,
        **_close_open_phases(current, utcnow()),
    }
    failed = await _finish(
        job_id=job_id,
        statuses=ACTIVE_STATUSES - {TrainingStatus.CANCEL_REQUESTED},
        becomes=TrainingStatus.FAILED,
        values=values,
    )
    if failed is None:
        return await finish_cancel(job_id=job_id)
    log.warning("training.failed", job_id=str(job_id), code=code, message=message)
    return failed


async def fail_pending(*, job_id: UUID, code: str, message: str) -> TrainingJobDocument | None:
    """Fail a job no worker has taken yet (its dispatch failed); None once a worker has it."""
    return await _finish(
        job_id=job_id,
        statuses={TrainingStatus.PENDING},
        becomes=TrainingStatus.FAILED,
        values={"error": JobError(code=code, message=message).model_dump(), "progress.message": message},
    )


async def finish_cancel(
    *, job_id: UUID, statuses: frozenset[TrainingStatus] = frozenset({TrainingStatus.CANCEL_REQUESTED})
) -> TrainingJobDocument | None:
    """A job asked to stop ends CANCELLED, its files removed (called by whoever sees the request)."""
    current = await TrainingJobDocument.get(job_id)
    return await _finish(
        job_id=job_id,
        statuses=statuses,
        becomes=TrainingStatus.CANCELLED,
        values={"progress.message": "cancelled", **_close_open_phases(current, utcnow())},
    )


async def complete_job(*, job_id: UUID, run: str, values: Mapping[str, Any]) -> TrainingJobDocument | None:
    """TRAINING ends COMPLETED, only for the run holding it (a cancel in between wins)."""
    now = utcnow()
    return await _finish(
        job_id=job_id,
        statuses={TrainingStatus.TRAINING},
        becomes=TrainingStatus.COMPLETED,
        values={"phases.training.ended_at": now, **values},
        extra_filter={"lease.run": run},
    )


async def request_cancel(*, job_id: UUID) -> tuple[TrainingJobDocument | None, bool]:
    """Ask a job to stop: ``(job, changed)``; ``changed`` is False when it had already finished.

    A PENDING job no worker has claimed is cancelled on the spot; a running one becomes
    CANCEL_REQUESTED and its worker ends it at the next page or batch.
    """
    now = utcnow()
    pending = await finish_cancel(job_id=job_id, statuses=frozenset({TrainingStatus.PENDING}))
    if pending is not None:
        return pending, True
    # A job whose next step waits in a queue has no worker to stop: it ends now, and the queued
    # task finds nothing to claim.
    queued = await _finish(
        job_id=job_id,
        statuses=RUNNING_STATUSES,
        becomes=TrainingStatus.CANCELLED,
        values={
            "progress.message": "cancelled",
            **_close_open_phases(await TrainingJobDocument.get(job_id), now),
        },
        extra_filter={"lease.active": False},
    )
    if queued is not None:
        return queued, True
    raw = await _jobs().find_one_and_update(
        {"_id": job_id, "status": {"$in": _values(RUNNING_STATUSES)}},
        {
            "$set": {
                "status": TrainingStatus.CANCEL_REQUESTED.value,
                "progress.message": "stopping at the next page or batch",
                "updated_at": now,
            },
            "$inc": {"progress_seq": 1},
        },
        return_document=ReturnDocument.AFTER,
    )
    if raw is not None:
        log.info("training.cancel_requested", job_id=str(job_id))
        stopping: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
        await events.announce(stopping, status_changed=True)
        return stopping, True
    job = await TrainingJobDocument.get(job_id)
    if job is not None and job.status is TrainingStatus.CANCEL_REQUESTED:
        return job, True
    return job, False


async def clean_up(*, job_id: UUID) -> None:
    """Remove what an ended (or deleted) job no longer needs; a no-op while it runs."""
    job = await TrainingJobDocument.get(job_id)
    if job is not None and job.status in ACTIVE_STATUSES:
        return
    await storage.delete_working_data(job_id=job_id)
    if job is None or job.status is not TrainingStatus.COMPLETED:
        await storage.delete_artifacts(job_id=job_id)
    else:
        kept = {a.file_id for a in job.artifacts}
        await storage.delete_artifacts_except(job_id=job_id, file_ids=kept)


async def stalled_collections(*, stale_seconds: float) -> list[UUID]:
    """Jobs whose chunks are all collected but whose preprocessing never started.

    The chord that starts preprocessing counts its chunks in the result backend; a Redis restart
    loses that count, and the job would wait forever. The watchdog starts the step again instead
    (its claim makes a second start harmless).
    """
    threshold = utcnow() - timedelta(seconds=stale_seconds)
    found: list[UUID] = []
    async for raw in _jobs().find(
        {
            "status": TrainingStatus.COLLECTING_DATA.value,
            "lease.active": False,
            "lease.heartbeat_at": {"$lt": threshold},
        },
        {"_id": 1, "chunks_total": 1, "chunks_done": 1},
    ):
        if raw.get("chunks_total") and raw.get("chunks_done", 0) >= raw["chunks_total"]:
            found.append(raw["_id"])
    return found


async def stalled_pending(*, stale_seconds: float) -> list[UUID]:
    """PENDING jobs no worker took for ``stale_seconds``: their orchestration is sent again.

    The API may have died between storing a job and queueing it. A job merely waiting behind a
    busy queue gets a duplicate message, which its claim makes harmless. Each job is picked at
    most once per ``stale_seconds`` (its ``updated_at`` moves).
    """
    threshold = utcnow() - timedelta(seconds=stale_seconds)
    picked: list[UUID] = []
    async for raw in _jobs().find(
        {"status": TrainingStatus.PENDING.value, "updated_at": {"$lt": threshold}}, {"_id": 1}
    ):
        moved = await _jobs().update_one(
            {"_id": raw["_id"], "status": TrainingStatus.PENDING.value, "updated_at": {"$lt": threshold}},
            {"$set": {"updated_at": utcnow()}},
        )
        if moved.modified_count:
            picked.append(raw["_id"])
    return picked


async def sweep_stale_jobs(*, stale_seconds: float) -> list[UUID]:
    """The watchdog: end jobs whose worker stopped sending heartbeats, and free orphaned models."""
    threshold = utcnow() - timedelta(seconds=stale_seconds)
    silent = {"lease.heartbeat_at": {"$lt": threshold}, "lease.active": True}
    stale_filter = {
        "$or": [
            {"status": {"$in": _values(RUNNING_STATUSES)}, **silent},
            # A cancel whose job waits in a queue has no worker to finish it: finish it here.
            {"status": TrainingStatus.CANCEL_REQUESTED.value, "$or": [silent, {"lease.active": False}]},
        ]
    }
    ended: list[UUID] = []
    async for raw in _jobs().find(stale_filter, {"_id": 1, "status": 1, "lease": 1}):
        job_id = raw["_id"]
        lease = raw.get("lease") or {}
        if raw["status"] == TrainingStatus.CANCEL_REQUESTED.value:
            done = await finish_cancel(job_id=job_id)
        else:
            done = await fail_job(
                job_id=job_id,
                code="WORKER_LOST",
                message=(
                    f"no heartbeat from worker {lease.get('worker', '?')} since "
                    f"{lease.get('heartbeat_at')}: the worker was stopped or lost"
                ),
            )
        if done is not None:
            ended.append(job_id)
    # A model whose lock names a job that has ended (or vanished) is released; a young lock may
    # belong to an admission that has not stored its job yet.
    locked = {"active_job_id": {"$ne": None}, "active_since": {"$lt": threshold}}
    async for model in _models().find(locked, {"active_job_id": 1}):
        job = await _jobs().find_one({"_id": model["active_job_id"]}, {"status": 1})
        if job is None or TrainingStatus(job["status"]) not in ACTIVE_STATUSES:
            completed = job is not None and job["status"] == TrainingStatus.COMPLETED.value
            await release_model(model_id=model["_id"], job_id=model["active_job_id"], completed=completed)
    return ended


__all__ = [
    "MAX_ATTEMPTS",
    "Claim",
    "Phase",
    "claim_step",
    "clean_up",
    "complete_job",
    "fail_job",
    "fail_pending",
    "finish_cancel",
    "hand_off",
    "heartbeat",
    "job_in",
    "job_status",
    "release_model",
    "request_cancel",
    "stalled_collections",
    "stalled_pending",
    "sweep_stale_jobs",
]
