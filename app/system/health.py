"""Dependency health: every probe at once, each bounded by a short timeout.

A dead or silent dependency costs at most ``timeout`` seconds, never a hung request. MongoDB
is essential (nothing works without it): when it is down the system is DOWN; any other
dependency down leaves the system DEGRADED, still serving what does not need it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.timeutil import utcnow

Probe = Callable[[], Awaitable[str | None]]
"""Raises when the dependency is unusable; may return a short description of what answered."""

DEPENDENCIES: Mapping[str, str] = {
    "mongo": "MongoDB (essential: the API is DOWN without it)",
    "redis": "Redis (progress streams, rate limits, task results)",
    "rabbitmq": "RabbitMQ, the task broker",
    "broker": "Redis as the task broker, where no RabbitMQ is configured (instead of rabbitmq)",
    "orion": "the Orion Context Broker",
    "sthComet": "STH-Comet, the history store",
    "iotAgent": "the IoT Agent",
}
"""Every dependency health may report, by the name it reports it under."""


class HealthStatus(StrEnum):
    UP = "UP"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


@dataclass(frozen=True)
class DependencyHealth:
    name: str
    status: HealthStatus
    latency_ms: float
    message: str | None
    checked_at: datetime


@dataclass(frozen=True)
class SystemHealth:
    status: HealthStatus
    dependencies: list[DependencyHealth]
    checked_at: datetime


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    # Driver messages can run to kilobytes (pymongo lists its whole topology): keep the head.
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _run(name: str, probe: Probe, timeout: float) -> DependencyHealth:
    started = time.perf_counter()
    checked_at = utcnow()
    try:
        message = await asyncio.wait_for(probe(), timeout)
        status = HealthStatus.UP
    except TimeoutError:
        status, message = HealthStatus.DOWN, f"no answer within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure of a probe is the finding itself
        status, message = HealthStatus.DOWN, _describe(exc)
    latency = (time.perf_counter() - started) * 1000
    return DependencyHealth(name, status, round(latency, 2), message, checked_at)


async def check_health(
    *, probes: Mapping[str, Probe], essential: frozenset[str], timeout: float
) -> SystemHealth:
    results = await asyncio.gather(*(_run(name, probe, timeout) for name, probe in probes.items()))
    down = {r.name for r in results if r.status is HealthStatus.DOWN}
    if down & essential:
        status = HealthStatus.DOWN
    elif down:
        status = HealthStatus.DEGRADED
    else:
        status = HealthStatus.UP
    return SystemHealth(status=status, dependencies=list(results), checked_at=utcnow())


__all__ = ["DependencyHealth", "HealthStatus", "Probe", "SystemHealth", "check_health"]
