from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from app.devstack import Stack, free_port, start_redis
from app.system.health import HealthStatus, Probe, check_health
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
        healthy = await check_health(
            probes={"mongo": up, "redis": probe}, essential=frozenset({"mongo"}), timeout=TIMEOUT
        )
        assert healthy.status is HealthStatus.UP
        stack.stop()

        started = time.perf_counter()
        sick = await check_health(
            probes={"mongo": up, "redis": probe}, essential=frozenset({"mongo"}), timeout=TIMEOUT
        )
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
        health = await check_health(
            probes={"mongo": up, "a": first, "b": second}, essential=frozenset({"mongo"}), timeout=0.5
        )
        elapsed = time.perf_counter() - started
        await first_client.aclose()
        await second_client.aclose()
    statuses = {d.name: d.status for d in health.dependencies}
    assert statuses == {"mongo": HealthStatus.UP, "a": HealthStatus.DOWN, "b": HealthStatus.DOWN}
    assert elapsed < 1.0, "probes must run in parallel, each bounded by the timeout"
    assert all(d.latency_ms <= 800 for d in health.dependencies)


async def test_essential_dependency_down_means_system_down() -> None:
    async def broken() -> str | None:
        raise ConnectionRefusedError("refused")

    health = await check_health(
        probes={"mongo": broken, "redis": up}, essential=frozenset({"mongo"}), timeout=TIMEOUT
    )
    assert health.status is HealthStatus.DOWN
    assert {d.name: d.message for d in health.dependencies} == {
        "mongo": "ConnectionRefusedError: refused",
        "redis": "fine",
    }
