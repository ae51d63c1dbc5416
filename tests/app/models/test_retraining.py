"""app.models.retraining against real MongoDB and the sandbox's STH-Comet: each scheduled time
starts one retraining however many ticks race for it, one retraining per model at a time, and a
challenger that did not complete is decided once, with its reason, freeing the model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import pytest

from app.auth.tenancy import EVERY_TENANT
from app.models import repository
from app.models.config import ModelSpec
from app.models.documents import ModelDocument
from app.models.policy import RetrainingPolicy, RetrainingSchedule
from app.models.retraining import RetrainingDeps, decide_challengers, run_schedules
from app.models.service import create_model
from app.predictions.forecasters import Forecasters
from app.resources import open_fiware
from app.settings import Settings
from app.timeutil import utcnow
from app.training.documents import JobError, TrainingJobDocument, TrainingStatus
from fiware.sandbox.runner import Sandbox
from tests.tasks.pipeline import seed_series

pytestmark = pytest.mark.services


class Queue:
    """Where started jobs go: the broker's place, kept in memory so the test sees each dispatch."""

    def __init__(self) -> None:
        self.sent: list[UUID] = []

    async def __call__(self, job_id: UUID) -> None:
        self.sent.append(job_id)


@pytest.fixture
async def deps(beanie_db: str, test_settings: Settings) -> AsyncIterator[tuple[RetrainingDeps, Queue]]:
    fiware = open_fiware(test_settings)
    queue = Queue()
    try:
        yield (
            RetrainingDeps(
                history=fiware.history,
                dispatch=queue,
                dispatch_timeout=5,
                forecasters=Forecasters(),
                max_gap_steps=3,
                decision_stale=timedelta(minutes=10),
            ),
            queue,
        )
    finally:
        await fiware.close()


async def scheduled_model(sandbox: Sandbox) -> ModelDocument:
    spec = ModelSpec(
        entity_type="Sensor",
        entity_id=seed_series(sandbox, points=200),
        feature="temperature",
        fiware_service="smart",
        fiware_service_path="/",
        lookback_window=8,
        forecast_horizon=2,
    )
    model = await create_model(spec=spec, scope=EVERY_TENANT)
    policy = RetrainingPolicy(schedule=RetrainingSchedule(interval_seconds=600))
    due = utcnow() - timedelta(seconds=1)
    stored = await repository.set_retraining(model_id=model.id, policy=policy, next_at=due)
    assert stored is not None
    return stored


async def test_ticks_racing_for_one_scheduled_time_start_one_retraining(
    deps: tuple[RetrainingDeps, Queue], fiware_sandbox: Sandbox
) -> None:
    retraining, queue = deps
    model = await scheduled_model(fiware_sandbox)
    now = utcnow()
    ticks = await asyncio.gather(*(run_schedules(now=now, batch=10, deps=retraining) for _ in range(4)))
    assert sorted(outcome for tick in ticks for outcome in tick) == ["started"]
    [job] = await TrainingJobDocument.find(TrainingJobDocument.model_id == model.id).to_list()
    assert queue.sent == [job.id] and job.challenge is not None and job.challenge.trigger == "schedule"
    after = await ModelDocument.get(model.id)
    assert after is not None and after.retraining_state.challenger_job_id == job.id
    next_at = after.retraining_state.next_at
    # MongoDB keeps milliseconds.
    assert next_at is not None and abs(next_at - (now + timedelta(seconds=600))) < timedelta(milliseconds=1)
    # A tick redelivered for the same time finds nothing due.
    assert await run_schedules(now=now, batch=10, deps=retraining) == []
    # The next time comes while the first retraining is undecided: skipped, and said why.
    await repository.set_retraining(model_id=model.id, policy=after.retraining, next_at=now)
    assert await run_schedules(now=now, batch=10, deps=retraining) == ["skipped"]
    skipped = await ModelDocument.get(model.id)
    assert skipped is not None and str(job.id) in (skipped.retraining_state.last_error or "")
    assert len(await TrainingJobDocument.find(TrainingJobDocument.model_id == model.id).to_list()) == 1


async def test_a_challenger_that_failed_is_decided_once_and_frees_the_model(
    deps: tuple[RetrainingDeps, Queue], fiware_sandbox: Sandbox
) -> None:
    retraining, _ = deps
    model = await scheduled_model(fiware_sandbox)
    [started] = await run_schedules(now=utcnow(), batch=10, deps=retraining)
    assert started == "started"
    [job] = await TrainingJobDocument.find(TrainingJobDocument.model_id == model.id).to_list()
    # Still running: nothing to decide.
    assert await decide_challengers(now=utcnow(), batch=10, deps=retraining) == []
    collection = TrainingJobDocument.get_pymongo_collection()
    error = JobError(code="INSUFFICIENT_DATA", message="too few points")
    await collection.update_one(
        {"_id": job.id}, {"$set": {"status": TrainingStatus.FAILED.value, "error": error.model_dump()}}
    )
    decided = await asyncio.gather(
        *(decide_challengers(now=utcnow(), batch=10, deps=retraining) for _ in range(3))
    )
    assert sorted(outcome for tick in decided for outcome in tick) == ["failed"]
    ended = await TrainingJobDocument.get(job.id)
    assert ended is not None and ended.challenge is not None
    assert ended.challenge.promoted is False and "FAILED: too few points" in (ended.challenge.reason or "")
    freed = await ModelDocument.get(model.id)
    assert freed is not None and freed.retraining_state.challenger_job_id is None
    assert freed.retraining_state.last_outcome == "failed"
