"""Reading, cancelling and deleting training jobs (admission lives in ``admission``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from app.auth.tenancy import TenantScope
from app.errors import Conflict, NotFound
from app.models import repository as models
from app.models.documents import ModelDocument
from app.models.service import parse_id
from app.pagination import NEWEST_FIRST, Edge, Page, Position, after_position, page_of, position_of
from app.training import storage
from app.training.documents import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    Artifact,
    TrainingJobDocument,
    TrainingStatus,
)
from app.training.repository import jobs, lifecycle


class JobConflict(Conflict):
    """The job cannot do what was asked in its current status; the job travels with the error."""

    def __init__(self, message: str, *, job: TrainingJobDocument) -> None:
        super().__init__(message, field=("jobId",))
        self.job = job


@dataclass(frozen=True)
class JobFilter:
    model_id: UUID | None = None
    statuses: frozenset[TrainingStatus] = field(default_factory=frozenset)

    def to_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.model_id is not None:
            query["model_id"] = self.model_id
        if self.statuses:
            query["status"] = {"$in": sorted(TrainingStatus(status).value for status in self.statuses)}
        return query


JobEdge = Edge[TrainingJobDocument]
JobPage = Page[TrainingJobDocument]


def _position(job: TrainingJobDocument) -> Position:
    return job.created_at, job.id


TENANT_FIELDS = ("config.fiware_service", "config.fiware_service_path")


def last_sign_of_life(job: TrainingJobDocument) -> datetime | None:
    """When the step running the job (or the job waiting for its first worker) last showed life;
    None once it has ended. Read from MongoDB alone, so true while every worker is down."""
    if job.status not in ACTIVE_STATUSES:
        return None
    if job.lease is not None:
        return job.lease.heartbeat_at
    return job.updated_at


def visible(job: TrainingJobDocument | None, scope: TenantScope) -> TrainingJobDocument | None:
    """The job if the caller's tenants include its model's: another tenant's job does not exist."""
    if job is None or not scope.allows(job.config.fiware_service, job.config.fiware_service_path):
        return None
    return job


async def get_job(*, job_id: str, scope: TenantScope, field: str = "id") -> TrainingJobDocument | None:
    return visible(await TrainingJobDocument.get(parse_id(job_id, field=field)), scope)


async def artifact_of(*, job_id: str, name: str, scope: TenantScope) -> tuple[Artifact, bytes]:
    """One artifact of a job the caller's tenants see, with its bytes; NotFound otherwise."""
    job = await get_job(job_id=job_id, scope=scope, field="jobId")
    found = next((a for a in job.artifacts if a.name == name), None) if job is not None else None
    if found is None:
        raise NotFound(f"training job {job_id} has no artifact {name!r}", field=("name",))
    return found, await storage.read_artifact(file_id=found.file_id)


async def list_jobs(*, job_filter: JobFilter, first: int, after: str | None, scope: TenantScope) -> JobPage:
    position = position_of(first, after)
    query = scope.restrict(job_filter.to_query(), *TENANT_FIELDS)
    found = (
        await TrainingJobDocument.find(after_position(query, position))
        .sort(NEWEST_FIRST)
        .limit(first + 1)
        .to_list()
    )
    return page_of(found, first=first, query=query, key=_position)


async def count_jobs(*, query: Mapping[str, Any]) -> int:
    return await TrainingJobDocument.find(dict(query)).count()


async def count_by_status() -> dict[TrainingStatus, int]:
    """Every status, with the number of jobs in it (zero included), in one aggregation."""
    counts = dict.fromkeys(TrainingStatus, 0)
    for status, n in (await jobs.count_by(key="status")).items():
        if status in TrainingStatus.__members__.values():
            counts[TrainingStatus(status)] = n
    return counts


async def jobs_of_models(
    *, model_ids: Sequence[UUID], first: int, statuses: frozenset[TrainingStatus]
) -> dict[UUID, JobPage]:
    """The newest ``first`` jobs of each model, for many models in one query (the DataLoader's)."""
    position_of(first, None)
    query: dict[str, Any] = {"model_id": {"$in": list(dict.fromkeys(model_ids))}}
    if statuses:
        query["status"] = {"$in": sorted(TrainingStatus(status).value for status in statuses)}
    grouped: dict[UUID, list[TrainingJobDocument]] = {model_id: [] for model_id in model_ids}
    # Per-model slicing happens here, so a model with thousands of jobs costs its documents once.
    async for job in TrainingJobDocument.find(query).sort(NEWEST_FIRST):
        kept = grouped[job.model_id]
        if len(kept) <= first:
            kept.append(job)
    return {
        model_id: page_of(
            jobs,
            first=first,
            query={"model_id": model_id, **({"status": query["status"]} if statuses else {})},
            key=_position,
        )
        for model_id, jobs in grouped.items()
    }


async def count_jobs_of_models(
    *, model_ids: Sequence[UUID], statuses: frozenset[TrainingStatus]
) -> dict[UUID, int]:
    """How many jobs each model has (in ``statuses``, when given), for many models in one query."""
    match: dict[str, Any] = {"model_id": {"$in": list(dict.fromkeys(model_ids))}}
    if statuses:
        match["status"] = {"$in": sorted(TrainingStatus(status).value for status in statuses)}
    counts = dict.fromkeys(model_ids, 0)
    counts.update(await jobs.count_by(key="model_id", match=match))
    return counts


async def cancel_job(*, job_id: str, scope: TenantScope) -> TrainingJobDocument:
    key = parse_id(job_id, field="jobId")
    if await get_job(job_id=job_id, scope=scope, field="jobId") is None:
        raise NotFound(f"training job {job_id} does not exist", field=("jobId",))
    job, changed = await lifecycle.request_cancel(job_id=key)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field=("jobId",))
    if not changed:
        raise JobConflict(f"training job {job_id} has already finished ({job.status.value})", job=job)
    return job


async def delete_job(
    *,
    job_id: str,
    scope: TenantScope,
    on_job_removed: Callable[[TrainingJobDocument], Awaitable[None]] | None = None,
) -> UUID:
    key = parse_id(job_id, field="jobId")
    await _refuse_champion(key, job_id=job_id, scope=scope)
    removed = await jobs.delete_finished_job(
        query=scope.restrict(
            {"_id": key, "status": {"$in": sorted(status.value for status in FINISHED_STATUSES)}},
            *TENANT_FIELDS,
        )
    )
    if removed is None:
        job = visible(await TrainingJobDocument.get(key), scope)
        if job is None:
            raise NotFound(f"training job {job_id} does not exist", field=("jobId",))
        raise JobConflict(
            f"training job {job_id} is {job.status.value}; cancel it and wait for it to end first", job=job
        )
    await storage.delete_job_files(job_id=key)
    if on_job_removed is not None:
        await on_job_removed(removed)
    await models.settle_after_job_removal(model_id=removed.model_id)
    return key


async def _refuse_champion(key: UUID, *, job_id: str, scope: TenantScope) -> None:
    """A model's champion stays until another is promoted or the model is deleted."""
    job = visible(await TrainingJobDocument.get(key), scope)
    if job is None:
        return
    model = await ModelDocument.get(job.model_id)
    if model is not None and model.champion_job_id == key:
        raise JobConflict(
            f"training job {job_id} is the active version of model {model.id}: promote another job "
            "first, or delete the model",
            job=job,
        )


__all__ = [
    "JobConflict",
    "JobEdge",
    "JobFilter",
    "JobPage",
    "cancel_job",
    "count_jobs",
    "count_jobs_of_models",
    "delete_job",
    "get_job",
    "jobs_of_models",
    "last_sign_of_life",
    "list_jobs",
    "visible",
]
