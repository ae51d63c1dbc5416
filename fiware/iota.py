"""IoT Agent (iotagent-node-lib) northbound client: devices and service groups (its ``doc/api.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import httpx

from fiware.errors import FiwareConflict, FiwareNotFound
from fiware.http import DEFAULT_RETRY, RetryPolicy, ServiceClient, Tenant, encode_path

Device = dict[str, Any]
Group = dict[str, Any]
GroupApi = Literal["groups", "services"]

DEVICE_PAGE = 100
SERVICE = "IoT Agent"


def service_group(*, apikey: str, resource: str, entity_type: str, cbroker: str) -> Group:
    """A service group: devices posting to ``resource`` with ``apikey`` update ``cbroker``."""
    return {"apikey": apikey, "resource": resource, "entity_type": entity_type, "cbroker": cbroker}


def forecast_device(*, device_id: str, entity_name: str, entity_type: str, attribute: str) -> Device:
    """An HTTP device whose measure ``fs`` is the StructuredValue ``attribute`` of its entity."""
    return {
        "device_id": device_id,
        "entity_name": entity_name,
        "entity_type": entity_type,
        "transport": "HTTP",
        "attributes": [{"object_id": "fs", "name": attribute, "type": "StructuredValue"}],
    }


class IotAgentClient:
    def __init__(
        self, http: httpx.AsyncClient, *, retry: RetryPolicy = DEFAULT_RETRY, page_size: int = DEVICE_PAGE
    ) -> None:
        self.client = ServiceClient(http, service=SERVICE, retry=retry)
        self.page_size = page_size

    async def about(self) -> dict[str, Any]:
        response = await self.client.request("GET", "/iot/about")
        return self.client.object_of(response)

    async def list_devices(self, tenant: Tenant) -> list[Device]:
        """Every device of the tenant, walking the pages (``count`` is the total, not the page)."""
        devices: dict[str, Device] = {}
        offset = 0
        while True:
            response = await self.client.request(
                "GET", "/iot/devices", tenant=tenant, params={"limit": self.page_size, "offset": offset}
            )
            body = self.client.object_of(response)
            page = [d for d in body.get("devices") or [] if isinstance(d, dict)]
            fresh = {str(d.get("device_id")): d for d in page if str(d.get("device_id")) not in devices}
            devices.update(fresh)
            offset += len(page)
            total = body.get("count")
            # Stop at the total; or at a page with nothing new (an agent ignoring offset or count).
            if not fresh or (isinstance(total, int) and offset >= total):
                return list(devices.values())

    async def get_device(self, device_id: str, tenant: Tenant) -> Device:
        response = await self.client.request("GET", encode_path("iot", "devices", device_id), tenant=tenant)
        return self.client.object_of(response)

    async def ensure_device(self, device: Mapping[str, Any], tenant: Tenant) -> bool:
        """Provision the device unless it exists; True when this call created it."""
        try:
            await self.client.request("POST", "/iot/devices", tenant=tenant, json={"devices": [dict(device)]})
        except FiwareConflict:
            return False
        return True

    async def delete_device(self, device_id: str, tenant: Tenant) -> bool:
        """Remove the device; False when there was none."""
        try:
            await self.client.request("DELETE", encode_path("iot", "devices", device_id), tenant=tenant)
        except FiwareNotFound:
            return False
        return True

    async def list_groups(self, tenant: Tenant, *, api: GroupApi = "groups") -> list[Group]:
        response = await self.client.request("GET", f"/iot/{api}", tenant=tenant)
        body = self.client.object_of(response)
        return [g for g in body.get(api) or [] if isinstance(g, dict)]

    async def ensure_group(
        self, group: Mapping[str, Any], tenant: Tenant, *, api: GroupApi = "groups"
    ) -> bool:
        """Create the service group unless one with its (resource, apikey) exists; True when created.

        ``api="services"`` speaks the older ``/iot/services`` route for agents that predate groups.
        """
        key = (group.get("resource"), group.get("apikey"))
        if any((g.get("resource"), g.get("apikey")) == key for g in await self.list_groups(tenant, api=api)):
            return False
        try:
            await self.client.request("POST", f"/iot/{api}", tenant=tenant, json={api: [dict(group)]})
        except FiwareConflict:
            return False  # created meanwhile, or under another service path of the same pair
        return True


__all__ = ["Device", "Group", "GroupApi", "IotAgentClient", "forecast_device", "service_group"]
