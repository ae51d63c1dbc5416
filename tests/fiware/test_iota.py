"""The IoT Agent client against the sandbox, over real HTTP."""

from __future__ import annotations

import uuid

from fiware.http import RetryPolicy, Tenant, make_http_client
from fiware.iota import IotAgentClient, forecast_device, service_group
from fiware.sandbox.runner import Sandbox

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, deadline=5)


def device(device_id: str, entity_type: str = "Thermometer") -> dict[str, object]:
    return {
        "device_id": device_id,
        "entity_name": f"urn:ngsi-ld:{entity_type}:{device_id}",
        "entity_type": entity_type,
        "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}],
    }


def test_service_group_body() -> None:
    group = service_group(
        apikey="chronos-forecast", resource="/iot/json", entity_type="Prediction", cbroker="http://orion:1026"
    )
    assert group == {
        "apikey": "chronos-forecast",
        "resource": "/iot/json",
        "entity_type": "Prediction",
        "cbroker": "http://orion:1026",
    }


def test_forecast_device_body_maps_fs_to_the_structured_attribute() -> None:
    device = forecast_device(
        device_id="chronos-forecast-ab12",
        entity_name="urn:ngsi-ld:Chronos:Prediction:ab12",
        entity_type="Prediction",
        attribute="forecastSeries",
    )
    assert device == {
        "device_id": "chronos-forecast-ab12",
        "entity_name": "urn:ngsi-ld:Chronos:Prediction:ab12",
        "entity_type": "Prediction",
        "transport": "HTTP",
        "attributes": [{"object_id": "fs", "name": "forecastSeries", "type": "StructuredValue"}],
    }


async def test_about(sandbox: Sandbox) -> None:
    async with make_http_client(sandbox.iota_url) as http:
        about = await IotAgentClient(http, retry=FAST).about()
    assert "libVersion" in about


async def test_list_devices_walks_every_page(sandbox: Sandbox) -> None:
    tenant = Tenant(f"t_{uuid.uuid4().hex[:8]}", "/")
    for i in range(10):
        sandbox.iota.add_device(service=tenant.service, service_path="/", device=device(f"d{i:02d}"))
    async with make_http_client(sandbox.iota_url) as http:
        devices = await IotAgentClient(http, retry=FAST, page_size=3).list_devices(tenant)
        empty = await IotAgentClient(http, retry=FAST).list_devices(Tenant("nobody_here"))
    assert sorted(d["device_id"] for d in devices) == [f"d{i:02d}" for i in range(10)]
    assert empty == []


async def test_ensure_device_and_delete(sandbox: Sandbox) -> None:
    tenant = Tenant(f"t_{uuid.uuid4().hex[:8]}", "/forecasts")
    async with make_http_client(sandbox.iota_url) as http:
        iota = IotAgentClient(http, retry=FAST)
        assert await iota.ensure_device(device("chronos-forecast-1", "Prediction"), tenant) is True
        assert await iota.ensure_device(device("chronos-forecast-1", "Prediction"), tenant) is False
        fetched = await iota.get_device("chronos-forecast-1", tenant)
        assert fetched["entity_type"] == "Prediction"
        assert await iota.list_devices(Tenant(tenant.service, "/elsewhere")) == []
        assert await iota.delete_device("chronos-forecast-1", tenant) is True
        assert await iota.delete_device("chronos-forecast-1", tenant) is False


async def test_ensure_group_on_both_routes_is_idempotent(sandbox: Sandbox) -> None:
    tenant = Tenant(f"t_{uuid.uuid4().hex[:8]}", "/")
    group = {"apikey": f"key-{uuid.uuid4().hex[:6]}", "resource": "/forecast", "entity_type": "Prediction"}
    async with make_http_client(sandbox.iota_url) as http:
        iota = IotAgentClient(http, retry=FAST)
        assert await iota.ensure_group(group, tenant) is True
        assert await iota.ensure_group(group, tenant) is False
        assert await iota.ensure_group(group, tenant, api="services") is False
        older = {**group, "apikey": f"old-{uuid.uuid4().hex[:6]}"}
        assert await iota.ensure_group(older, tenant, api="services") is True
        listed = await iota.list_groups(tenant)
    assert {g["apikey"] for g in listed} == {group["apikey"], older["apikey"]}
