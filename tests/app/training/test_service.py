"""Deleting and cancelling jobs through the service, and what it leaves of the model."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import numpy as np
import pytest

from app.auth.tenancy import EVERY_TENANT
from app.errors import NotFound
from app.models.documents import ModelDocument
from app.models.enums import ModelStatus
from app.training import service, storage
from app.training.documents import TrainingJobDocument, TrainingRequest, TrainingStatus
from app.training.repository import lifecycle
from tests.app.training.repository.test_lifecycle import model_with_job, status_of


async def test_deleting_the_only_trained_job_while_another_runs_ends_in_draft(beanie_db: str) -> None:
    model, running = await model_with_job()
    done = TrainingJobDocument(
        model_id=model.id,
        status=TrainingStatus.COMPLETED,
        request=TrainingRequest(last_n=100),
        config=(await TrainingJobDocument.get(running)).config,  # type: ignore[union-attr]
        request_fingerprint="z",
    )
    await done.insert()
    await ModelDocument.get_pymongo_collection().update_one(
        {"_id": model.id}, {"$set": {"has_successful_training": True}}
    )
    stored = await storage.store_artifact(
        job_id=done.id,
        model_id=model.id,
        run="r",
        name="model.onnx",
        data=b"onnx",
        content_type="application/onnx",
    )
    assert stored.checksum.startswith("sha256:")

    assert await service.delete_job(job_id=str(done.id), scope=EVERY_TENANT) == done.id
    assert await storage.delete_artifacts(job_id=done.id) == 0  # already gone with the job
    # The running job still holds the model; when it fails, nothing trained is left: DRAFT.
    assert await status_of(model) == (ModelStatus.TRAINING, running)
    await lifecycle.fail_job(job_id=running, code="INTERNAL", message="x")
    assert await status_of(model) == (ModelStatus.DRAFT, None)


async def test_unknown_jobs_are_not_found(beanie_db: str) -> None:
    with pytest.raises(NotFound):
        await service.cancel_job(job_id=str(uuid4()), scope=EVERY_TENANT)
    with pytest.raises(NotFound):
        await service.delete_job(job_id=str(uuid4()), scope=EVERY_TENANT)


async def test_two_deleters_racing_for_a_jobs_files_both_succeed(beanie_db: str) -> None:
    job_id, model_id = uuid4(), uuid4()
    for name in ("model.onnx", "model.keras", "scaler.json"):
        await storage.store_artifact(
            job_id=job_id, model_id=model_id, run="r", name=name, data=b"x", content_type="application/json"
        )
    series = await storage.store_series(job_id=job_id, run="r", values=np.array([1.0, 2.0]))
    # The job is deleted while its own step clears the same files: neither may fail.
    await asyncio.gather(*(storage.delete_job_files(job_id=job_id) for _ in range(3)))
    await storage.delete_series(file_id=series)
    assert await storage.delete_artifacts(job_id=job_id) == 0
