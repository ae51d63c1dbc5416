"""Loaded forecasters: one session per stored network, shared by the jobs that point at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.errors import NotFound
from app.predictions.forecasters import Forecasters
from app.training import storage
from app.training.documents import TrainingJobDocument
from fiware.clients import FiwareClients
from fiware.sandbox.runner import Sandbox
from tests.app.predictions.test_batch import fleet


@pytest.fixture
async def jobs(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> AsyncIterator[list[TrainingJobDocument]]:
    made = await fleet(sandbox, fiware, 3)
    found = [await TrainingJobDocument.get(job_id) for job_id in made.jobs]
    yield [job for job in found if job is not None]


async def test_jobs_sharing_a_network_share_its_session_until_the_last_is_forgotten(
    jobs: list[TrainingJobDocument],
) -> None:
    forecasters = Forecasters()
    sessions = {id(await forecasters.get(job)) for job in jobs}
    assert len(sessions) == 1 and len(forecasters) == 1
    forecasters.forget_job(jobs[0].id)
    assert len(forecasters) == 1, "the other jobs still use it"
    forecasters.forget_model(jobs[0].model_id)
    assert len(forecasters) == 0


async def test_a_network_removed_under_its_jobs_is_not_found(jobs: list[TrainingJobDocument]) -> None:
    await storage.delete_artifacts(job_id=jobs[0].model_id)  # the fleet's files are stored under its model
    with pytest.raises(NotFound, match="stored network is gone"):
        await Forecasters().get(jobs[0])
