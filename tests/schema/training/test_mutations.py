"""startTraining, cancelTraining and deleteTrainingJob through the real API (and a real worker)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from app.settings import Settings
from fiware.sandbox.runner import Sandbox
from tests.conftest import both_stores
from tests.proxy import TcpProxy
from tests.support import GraphQL, WorkerProcess, graphql_client, run_api
from tests.tasks.pipeline import (
    CANCEL,
    DELETE_JOB,
    create_model,
    model_status,
    seed_series,
    start,
    wait_for,
)

DELETE_MODEL = "mutation($id: ID!) { deleteModel(id: $id) { deletedId errors { code message field } } }"


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def settle(gql: GraphQL, job_id: str) -> dict[str, Any]:
    """Cancel a job a test admitted only to look at, and wait until it has ended."""
    await gql.ok(CANCEL, {"id": job_id})
    return await wait_for(gql, job_id, timeout=60)


async def test_unknown_or_malformed_models_are_refused(gql: GraphQL) -> None:
    missing = await start(gql, str(uuid.uuid4()))
    assert missing["trainingJob"] is None and codes(missing) == [("NOT_FOUND", ["modelId"])]
    malformed = await start(gql, "nope")
    assert codes(malformed) == [("VALIDATION_ERROR", ["modelId"])]


async def test_invalid_inputs_are_reported_together(gql: GraphQL, fiware_sandbox: Sandbox) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=200))
    both = await start(
        gql, model["id"], lastN=0, dateFrom="2026-01-02T00:00:00Z", dateTo="2026-01-01T00:00:00Z"
    )
    assert sorted(codes(both)) == [
        ("VALIDATION_ERROR", ["input", "dateTo"]),
        ("VALIDATION_ERROR", ["input", "lastN"]),
        ("VALIDATION_ERROR", ["input", "lastN"]),
    ]
    naive = await start(gql, model["id"], dateFrom="2026-01-01T00:00:00")
    assert codes(naive) == [("VALIDATION_ERROR", ["input", "dateFrom"])]
    huge = await start(gql, model["id"], lastN=1_000_001)
    assert codes(huge) == [("VALIDATION_ERROR", ["input", "lastN"])]
    assert await model_status(gql, model["id"], "DRAFT") == "DRAFT"


@both_stores
async def test_too_little_data_is_refused_with_the_numbers(gql: GraphQL, fiware_sandbox: Sandbox) -> None:
    entity = seed_series(fiware_sandbox, points=50)
    model = await create_model(gql, entity)
    refused = await start(gql, model["id"])
    assert refused["trainingJob"] is None
    assert codes(refused) == [("INSUFFICIENT_DATA", ["input"])]
    message = refused["errors"][0]["message"]
    # lookback 8 + horizon 2 in each of three splits of 15/15/70 %: 67 points at least.
    assert "holds 50 points" in message and "at least 67" in message
    below = await start(gql, model["id"], lastN=40)
    assert codes(below) == [("INSUFFICIENT_DATA", ["input", "lastN"])]
    unknown = await create_model(gql, "urn:ngsi-ld:Sensor:never-seen")
    assert "holds 0 points" in (await start(gql, unknown["id"]))["errors"][0]["message"]
    assert await model_status(gql, model["id"], "DRAFT") == "DRAFT"


@both_stores
async def test_last_n_above_what_the_store_holds_uses_all_of_it(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=150))
    started = await start(gql, model["id"], lastN=100_000)
    assert started["errors"] == []
    job = started["trainingJob"]
    assert (job["request"]["lastN"], job["pointsAvailable"], job["pointsRequested"]) == (100_000, 150, 150)
    await settle(gql, job["id"])


@both_stores
async def test_a_date_window_trains_on_the_points_inside_it(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    interval = timedelta(minutes=1)
    entity = seed_series(fiware_sandbox, points=400, interval=interval)
    model = await create_model(gql, entity)
    now = datetime.now(UTC)
    window = {"dateFrom": (now - 300 * interval).isoformat(), "dateTo": (now - 100 * interval).isoformat()}
    started = await start(gql, model["id"], **window)
    assert started["errors"] == []
    job = started["trainingJob"]
    assert job["request"]["lastN"] is None
    assert 199 <= job["pointsRequested"] <= 201
    done = await wait_for(gql, job["id"])
    assert done["status"] == "COMPLETED", done["error"]
    assert done["pointsCollected"] == job["pointsRequested"]


async def test_one_running_job_per_model_even_under_concurrent_starts(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=300))
    payloads = await asyncio.gather(*(start(gql, model["id"]) for _ in range(6)))
    winners = [p for p in payloads if not p["errors"]]
    assert len(winners) == 1
    losers = [codes(p) for p in payloads if p["errors"]]
    assert losers == [[("CONFLICT", ["modelId"])]] * 5
    assert await model_status(gql, model["id"], "TRAINING") == "TRAINING"
    # A running model cannot be deleted either.
    refused = (await gql.ok(DELETE_MODEL, {"id": model["id"]}))["deleteModel"]
    assert [e["code"] for e in refused["errors"]] == ["CONFLICT"]
    ended = await settle(gql, winners[0]["trainingJob"]["id"])
    assert ended["status"] in {"CANCELLED", "COMPLETED"}


async def test_an_idempotency_key_returns_the_same_job(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=300))
    first = await start(gql, model["id"], lastN=250, idempotencyKey="nightly-2026-11-25")
    again = await start(gql, model["id"], lastN=250, idempotencyKey="nightly-2026-11-25")
    assert first["errors"] == [] and again["errors"] == []
    assert again["trainingJob"]["id"] == first["trainingJob"]["id"]
    other = await start(gql, model["id"], lastN=200, idempotencyKey="nightly-2026-11-25")
    assert codes(other) == [("CONFLICT", ["input", "idempotencyKey"])]
    done = await wait_for(gql, first["trainingJob"]["id"])
    # Replayed after the job ended: still the same job, not a new one.
    replay = await start(gql, model["id"], lastN=250, idempotencyKey="nightly-2026-11-25")
    assert replay["trainingJob"]["id"] == done["id"]


async def test_cancel_and_delete_follow_the_job_status(
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    missing = (await gql.ok(CANCEL, {"id": str(uuid.uuid4())}))["cancelTraining"]
    assert codes(missing) == [("NOT_FOUND", ["jobId"])]
    model = await create_model(gql, seed_series(fiware_sandbox, points=300))
    job_id = (await start(gql, model["id"]))["trainingJob"]["id"]
    running = (await gql.ok(DELETE_JOB, {"id": job_id}))["deleteTrainingJob"]
    assert codes(running) in ([("CONFLICT", ["jobId"])], [])
    if not running["errors"]:
        # It finished before the delete: the model has nothing trained, so it is a DRAFT again.
        assert await model_status(gql, model["id"], "DRAFT") == "DRAFT"
        return
    done = await wait_for(gql, job_id)
    assert done["status"] == "COMPLETED", done["error"]
    assert await model_status(gql, model["id"], "TRAINED") == "TRAINED"
    # The model's first completed job is its active version: it stays until another is promoted.
    active = (await gql.ok(DELETE_JOB, {"id": job_id}))["deleteTrainingJob"]
    assert codes(active) == [("CONFLICT", ["jobId"])]
    second = (await wait_for(gql, (await start(gql, model["id"]))["trainingJob"]["id"]))["id"]
    deleted = (await gql.ok(DELETE_JOB, {"id": second}))["deleteTrainingJob"]
    assert deleted == {"deletedId": second, "errors": []}
    database = mongo[test_settings.mongo_database]
    assert await database["model_artifacts.files"].count_documents({"metadata.job_id": second}) == 0
    assert await model_status(gql, model["id"], "TRAINED") == "TRAINED"
    gone = (await gql.ok(DELETE_JOB, {"id": second}))["deleteTrainingJob"]
    assert codes(gone) == [("NOT_FOUND", ["jobId"])]


async def test_deleting_a_model_removes_its_jobs_and_artifacts(
    gql: GraphQL,
    worker: WorkerProcess,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=300))
    job_id = (await start(gql, model["id"]))["trainingJob"]["id"]
    assert (await wait_for(gql, job_id))["status"] == "COMPLETED"
    assert await model_status(gql, model["id"], "TRAINED") == "TRAINED"
    deleted = (await gql.ok(DELETE_MODEL, {"id": model["id"]}))["deleteModel"]
    assert deleted["errors"] == []
    database = mongo[test_settings.mongo_database]
    assert await database["training_jobs"].count_documents({"_id": uuid.UUID(job_id)}) == 0
    assert await database["model_artifacts.files"].count_documents({"metadata.job_id": job_id}) == 0


async def test_a_broker_that_is_away_creates_nothing_and_the_same_key_runs_once_it_is_back(
    service_env: dict[str, str],
    log_dir: Path,
    fiware_sandbox: Sandbox,
    admin_key: str,
    worker: WorkerProcess,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    broker = service_env["CHRONOS_CELERY_BROKER_URL"]
    with TcpProxy(int(broker.rsplit(":", 1)[1].split("/")[0])) as proxy:
        env = {
            **service_env,
            "CHRONOS_CELERY_BROKER_URL": f"amqp://guest:guest@{proxy.url_host_port}//",
            "CHRONOS_DISPATCH_TIMEOUT_SECONDS": "2",
        }
        with run_api(env, log_dir, key=admin_key) as server:
            async with graphql_client(server) as gql:
                model = await create_model(gql, seed_series(fiware_sandbox, points=200))
                jobs = mongo[test_settings.mongo_database]["training_jobs"]
                proxy.refuse()
                for _ in range(2):  # the same key again: the failure is not replayed, it is tried again
                    refused = await start(gql, model["id"], idempotencyKey="broker-away")
                    assert [e["code"] for e in refused["errors"]] == ["UNAVAILABLE"], refused
                    assert (
                        refused["trainingJob"] is None
                        and "nothing was created" in refused["errors"][0]["message"]
                    )
                    assert await jobs.count_documents({"model_id": uuid.UUID(model["id"])}) == 0
                    assert await model_status(gql, model["id"], "DRAFT") == "DRAFT"
                # The refusal is logged as the failure it is, not as an operation that went well.
                refusals = [
                    r for r in server.log_records()
                    if r.get("event") == "graphql.operation" and "UNAVAILABLE" in (r.get("error_codes") or [])
                ]  # fmt: skip
                assert len(refusals) == 2 and all(r["outcome"] == "error" for r in refusals), refusals
                proxy.forward()
                started = await start(gql, model["id"], idempotencyKey="broker-away")
                assert started["errors"] == [], started
                assert (await wait_for(gql, started["trainingJob"]["id"]))["status"] == "COMPLETED"
