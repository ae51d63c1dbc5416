"""Health and information queries."""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.system.types import ApplicationInfo, SystemHealth


@strawberry.type
class SystemQueries:
    @strawberry.field(description="Probe every dependency in parallel; answers within about 2 s.")
    async def health(self, info: Info) -> SystemHealth:
        return SystemHealth.from_result(await info.context.resources.health(), detailed=info.context.is_admin)

    @strawberry.field(description="Version, build, environment, uptime and dependency URLs.")
    def info(self, info: Info) -> ApplicationInfo:
        resources = info.context.resources
        return ApplicationInfo.from_info(
            resources.info, resources.hub.stats(), detailed=info.context.is_admin
        )


__all__ = ["SystemQueries"]
