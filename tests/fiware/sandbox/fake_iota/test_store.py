"""IotaStore: groups and devices seeded from Python are served like provisioned ones."""

from __future__ import annotations

import httpx
import pytest

from fiware.sandbox.fake_iota import IotaError
from tests.fiware.sandbox.fake_iota.support import Iota, tenant, unique_key


async def test_seeded_groups_and_devices_are_served_like_provisioned_ones(
    client: httpx.AsyncClient, iota: Iota, service: str
) -> None:
    apikey = unique_key()
    iota.store.add_group(
        service=service,
        service_path="/",
        group={"apikey": apikey, "resource": "/iot/d", "entity_type": "Meter"},
    )
    iota.store.add_device(service=service, service_path="/", device={"device_id": "m1", "apikey": apikey})
    listed = (await client.get("/iot/devices", headers=tenant(service))).json()
    assert listed["devices"] == iota.store.devices(service=service, service_path="/")
    assert listed["devices"][0]["entity_name"] == "Meter:m1"
    assert iota.store.devices(service=service, service_path="/other") == []
    groups = (await client.get("/iot/groups", headers=tenant(service))).json()["groups"]
    assert groups == iota.store.groups(service=service, service_path="/")
    with pytest.raises(IotaError) as duplicate:
        iota.store.add_device(service=service, service_path="/", device={"device_id": "m1", "apikey": apikey})
    assert (duplicate.value.status, duplicate.value.name) == (409, "DUPLICATE_DEVICE_ID")
    with pytest.raises(IotaError) as wrong:
        iota.store.add_group(service=service, service_path="/", group={"apikey": unique_key()})
    assert (wrong.value.status, wrong.value.name) == (400, "WRONG_SYNTAX")
