"""The watchdog against a real database: every silent job is moved on, none is failed for waiting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from app.models.documents import ModelDocument
from app.models.enums import ModelStatus
from app.timeutil import utcnow
from app.training import storage, watchdog
from app.training.documents import (
    ChunkStatus,
    TrainingChunkDocument,
    TrainingJobDocument,
    TrainingStatus,
    chunk_id,
)
from app.training.repository import lifecycle
from tests.app.training.repository.test_lifecycle import claim, model_with_job, status_of

STALE = 60.0


async def set_job(job_id: UUID, **values: Any) -> None:
    await TrainingJobDocument.get_pymongo_collection().update_one({"_id": job_id}, {"$set": values})


async def silent(job_id: UUID, *, minutes: float = 10, status: TrainingStatus | None = None) -> None:
    values: dict[str, Any] = {"lease.heartbeat_at": utcnow() - timedelta(minutes=minutes)}
    if status is not None:
        values["status"] = status.value
    await set_job(job_id, **values)


async def job(job_id: UUID) -> TrainingJobDocument:
    found = await TrainingJobDocument.get(job_id)
    assert found is not None
    return found


async def test_a_silent_run_is_a_lost_worker_its_step_is_sent_again_then_given_up(beanie_db: str) -> None:
    model, job_id = await model_with_job()
    assert await claim(job_id) is not None
    await silent(job_id, status=TrainingStatus.TRAINING)
    for attempt in (2, 3):
        swept = await watchdog.sweep(stale_seconds=STALE)
        assert swept.drives == [watchdog.Drive(job_id, "train")] and swept.lost == [job_id]
        lease = (await job(job_id)).lease
        assert lease is not None and lease.attempt == attempt and not lease.active
        # The driven copy resumed it, then that run went silent too.
        await set_job(job_id, **{"lease.active": True})
        await silent(job_id)
    swept = await watchdog.sweep(stale_seconds=STALE)
    assert swept.ended == [job_id] and swept.drives == []
    failed = await job(job_id)
    assert failed.status is TrainingStatus.FAILED and failed.error is not None
    assert failed.error.code == "WORKER_LOST" and "lost 3 times" in failed.error.message
    assert await status_of(model) == (ModelStatus.DRAFT, None)


async def test_a_step_waiting_in_a_queue_is_sent_again_backing_off_and_never_failed(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    held = await claim(job_id)
    assert held is not None
    await lifecycle.hand_off(job_id=job_id, status=TrainingStatus.COLLECTING_DATA, run=held.run)
    await set_job(job_id, status=TrainingStatus.PREPROCESSING.value)
    await silent(job_id)
    first = await watchdog.sweep(stale_seconds=STALE)
    assert first.drives == [watchdog.Drive(job_id, "process")] and first.lost == []
    # Right after a send: nothing; two stale windows after it: the next send.
    assert (await watchdog.sweep(stale_seconds=STALE)).drives == []
    await set_job(job_id, **{"lease.driven_at": utcnow() - timedelta(seconds=2 * STALE + 1)})
    assert (await watchdog.sweep(stale_seconds=STALE)).drives == [watchdog.Drive(job_id, "process")]
    waiting = await job(job_id)
    assert waiting.status is TrainingStatus.PREPROCESSING
    assert waiting.lease is not None and waiting.lease.attempt == 1 and waiting.lease.drives == 2


async def test_a_collection_gets_its_missing_chunks_or_its_preprocessing(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    held = await claim(job_id)
    assert held is not None
    await TrainingChunkDocument.insert_many(
        [
            TrainingChunkDocument(id=chunk_id(job_id, i), job_id=job_id, index=i, h_offset=i, h_limit=1)
            for i in range(3)
        ]
    )
    chunks = TrainingChunkDocument.get_pymongo_collection()
    await chunks.update_one({"_id": chunk_id(job_id, 1)}, {"$set": {"status": ChunkStatus.COMPLETED.value}})
    await set_job(job_id, chunks_total=3, **{"lease.active": False})
    await silent(job_id)
    assert (await watchdog.sweep(stale_seconds=STALE)).drives == [watchdog.Drive(job_id, "chunks", (0, 2))]
    await chunks.update_many({"job_id": job_id}, {"$set": {"status": ChunkStatus.COMPLETED.value}})
    await set_job(job_id, **{"lease.driven_at": None})
    assert (await watchdog.sweep(stale_seconds=STALE)).drives == [watchdog.Drive(job_id, "process")]


async def test_a_collection_that_died_before_its_plan_is_orchestrated_again(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    assert await claim(job_id) is not None
    await silent(job_id)
    assert (await watchdog.sweep(stale_seconds=STALE)).drives == [watchdog.Drive(job_id, "orchestrate")]


async def test_pending_jobs_nobody_took_are_sent_again_once_per_period(beanie_db: str) -> None:
    _, old = await model_with_job()
    _, fresh = await model_with_job()
    await set_job(old, updated_at=utcnow() - timedelta(minutes=10))
    assert (await watchdog.sweep(stale_seconds=STALE)).drives == [watchdog.Drive(old, "orchestrate")]
    assert (await watchdog.sweep(stale_seconds=STALE)).drives == []
    assert (await job(fresh)).status is TrainingStatus.PENDING


async def test_a_live_job_is_left_alone(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    assert await claim(job_id) is not None
    swept = await watchdog.sweep(stale_seconds=STALE)
    assert swept.drives == [] and swept.ended == []
    assert (await job(job_id)).status is TrainingStatus.COLLECTING_DATA


async def test_a_cancel_nobody_can_finish_is_finished_by_the_watchdog(beanie_db: str) -> None:
    model, job_id = await model_with_job()
    held = await claim(job_id)
    assert held is not None
    await lifecycle.hand_off(job_id=job_id, status=TrainingStatus.COLLECTING_DATA, run=held.run)
    await set_job(job_id, status=TrainingStatus.CANCEL_REQUESTED.value)
    assert (await watchdog.sweep(stale_seconds=STALE)).ended == [job_id]
    assert (await job(job_id)).status is TrainingStatus.CANCELLED
    assert await status_of(model) == (ModelStatus.DRAFT, None)


async def test_a_model_locked_by_a_vanished_job_is_freed_but_a_young_lock_is_not(beanie_db: str) -> None:
    old_model, old_job = await model_with_job()
    young_model, young_job = await model_with_job()
    jobs = TrainingJobDocument.get_pymongo_collection()
    await jobs.delete_many({"_id": {"$in": [old_job, young_job]}})
    # Admission takes the lock a moment before it stores the job: a fresh lock is not an orphan.
    await ModelDocument.get_pymongo_collection().update_one(
        {"_id": young_model.id}, {"$set": {"active_since": utcnow()}}
    )
    await watchdog.sweep(stale_seconds=STALE)
    assert await status_of(old_model) == (ModelStatus.DRAFT, None)
    assert await status_of(young_model) == (ModelStatus.TRAINING, young_job)


async def test_working_data_that_lands_after_its_job_ended_is_removed(beanie_db: str) -> None:
    _, ended = await model_with_job()
    _, running = await model_with_job()
    assert await claim(running) is not None
    await set_job(ended, status=TrainingStatus.COMPLETED.value)
    # A checkpoint's write still in flight when its process died, landing after the job's end.
    for job_id in (ended, running):
        await storage.store_checkpoint(job_id=job_id, run="dead", epoch=3, data=b"late")
    await watchdog.sweep(stale_seconds=STALE)
    assert await storage.working_data_owners() == {running}
