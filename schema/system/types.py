"""GraphQL types of health and application information."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app import system
from app.auth.principal import Principal
from app.auth.roles import Role
from app.training.hub import HubStats
from schema.enums import expose

expose(
    Role,
    name="Role",
    description="What an API key may do; each role may do everything the one before it may.",
    values={
        "VIEWER": "Queries and subscriptions.",
        "EDITOR": "Also the mutations of models, training jobs and forecasts.",
        "ADMIN": "Also every tenant, the metrics and the dependency details of `health` and `info`.",
    },
)


@strawberry.type(description="A FIWARE tenant: a Fiware-Service and one of its service paths.")
class TenantRef:
    service: str = strawberry.field(description="The Fiware-Service.")
    service_path: str = strawberry.field(description="The Fiware-ServicePath, matched exactly.")


@strawberry.type(description="The API key this request presented, as a client needs to know it.")
class Viewer:
    name: str = strawberry.field(description="The key's name.")
    role: Role = strawberry.field(description="What the key may do.")
    can_mutate: bool = strawberry.field(
        description="Whether the key's role may run mutations (EDITOR and ADMIN)."
    )
    tenants: list[TenantRef] | None = strawberry.field(
        description="The tenants the key holds, sorted; null: every tenant (admins, a server without keys)."
    )

    @classmethod
    def from_principal(cls, principal: Principal) -> Viewer:
        held = principal.scope.tenants
        tenants = (
            None
            if held is None
            else [
                TenantRef(service=t.service, service_path=t.service_path)
                for t in sorted(held, key=lambda t: (t.service, t.service_path))
            ]
        )
        return cls(
            name=principal.name,
            role=principal.role,
            can_mutate=principal.role.includes(Role.EDITOR),
            tenants=tenants,
        )


HealthStatus = system.HealthStatus
expose(
    HealthStatus,
    name="HealthStatus",
    description="Whether the API, or one dependency, is usable.",
    values={
        "UP": "Usable.",
        "DEGRADED": "Serving, but something it uses is down or short, so some operations fail or wait: "
        "for the API, a dependency it can serve without (Orion, a history store, the IoT Agent, Redis, the "
        "workers); for `workers`, no live worker. `/readyz` still answers 200.",
        "DOWN": "Not usable. For the API: a dependency it needs to serve (MongoDB, the task broker) "
        "cannot be reached, and `/readyz` answers 503.",
    },
)


def _names_described() -> str:
    needed = ", ".join(f"`{name}`" for name in system.DEPENDENCIES if name in system.NEEDED)
    each = "; ".join(f"`{name}`: {d.description}" for name, d in system.DEPENDENCIES.items())
    return (
        f"Which dependency: {each}. Needed to serve ({needed}; one broker is configured): with one of "
        "them down the API is DOWN and `/readyz` answers 503; anything else down leaves it DEGRADED "
        "and still ready."
    )


@strawberry.type(description="Health of one dependency, from a probe bounded by a short timeout.")
class DependencyHealth:
    name: str = strawberry.field(description=_names_described())
    status: HealthStatus = strawberry.field(
        description="UP, DEGRADED (it answers but falls short: `workers` with none alive) or DOWN."
    )
    latency_ms: float = strawberry.field(description="How long the probe took, in milliseconds.")
    message: str | None = strawberry.field(
        description="What answered, or why the probe failed; null unless the API key is an admin's."
    )
    checked_at: datetime = strawberry.field(description="When the probe started, UTC.")
    instances: int | None = strawberry.field(
        description="How many answered, for a dependency with several: for `workers`, the live Celery "
        "workers (their hostnames are in `message`). Null for the others, and when unknown."
    )

    @classmethod
    def from_result(cls, result: system.DependencyHealth, *, detailed: bool) -> DependencyHealth:
        return cls(
            name=result.name,
            status=result.status,
            latency_ms=result.latency_ms,
            # Driver messages name hosts and exception types: for operators, not every viewer.
            message=result.message if detailed else None,
            checked_at=result.checked_at,
            instances=result.instances,
        )


@strawberry.type(
    description="Overall health: DOWN when a dependency the API needs to serve is (MongoDB, the task "
    "broker), DEGRADED when anything else is down or short."
)
class SystemHealth:
    status: HealthStatus = strawberry.field(description="Overall status.")
    dependencies: list[DependencyHealth] = strawberry.field(description="One entry per dependency.")
    checked_at: datetime = strawberry.field(description="When the checks finished, UTC.")

    @classmethod
    def from_result(cls, result: system.SystemHealth, *, detailed: bool) -> SystemHealth:
        return cls(
            status=result.status,
            dependencies=[DependencyHealth.from_result(d, detailed=detailed) for d in result.dependencies],
            checked_at=result.checked_at,
        )


@strawberry.type(description="Where this process connects, with credentials removed.")
class DependencyUrl:
    name: str = strawberry.field(
        description="mongo, redis, broker, orion, sthComet, quantumLeap or iotAgent."
    )
    url: str = strawberry.field(description="The URL without user, password or secret parameters.")


@strawberry.type(
    description="The process's live-progress fan-out: one Redis pub/sub connection for all subscribers."
)
class ProgressHubStats:
    connected: bool = strawberry.field(description="Whether the Redis pub/sub connection is up.")
    channels: int = strawberry.field(description="Redis channels subscribed for local listeners.")
    listeners: int = strawberry.field(description="Subscriptions of this process currently listening.")
    dropped: int = strawberry.field(
        description="Progress events dropped for slow clients since start (terminal events never are)."
    )
    reconnects: int = strawberry.field(description="Times the Redis connection was rebuilt since start.")


@strawberry.type(description="What is running and since when.")
class ApplicationInfo:
    name: str = strawberry.field(description="Application name.")
    version: str = strawberry.field(description="Package version.")
    git_commit: str | None = strawberry.field(description="Commit the code was built from, when known.")
    build_time: str | None = strawberry.field(description="When the image or package was built, when known.")
    environment: str = strawberry.field(description="development, test or production.")
    started_at: datetime = strawberry.field(description="When this process started, UTC.")
    uptime_seconds: float = strawberry.field(description="Seconds since `startedAt`.")
    dependencies: list[DependencyUrl] = strawberry.field(
        description="Configured dependency URLs; empty unless the API key is an admin's."
    )
    progress_hub: ProgressHubStats = strawberry.field(
        description="Live-progress subscriptions of this process."
    )

    @classmethod
    def from_info(cls, info: system.ApplicationInfo, hub: HubStats, *, detailed: bool) -> ApplicationInfo:
        return cls(
            name=info.name,
            version=info.version,
            git_commit=info.git_commit,
            build_time=info.build_time,
            environment=info.environment,
            started_at=info.started_at,
            uptime_seconds=info.uptime_seconds(),
            dependencies=[DependencyUrl(name=d.name, url=d.url) for d in info.dependencies]
            if detailed
            else [],
            progress_hub=ProgressHubStats(
                connected=hub.connected,
                channels=hub.channels,
                listeners=hub.listeners,
                dropped=hub.dropped,
                reconnects=hub.reconnects,
            ),
        )


__all__ = [
    "ApplicationInfo",
    "DependencyHealth",
    "DependencyUrl",
    "HealthStatus",
    "ProgressHubStats",
    "SystemHealth",
    "TenantRef",
    "Viewer",
]
