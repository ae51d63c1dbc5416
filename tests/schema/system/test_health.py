from __future__ import annotations

from pathlib import Path
from typing import Any

from app import system
from tests.support import ApiServer, GraphQL, WorkerProcess, create_key, get, graphql_client, run_api

HEALTH = "{ health { status checkedAt dependencies { name status latencyMs message checkedAt instances } } }"


async def dependencies(gql: GraphQL) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in (await gql.ok(HEALTH))["health"]["dependencies"]}


async def test_all_dependencies_up(gql: GraphQL, api: ApiServer, worker: WorkerProcess) -> None:
    health = (await gql.ok(HEALTH))["health"]
    by_name = {d["name"]: d for d in health["dependencies"]}
    assert set(by_name) == {
        "mongo",
        "redis",
        "rabbitmq",
        "orion",
        "sthComet",
        "quantumLeap",
        "iotAgent",
        "workers",
    }
    # Every name a probe answers is one the schema describes.
    assert set(by_name) <= set(system.DEPENDENCIES)
    assert health["status"] == "UP", by_name
    assert all(d["status"] == "UP" and d["latencyMs"] >= 0 for d in by_name.values())
    assert [name for name, d in by_name.items() if d["instances"] is not None] == ["workers"]
    assert by_name["workers"]["instances"] >= 1
    assert "pipeline@" in by_name["workers"]["message"]
    assert "RabbitMQ" in by_name["rabbitmq"]["message"]
    assert by_name["orion"]["message"] == "Orion 3.12.0"
    assert by_name["sthComet"]["message"].startswith("STH-Comet ")
    # Not the deployment's store: asked once a model of the session reads it (tests/app/test_resources.py).
    ql = by_name["quantumLeap"]["message"]
    assert ql == "no model reads it; not asked" or ql.startswith("QuantumLeap "), ql
    assert by_name["iotAgent"]["message"].startswith("IoT Agent ")
    assert get(api, "/healthz").text == "ok"
    ready = get(api, "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "UP"


async def test_info(gql: GraphQL) -> None:
    info = (
        await gql.ok(
            "{ info { name version gitCommit buildTime environment startedAt uptimeSeconds"
            " dependencies { name url } } }"
        )
    )["info"]
    assert info["name"] == "Chronos" and info["version"] and info["environment"] == "test"
    assert info["uptimeSeconds"] > 0
    urls = {d["name"]: d["url"] for d in info["dependencies"]}
    assert urls["broker"].startswith(("amqp://127.0.0.1", "redis://"))
    assert not any("guest" in url for url in urls.values()), "credentials are removed"


async def test_every_api_process_hears_every_worker(
    gql: GraphQL, worker: WorkerProcess, service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    # Each process listens on a queue of its own: a second one takes no heartbeat from the first.
    with run_api(service_env, log_dir, key=admin_key) as second:
        async with graphql_client(second) as other:
            theirs = (await dependencies(other))["workers"]
        ours = (await dependencies(gql))["workers"]
    assert theirs["status"] == ours["status"] == "UP"
    assert theirs["instances"] == ours["instances"] >= 1
    assert "pipeline@" in theirs["message"] and "pipeline@" in ours["message"]


async def test_hostnames_and_reasons_are_for_admins_only(
    api: ApiServer, worker: WorkerProcess, service_env: dict[str, str], log_dir: Path
) -> None:
    viewer = create_key(service_env, role="viewer", tenants=["health:/"], name="health viewer", cwd=log_dir)
    async with graphql_client(api, key=viewer) as gql:
        by_name = await dependencies(gql)
    assert all(d["message"] is None for d in by_name.values())
    # How many workers live is no secret; which hosts they run on is.
    assert by_name["workers"]["status"] == "UP" and by_name["workers"]["instances"] >= 1
