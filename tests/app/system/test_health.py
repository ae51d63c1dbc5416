from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from app.devstack import Stack, free_port, start_redis
from app.system.health import DEPENDENCIES, NEEDED, Finding, HealthStatus, Probe, check_health
from tests.app.system.silent import silent_port

# Real Redis servers (the machine's, or ones the tests start and kill).
pytestmark = pytest.mark.services

TIMEOUT = 1.5


def redis_probe(url: str) -> tuple[Probe, aioredis.Redis]:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)

    async def probe() -> str | None:
        await client.ping()
        return None

    return probe, client


async def up() -> str | None:
    return "fine"


async def test_redis_that_dies_is_reported_down_quickly() -> None:
    stack = Stack()
    try:
        url = start_redis(stack, port=free_port())
        assert url is not None
        probe, client = redis_probe(url)
        healthy = await check_health(probes={"mongo": up, "redis": probe}, timeout=TIMEOUT)
        assert healthy.status is HealthStatus.UP
        stack.stop()

        started = time.perf_counter()
        sick = await check_health(probes={"mongo": up, "redis": probe}, timeout=TIMEOUT)
        elapsed = time.perf_counter() - started
        await client.aclose()
    finally:
        stack.stop()
    redis_health = {d.name: d for d in sick.dependencies}["redis"]
    assert redis_health.status is HealthStatus.DOWN
    assert redis_health.message and "Error" in redis_health.message
    assert sick.status is HealthStatus.DEGRADED
    assert elapsed < 2.0


async def test_silent_dependencies_cost_one_timeout_in_parallel() -> None:
    with silent_port() as port:
        first, first_client = redis_probe(f"redis://127.0.0.1:{port}/0")
        second, second_client = redis_probe(f"redis://127.0.0.1:{port}/1")
        started = time.perf_counter()
        health = await check_health(probes={"mongo": up, "a": first, "b": second}, timeout=0.5)
        elapsed = time.perf_counter() - started
        await first_client.aclose()
        await second_client.aclose()
    statuses = {d.name: d.status for d in health.dependencies}
    assert statuses == {"mongo": HealthStatus.UP, "a": HealthStatus.DOWN, "b": HealthStatus.DOWN}
    assert elapsed < 1.0, "probes must run in parallel, each bounded by the timeout"
    assert all(d.latency_ms <= 800 for d in health.dependencies)


async def broken() -> str | None:
    raise ConnectionRefusedError("refused")


async def test_a_needed_dependency_down_means_system_down() -> None:
    health = await check_health(probes={"mongo": broken, "redis": up}, timeout=TIMEOUT)
    assert health.status is HealthStatus.DOWN
    assert {d.name: d.message for d in health.dependencies} == {
        "mongo": "ConnectionRefusedError: refused",
        "redis": "fine",
    }


def test_what_the_api_needs_to_serve_is_mongo_and_the_broker() -> None:
    # The one definition behind `health` and /readyz: everything else may be down while it serves.
    assert {"mongo", "rabbitmq", "broker"} == NEEDED


@pytest.mark.parametrize("name", sorted(NEEDED))
async def test_each_needed_dependency_down_means_system_down(name: str) -> None:
    health = await check_health(probes={"mongo": up, name: broken}, timeout=TIMEOUT)
    assert health.status is HealthStatus.DOWN


@pytest.mark.parametrize("name", sorted(set(DEPENDENCIES) - NEEDED))
async def test_anything_else_down_is_degraded(name: str) -> None:
    health = await check_health(probes={"mongo": up, "rabbitmq": up, name: broken}, timeout=TIMEOUT)
    assert health.status is HealthStatus.DEGRADED


async def test_a_finding_keeps_its_own_status_and_count() -> None:
    async def short() -> Finding:
        return Finding(HealthStatus.DEGRADED, "none alive", instances=0)

    health = await check_health(probes={"mongo": up, "workers": short}, timeout=TIMEOUT)
    workers = {d.name: d for d in health.dependencies}["workers"]
    assert (workers.status, workers.message, workers.instances) == (HealthStatus.DEGRADED, "none alive", 0)
    assert health.status is HealthStatus.DEGRADED
