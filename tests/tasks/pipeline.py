"""Helpers of the pipeline tests: seed a series, create a tiny model, wait for a job to settle."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fiware.sandbox.runner import Sandbox
from tests.conftest import unique
from tests.support import GraphQL

JOB_FIELDS = """
  id modelId status
  progress { fraction message epoch totalEpochs expectedLastEpoch bestEpoch loss valLoss etaSeconds }
  request { lastN dateFrom dateTo }
  pointsAvailable pointsRequested pointsCollected pointsDropped samplingIntervalSeconds
  data { rawPoints droppedNonFinite mergedDuplicates slots filled gaps missing samplingIntervalSeconds
         seriesStart seriesEnd trainWindows validationWindows testWindows }
  phases { collecting { startedAt endedAt durationSeconds } preprocessing { startedAt endedAt }
           training { startedAt endedAt } }
  metrics { mse mae rmse mape smape mase r2 theilU rmsePerStep points skill bestBaseline
            bestEpoch bestTrainLoss bestValLoss }
  baselines { name period rmse mae mase smape theilU points }
  seasons { name period strength }
  intervals { level halfWidths coverage }
  servedBy { name period reason validationRmse rmse mae theilU points }
  history { epoch loss valLoss }
  artifacts { name sizeBytes contentType checksum downloadUrl }
  error { code message }
  createdAt startedAt finishedAt durationSeconds
"""

START = (
    "mutation($modelId: ID!, $input: StartTrainingInput) { startTraining(modelId: $modelId, input: $input) "
    "{ trainingJob { " + JOB_FIELDS + " } errors { code message field } } }"
)

JOB = "query($id: ID!) { trainingJob(id: $id) { " + JOB_FIELDS + " } }"

CANCEL = (
    "mutation($id: ID!) { cancelTraining(jobId: $id) { trainingJob { "
    + JOB_FIELDS
    + " } errors { code message field } } }"
)

DELETE_JOB = (
    "mutation($id: ID!) { deleteTrainingJob(jobId: $id) { deletedId errors { code message field } } }"
)

CREATE = """
mutation($input: CreateModelInput!) {
  createModel(input: $input) { model { id status entityId feature } errors { code message field } }
}"""

MODEL = "query($id: ID!) { model(id: $id) { id status latestTrainingJob { id status } } }"

FINISHED = {"COMPLETED", "FAILED", "CANCELLED"}


def seed_series(
    sandbox: Sandbox,
    *,
    points: int,
    entity_id: str | None = None,
    interval: timedelta = timedelta(minutes=1),
    value: Any = None,
    service: str = "smart",
    service_path: str = "/",
    store: str | None = None,
) -> str:
    """A noisy daily-ish sine in the sandbox's history stores (``store`` alone when given:
    ``sth-comet`` or ``quantumleap``), ``points`` long, ending now; returns the entity id."""
    entity = entity_id or unique("urn:ngsi-ld:Sensor")
    start = datetime.now(UTC) - interval * points
    # Times to the millisecond, as Orion notifies them (QuantumLeap would keep finer ones, STH not).
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
    series = [
        (
            start + interval * i,
            value if value is not None else 20 + 5 * math.sin(i / 15) + 0.3 * math.sin(i * 7.3),
        )
        for i in range(points)
    ]
    for name, seed in (("sth-comet", sandbox.sth.add_points), ("quantumleap", sandbox.ql.add_points)):
        if store in (None, name):
            seed(
                service=service,
                service_path=service_path,
                entity_type="Sensor",
                entity_id=entity,
                attr_name="temperature",
                attr_type="Number",
                points=series,
            )
    return entity


# The sandbox's fault switch of each history store.
STORE_FAULTS = {"sth-comet": "sth", "quantumleap": "ql"}


def add_reading(sandbox: Sandbox, entity_id: str, at: datetime, value: float) -> None:
    """One more reading of a :func:`seed_series` entity, in both history stores."""
    for seed in (sandbox.sth.add_points, sandbox.ql.add_points):
        seed(
            service="smart", service_path="/", entity_type="Sensor", entity_id=entity_id,
            attr_name="temperature", attr_type="Number", points=[(at, value)],
        )  # fmt: skip


def tiny_model(entity_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "entityType": "Sensor",
        "entityId": entity_id,
        "feature": "temperature",
        "lookbackWindow": 8,
        "forecastHorizon": 2,
        "rnnLayers": [{"units": 4}],
        "epochs": 2,
        "batchSize": 32,
        **changes,
    }


async def create_model(gql: GraphQL, entity_id: str, **changes: Any) -> dict[str, Any]:
    """A tiny model of ``entity_id`` reading the client's history store (unless ``changes`` name one)."""
    if gql.history_store is not None:
        changes.setdefault("historyStore", gql.history_store)
    payload = (await gql.ok(CREATE, {"input": tiny_model(entity_id, **changes)}))["createModel"]
    assert payload["errors"] == [], payload["errors"]
    model: dict[str, Any] = payload["model"]
    return model


async def start(gql: GraphQL, model_id: str, **request: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.ok(START, {"modelId": model_id, "input": request or None}))[
        "startTraining"
    ]
    return payload


async def job(gql: GraphQL, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql.ok(JOB, {"id": job_id}))["trainingJob"]
    return found


async def wait_for(
    gql: GraphQL, job_id: str, statuses: set[str] = FINISHED, timeout: float = 120.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    current = await job(gql, job_id)
    while current["status"] not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {current['status']} after {timeout} s: {current}")
        await asyncio.sleep(0.2)
        current = await job(gql, job_id)
    return current


async def training_underway(
    gql: GraphQL, sandbox: Sandbox, *, epochs: int, points: int = 600, epoch: int = 1, **model: Any
) -> str:
    """A tiny model (or ``model``'s changes) on ``points`` points, started and seen through
    ``epoch`` epochs: the job's id."""
    created = await create_model(
        gql, seed_series(sandbox, points=points), epochs=epochs, earlyStoppingPatience=0, **model
    )
    job_id: str = (await start(gql, created["id"], lastN=points))["trainingJob"]["id"]
    await wait_for(gql, job_id, {"TRAINING"}, timeout=90)
    deadline = time.monotonic() + 90
    while ((await job(gql, job_id))["progress"]["epoch"] or 0) < epoch:
        assert time.monotonic() < deadline, f"job {job_id} did not reach epoch {epoch} in 90 s"
        await asyncio.sleep(0.05)
    return job_id


async def model_status(gql: GraphQL, model_id: str, expected: str, timeout: float = 10.0) -> str:
    """The model's status once it is ``expected`` (a job ends first, then frees its model)."""
    deadline = time.monotonic() + timeout
    while True:
        status: str = (await gql.ok(MODEL, {"id": model_id}))["model"]["status"]
        if status == expected or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.1)
