"""predict through the real API: a trained job's forecast, and every way it is refused."""

from __future__ import annotations

import itertools
import json
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

from app.settings import Settings
from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox
from ml.baselines import baseline_forecast
from ml.ets import forecast_from_state
from ml.pipeline import forecast_input, forecast_values
from ml.preprocess import Scaler
from tests.conftest import both_stores
from tests.support import GraphQL, WorkerProcess
from tests.tasks.pipeline import CANCEL, STORE_FAULTS, add_reading, create_model, seed_series, start, wait_for

PREDICT = """
query($id: ID!, $level: Float) {
  predict(trainingJobId: $id, intervalLevel: $level) {
    modelId trainingJobId generatedAt horizon intervalLevel servedBy
    contextWindow { timestamp value }
    points { step value targetTimestamp lower upper }
  }
}"""
JOB_INTERVALS = """
query($id: ID!) {
  trainingJob(id: $id) {
    intervals { level halfWidths coverage } servedBy { name period rmse } inputChannels
  }
}"""


async def trained(gql: GraphQL, entity: str, **changes: Any) -> dict[str, Any]:
    model = await create_model(gql, entity, **changes)
    job = await wait_for(gql, (await start(gql, model["id"]))["trainingJob"]["id"])
    assert job["status"] == "COMPLETED", job["error"]
    return job


async def artifact(
    mongo: AsyncMongoClient[dict[str, Any]], settings: Settings, job_id: str, name: str
) -> bytes:
    database = mongo[settings.mongo_database]
    entry = await database["model_artifacts.files"].find_one({"metadata.job_id": job_id, "filename": name})
    assert entry is not None
    stream = await AsyncGridFSBucket(database, bucket_name="model_artifacts").open_download_stream(
        entry["_id"]
    )
    data: bytes = await stream.read()
    return data


# Five minute-hours hold no day to learn a time of day from; six days of half-hours hold four in
# training, so that network also reads each step's time of day, fed from the context's timestamps.
CALENDARS = {1: (), 30: ("time_of_day_sin", "time_of_day_cos")}


@pytest.mark.parametrize("minutes", sorted(CALENDARS))
async def test_a_forecast_equals_the_trained_network_on_the_same_context(
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
    minutes: int,
) -> None:
    import keras

    job = await trained(gql, seed_series(fiware_sandbox, points=300, interval=timedelta(minutes=minutes)))
    forecast = (await gql.ok(PREDICT, {"id": job["id"]}))["predict"]
    assert forecast["trainingJobId"] == job["id"] and forecast["horizon"] == 2
    context = forecast["contextWindow"]
    # The model's lookback, or what the baseline that serves reads.
    assert len(context) >= 8
    times = [datetime.fromisoformat(p["timestamp"]) for p in context]
    assert all(b - a == timedelta(minutes=minutes) for a, b in itertools.pairwise(times))
    targets = [datetime.fromisoformat(p["targetTimestamp"]) for p in forecast["points"]]
    assert [p["step"] for p in forecast["points"]] == [1, 2]
    assert targets == [times[-1] + timedelta(minutes=minutes * step) for step in (1, 2)]

    # The same context through the forecaster that serves the job gives the same numbers: the Keras
    # network, or the baseline that beat it on the validation split.
    served_job = (await gql.ok(JOB_INTERVALS, {"id": job["id"]}))["trainingJob"]
    served_by = served_job["servedBy"]
    assert forecast["servedBy"] == served_by["name"]
    channels = tuple(served_job["inputChannels"])
    assert channels == CALENDARS[minutes]
    if served_by["name"] == "network":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.keras"
            path.write_bytes(await artifact(mongo, test_settings, job["id"], "model.keras"))
            model = keras.saving.load_model(path)
        scaler = Scaler.from_json(json.loads(await artifact(mongo, test_settings, job["id"], "scaler.json")))
        x, last = forecast_input(
            [p["value"] for p in context],
            scaler,
            lookback=8,
            delta=True,
            timestamps=[t.timestamp() for t in times],
            channels=channels,
        )
        expected = forecast_values(model.predict(x, verbose=0), last, scaler, True)[0]
    elif served_by["name"] == "ets":
        stored = await mongo[test_settings.mongo_database]["training_jobs"].find_one(
            {"_id": uuid.UUID(job["id"])}
        )
        assert stored is not None and len(context) == stored["ets"]["model"]["warmup"]
        seconds = [t.timestamp() for t in times]
        expected = forecast_from_state(stored["ets"], seconds, [p["value"] for p in context], 2)
    else:
        expected = baseline_forecast([p["value"] for p in context], 2, served_by["period"])
    np.testing.assert_allclose([p["value"] for p in forecast["points"]], expected, rtol=1e-5, atol=1e-5)

    # A second call is served by the cached session, and writes nothing.
    again = (await gql.ok(PREDICT, {"id": job["id"]}))["predict"]
    assert again["points"][0]["value"] == forecast["points"][0]["value"]

    # Each point carries the job's calibrated interval: its first level unless another is asked for.
    intervals = (await gql.ok(JOB_INTERVALS, {"id": job["id"]}))["trainingJob"]["intervals"]
    assert [i["level"] for i in intervals] == [0.8, 0.95] and forecast["intervalLevel"] == 0.8
    for level, interval in zip((None, 0.95), intervals, strict=True):
        served = (await gql.ok(PREDICT, {"id": job["id"], "level": level}))["predict"]
        assert served["intervalLevel"] == interval["level"]
        for point, width in zip(served["points"], interval["halfWidths"], strict=True):
            assert point["lower"] == pytest.approx(point["value"] - width)
            assert point["upper"] == pytest.approx(point["value"] + width)
    refused = await gql.run(PREDICT, {"id": job["id"], "level": 0.5})
    assert refused.codes == ["VALIDATION_ERROR"] and "its levels: 0.8, 0.95" in refused.errors[0]["message"]


@both_stores
async def test_refusals_say_why(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, history_store: str
) -> None:
    missing = await gql.run(PREDICT, {"id": str(uuid.uuid4())})
    assert missing.codes == ["NOT_FOUND"]
    model = await create_model(
        gql, seed_series(fiware_sandbox, points=300), epochs=300, earlyStoppingPatience=0
    )
    running = (await start(gql, model["id"]))["trainingJob"]["id"]
    assert (await gql.run(PREDICT, {"id": running})).codes == ["CONFLICT"]
    await gql.ok(CANCEL, {"id": running})
    await wait_for(gql, running)

    entity = seed_series(fiware_sandbox, points=300)
    job = await trained(gql, entity)
    store = fiware_sandbox.faults[STORE_FAULTS[history_store]]
    store.inject(Fault(status=503), times=20)
    try:
        assert (await gql.run(PREDICT, {"id": job["id"]})).codes == ["UNAVAILABLE"]
    finally:
        store.planned.clear()
    # Readings stop for ten minutes and one arrives: the newest window has a gap too long to fill.
    add_reading(fiware_sandbox, entity, datetime.now(UTC) + timedelta(minutes=10), 21.0)
    gap = await gql.run(PREDICT, {"id": job["id"]})
    assert gap.codes == ["INSUFFICIENT_DATA"] and "too few recent points" in gap.errors[0]["message"]
