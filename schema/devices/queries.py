"""Device discovery query."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app import devices
from app.devices.readings import MAX_READINGS, recent_readings
from fiware.history import Series
from fiware.http import Tenant
from schema.context import Info
from schema.devices.types import DeviceGroup, ReadingSeries
from schema.stores import HistoryStore

Service = Annotated[
    str | None,
    strawberry.argument(
        description="Fiware-Service; defaults to the API key's only tenant, else the server's."
    ),
]
ServicePath = Annotated[
    str | None, strawberry.argument(description="Fiware-ServicePath; defaults like `service`.")
]


def tenant_of(info: Info, service: str | None, service_path: str | None) -> Tenant:
    """The tenant a query names, else the key's only tenant, else the server's."""
    settings = info.context.settings
    # A key bound to one tenant means that tenant when the query names none.
    default = info.context.scope.only() or Tenant(settings.fiware_service, settings.fiware_service_path)
    return Tenant(
        service if service is not None else default.service,
        service_path if service_path is not None else default.service_path,
    )


@strawberry.type
class DeviceQueries:
    @strawberry.field(
        description=(
            "IoT Agent devices of a tenant grouped by entity type, each entity with its attribute "
            "names; the forecast devices Chronos provisions itself are left out."
        )
    )
    async def devices(
        self, info: Info, service: Service = None, service_path: ServicePath = None
    ) -> list[DeviceGroup]:
        tenant = tenant_of(info, service, service_path)
        groups = await devices.list_device_groups(
            iota=info.context.resources.fiware.iota,
            service=tenant.service,
            service_path=tenant.service_path,
            forecast_entity_type=info.context.settings.forecast_entity_type,
            scope=info.context.scope,
        )
        return [DeviceGroup.from_group(group) for group in groups]

    @strawberry.field(
        description=(
            "The newest readings of one attribute of an entity, from a history store: for sparklines "
            "and for plotting forecasts against what arrived. Another tenant's entity has none. "
            "Errors: VALIDATION_ERROR, UNAVAILABLE or UPSTREAM_ERROR (the store)."
        )
    )
    async def readings(
        self,
        info: Info,
        entity_type: Annotated[str, strawberry.argument(description="NGSI entity type.")],
        entity_id: Annotated[str, strawberry.argument(description="NGSI entity id.")],
        attribute: Annotated[str, strawberry.argument(description="Attribute name.")],
        service: Service = None,
        service_path: ServicePath = None,
        history_store: Annotated[
            HistoryStore | None,
            strawberry.argument(
                description="Store to read; defaults to the server's (a model's is `historyStore`)."
            ),
        ] = None,
        last_n: Annotated[
            int, strawberry.argument(description=f"How many of the newest readings, 1 to {MAX_READINGS:,}.")
        ] = 100,
        date_from: Annotated[
            datetime | None,
            strawberry.argument(description="Earliest time, inclusive, with a time zone offset."),
        ] = None,
        date_to: Annotated[
            datetime | None,
            strawberry.argument(description="Latest time, inclusive, with a time zone offset."),
        ] = None,
    ) -> ReadingSeries:
        tenant = tenant_of(info, service, service_path)
        fiware = info.context.resources.fiware
        store = fiware.store_of(history_store)
        readings = await recent_readings(
            history=fiware.history,
            series=Series(entity_type=entity_type, entity_id=entity_id, attribute=attribute, store=store),
            service=tenant.service,
            service_path=tenant.service_path,
            last_n=last_n,
            date_from=date_from,
            date_to=date_to,
            scope=info.context.scope,
            store=store,
        )
        return ReadingSeries.from_readings(readings)


__all__ = ["DeviceQueries"]
