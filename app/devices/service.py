"""Device discovery: IoT Agent devices of one tenant, grouped by entity type."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.tenancy import TenantScope
from app.errors import ErrorCode, FieldError, ValidationFailed
from app.upstream import translate
from fiware.errors import FiwareError
from fiware.http import Tenant
from fiware.iota import Device, IotAgentClient
from fiware.names import check_service, check_service_path

# Devices Chronos provisions for its own forecasts carry this id prefix (prediction issue).
CHRONOS_DEVICE_PREFIX = "chronos-"


@dataclass(frozen=True)
class DeviceEntity:
    entity_id: str
    device_id: str
    attributes: list[str]


@dataclass(frozen=True)
class DeviceGroup:
    entity_type: str
    entities: list[DeviceEntity]


def checked_tenant(service: str, service_path: str) -> Tenant:
    problems = [
        FieldError(ErrorCode.VALIDATION_ERROR, problem, (field,))
        for field, problem in (
            ("service", check_service(service)),
            ("servicePath", check_service_path(service_path)),
        )
        if problem
    ]
    if problems:
        raise ValidationFailed(problems)
    return Tenant(service, service_path)


def _is_ours(device: Device, forecast_entity_type: str) -> bool:
    return device.get("entity_type") == forecast_entity_type or str(device.get("device_id", "")).startswith(
        CHRONOS_DEVICE_PREFIX
    )


def group_devices(devices: list[Device], *, forecast_entity_type: str) -> list[DeviceGroup]:
    groups: dict[str, list[DeviceEntity]] = {}
    for device in devices:
        if _is_ours(device, forecast_entity_type):
            continue
        device_id = str(device.get("device_id", ""))
        entity_type = str(device.get("entity_type") or "Thing")
        # The agent's default entity name is "<type>:<device id>" (iotagent-node-lib deviceService.js).
        entity_id = str(device.get("entity_name") or f"{entity_type}:{device_id}")
        names = [
            str(a["name"]) for a in device.get("attributes") or [] if isinstance(a, dict) and a.get("name")
        ]
        groups.setdefault(entity_type, []).append(DeviceEntity(entity_id, device_id, names))
    return [
        DeviceGroup(entity_type, sorted(entities, key=lambda e: e.entity_id))
        for entity_type, entities in sorted(groups.items())
    ]


async def list_device_groups(
    *, iota: IotAgentClient, service: str, service_path: str, forecast_entity_type: str, scope: TenantScope
) -> list[DeviceGroup]:
    tenant = checked_tenant(service, service_path)
    if not scope.allows(tenant.service, tenant.service_path):
        # Another tenant's devices are none of this caller's: nothing, rather than a telling error.
        return []
    try:
        devices = await iota.list_devices(tenant)
    except FiwareError as error:
        raise translate(error) from error
    return group_devices(devices, forecast_entity_type=forecast_entity_type)


__all__ = [
    "CHRONOS_DEVICE_PREFIX",
    "DeviceEntity",
    "DeviceGroup",
    "checked_tenant",
    "group_devices",
    "list_device_groups",
]
