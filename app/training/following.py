"""Following jobs live: the snapshot first, then every newer event, resynced when in doubt.

Subscribe first, read the snapshot second: an event published between the two is not lost, and
``seq`` drops the duplicates. A listener that hears nothing for a while re-reads the job anyway,
because a PUBLISH can fail on the worker's side without the hub noticing anything.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from uuid import UUID

from app.auth.tenancy import TenantScope
from app.errors import NotFound
from app.training import service
from app.training.documents import ACTIVE_STATUSES, TrainingJobDocument
from app.training.events import JOBS_CHANNEL, ProgressEvent, event_of, job_channel
from app.training.hub import ProgressHub, Resync

# Silence after which a follower re-reads the snapshot on its own.
RESYNC_AFTER_SECONDS = 15.0


async def follow_job(
    *,
    job_id: UUID,
    after_seq: int | None,
    scope: TenantScope,
    hub: ProgressHub,
    quiet_after: float = RESYNC_AFTER_SECONDS,
) -> AsyncGenerator[ProgressEvent, None]:
    """Events of one job with ``seq > after_seq``, ending after its terminal event."""
    async with hub.listen(job_channel(job_id), quiet_after=quiet_after) as listener:
        job = service.visible(await TrainingJobDocument.get(job_id), scope)
        if job is None:
            raise NotFound(f"training job {job_id} does not exist", field=("jobId",))
        last = -1 if after_seq is None else after_seq
        event: ProgressEvent | None = event_of(job)
        while event is not None:
            if event.seq > last:
                last = event.seq
                yield event
                if event.terminal:
                    return
            elif event.terminal:
                return  # the client already has the end
            item = await listener.get()
            if isinstance(item, Resync):
                current = await TrainingJobDocument.get(job_id)
                event = event_of(current) if current is not None else None
            elif isinstance(item, ProgressEvent):  # a job channel carries nothing else
                event = item


async def follow_jobs(
    *,
    model_id: UUID | None,
    scope: TenantScope,
    hub: ProgressHub,
    quiet_after: float = RESYNC_AFTER_SECONDS,
) -> AsyncGenerator[ProgressEvent, None]:
    """Status changes of every job (of one model) in the caller's tenants, while the caller listens."""
    seen: dict[UUID, int] = {}
    since: datetime | None = None
    async with hub.listen(JOBS_CHANNEL, quiet_after=quiet_after) as listener:
        while True:
            item = await listener.get()
            if isinstance(item, Resync):
                # What changed while events could have been lost: running jobs, and any job
                # touched since the last event this follower saw.
                query: dict[str, object] = {"status": {"$in": sorted(s.value for s in ACTIVE_STATUSES)}}
                if since is not None:
                    query = {"$or": [query, {"updated_at": {"$gte": since}}]}
                if model_id is not None:
                    query = {"$and": [query, {"model_id": model_id}]}
                query = scope.restrict(query, *service.TENANT_FIELDS)
                found = [event_of(job) for job in await TrainingJobDocument.find(query).to_list()]
            elif isinstance(item, ProgressEvent):
                wanted = model_id is None or item.model_id == model_id
                found = [item] if wanted and scope.allows(item.service, item.service_path) else []
            else:
                found = []
            for event in sorted(found, key=lambda e: e.at):
                if event.seq > seen.get(event.job_id, -1):
                    seen[event.job_id] = event.seq
                    since = event.at if since is None else max(since, event.at)
                    yield event


__all__ = ["RESYNC_AFTER_SECONDS", "follow_job", "follow_jobs"]
