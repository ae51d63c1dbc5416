"""Live accuracy through the real stack, for a model of either history store: published forecasts
(worker and beat, Orion, its subscription to STH-Comet or QuantumLeap) joined with readings that
arrive afterwards equal the same join computed offline."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fiware.sandbox.runner import Sandbox
from ml.accuracy import PublishedForecast, live_accuracy
from tests.conftest import both_stores
from tests.support import GraphQL, WorkerProcess
from tests.tasks.pipeline import add_reading, create_model, seed_series, start, wait_for
from tests.tasks.test_forecasting import HISTORY, TOGGLE, forecast_history, schedule

ACCURACY = """
query($id: ID!, $windows: [Float!]!) {
  trainingJob(id: $id) {
    liveAccuracy(windowsSeconds: $windows) {
      windowSeconds start end forecasts pairs mae rmse u2 coverage bias
      steps { step pairs mae rmse u2 coverage bias }
    }
  }
}"""
POINTS = 300


def seeded(index: int) -> float:
    # tests.tasks.pipeline.seed_series's values, so the origin's reading is known here too.
    return 20 + 5 * math.sin(index / 15) + 0.3 * math.sin(index * 7.3)


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@both_stores
async def test_live_accuracy_equals_the_offline_join_of_forecasts_and_later_readings(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, history_store: str
) -> None:
    entity = seed_series(fiware_sandbox, points=POINTS, interval=timedelta(seconds=1))
    model = await create_model(gql, entity)
    job = await wait_for(gql, (await start(gql, model["id"], lastN=POINTS))["trainingJob"]["id"])
    assert job["status"] == "COMPLETED", job["error"]
    job_id = job["id"]
    empty = (await gql.ok(ACCURACY, {"id": job_id, "windows": [3600.0]}))["trainingJob"]["liveAccuracy"]
    assert [(w["pairs"], w["rmse"]) for w in empty] == [(0, None)]  # nothing published yet

    on = await gql.ok(TOGGLE, {"id": job_id, "enabled": True, "input": {"intervalSeconds": 1.0}})
    entity_id = on["togglePrediction"]["prediction"]["entityId"]
    deadline = time.monotonic() + 30
    while forecast_history(fiware_sandbox, entity_id, history_store) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert (await gql.ok(TOGGLE, {"id": job_id, "enabled": False}))["togglePrediction"]["errors"] == []
    await asyncio.sleep(1.5)  # a run that was under way lands in the store too
    runs = [
        e["node"] for e in (await gql.ok(HISTORY, {"id": job_id, "first": 30}))["predictionHistory"]["edges"]
    ]
    assert 3 <= len(runs) < 30  # every run stored, on one page

    # The readings of the forecast targets arrive now, after the forecasts.
    targets = sorted({parse(p["targetTimestamp"]) for run in runs for p in run["points"]})
    arrived = [(moment, 21.0 + 0.25 * index) for index, moment in enumerate(targets)]
    for moment, value in arrived:
        add_reading(fiware_sandbox, entity, moment, value)
    await asyncio.sleep(max(0.0, (targets[-1] - datetime.now(UTC)).total_seconds()) + 0.1)
    [shown] = (await gql.ok(ACCURACY, {"id": job_id, "windows": [3600.0]}))["trainingJob"]["liveAccuracy"]

    # Offline: the same runs and readings through ml.accuracy, at the same "now".
    origin = min(parse(p["targetTimestamp"]) for run in runs for p in run["points"]) - timedelta(seconds=1)
    times = [origin.timestamp(), *(moment.timestamp() for moment, _ in arrived)]
    values = [seeded(POINTS - 1), *(value for _, value in arrived)]
    forecasts = [
        PublishedForecast(
            origin=parse(run["points"][0]["targetTimestamp"]).timestamp() - 1.0,
            origin_value=seeded(POINTS - 1),
            targets=np.array(
                [parse(p["targetTimestamp"]).timestamp() for p in run["points"]], dtype=np.float64
            ),
            values=np.array([p["value"] for p in run["points"]], dtype=np.float64),
            lower=np.array([p["lower"] for p in run["points"]], dtype=np.float64),
            upper=np.array([p["upper"] for p in run["points"]], dtype=np.float64),
        )
        for run in runs
    ]
    expected = live_accuracy(
        forecasts, times, values, interval=1.0, now=parse(shown["end"]).timestamp(), window_seconds=3600.0
    )
    assert shown["pairs"] == expected.pairs == 2 * len(runs) and shown["forecasts"] == len(runs)
    for name in ("mae", "rmse", "u2", "coverage", "bias"):
        assert shown[name] == pytest.approx(getattr(expected, name), rel=1e-9), name
    for step, offline in zip(shown["steps"], expected.steps, strict=True):
        assert (step["step"], step["pairs"]) == (offline.step, offline.pairs)
        assert step["rmse"] == pytest.approx(offline.rmse, rel=1e-9)
    refused = await gql.run(ACCURACY, {"id": job_id, "windows": [0.0]})
    assert refused.codes == ["VALIDATION_ERROR"]
    assert (await schedule(gql, job_id))["enabled"] is False
