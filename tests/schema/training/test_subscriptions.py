"""Live progress through the real API over both WebSocket protocols, from a real worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from app.settings import Settings
from fiware.sandbox.runner import Sandbox
from tests.support import ApiServer, GraphQL, WorkerProcess
from tests.tasks.pipeline import create_model, seed_series, start, wait_for

PROGRESS = """
subscription($jobId: ID!, $afterSeq: Int) {
  trainingProgress(jobId: $jobId, afterSeq: $afterSeq) {
    jobId seq at status phase progress message dataPointsCollected dataPointsRequested
    epoch totalEpochs loss valLoss etaSeconds metrics { rmse theilU } error { code message }
  }
}"""

UPDATES = """
subscription($modelId: ID) { trainingJobUpdates(modelId: $modelId) { jobId modelId seq status } }"""


async def stream(
    api: ApiServer, document: str, variables: dict[str, Any], *, protocol: str = "graphql-transport-ws"
) -> AsyncIterator[dict[str, Any]]:
    transport = WebsocketsTransport(url=api.graphql_url.replace("http", "ws"), subprotocols=[protocol])
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        async for result in session.subscribe(GraphQLRequest(document, variable_values=variables)):
            yield next(iter(result.values()))


async def collect(
    api: ApiServer, job_id: str, *, protocol: str = "graphql-transport-ws", after: int | None = None
) -> list[dict[str, Any]]:
    return [e async for e in stream(api, PROGRESS, {"jobId": job_id, "afterSeq": after}, protocol=protocol)]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_job_is_watched_live_to_completed(
    api: ApiServer, gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, protocol: str
) -> None:
    model = await create_model(
        gql, seed_series(fiware_sandbox, points=600), epochs=4, earlyStoppingPatience=0
    )
    job_id = (await start(gql, model["id"], lastN=600))["trainingJob"]["id"]
    events = await asyncio.wait_for(collect(api, job_id, protocol=protocol), 120)

    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "strictly increasing"
    final = events[-1]
    assert final["status"] == "COMPLETED" and final["phase"] == "FINISHED" and final["progress"] == 1.0
    assert final["metrics"]["rmse"] is not None and final["error"] is None
    seen = [e["status"] for e in events]
    assert "TRAINING" in seen
    epochs = {e["epoch"] for e in events if e["status"] == "TRAINING" and e["epoch"]}
    assert epochs == {1, 2, 3, 4}
    assert all(e["totalEpochs"] == 4 for e in events if e["epoch"])
    assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)
    assert any(e["valLoss"] is not None for e in events)
    assert final["dataPointsCollected"] == final["dataPointsRequested"] == 600


async def test_a_late_subscriber_gets_the_snapshot_first_and_can_resume(
    api: ApiServer, gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    model = await create_model(
        gql, seed_series(fiware_sandbox, points=600), epochs=30, earlyStoppingPatience=0
    )
    job_id = (await start(gql, model["id"], lastN=600))["trainingJob"]["id"]
    running = await wait_for(gql, job_id, {"TRAINING"}, timeout=60)
    first_part: list[dict[str, Any]] = []
    async for event in stream(api, PROGRESS, {"jobId": job_id}):
        first_part.append(event)
        if len(first_part) == 3:
            break
    # The snapshot comes first, already in the training phase.
    assert first_part[0]["status"] == "TRAINING" and first_part[0]["seq"] >= 3
    assert first_part[0]["seq"] >= 1 and running["status"] == "TRAINING"
    rest = await asyncio.wait_for(collect(api, job_id, after=first_part[-1]["seq"]), 120)
    assert rest[-1]["status"] == "COMPLETED"
    assert rest[0]["seq"] > first_part[-1]["seq"], "resumed without repeating what was seen"

    # A finished job yields its final snapshot and ends; nothing at all after its last seq.
    again = await collect(api, job_id)
    assert [e["seq"] for e in again] == [rest[-1]["seq"]] and again[0]["status"] == "COMPLETED"
    assert await collect(api, job_id, after=rest[-1]["seq"]) == []


async def test_an_unknown_job_is_not_found(api: ApiServer) -> None:
    with pytest.raises(TransportQueryError) as refused:
        await collect(api, str(uuid.uuid4()))
    assert refused.value.errors and refused.value.errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_job_updates_follow_the_status_changes_of_one_model(
    api: ApiServer, gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=300))
    other = await create_model(gql, seed_series(fiware_sandbox, points=300))
    statuses: list[str] = []

    async def watch() -> None:
        async for event in stream(api, UPDATES, {"modelId": model["id"]}):
            assert event["modelId"] == model["id"]
            statuses.append(event["status"])
            if event["status"] == "COMPLETED":
                return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)  # subscribed before the job starts
    await start(gql, other["id"])
    await start(gql, model["id"])
    await asyncio.wait_for(watcher, 120)
    assert statuses[0] == "PENDING" and statuses[-1] == "COMPLETED"
    assert {"COLLECTING_DATA", "PREPROCESSING", "TRAINING"} <= set(statuses)


async def test_a_lost_redis_connection_mid_stream_loses_no_terminal_event(
    api: ApiServer, gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, test_settings: Settings
) -> None:
    model = await create_model(
        gql, seed_series(fiware_sandbox, points=600), epochs=20, earlyStoppingPatience=0
    )
    job_id = (await start(gql, model["id"], lastN=600))["trainingJob"]["id"]
    redis = aioredis.Redis.from_url(test_settings.redis_url)
    events: list[dict[str, Any]] = []
    try:
        async for event in stream(api, PROGRESS, {"jobId": job_id}):
            events.append(event)
            if event["status"] == "TRAINING" and not any(e.get("killed") for e in events):
                # The API's one pub/sub connection drops, as when Redis restarts.
                hub = f"chronos-hub-{api.process.pid}-"
                ours = [c for c in await redis.client_list() if c.get("name", "").startswith(hub)]
                assert len(ours) == 1
                await redis.client_kill_filter(_id=ours[0]["id"])
                events.append({"killed": True})
    finally:
        await redis.aclose()
    received = [e for e in events if "seq" in e]
    assert received[-1]["status"] == "COMPLETED"
    seqs = [e["seq"] for e in received]
    assert seqs == sorted(set(seqs))
