"""Writes of the models collection: the training lock, the revision guard, deletes with their jobs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

from app.models import repository
from app.models.documents import ModelDocument
from app.models.enums import ModelStatus, ModelType, TargetMode
from app.timeutil import utcnow
from app.training.documents import TrainingJobDocument, TrainingStatus
from tests.app.training.repository.test_lifecycle import model_with_job


async def draft() -> ModelDocument:
    model = ModelDocument(
        name="m", model_type=ModelType.GRU, rnn_layers=[{"units": 4}], dense_layers=[],
        lookback_window=8, forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2,
        learning_rate=0.001, validation_ratio=0.15, test_ratio=0.15, entity_type="Sensor", entity_id="urn:s",
        feature="t", fiware_service="smart", fiware_service_path="/",
    )  # fmt: skip
    await repository.insert_model(model)
    return model


async def stored(model: ModelDocument) -> ModelDocument:
    found = await ModelDocument.get(model.id)
    assert found is not None
    return found


async def test_one_of_many_concurrent_reservations_takes_the_lock(beanie_db: str) -> None:
    model = await draft()
    won = await asyncio.gather(
        *(repository.reserve_for_training(model=model, job_id=uuid4()) for _ in range(6))
    )
    assert won.count(True) == 1
    locked = await stored(model)
    assert locked.status is ModelStatus.TRAINING and locked.active_job_id is not None


async def test_a_model_edited_since_it_was_read_is_neither_reserved_nor_updated(beanie_db: str) -> None:
    model = await draft()
    edited = await repository.update_draft(current=model, values={"description": "first"})
    assert edited is not None and edited.revision == 1 and edited.description == "first"
    assert await repository.update_draft(current=model, values={"description": "stale"}) is None
    assert not await repository.reserve_for_training(model=model, job_id=uuid4())
    assert (await stored(model)).description == "first"


async def test_a_training_model_is_not_deleted_and_an_idle_one_goes_with_its_jobs(beanie_db: str) -> None:
    training, job_id = await model_with_job(TrainingStatus.TRAINING)
    idle = {"_id": training.id, "active_job_id": None}
    assert not await repository.delete_idle_model(model_id=training.id, query=idle)
    await ModelDocument.get_pymongo_collection().update_one(
        {"_id": training.id}, {"$set": {"active_job_id": None}}
    )
    removed: list[object] = []

    async def seen(job: TrainingJobDocument) -> None:
        removed.append(job.id)

    assert await repository.delete_idle_model(model_id=training.id, query=idle, on_job_removed=seen)
    assert removed == [job_id]
    assert await ModelDocument.get(training.id) is None and await TrainingJobDocument.get(job_id) is None


async def test_a_model_whose_last_completed_job_is_removed_is_untrained(beanie_db: str) -> None:
    model, job_id = await model_with_job(TrainingStatus.COMPLETED)
    await repository.release_model(model_id=model.id, job_id=job_id, completed=True)
    await repository.settle_after_job_removal(model_id=model.id)
    assert (await stored(model)).status is ModelStatus.TRAINED  # its completed job is still there
    await TrainingJobDocument.get_pymongo_collection().delete_one({"_id": job_id})
    await repository.settle_after_job_removal(model_id=model.id)
    settled = await stored(model)
    assert settled.status is ModelStatus.DRAFT and not settled.has_successful_training


async def test_only_old_locks_are_listed(beanie_db: str) -> None:
    old, old_job = await model_with_job()
    young = await draft()
    assert await repository.reserve_for_training(model=young, job_id=uuid4())
    found = [lock async for lock in repository.locks_older_than(utcnow() - timedelta(minutes=5))]
    assert found == [(old.id, old_job)]
