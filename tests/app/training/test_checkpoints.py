"""Training checkpoints in GridFS: one per job, written only under the lease, gone with the job."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import numpy as np
from pymongo import AsyncMongoClient

from app.timeutil import utcnow
from app.training import checkpoints, storage
from app.training.documents import Lease, TrainingJobDocument, TrainingStatus
from app.training.repository import lifecycle
from ml.training import FitState
from tests.app.training.repository.test_lifecycle import model_with_job


def state(epoch: int) -> FitState:
    weights = [np.full((3, 2), epoch, np.float32), np.arange(2, dtype=np.float32)]
    return FitState(
        epoch=epoch,
        weights=weights,
        optimizer=[np.array(epoch * 4, np.int64), np.array(0.001, np.float32), *weights, *weights],
        loss=[0.5 / e for e in range(1, epoch + 1)],
        val_loss=[None, *[0.6 / e for e in range(2, epoch + 1)]],
        best=0.6 / epoch if epoch > 1 else None,
        best_epoch=epoch if epoch > 1 else None,
        wait=0,
        best_weights=weights,
    )


async def training_job(run: str = "run-1") -> UUID:
    _, job_id = await model_with_job(TrainingStatus.TRAINING)
    job = await TrainingJobDocument.get(job_id)
    assert job is not None
    job.lease = Lease(task_id="train", run=run, worker="host:1", heartbeat_at=utcnow())
    await job.save()
    return job_id


async def files(mongo: AsyncMongoClient[dict[str, Any]], database: str, job_id: UUID) -> list[int]:
    found = mongo[database][f"{storage.CHECKPOINTS_BUCKET}.files"].find({"metadata.job_id": str(job_id)})
    return sorted([entry["metadata"]["epoch"] async for entry in found])


async def test_the_newest_checkpoint_replaces_the_last_and_loads_back_whole(
    beanie_db: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    job_id = await training_job()  # at most 2 epochs
    for epoch in (1, 2):
        saved = await checkpoints.save(job_id=job_id, run="run-1", state=state(epoch))
        assert saved is not None and saved.epoch == epoch and saved.size_bytes > 0
    assert await files(mongo, beanie_db, job_id) == [2]
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.checkpoint is not None and job.checkpoint.epoch == 2
    loaded = await checkpoints.load(job)
    assert loaded is not None
    expected = state(2)
    assert (loaded.epoch, loaded.loss, loaded.val_loss, loaded.best_epoch) == (
        2, expected.loss, expected.val_loss, 2
    )  # fmt: skip
    for mine, theirs in zip(loaded.optimizer, expected.optimizer, strict=True):
        np.testing.assert_array_equal(mine, theirs)


async def test_a_run_that_lost_the_lease_records_nothing_and_leaves_no_file(
    beanie_db: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    job_id = await training_job(run="new-run")
    assert await checkpoints.save(job_id=job_id, run="new-run", state=state(2)) is not None
    # The old execution, still running somewhere, saves a checkpoint too: it must not win.
    assert await checkpoints.save(job_id=job_id, run="old-run", state=state(1)) is None
    assert await files(mongo, beanie_db, job_id) == [2]
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.checkpoint is not None and job.checkpoint.run == "new-run"


async def test_checkpoints_go_when_the_job_ends(
    beanie_db: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    job_id = await training_job()
    assert await checkpoints.save(job_id=job_id, run="run-1", state=state(1)) is not None
    await lifecycle.fail_job(job_id=job_id, code="INTERNAL", message="boom")
    assert await files(mongo, beanie_db, job_id) == []
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.checkpoint is None and await checkpoints.load(job) is None


async def test_a_checkpoint_past_the_jobs_epochs_is_not_resumed_from(beanie_db: str) -> None:
    job_id = await training_job()  # at most 2 epochs
    assert await checkpoints.save(job_id=job_id, run="run-1", state=state(3)) is not None
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and await checkpoints.load(job) is None


async def test_an_unreadable_checkpoint_means_starting_over(beanie_db: str) -> None:
    job_id = await training_job()
    saved = await checkpoints.save(job_id=job_id, run="run-1", state=state(1))
    assert saved is not None
    await storage.delete_checkpoints(job_id=job_id)
    file_id = await storage.store_checkpoint(job_id=job_id, run="run-1", epoch=1, data=b"not an archive")
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.checkpoint is not None
    job.checkpoint.file_id = file_id
    assert await checkpoints.load(job) is None
