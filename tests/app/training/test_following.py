"""Following a job: the snapshot first, then newer events; a silent channel makes it re-read."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from app.auth.tenancy import EVERY_TENANT, TenantScope
from app.models.documents import ModelDocument
from app.settings import Settings
from app.training.documents import TrainingJobDocument, TrainingStatus
from app.training.events import JOBS_CHANNEL, event_of
from app.training.following import follow_job, follow_jobs
from app.training.hub import ProgressHub
from fiware.http import Tenant
from tests.app.training.repository.test_lifecycle import model_with_job


async def test_a_change_whose_publish_was_lost_arrives_after_the_quiet_time(
    beanie_db: str, hub: ProgressHub
) -> None:
    _, job_id = await model_with_job(TrainingStatus.TRAINING)
    stream = follow_job(job_id=job_id, after_seq=None, scope=EVERY_TENANT, hub=hub, quiet_after=0.3)
    first = await anext(stream)
    assert first.status is TrainingStatus.TRAINING
    # A worker's write whose PUBLISH never reached Redis: only the document knows.
    job = await TrainingJobDocument.get(job_id)
    assert job is not None
    await job.set({"status": TrainingStatus.COMPLETED, "progress_seq": first.seq + 1})
    started = asyncio.get_running_loop().time()
    last = await asyncio.wait_for(anext(stream), 5)
    assert last.status is TrainingStatus.COMPLETED and last.seq == first.seq + 1
    assert asyncio.get_running_loop().time() - started >= 0.2
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert hub.stats().listeners == 0, "the stream ended with the terminal event and left nothing"


async def test_a_stream_of_every_job_shows_only_the_callers_tenants(
    beanie_db: str, hub: ProgressHub, test_settings: Settings
) -> None:
    tenant = Tenant(f"iso_{uuid.uuid4().hex[:8]}", "/")
    _, theirs = await model_with_job(TrainingStatus.TRAINING)
    mine_model, mine = await model_with_job(TrainingStatus.TRAINING)
    await ModelDocument.get_pymongo_collection().update_one(
        {"_id": mine_model.id}, {"$set": {"fiware_service": tenant.service}}
    )
    await TrainingJobDocument.get_pymongo_collection().update_one(
        {"_id": mine}, {"$set": {"config.fiware_service": tenant.service}}
    )
    stream = follow_jobs(model_id=None, scope=TenantScope.of([tenant]), hub=hub, quiet_after=0.3)
    # The silent channel makes it re-read running jobs: only its tenant's come back.
    assert (await asyncio.wait_for(anext(stream), 5)).job_id == mine
    redis = aioredis.Redis.from_url(test_settings.redis_url)
    try:
        for job_id in (theirs, mine):
            job = await TrainingJobDocument.get(job_id)
            assert job is not None
            await job.set({"status": TrainingStatus.CANCEL_REQUESTED, "progress_seq": job.progress_seq + 1})
            await redis.publish(JOBS_CHANNEL, event_of(job).to_json())
        seen = await asyncio.wait_for(anext(stream), 5)
        assert seen.job_id == mine and seen.status is TrainingStatus.CANCEL_REQUESTED
    finally:
        await stream.aclose()
        await redis.aclose()
