"""Recurring forecasts in batches end to end: the session's worker and beat (batching is the default),
jobs due together published through one Orion batch update, a deleted entity missed alone."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from pymongo import AsyncMongoClient

from app.predictions.scheduling import Due
from app.settings import Settings
from app.timeutil import utcnow
from fiware.sandbox.runner import Sandbox
from tasks.forecasting import split
from tests.support import GraphQL, WorkerProcess
from tests.tasks.pipeline import seed_series
from tests.tasks.test_forecasting import TOGGLE, schedule, trained_job
from tests.tasks.test_worker_log import records as worker_records


def test_a_ticks_claims_are_spread_over_the_worker_processes_in_bounded_tasks() -> None:
    due = [Due(uuid4(), utcnow()) for _ in range(25)]
    assert [len(chunk) for chunk in split(due, size=500, spread=2)] == [13, 12]
    assert [len(chunk) for chunk in split(due, size=10, spread=2)] == [10, 10, 5]
    # A few slots go out as one task: a task per slot would cost more than it spreads.
    assert [len(chunk) for chunk in split(due[:7], size=500, spread=2)] == [7]
    assert split([], size=500, spread=2) == []
    assert [item for chunk in split(due, size=4, spread=3) for item in chunk] == due


def refusals(worker: WorkerProcess) -> list[int]:
    """The size of each batch update Orion refused part of, as the worker logged them."""
    return [r["entities"] for r in worker_records(worker) if r.get("event") == "prediction.batch_refused"]


async def copies_of(
    mongo: AsyncMongoClient[dict[str, Any]], settings: Settings, sandbox: Sandbox, job_id: str, count: int
) -> list[str]:
    """Jobs that are ``job_id`` again (its network's files, its configuration) on series of their own,
    as a fleet of one model's copies would be."""
    jobs = mongo[settings.mongo_database]["training_jobs"]
    original = await jobs.find_one({"_id": UUID(job_id)})
    assert original is not None
    made = []
    for _ in range(count):
        copy = {**original, "_id": uuid4(), "idempotency_key": None, "prediction_config": {}}
        copy["config"] = {**original["config"], "entity_id": seed_series(sandbox, points=300)}
        await jobs.insert_one(copy)
        made.append(str(copy["_id"]))
    return made


async def test_jobs_due_together_go_out_in_one_batch_and_a_deleted_entity_misses_alone(
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    job_ids = [await trained_job(gql, fiware_sandbox)]
    job_ids += await copies_of(mongo, test_settings, fiware_sandbox, job_ids[0], 3)
    entities = {}
    for job_id in job_ids:
        payload = await gql.ok(TOGGLE, {"id": job_id, "enabled": True, "input": {"intervalSeconds": 30}})
        assert payload["togglePrediction"]["errors"] == []
        entities[job_id] = payload["togglePrediction"]["prediction"]["entityId"]
    try:
        # Their first runs over, every job's next slot is the same instant: one tick claims them all.
        deadline = time.monotonic() + 30
        while not all([(await schedule(gql, job_id))["runCount"] for job_id in job_ids]):
            assert time.monotonic() < deadline, "the first slots were not published"
            await asyncio.sleep(0.2)
        gone = job_ids[1]
        async with httpx.AsyncClient(base_url=fiware_sandbox.orion_url) as orion:
            deleted = await orion.delete(
                f"/v2/entities/{entities[gone]}",
                headers={"Fiware-Service": "smart", "Fiware-ServicePath": "/"},
            )
        assert deleted.status_code == 204
        seen = len(refusals(worker))
        together = utcnow() + timedelta(seconds=1)
        await mongo[test_settings.mongo_database]["training_jobs"].update_many(
            {"_id": {"$in": [UUID(job_id) for job_id in job_ids]}},
            {"$set": {"prediction_config.next_prediction_at": together}},
        )
        deadline = time.monotonic() + 30
        while True:
            states = {job_id: await schedule(gql, job_id) for job_id in job_ids}
            if (
                all(s["runCount"] >= 2 for j, s in states.items() if j != gone)
                and not states[gone]["enabled"]
            ):
                break
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.2)
    finally:
        for job_id in job_ids:
            await gql.ok(TOGGLE, {"id": job_id, "enabled": False})
    missed = states[gone]
    assert (missed["runCount"], [m["reason"] for m in missed["recentMisses"]]) == (1, ["JOB_UNUSABLE"])
    assert "forecast entity is gone" in missed["lastError"]
    assert all(state["missedCount"] == 0 for job_id, state in states.items() if job_id != gone)
    # Orion refused the four entities' batch update for the deleted one; the others went one by one.
    assert refusals(worker)[seen:] == [4]
