"""Status changes of a job: atomic claims, redelivery, terminal states, the model lock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4

from app.models.documents import ModelDocument
from app.models.enums import ModelStatus, ModelType, TargetMode
from app.timeutil import utcnow
from app.training.config import snapshot
from app.training.documents import TrainingJobDocument, TrainingRequest, TrainingStatus
from app.training.failures import TaskIdentity
from app.training.repository import lifecycle


async def model_with_job(status: TrainingStatus = TrainingStatus.PENDING) -> tuple[ModelDocument, UUID]:
    job_id = uuid4()
    model = ModelDocument(
        name="m", model_type=ModelType.GRU, rnn_layers=[{"units": 4}], dense_layers=[],
        lookback_window=8, forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2,
        learning_rate=0.001, validation_ratio=0.15, test_ratio=0.15, entity_type="Sensor", entity_id="urn:s",
        feature="t", fiware_service="smart", fiware_service_path="/", status=ModelStatus.TRAINING,
        active_job_id=job_id, active_since=utcnow() - timedelta(hours=1),
    )  # fmt: skip
    await model.insert()
    await TrainingJobDocument(
        id=job_id,
        model_id=model.id,
        status=status,
        request=TrainingRequest(last_n=100),
        config=snapshot(model),
        request_fingerprint="x",
    ).insert()
    return model, job_id


async def claim(
    job_id: UUID,
    task_id: str = "t1",
    *,
    redelivered: bool = False,
    retried: bool = False,
    driven: bool = False,
) -> lifecycle.Claim | None:
    return await lifecycle.claim_step(
        job_id=job_id,
        expected=TrainingStatus.PENDING,
        becomes=TrainingStatus.COLLECTING_DATA,
        opens="collecting",
        closes=None,
        me=TaskIdentity(
            task_id=task_id, worker="host:1", redelivered=redelivered, retried=retried, driven=driven
        ),
    )


async def status_of(model: ModelDocument) -> tuple[ModelStatus, UUID | None]:
    found = await ModelDocument.get(model.id)
    assert found is not None
    return found.status, found.active_job_id


async def test_only_one_of_many_concurrent_claims_wins(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    claims = await asyncio.gather(*(claim(job_id, f"t{i}") for i in range(8)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1
    job = winners[0].job
    assert job.status is TrainingStatus.COLLECTING_DATA and job.lease is not None
    assert job.phases.collecting.started_at is not None


async def test_a_redelivered_step_resumes_only_its_own_lease_and_only_so_often(beanie_db: str) -> None:
    model, job_id = await model_with_job()
    assert await claim(job_id, "t1") is not None
    assert await claim(job_id, "t1") is None  # a plain duplicate does nothing
    assert await claim(job_id, "t2", redelivered=True) is None  # another task's lease
    resumed = await claim(job_id, "t1", redelivered=True)
    assert resumed is not None and resumed.resumed and resumed.job.lease is not None
    assert resumed.job.lease.attempt == 2
    assert await claim(job_id, "t1", redelivered=True) is not None  # attempt 3
    # A step whose worker keeps dying is given up, with a reason.
    assert await claim(job_id, "t1", redelivered=True) is None
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.status is TrainingStatus.FAILED
    assert job.error is not None and job.error.code == "WORKER_LOST"
    assert await status_of(model) == (ModelStatus.DRAFT, None)


async def test_a_failed_job_never_flips_back(beanie_db: str) -> None:
    model, job_id = await model_with_job()
    first = await claim(job_id)
    assert first is not None
    failed = await lifecycle.fail_job(job_id=job_id, code="INVALID_DATA", message="bad")
    assert failed is not None and failed.status is TrainingStatus.FAILED and failed.finished_at is not None
    assert failed.phases.collecting.ended_at is not None
    assert await lifecycle.fail_job(job_id=job_id, code="X", message="again") is None
    assert (
        await lifecycle.heartbeat(job_id=job_id, status=TrainingStatus.COLLECTING_DATA, run=first.run)
        is False
    )
    assert await lifecycle.complete_job(job_id=job_id, run=first.run, values={}) is None
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.status is TrainingStatus.FAILED and job.error is not None
    assert job.error.message == "bad"
    assert await status_of(model) == (ModelStatus.DRAFT, None)


async def test_cancel_of_a_pending_job_is_immediate_and_of_a_running_one_cooperative(beanie_db: str) -> None:
    model, pending = await model_with_job()
    job, changed = await lifecycle.request_cancel(job_id=pending)
    assert changed and job is not None and job.status is TrainingStatus.CANCELLED
    assert await status_of(model) == (ModelStatus.DRAFT, None)
    assert await claim(pending) is None  # the orchestration message finds nothing to do

    model, running = await model_with_job()
    held = await claim(running)
    assert held is not None
    job, changed = await lifecycle.request_cancel(job_id=running)
    assert changed and job is not None and job.status is TrainingStatus.CANCEL_REQUESTED
    # The model stays locked until the worker has actually stopped.
    assert await status_of(model) == (ModelStatus.TRAINING, running)
    assert (
        await lifecycle.heartbeat(job_id=running, status=TrainingStatus.COLLECTING_DATA, run=held.run)
        is False
    )
    # A failure reported while stopping still ends as the cancel the user asked for.
    ended = await lifecycle.fail_job(job_id=running, code="INTERNAL", message="boom")
    assert ended is not None and ended.status is TrainingStatus.CANCELLED
    job, changed = await lifecycle.request_cancel(job_id=running)
    assert not changed and job is not None and job.status is TrainingStatus.CANCELLED


async def test_completion_releases_the_model_as_trained_and_later_failures_keep_it(beanie_db: str) -> None:
    model, job_id = await model_with_job()
    mine = await claim(job_id)
    assert mine is not None
    collection = TrainingJobDocument.get_pymongo_collection()
    await collection.update_one({"_id": job_id}, {"$set": {"status": TrainingStatus.TRAINING.value}})
    assert await lifecycle.complete_job(job_id=job_id, run="another run", values={}) is None
    done = await lifecycle.complete_job(job_id=job_id, run=mine.run, values={"progress.fraction": 1.0})
    assert done is not None and done.status is TrainingStatus.COMPLETED and done.lease is None
    assert await status_of(model) == (ModelStatus.TRAINED, None)
    # A later job of the same model that fails leaves it TRAINED: it still has a trained job.
    second = uuid4()
    await ModelDocument.get_pymongo_collection().update_one(
        {"_id": model.id}, {"$set": {"active_job_id": second, "status": ModelStatus.TRAINING.value}}
    )
    await TrainingJobDocument(
        id=second,
        model_id=model.id,
        request=TrainingRequest(last_n=1),
        config=done.config,
        request_fingerprint="y",
    ).insert()
    await lifecycle.fail_job(job_id=second, code="X", message="y")
    assert await status_of(model) == (ModelStatus.TRAINED, None)


async def test_retries_resume_the_step_without_counting_as_lost_workers(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    await claim(job_id, "t1")
    for _ in range(6):
        resumed = await claim(job_id, "t1", retried=True)
        assert resumed is not None and resumed.job.lease is not None and resumed.job.lease.attempt == 1


async def test_cancelling_a_job_that_waits_in_a_queue_ends_it_at_once(beanie_db: str) -> None:
    model, job_id = await model_with_job()
    waiting = await claim(job_id, "t1")
    assert waiting is not None
    await lifecycle.hand_off(job_id=job_id, status=TrainingStatus.COLLECTING_DATA, run=waiting.run)
    job, changed = await lifecycle.request_cancel(job_id=job_id)
    assert changed and job is not None and job.status is TrainingStatus.CANCELLED
    assert job.phases.collecting.ended_at is not None
    assert await status_of(model) == (ModelStatus.DRAFT, None)


async def test_a_second_run_of_a_step_takes_the_lease_and_the_first_stops(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    first = await claim(job_id, "t1")
    assert first is not None
    # The broker redelivers the same task while the first run still works (a consumer timeout).
    second = await claim(job_id, "t1", redelivered=True)
    assert second is not None and second.run != first.run
    assert not await lifecycle.heartbeat(job_id=job_id, status=TrainingStatus.COLLECTING_DATA, run=first.run)
    assert await lifecycle.heartbeat(job_id=job_id, status=TrainingStatus.COLLECTING_DATA, run=second.run)


async def test_a_step_handed_back_is_resumed_without_counting_a_lost_worker(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    held = await claim(job_id, "t1")
    assert held is not None
    # A worker shutting down (or the watchdog) released the step: the redelivery is no loss.
    await TrainingJobDocument.get_pymongo_collection().update_one(
        {"_id": job_id}, {"$set": {"lease.active": False}}
    )
    resumed = await claim(job_id, "t1", redelivered=True)
    assert resumed is not None and resumed.job.lease is not None
    assert resumed.job.lease.attempt == 1 and resumed.job.lease.active


async def test_a_driven_step_takes_over_only_a_step_that_waits(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    assert await claim(job_id, "t1") is not None
    # The run is alive (its lease active): the watchdog's copy of the message does nothing.
    assert await claim(job_id, "t1", driven=True) is None
    await TrainingJobDocument.get_pymongo_collection().update_one(
        {"_id": job_id}, {"$set": {"lease.active": False}}
    )
    taken = await claim(job_id, "t1", driven=True)
    assert (
        taken is not None and taken.resumed and taken.job.lease is not None and taken.job.lease.attempt == 1
    )


async def test_the_progress_watchers_see_never_goes_back(beanie_db: str) -> None:
    _, job_id = await model_with_job()
    held = await claim(job_id, "t1")
    assert held is not None
    for fraction in (0.2, 0.45, 0.36):
        assert await lifecycle.heartbeat(
            job_id=job_id,
            status=TrainingStatus.COLLECTING_DATA,
            run=held.run,
            values={"progress.fraction": fraction},
        )
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.progress.fraction == 0.45
