"""Dependency health: every probe at once, each bounded by a short timeout.

A dead or silent dependency costs at most ``timeout`` seconds, never a hung request. One table,
:data:`DEPENDENCIES`, says which dependencies this process needs to serve at all (MongoDB, the task
broker): one of those down makes the system DOWN, and ``/readyz`` answers 503 exactly then. Anything
else down or short (Orion, STH-Comet, the IoT Agent, Redis, no live worker) leaves it DEGRADED,
still serving what does not need it, and still ready: a load balancer that took every API process out
because Orion was away would stop the queries and mutations that never touch Orion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.timeutil import utcnow


class HealthStatus(StrEnum):
    UP = "UP"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


@dataclass(frozen=True)
class Dependency:
    description: str
    # Without it this process cannot serve: the system is DOWN and /readyz answers 503.
    needed: bool = False


DEPENDENCIES: Mapping[str, Dependency] = {
    "mongo": Dependency("MongoDB, where everything Chronos keeps is stored", needed=True),
    "rabbitmq": Dependency(
        "RabbitMQ, the task broker: trainings and forecasts are queued there", needed=True
    ),
    "broker": Dependency(
        "Redis as the task broker, where no RabbitMQ is configured (instead of rabbitmq)", needed=True
    ),
    "redis": Dependency("Redis: live progress, mutation rate limits and cluster metrics"),
    "orion": Dependency("the Orion Context Broker, where forecasts are published"),
    "sthComet": Dependency(
        "STH-Comet, a history store: asked when it is the deployment's or a model reads it"
    ),
    "quantumLeap": Dependency(
        "QuantumLeap, a history store: asked when it is the deployment's or a model reads it"
    ),
    "iotAgent": Dependency("the IoT Agent, which lists devices"),
    "workers": Dependency(
        "the Celery workers, counted from their own heartbeats: DEGRADED when none is alive, "
        "DOWN when the broker cannot be heard"
    ),
}
"""Every dependency health may report, by the name it reports it under."""

NEEDED = frozenset(name for name, dependency in DEPENDENCIES.items() if dependency.needed)
"""What this process needs to serve: the one definition behind both `health` and `/readyz`."""


@dataclass(frozen=True)
class Finding:
    """What a probe found when "it answered" is not the whole story."""

    status: HealthStatus
    message: str | None
    # How many instances answered, for a dependency that has several (the live workers).
    instances: int | None = None


Probe = Callable[[], Awaitable[str | Finding | None]]
"""Raises when the dependency is unusable; may return a short description of what answered, or a
:class:`Finding` with a status of its own."""


@dataclass(frozen=True)
class DependencyHealth:
    name: str
    status: HealthStatus
    latency_ms: float
    message: str | None
    checked_at: datetime
    instances: int | None = None


@dataclass(frozen=True)
class SystemHealth:
    status: HealthStatus
    dependencies: list[DependencyHealth]
    checked_at: datetime


def describe(exc: BaseException) -> str:
    """An exception as a probe message: its type and the head of its text."""
    text = str(exc).strip()
    # Driver messages can run to kilobytes (pymongo lists its whole topology): keep the head.
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _run(name: str, probe: Probe, timeout: float) -> DependencyHealth:
    started = time.perf_counter()
    checked_at = utcnow()
    try:
        found = await asyncio.wait_for(probe(), timeout)
        finding = found if isinstance(found, Finding) else Finding(HealthStatus.UP, found)
    except TimeoutError:
        finding = Finding(HealthStatus.DOWN, f"no answer within {timeout:g} s")
    except Exception as exc:  # noqa: BLE001 - any failure of a probe is the finding itself
        finding = Finding(HealthStatus.DOWN, describe(exc))
    latency = round((time.perf_counter() - started) * 1000, 2)
    return DependencyHealth(name, finding.status, latency, finding.message, checked_at, finding.instances)


def _overall(results: list[DependencyHealth]) -> HealthStatus:
    """DOWN when a needed dependency is down (so not ready), DEGRADED when anything is not UP."""
    if any(r.status is HealthStatus.DOWN and r.name in NEEDED for r in results):
        return HealthStatus.DOWN
    if any(r.status is not HealthStatus.UP for r in results):
        return HealthStatus.DEGRADED
    return HealthStatus.UP


async def check_health(*, probes: Mapping[str, Probe], timeout: float) -> SystemHealth:
    results = list(await asyncio.gather(*(_run(name, probe, timeout) for name, probe in probes.items())))
    return SystemHealth(status=_overall(results), dependencies=results, checked_at=utcnow())


__all__ = [
    "DEPENDENCIES",
    "NEEDED",
    "Dependency",
    "DependencyHealth",
    "Finding",
    "HealthStatus",
    "Probe",
    "SystemHealth",
    "check_health",
    "describe",
]
