"""Following a job: the snapshot first, then newer events; a silent channel makes it re-read."""

from __future__ import annotations

import asyncio

import pytest

from app.auth.tenancy import EVERY_TENANT
from app.training.documents import TrainingJobDocument, TrainingStatus
from app.training.following import follow_job
from app.training.hub import ProgressHub
from tests.app.training.test_lifecycle import model_with_job


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
