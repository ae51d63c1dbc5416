"""Every status change of a training job (claims, heartbeats, hand-offs, terminal states), each one
a single conditional update.

A worker step starts by *claiming* the job (``find_one_and_update`` on the status it expects), so
a duplicated or redelivered message finds nothing to claim and does nothing. Terminal changes
(complete, fail, cancel) match only statuses they may leave, so a failed job never flips back to
running, and each one releases the model's lock exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import structlog
from pymongo import ReturnDocument

from app.models.repository import release_model
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
FRACTION = "progress.fraction"


@dataclass(frozen=True)
class Claim:
    """A task's right to run one step of a job (the job as the claim left it)."""

    job: TrainingJobDocument
    run: str
    resumed: bool


def _jobs() -> Any:
    return TrainingJobDocument.get_pymongo_collection()


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

    A redelivered message (its worker died mid-step), a retry, or the watchdog's driven copy may take
    the step over again when the lease names the same task id (see :func:`_take_over`). A step lost
    while its run held the lease counts one attempt: after :data:`MAX_ATTEMPTS` the job fails instead
    of looping on a task that kills its worker (retries and hand-backs do not count).
    """
    task_id, worker = me.task_id, me.worker
    run = uuid4().hex
    now = utcnow()
    values = _claimed_values(becomes, _lease(task_id, run, worker, now), now, opens, closes, extra)
    raw = await _jobs().find_one_and_update(
        {"_id": job_id, "status": expected.value},
        _update(values, inc={"progress_seq": 1}),
        return_document=ReturnDocument.AFTER,
    )
    if raw is not None:
        claimed: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
        await events.announce(claimed, status_changed=True)
        return Claim(claimed, run, resumed=False)
    if not me.resumable:
        return None
    raw = await _take_over(
        job_id=job_id, status=becomes, me=me, values=_resumed_values(run, worker, now, extra)
    )
    if raw is not None:
        log.warning("training.step_resumed", job_id=str(job_id), status=becomes.value, task_id=task_id)
        resumed: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
        await events.announce(resumed, status_changed=False)
        return Claim(resumed, run, resumed=True)
    if me.redelivered and await _lost_too_often(job_id=job_id, status=becomes, task_id=task_id):
        await fail_job(
            job_id=job_id,
            code="WORKER_LOST",
            message=f"the worker running this job was lost {MAX_ATTEMPTS} times; giving up",
        )
    return None


def _claimed_values(
    becomes: TrainingStatus,
    lease: dict[str, Any],
    now: datetime,
    opens: Phase | None,
    closes: Phase | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {"status": becomes.value, "lease": lease, "updated_at": now, **(extra or {})}
    if opens is not None:
        values[f"phases.{opens}.started_at"] = now
    if closes is not None:
        values[f"phases.{closes}.ended_at"] = now
    return values


def _resumed_values(run: str, worker: str, now: datetime, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "lease.run": run,
        "lease.worker": worker,
        "lease.heartbeat_at": now,
        "lease.active": True,
        "updated_at": now,
        **(extra or {}),
    }


async def _take_over(
    *, job_id: UUID, status: TrainingStatus, me: TaskIdentity, values: dict[str, Any]
) -> dict[str, Any] | None:
    """The step, for a task that may resume it: which runs it may take the step from, and whether
    that counts as a lost worker, depends on why the task runs again."""
    mine = {"_id": job_id, "status": status.value, "lease.task_id": me.task_id}
    tries: list[tuple[dict[str, Any], int]] = []
    if me.redelivered:
        # The broker redelivered because the run holding the step died: one more lost worker.
        tries.append(({"lease.active": True, "lease.attempt": {"$lt": MAX_ATTEMPTS}}, 1))
    if me.redelivered or me.driven:
        # The step waits: handed back at a shutdown, or sent again by the watchdog (which counted
        # the loss when it found the run silent). A live run is never taken over from here.
        tries.append(({"lease.active": False}, 0))
    if me.retried:
        # Its own earlier run asked for this retry (a transient failure): nothing was lost.
        tries.append(({}, 0))
    for condition, lost in tries:
        update = _update(values, inc={"lease.attempt": lost, "progress_seq": 1})
        raw: dict[str, Any] | None = await _jobs().find_one_and_update(
            {**mine, **condition}, update, return_document=ReturnDocument.AFTER
        )
        if raw is not None:
            return raw
    return None


async def _lost_too_often(*, job_id: UUID, status: TrainingStatus, task_id: str) -> bool:
    current = await _jobs().find_one({"_id": job_id}, {"status": 1, "lease": 1})
    lease = (current or {}).get("lease") or {}
    return (
        current is not None
        and current.get("status") == status.value
        and lease.get("task_id") == task_id
        and bool(lease.get("active"))
        and int(lease.get("attempt", 1)) >= MAX_ATTEMPTS
    )


def _update(values: Mapping[str, Any], *, inc: Mapping[str, int]) -> dict[str, Any]:
    """``$set`` of ``values``, except the progress fraction: what watchers see never goes back."""
    fields = dict(values)
    update: dict[str, Any] = {"$set": fields, "$inc": dict(inc)}
    if FRACTION in fields:
        update["$max"] = {FRACTION: fields.pop(FRACTION)}
    return update


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
    update = _update(
        {"lease.heartbeat_at": now, "updated_at": now, **(values or {})}, inc={"progress_seq": 1}
    )
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


async def hand_back(*, job_ids: Iterable[UUID], worker: str) -> int:
    """Steps of a worker that shuts down go back to the queue: waiting, not lost.

    Their messages return to the broker when the worker leaves, and the next worker resumes them
    (from the checkpoint, when training). Released here, the wait is no lost worker: neither the
    watchdog nor the redelivery counts it as an attempt. A step that finishes within the shutdown's
    grace finishes all the same. Answers how many jobs it released.
    """
    released = await _jobs().update_many(
        {"_id": {"$in": list(job_ids)}, "status": {"$in": _values(RUNNING_STATUSES)}},
        {
            "$set": {
                "lease.active": False,
                "progress.message": f"handed back: worker {worker} is shutting down",
            },
            "$inc": {"progress_seq": 1},
        },
    )
    return int(released.modified_count)


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


async def withdraw_pending(*, job_id: UUID, model_id: UUID) -> bool:
    """Undo an admission whose dispatch failed: the job goes, the model is free. False once a worker
    has the job (the message went out after all), which then simply runs.

    Nothing of a request that did not execute is kept, its idempotency key included, so the
    client's retry runs rather than replaying the failure.
    """
    removed = await _jobs().delete_one({"_id": job_id, "status": TrainingStatus.PENDING.value})
    if not removed.deleted_count:
        return False
    await release_model(model_id=model_id, job_id=job_id, completed=False)
    return True


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


__all__ = [
    "MAX_ATTEMPTS",
    "Claim",
    "Phase",
    "claim_step",
    "clean_up",
    "complete_job",
    "fail_job",
    "finish_cancel",
    "hand_back",
    "hand_off",
    "heartbeat",
    "job_in",
    "job_status",
    "request_cancel",
    "withdraw_pending",
]
