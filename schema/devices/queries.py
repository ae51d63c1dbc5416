"""Device discovery query."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app import devices
from schema.context import Info
from schema.devices.types import DeviceGroup


@strawberry.type
class DeviceQueries:
    @strawberry.field(
        description=(
            "IoT Agent devices of a tenant grouped by entity type, each entity with its attribute "
            "names; the forecast devices Chronos provisions itself are left out."
        )
    )
    async def devices(
        self,
        info: Info,
        service: Annotated[
            str | None,
            strawberry.argument(
                description="Fiware-Service; defaults to the API key's only tenant, else the server's."
            ),
        ] = None,
        service_path: Annotated[
            str | None, strawberry.argument(description="Fiware-ServicePath; defaults like `service`.")
        ] = None,
    ) -> list[DeviceGroup]:
        settings = info.context.settings
        scope = info.context.scope
        # A key bound to one tenant means that tenant when the query names none.
        default = scope.only()
        groups = await devices.list_device_groups(
            iota=info.context.resources.fiware.iota,
            service=service
            if service is not None
            else default.service
            if default
            else settings.fiware_service,
            service_path=(
                service_path
                if service_path is not None
                else default.service_path
                if default
                else settings.fiware_service_path
            ),
            forecast_entity_type=settings.forecast_entity_type,
            scope=scope,
        )
        return [DeviceGroup.from_group(group) for group in groups]


__all__ = ["DeviceQueries"]
