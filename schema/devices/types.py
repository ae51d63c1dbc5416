"""GraphQL types of device discovery."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app import devices
from app.devices.readings import Readings
from schema.stores import HistoryStore


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


@strawberry.type(description="One reading of an entity's attribute, as the history store keeps it.")
class Reading:
    timestamp: datetime = strawberry.field(description="When it was measured (the store's time index), UTC.")
    value: float = strawberry.field(description="The reading.")


@strawberry.type(description="Recent readings of one attribute of one entity.")
class ReadingSeries:
    points: list[Reading] = strawberry.field(description="The readings, oldest first.")
    history_store: HistoryStore = strawberry.field(description="The store they were read from.")
    dropped: int = strawberry.field(
        description="Readings among the newest asked for that were not numbers (left out of `points`)."
    )

    @classmethod
    def from_readings(cls, readings: Readings) -> ReadingSeries:
        return cls(
            points=[Reading(timestamp=p.timestamp, value=p.value) for p in readings.points],
            history_store=readings.store,
            dropped=readings.dropped,
        )


__all__ = ["DeviceEntity", "DeviceGroup", "Reading", "ReadingSeries"]
