"""Health and information queries."""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.system.types import ApplicationInfo, SystemHealth, Viewer


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

    @strawberry.field(
        description=(
            "The API key of this request: its role and tenants, so a client shows only what the key may "
            "do (a VIEWER key, no mutation controls) and offers only its tenants."
        )
    )
    def viewer(self, info: Info) -> Viewer:
        principal = info.context.principal
        if principal is None:
            raise RuntimeError("no principal: the operation ran without AccessControl")
        return Viewer.from_principal(principal)


__all__ = ["SystemQueries"]
