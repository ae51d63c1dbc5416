"""GraphQL types of device discovery."""

from __future__ import annotations

import strawberry

from app import devices


@strawberry.type(description="An entity measured by an IoT Agent device.")
class DeviceEntity:
    entity_id: str = strawberry.field(description="NGSI entity id (the device's entity_name).")
    device_id: str = strawberry.field(description="IoT Agent device id.")
    attributes: list[str] = strawberry.field(description="Names of the measured attributes.")


@strawberry.type(description="Devices of one entity type.")
class DeviceGroup:
    entity_type: str = strawberry.field(description="NGSI entity type.")
    entities: list[DeviceEntity] = strawberry.field(description="Entities of this type, by id.")

    @classmethod
    def from_group(cls, group: devices.DeviceGroup) -> DeviceGroup:
        return cls(
            entity_type=group.entity_type,
            entities=[
                DeviceEntity(entity_id=e.entity_id, device_id=e.device_id, attributes=e.attributes)
                for e in group.entities
            ],
        )


__all__ = ["DeviceEntity", "DeviceGroup"]
