from __future__ import annotations

import time
from pathlib import Path

import httpx

from app import system
from app.devstack import Stack, free_port, start_redis, start_secantus
from tests.support import ApiServer, GraphQL, create_key, get, graphql_client, run_api

HEALTH = "{ health { status checkedAt dependencies { name status latencyMs message checkedAt } } }"


async def test_all_dependencies_up(gql: GraphQL, api: ApiServer) -> None:
    health = (await gql.ok(HEALTH))["health"]
    by_name = {d["name"]: d for d in health["dependencies"]}
    assert set(by_name) == {"mongo", "redis", "rabbitmq", "orion", "sthComet", "iotAgent"}
    # Every name a probe answers is one the schema describes.
    assert set(by_name) <= set(system.DEPENDENCIES)
    assert health["status"] == "UP"
    assert all(d["status"] == "UP" and d["latencyMs"] >= 0 for d in by_name.values())
    assert "RabbitMQ" in by_name["rabbitmq"]["message"]
    assert by_name["orion"]["message"] == "Orion 3.12.0"
    assert by_name["sthComet"]["message"].startswith("STH-Comet ")
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


async def test_dead_redis_is_down_within_two_seconds_and_the_api_keeps_answering(
    service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    stack = Stack()
    try:
        redis_url = start_redis(stack, port=free_port())
        assert redis_url is not None
        with run_api({**service_env, "CHRONOS_REDIS_URL": redis_url}, log_dir, key=admin_key) as server:
            async with graphql_client(server) as gql:
                assert (await gql.ok(HEALTH))["health"]["status"] == "UP"
                stack.stop()
                started = time.perf_counter()
                health = (await gql.ok(HEALTH))["health"]
                elapsed = time.perf_counter() - started
                by_name = {d["name"]: d for d in health["dependencies"]}
                assert by_name["redis"]["status"] == "DOWN" and by_name["redis"]["message"]
                assert by_name["mongo"]["status"] == "UP"
                assert health["status"] == "DEGRADED"
                assert elapsed < 2.0
                models = await gql.ok("{ models(first: 1) { totalCount } modelTypes { value } }")
                assert models["modelTypes"]
                ready = get(server, "/readyz")
                assert ready.status_code == 503 and ready.json()["status"] == "DEGRADED"
                assert ready.json()["dependencies"]["redis"] == "DOWN"
    finally:
        stack.stop()


async def test_dead_mongo_makes_the_system_down_and_queries_unavailable(
    service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    stack = Stack()
    try:
        mongo_url = start_secantus(stack, port=free_port(), storage=":memory:")
        # A key remembered for the whole test: keys are checked against MongoDB, which goes away.
        env = {
            **service_env,
            "CHRONOS_MONGO_URL": mongo_url,
            "CHRONOS_MONGO_TIMEOUT_SECONDS": "1",
            "CHRONOS_AUTH_CACHE_SECONDS": "300",
        }
        key = create_key(env, role="admin", cwd=log_dir)
        with run_api(env, log_dir, key=key) as server:
            assert get(server, "/graphql", params={"query": "{ modelTypes { value } }"}).status_code == 200
            stack.stop()
            started = time.perf_counter()
            ready = get(server, "/readyz")
            assert time.perf_counter() - started < 2.5
            assert ready.status_code == 503 and ready.json()["dependencies"]["mongo"] == "DOWN"
            assert get(server, "/healthz").status_code == 200
            async with graphql_client(server) as gql:
                result = await gql.run("{ models { totalCount } }")
            assert result.codes == ["UNAVAILABLE"]
            assert "127.0.0.1" not in result.errors[0]["message"]
            response = httpx.post(
                server.graphql_url,
                json={"query": "{ modelTypes { value } }"},
                headers=server.headers,
                timeout=10,
            )
            assert response.status_code == 200 and response.json()["data"]["modelTypes"]
            # A key it has not seen cannot be checked now: unavailable, not refused.
            unknown = httpx.post(
                server.graphql_url,
                json={"query": "{ modelTypes { value } }"},
                headers={"Authorization": "Bearer chr_unknown"},
                timeout=10,
            )
            assert unknown.status_code == 503
            assert unknown.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    finally:
        stack.stop()
