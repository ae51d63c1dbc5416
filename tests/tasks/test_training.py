"""The training pipeline end to end: real API, worker process, RabbitMQ, Redis, SecantusDB, sandbox."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

from app.settings import Settings
from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox
from tests.conftest import both_stores
from tests.support import ApiServer, GraphQL, WorkerProcess, bearer, create_key, sample, scrape
from tests.tasks.pipeline import (
    CANCEL,
    FINISHED,
    MODEL,
    STORE_FAULTS,
    create_model,
    model_status,
    seed_series,
    start,
    training_underway,
    wait_for,
)
from tests.tasks.pipeline import job as job_of


async def training_pid(database: Any, job_id: str) -> int:
    """The pid of the pool process holding the job (the lease names ``host:pid``)."""
    found = await database["training_jobs"].find_one({"_id": UUID(job_id)})
    assert found is not None and found["lease"] is not None
    return int(found["lease"]["worker"].rsplit(":", 1)[1])


@both_stores
async def test_a_tiny_model_trains_to_completed_with_metrics_and_artifacts(
    api: ApiServer,
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
    service_env: dict[str, str],
    log_dir: Path,
) -> None:
    scraped = scrape(api)
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
    # A day is 1,440 steps at 60 s, more than the history: no seasonal baseline, only persistence
    # and AutoETS (without a season), scored on the same pairs; Theil's U2 compares with persistence,
    # the skill with the better of the two.
    persistence, ets = done["baselines"]
    assert (persistence["name"], persistence["period"], ets["name"], ets["period"]) == (
        "persistence",
        None,
        "ets",
        None,
    )
    assert persistence["points"] == ets["points"] == metrics["points"] and persistence["theilU"] == 1.0
    assert done["seasons"] == []
    best = min((persistence, ets), key=lambda baseline: baseline["rmse"])
    assert metrics["bestBaseline"] == best["name"]
    assert metrics["theilU"] == pytest.approx(metrics["rmse"] / persistence["rmse"])
    assert metrics["skill"] == pytest.approx(1 - metrics["rmse"] / best["rmse"])
    # The forecaster to serve was chosen on the validation split; its test scores are the network's
    # or its baseline's, on the same pairs.
    served = done["servedBy"]
    assert (
        served["name"] in {"network", "persistence", "ets"} and "lowest validation RMSE" in served["reason"]
    )
    own = (
        metrics if served["name"] == "network" else {b["name"]: b for b in (persistence, ets)}[served["name"]]
    )
    assert (served["rmse"], served["points"]) == (own["rmse"], own["points"])
    # Intervals at the model's default levels, a width per step, with their test coverage.
    assert [interval["level"] for interval in done["intervals"]] == [0.8, 0.95]
    for interval in done["intervals"]:
        assert len(interval["halfWidths"]) == 2 and 0.0 <= interval["coverage"] <= 1.0
    assert [entry["epoch"] for entry in done["history"]] == [1, 2]
    phases = done["phases"]
    assert phases["collecting"]["startedAt"] <= phases["collecting"]["endedAt"]
    assert phases["preprocessing"]["endedAt"] <= phases["training"]["startedAt"]
    names = sorted(artifact["name"] for artifact in done["artifacts"])
    assert names == ["metadata.json", "model.keras", "model.onnx", "scaler.json"]

    assert await model_status(gql, model["id"], "TRAINED") == "TRAINED"
    status = (await gql.ok(MODEL, {"id": model["id"]}))["model"]
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
    # Each is downloadable with the key that sees the job's tenant, and only with it.
    for artifact in done["artifacts"]:
        url = f"{api.url}{artifact['downloadUrl']}"
        got = httpx.get(url, headers=api.headers, timeout=10)
        assert got.status_code == 200 and got.content == stored[artifact["name"]]
        assert got.headers["etag"] == f'"{artifact["checksum"]}"'
        assert got.headers["content-disposition"] == f"attachment; filename*=UTF-8''{artifact['name']}"
    assert httpx.get(url, timeout=10).status_code == 401
    stranger = create_key(service_env, role="viewer", tenants=["elsewhere:/"], name="stranger", cwd=log_dir)
    assert httpx.get(url, headers=bearer(stranger), timeout=10).status_code == 404
    assert httpx.get(url.rsplit("/", 1)[0] + "/nope", headers=api.headers, timeout=10).status_code == 404
    metadata = json.loads(stored["metadata.json"])
    assert metadata["samplingIntervalSeconds"] == 60.0
    assert set(metadata["artifacts"]) == {"model.keras", "model.onnx", "scaler.json"}
    assert json.loads(stored["scaler.json"])["kind"] == "standard"
    # Working data is gone: no chunk and no intermediate series survive a finished job.
    assert await database["training_chunks"].count_documents({"job_id": {"$exists": True}}) == 0
    assert await database["training_series.files"].count_documents({"metadata.job_id": job["id"]}) == 0

    # Every step's run time reached /metrics, whichever worker process ran it.
    later = scrape(api)
    for task in ("orchestrate_training", "collect_data_chunk", "process_collected_data", "train_model_task"):
        labels = {"task": f"chronos.{task}", "outcome": "succeeded"}
        count = "chronos_task_duration_seconds_count"
        assert sample(later, count, **labels) > sample(scraped, count, **labels), task
    completed = ("chronos_training_jobs", {"status": "COMPLETED"})
    assert sample(later, completed[0], **completed[1]) >= sample(scraped, completed[0], **completed[1]) + 1


async def test_a_constant_series_completes_with_null_metrics_not_errors(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    entity = seed_series(fiware_sandbox, points=300, value=21.5)
    model = await create_model(gql, entity)
    started = await start(gql, model["id"], lastN=300)
    done = await wait_for(gql, started["trainingJob"]["id"])
    assert done["status"] == "COMPLETED", done["error"]
    metrics = done["metrics"]
    # Persistence is perfect on a constant series: U2 and R² are undefined, and say so with null.
    assert metrics["theilU"] is None and metrics["r2"] is None
    assert metrics["rmse"] is not None and metrics["rmse"] < 1e-3


@both_stores
async def test_history_store_5xx_bursts_are_survived(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, history_store: str
) -> None:
    entity = seed_series(fiware_sandbox, points=400)
    model = await create_model(gql, entity)
    started = await start(gql, model["id"], lastN=400)
    assert started["errors"] == []
    # Six failures in a row outlast the client's four tries: the task itself retries with backoff.
    fiware_sandbox.faults[STORE_FAULTS[history_store]].inject(Fault(status=503), times=6)
    done = await wait_for(gql, started["trainingJob"]["id"])
    assert done["status"] == "COMPLETED", done["error"]
    assert done["pointsCollected"] == 400
    assert "training.step_retry" in worker.log_text()


@both_stores
async def test_an_upstream_that_stays_down_fails_the_job_with_a_reason(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, history_store: str
) -> None:
    entity = seed_series(fiware_sandbox, points=300)
    model = await create_model(gql, entity)
    started = await start(gql, model["id"], lastN=300)
    # A 400 is not worth retrying: the job fails at once, with a code, and the model is free again.
    store = fiware_sandbox.faults[STORE_FAULTS[history_store]]
    store.inject(Fault(status=400), times=50)
    try:
        done = await wait_for(gql, started["trainingJob"]["id"])
    finally:
        store.planned.clear()
    assert done["status"] == "FAILED"
    assert done["error"]["code"] == "UPSTREAM_ERROR" and "400" in done["error"]["message"]
    assert done["finishedAt"] is not None and done["artifacts"] == []
    assert await model_status(gql, model["id"], "DRAFT") == "DRAFT"


async def test_cancel_during_collection_ends_cancelled_and_leaves_nothing(
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    entity = seed_series(fiware_sandbox, points=3000)
    model = await create_model(gql, entity)
    started = await start(gql, model["id"], lastN=3000)
    fiware_sandbox.faults["sth"].inject(Fault(delay=0.3), times=40)
    try:
        job_id = started["trainingJob"]["id"]
        await wait_for(gql, job_id, {"COLLECTING_DATA"}, timeout=30)
        cancelled = (await gql.ok(CANCEL, {"id": job_id}))["cancelTraining"]
        assert cancelled["errors"] == []
        assert cancelled["trainingJob"]["status"] in {"CANCEL_REQUESTED", "CANCELLED"}
        done = await wait_for(gql, job_id, timeout=60)
    finally:
        fiware_sandbox.faults["sth"].planned.clear()
    assert done["status"] == "CANCELLED"
    assert done["pointsCollected"] < 3000
    assert await model_status(gql, model["id"], "DRAFT") == "DRAFT"
    database = mongo[test_settings.mongo_database]
    assert await database["training_chunks"].count_documents({"job_id": UUID(job_id)}) == 0
    # Cancelling a finished job changes nothing and says why.
    again = (await gql.ok(CANCEL, {"id": job_id}))["cancelTraining"]
    assert [e["code"] for e in again["errors"]] == ["CONFLICT"]
    assert again["trainingJob"]["status"] == "CANCELLED"


async def test_cancel_during_training_stops_keras_and_removes_partial_artifacts(
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    entity = seed_series(fiware_sandbox, points=600)
    model = await create_model(gql, entity, epochs=500, earlyStoppingPatience=0)
    started = await start(gql, model["id"], lastN=600)
    job_id = started["trainingJob"]["id"]
    running = await wait_for(gql, job_id, {"TRAINING", *FINISHED}, timeout=60)
    assert running["status"] == "TRAINING"
    while (await job_of(gql, job_id))["progress"]["epoch"] is None:
        await asyncio.sleep(0.1)
    cancelled = (await gql.ok(CANCEL, {"id": job_id}))["cancelTraining"]
    assert cancelled["errors"] == [] and cancelled["trainingJob"]["status"] == "CANCEL_REQUESTED"
    done = await wait_for(gql, job_id, timeout=30)
    assert done["status"] == "CANCELLED"
    assert len(done["history"]) < 500
    assert done["artifacts"] == [] and done["metrics"] is None
    database = mongo[test_settings.mongo_database]
    assert await database["model_artifacts.files"].count_documents({"metadata.job_id": job_id}) == 0
    assert await model_status(gql, model["id"], "DRAFT") == "DRAFT"


# Epochs of a few tenths of a second (32 LSTM units, lookback 32, ~2,000 windows in batches of 16):
# long next to a checkpoint, so one is written after every epoch, and the whole test stays short.
KILL_EPOCHS, KILL_AT = 16, 6
KILL_MODEL = {"lookbackWindow": 32, "rnnLayers": [{"units": 32}], "batchSize": 16}


async def test_kill_9_mid_training_resumes_from_the_last_checkpoint(
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    job_id = await training_underway(
        gql, fiware_sandbox, epochs=KILL_EPOCHS, points=3000, epoch=KILL_AT, **KILL_MODEL
    )
    database = mongo[test_settings.mongo_database]
    pid = await training_pid(database, job_id)
    assert pid in worker.children()
    underway = (await job_of(gql, job_id))["progress"]
    reached = underway["epoch"]
    # What the run had saved when it died: a checkpoint is taken once the training since the last
    # one pays for its cost, so on a busy machine (slow writes) not after every epoch.
    before = await database["training_jobs"].find_one({"_id": UUID(job_id)})
    os.kill(pid, signal.SIGKILL)
    assert before is not None and before["checkpoint"] is not None, "a checkpoint by epoch 6"
    saved = before["checkpoint"]["epoch"]
    # Patience 0: no early stopping, so the maximum is the expected end, and some seconds remain.
    assert underway["expectedLastEpoch"] == KILL_EPOCHS and underway["bestEpoch"] is None
    assert underway["etaSeconds"] is not None and underway["etaSeconds"] > 0

    done = await wait_for(gql, job_id, timeout=180)
    assert done["status"] == "COMPLETED", done["error"]
    # Every epoch once: the epochs the dead run finished after its last checkpoint are not listed twice.
    assert [entry["epoch"] for entry in done["history"]] == list(range(1, KILL_EPOCHS + 1))
    final = await database["training_jobs"].find_one({"_id": UUID(job_id)})
    assert final is not None and final["lease"] is None and final["checkpoint"] is None
    metadata = json.loads(await artifact(database, job_id, "metadata.json"))
    resumed_from = metadata["resumedFromEpoch"]
    # It resumed from the newest checkpoint: the one seen before the kill, or one written as it died.
    assert 1 <= saved <= resumed_from < KILL_EPOCHS, (saved, reached, resumed_from)
    runs = final["epochs_by_run"]
    assert len(runs) == 2, runs
    # The run that stored the artifacts is the resumed one: it ran the remaining epochs only.
    resumed = await database["model_artifacts.files"].find_one({"metadata.job_id": job_id})
    assert resumed is not None
    ran = runs.pop(resumed["metadata"]["run"])
    assert ran == KILL_EPOCHS - resumed_from, (ran, reached, resumed_from)
    # The killed run got at least as far as the checkpoint it left.
    (killed,) = runs.values()
    assert killed >= resumed_from
    # No checkpoint outlives the job: a write of the killed run still in flight may land after the
    # end removed them, and the watchdog removes such leftovers (here every second).
    checkpoints = database["training_checkpoints.files"]
    deadline = time.monotonic() + 20
    while await checkpoints.count_documents({"metadata.job_id": job_id}) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert await checkpoints.count_documents({"metadata.job_id": job_id}) == 0
    assert "training.step_resumed" in worker.log_text() and "training.resuming" in worker.log_text()


async def artifact(database: Any, job_id: str, name: str) -> bytes:
    entry = await database["model_artifacts.files"].find_one({"metadata.job_id": job_id, "filename": name})
    assert entry is not None, name
    stream = await AsyncGridFSBucket(database, bucket_name="model_artifacts").open_download_stream(
        entry["_id"]
    )
    data: bytes = await stream.read()
    return data


async def test_early_stopping_is_announced_before_it_ends_the_job(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    # A constant series: every val_loss equals the first, so epoch 1 stays the best and training
    # ends after epoch 1 + patience = 4 of at most 30.
    entity = seed_series(fiware_sandbox, points=300, value=21.5)
    model = await create_model(gql, entity, epochs=30, earlyStoppingPatience=3)
    started = await start(gql, model["id"], lastN=300)
    done = await wait_for(gql, started["trainingJob"]["id"])
    assert done["status"] == "COMPLETED", done["error"]
    assert [entry["epoch"] for entry in done["history"]] == [1, 2, 3, 4]
    shown = done["progress"]
    assert (shown["epoch"], shown["totalEpochs"], shown["expectedLastEpoch"], shown["bestEpoch"]) == (
        4,
        30,
        4,
        1,
    )
    assert shown["fraction"] == 1.0 and shown["etaSeconds"] is None
