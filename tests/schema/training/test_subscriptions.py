"""Live progress through the real API over both WebSocket protocols, from a real worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.typing import Subprotocol

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
    transport = WebsocketsTransport(
        url=api.graphql_url.replace("http", "ws"), subprotocols=[protocol], init_payload=api.init_payload
    )
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        async for result in session.subscribe(GraphQLRequest(document, variable_values=variables)):
            yield next(iter(result.values()))


async def sse(api: ApiServer, document: str, variables: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """graphql-sse, distinct connections: one POST whose response is the event stream."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client,
        client.stream(
            "POST",
            api.graphql_url,
            json={"query": document, "variables": variables},
            headers={"accept": "text/event-stream", **api.headers},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "next":
                yield json.loads(line.removeprefix("data: "))
            elif line.startswith("data") and event == "complete":
                return


async def collect(
    api: ApiServer, job_id: str, *, protocol: str = "graphql-transport-ws", after: int | None = None
) -> list[dict[str, Any]]:
    variables = {"jobId": job_id, "afterSeq": after}
    if protocol == "sse":
        return [message["data"]["trainingProgress"] async for message in sse(api, PROGRESS, variables)]
    return [e async for e in stream(api, PROGRESS, variables, protocol=protocol)]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws", "sse"])
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
    [over_sse] = [message async for message in sse(api, PROGRESS, {"jobId": str(uuid.uuid4())})]
    assert over_sse["data"] is None and over_sse["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_subscription_over_plain_http_is_told_where_to_go(api: ApiServer) -> None:
    async with httpx.AsyncClient(timeout=10, headers=api.headers) as client:
        response = await client.post(
            api.graphql_url, json={"query": PROGRESS, "variables": {"jobId": str(uuid.uuid4())}}
        )
    assert response.status_code == 400
    assert "WebSocket" in response.text and "text/event-stream" in response.text


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


INFO = "{ info { progressHub { connected channels listeners dropped reconnects } } }"


async def raw_follow(api: ApiServer, job_id: str, *, stop_after: int | None = None) -> list[dict[str, Any]]:
    """One lightweight graphql-transport-ws client; returns the events it saw."""
    url = api.graphql_url.replace("http", "ws")
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": api.init_payload}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": PROGRESS, "variables": {"jobId": job_id}},
                }
            )
        )
        seen: list[dict[str, Any]] = []
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == "complete":
                return seen
            assert message["type"] == "next", message
            seen.append(message["payload"]["data"]["trainingProgress"])
            if stop_after is not None and len(seen) >= stop_after:
                return seen  # leaving mid-stream: the socket closes with the block


def connections(pid: int) -> list[tuple[int, int]]:
    """(local port, remote port) of each established TCP connection the process holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[3] == "01":  # 01: established
                found.append((int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)))
    return found


async def test_two_hundred_subscribers_see_the_end_and_those_who_leave_leave_nothing(
    api: ApiServer, gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, test_settings: Settings
) -> None:
    model = await create_model(
        gql, seed_series(fiware_sandbox, points=600), epochs=25, earlyStoppingPatience=0
    )
    job_id = (await start(gql, model["id"], lastN=600))["trainingJob"]["id"]
    await wait_for(gql, job_id, {"TRAINING"}, timeout=60)
    api_port = int(api.url.rsplit(":", 1)[1])
    redis_port = int(test_settings.redis_url.rsplit(":", 1)[1].split("/")[0])

    def held(port: int, *, local: bool) -> int:
        return sum(1 for mine, theirs in connections(api.process.pid) if (mine if local else theirs) == port)

    redis_before = held(redis_port, local=False)
    clients_before = held(api_port, local=True)  # this test's own HTTP keep-alive, if any

    stayers = [asyncio.create_task(raw_follow(api, job_id)) for _ in range(100)]
    leavers = [asyncio.create_task(raw_follow(api, job_id, stop_after=2)) for _ in range(100)]
    left = await asyncio.wait_for(asyncio.gather(*leavers), 60)
    assert all(len(events) == 2 for events in left)
    # The server notices each departure on its own time: give it a moment, then count.
    for _ in range(100):
        hub = (await gql.ok(INFO))["info"]["progressHub"]
        if hub["listeners"] <= 100:
            break
        await asyncio.sleep(0.1)
    assert hub["connected"] and hub["listeners"] <= 100 and hub["channels"] == 1

    stayed = await asyncio.wait_for(asyncio.gather(*stayers), 180)
    assert all(events[-1]["status"] == "COMPLETED" for events in stayed)
    assert all([e["seq"] for e in events] == sorted({e["seq"] for e in events}) for events in stayed)

    # Measured, not assumed: no listener, channel, Redis subscription or socket is left behind.
    async def settled() -> dict[str, Any]:
        for _ in range(50):
            hub = (await gql.ok(INFO))["info"]["progressHub"]
            if hub["listeners"] == 0:
                return dict(hub)
            await asyncio.sleep(0.1)
        return dict(hub)

    hub = await settled()
    assert hub["listeners"] == 0 and hub["channels"] == 0
    redis = aioredis.Redis.from_url(test_settings.redis_url)
    try:
        assert (await redis.pubsub_numsub(f"chronos:training:job:{job_id}"))[0][1] == 0
    finally:
        await redis.aclose()
    # No client socket is left open on the API's side, and no Redis connection was added for them
    # (the MongoDB pool may have grown with 200 concurrent reads; it is bounded by its own size).
    for _ in range(50):
        if held(api_port, local=True) <= clients_before:
            break
        await asyncio.sleep(0.1)
    assert held(api_port, local=True) <= clients_before
    assert held(redis_port, local=False) == redis_before
