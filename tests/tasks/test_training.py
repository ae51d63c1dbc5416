"""The training pipeline end to end: real API, worker process, RabbitMQ, Redis, SecantusDB, sandbox."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

from app.settings import Settings
from fiware.sandbox.runner import Sandbox
from tests.support import GraphQL, WorkerProcess
from tests.tasks.pipeline import MODEL, create_model, seed_series, start, wait_for


async def test_a_tiny_model_trains_to_completed_with_metrics_and_artifacts(
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    entity = seed_series(fiware_sandbox, points=600)
    model = await create_model(gql, entity)
    started = await start(gql, model["id"], lastN=500)
    assert started["errors"] == []
    job = started["trainingJob"]
    assert job["status"] == "PENDING"
    assert (job["pointsAvailable"], job["pointsRequested"]) == (600, 500)
    assert (await gql.ok(MODEL, {"id": model["id"]}))["model"]["status"] == "TRAINING"

    done = await wait_for(gql, job["id"])
    assert done["status"] == "COMPLETED", (done["error"], worker.log_text()[-3000:])
    assert done["pointsCollected"] == 500 and done["pointsDropped"] == 0
    assert done["samplingIntervalSeconds"] == 60.0
    assert done["data"]["slots"] == 500 and done["data"]["filled"] == 0
    assert done["progress"]["fraction"] == 1.0
    metrics = done["metrics"]
    for name in ("mse", "mae", "rmse", "r2", "theilU", "bestTrainLoss", "bestValLoss"):
        assert isinstance(metrics[name], float), name
    assert len(metrics["rmsePerStep"]) == 2
    assert metrics["points"] == 2 * done["data"]["testWindows"]
    assert [entry["epoch"] for entry in done["history"]] == [1, 2]
    phases = done["phases"]
    assert phases["collecting"]["startedAt"] <= phases["collecting"]["endedAt"]
    assert phases["preprocessing"]["endedAt"] <= phases["training"]["startedAt"]
    names = sorted(artifact["name"] for artifact in done["artifacts"])
    assert names == ["metadata.json", "model.keras", "model.onnx", "scaler.json"]

    status = (await gql.ok(MODEL, {"id": model["id"]}))["model"]
    assert status["status"] == "TRAINED"
    assert status["latestTrainingJob"] == {"id": job["id"], "status": "COMPLETED"}

    # Every stored artifact matches its checksum, and the metadata names them all.
    database = mongo[test_settings.mongo_database]
    bucket = AsyncGridFSBucket(database, bucket_name="model_artifacts")
    stored: dict[str, bytes] = {}
    async for entry in database["model_artifacts.files"].find({"metadata.job_id": job["id"]}):
        stream = await bucket.open_download_stream(entry["_id"])
        stored[entry["filename"]] = await stream.read()
    by_name = {artifact["name"]: artifact for artifact in done["artifacts"]}
    for name, data in stored.items():
        assert by_name[name]["checksum"] == f"sha256:{hashlib.sha256(data).hexdigest()}"
        assert by_name[name]["sizeBytes"] == len(data)
    metadata = json.loads(stored["metadata.json"])
    assert metadata["samplingIntervalSeconds"] == 60.0
    assert set(metadata["artifacts"]) == {"model.keras", "model.onnx", "scaler.json"}
    assert json.loads(stored["scaler.json"])["kind"] == "standard"
    # Working data is gone: no chunk and no intermediate series survive a finished job.
    assert await database["training_chunks"].count_documents({"job_id": {"$exists": True}}) == 0
    assert await database["training_series.files"].count_documents({"metadata.job_id": job["id"]}) == 0
