"""The IoT Agent sandbox against ``iotagent-node-lib`` 4.14, over HTTP: devices.

Expected bodies are the literal ones a real ``iotagent-node-lib@4.14.0`` (npm, memory registry)
answered, wherever one was recorded.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fiware.sandbox.fake_iota.support import (
    JSON_UTF8,
    MOTION,
    assert_created,
    assert_error,
    assert_no_content,
    motion_as_listed,
    provision,
    tenant,
)


async def test_a_device_is_provisioned_and_shown_as_in_the_real_run(
    client: httpx.AsyncClient, service: str
) -> None:
    await provision(client, service, MOTION)
    shown = await client.get("/iot/devices/motion001", headers=tenant(service))
    assert shown.status_code == 200 and shown.headers["content-type"] == JSON_UTF8
    assert shown.json() == motion_as_listed(service)


async def test_listing_devices_pages_with_the_total_count_as_in_the_real_run(
    client: httpx.AsyncClient, service: str
) -> None:
    await provision(client, service, MOTION)
    await provision(client, service, {"device_id": "temp002", "entity_type": "Thermometer"})
    first = await client.get("/iot/devices", params={"limit": 1, "offset": 0}, headers=tenant(service))
    second = await client.get("/iot/devices", params={"limit": 1, "offset": 1}, headers=tenant(service))
    assert first.status_code == 200 and first.headers["content-type"] == JSON_UTF8
    assert first.json() == {"count": 2, "devices": [motion_as_listed(service)]}
    # Provisioned without transport: iotagent-node-lib 4.14.0 answered "MQTT", and no `polling` for it.
    assert second.json() == {
        "count": 2,
        "devices": [
            {
                "device_id": "temp002",
                "service": service,
                "service_path": "/",
                "entity_name": "Thermometer:temp002",
                "entity_type": "Thermometer",
                "transport": "MQTT",
                "lazy": [],
                "commands": [],
                "static_attributes": [],
            }
        ],
    }


async def test_walking_every_page_of_devices_sees_each_once_in_order(
    client: httpx.AsyncClient, service: str
) -> None:
    ids = [f"dev{index:02d}" for index in range(10)]
    await provision(client, service, *({"device_id": device_id} for device_id in ids))
    seen: list[str] = []
    offset = 0
    while True:
        page = await client.get(
            "/iot/devices", params={"limit": 3, "offset": offset}, headers=tenant(service)
        )
        body = page.json()
        assert body["count"] == 10
        if not body["devices"]:
            break
        assert len(body["devices"]) <= 3
        seen += [device["device_id"] for device in body["devices"]]
        offset += 3
    assert seen == ids and offset == 12
    everything = await client.get("/iot/devices", headers=tenant(service))
    assert [device["device_id"] for device in everything.json()["devices"]] == ids


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"limit": "0"}, 4, id="zero-limit-is-no-limit"),
        pytest.param({"limit": "abc"}, 4, id="nan-limit-is-no-limit"),
        pytest.param({"offset": "-2"}, 4, id="negative-offset-is-none"),
        pytest.param({"limit": "2abc"}, 2, id="parseInt-keeps-leading-digits"),
    ],
)
async def test_odd_limits_and_offsets_read_as_parseInt_reads_them(
    client: httpx.AsyncClient, service: str, params: dict[str, str], expected: int
) -> None:
    await provision(client, service, *({"device_id": f"d{index}"} for index in range(4)))
    page = (await client.get("/iot/devices", params=params, headers=tenant(service))).json()
    assert page["count"] == 4 and len(page["devices"]) == expected


async def test_a_service_without_devices_lists_none(client: httpx.AsyncClient, service: str) -> None:
    response = await client.get("/iot/devices", headers=tenant(service))
    assert response.status_code == 200 and response.json() == {"count": 0, "devices": []}


async def test_tenants_and_servicepaths_keep_their_devices_apart(
    client: httpx.AsyncClient, service: str
) -> None:
    for headers in (tenant(service), tenant(service, "/b"), tenant(service + "x")):
        assert_created(
            await client.post("/iot/devices", json={"devices": [{"device_id": "same"}]}, headers=headers)
        )
    for headers in (tenant(service), tenant(service, "/b"), tenant(service + "x")):
        listed = (await client.get("/iot/devices", headers=headers)).json()
        assert listed["count"] == 1
        assert (listed["devices"][0]["service"], listed["devices"][0]["service_path"]) == (
            headers["fiware-service"],
            headers["fiware-servicepath"],
        )
    assert_no_content(await client.delete("/iot/devices/same", headers=tenant(service, "/b")))
    assert (await client.get("/iot/devices/same", headers=tenant(service, "/b"))).status_code == 404
    assert (await client.get("/iot/devices/same", headers=tenant(service))).status_code == 200
    assert (await client.get("/iot/devices/same", headers=tenant(service + "x"))).status_code == 200


async def test_the_same_device_again_is_a_conflict(client: httpx.AsyncClient, service: str) -> None:
    await provision(client, service, MOTION)
    again = await client.post("/iot/devices", json={"devices": [MOTION]}, headers=tenant(service))
    stored = (
        '{"id":"motion001","type":"Motion","name":"urn:ngsi-ld:Motion:001",'
        f'"service":"{service}","subservice":"/",'
        '"active":[{"object_id":"c","name":"count","type":"Integer"}],'
        '"staticAttributes":[{"name":"refStore","type":"Relationship","value":"urn:ngsi-ld:Store:001"}],'
        '"timezone":"Europe/Berlin","protocol":"PDI-IoTA-UltraLight","transport":"HTTP","internalId":null}'
    )
    found = "A device with the same info (DeviceId, ApiKey, Service, Subservice) was found"
    message = f"{found}:motion001 and {stored}"
    assert_error(again, 409, "DUPLICATE_DEVICE_ID", message)


async def test_a_device_id_may_repeat_under_another_apikey(client: httpx.AsyncClient, service: str) -> None:
    await provision(client, service, {"device_id": "d1", "apikey": "k1"})
    await provision(client, service, {"device_id": "d1", "apikey": "k2"})
    assert (await client.get("/iot/devices", headers=tenant(service))).json()["count"] == 2
    shown = await client.get("/iot/devices/d1", params={"apikey": "k2"}, headers=tenant(service))
    assert shown.json()["apikey"] == "k2"


async def test_a_device_without_device_id_misses_an_attribute(
    client: httpx.AsyncClient, service: str
) -> None:
    response = await client.post(
        "/iot/devices", json={"devices": [{"entity_type": "X"}]}, headers=tenant(service)
    )
    message = 'The request was not well formed:Missing attributes: ["device_id"] with: {"entity_type":"X"}'
    assert_error(response, 400, "MISSING_ATTRIBUTES", message)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"devicez": []}, id="other-top-level-key"),
        pytest.param({"devices": [], "extra": 1}, id="extra-top-level-key"),
        pytest.param({"devices": {"device_id": "d"}}, id="not-a-list"),
        pytest.param({"devices": [{"device_id": 5}]}, id="device-id-not-text"),
        pytest.param({"devices": [{"device_id": "d", "attributes": [{"name": "a=b"}]}]}, id="forbidden-char"),
        pytest.param({"devices": [{"device_id": "d", "attributes": ["x"]}]}, id="attribute-not-object"),
    ],
)
async def test_a_device_body_outside_the_template_is_wrong_syntax(
    client: httpx.AsyncClient, service: str, body: dict[str, Any]
) -> None:
    response = await client.post("/iot/devices", json=body, headers=tenant(service))
    assert_error(response, 400, "WRONG_SYNTAX", "Wrong syntax in request: Errors found validating request.")


async def test_an_unknown_device_is_not_found(client: httpx.AsyncClient, service: str) -> None:
    response = await client.get("/iot/devices/nope", headers=tenant(service))
    assert_error(response, 404, "DEVICE_NOT_FOUND", "No device was found with id:nope and undefined")


async def test_updating_a_device_answers_204_and_changes_the_given_fields(
    client: httpx.AsyncClient, service: str
) -> None:
    await provision(client, service, MOTION)
    change = {
        "entity_name": "urn:ngsi-ld:Motion:900",
        "attributes": [{"object_id": "p", "name": "people", "type": "Integer"}],
    }
    assert_no_content(await client.put("/iot/devices/motion001", json=change, headers=tenant(service)))
    shown = (await client.get("/iot/devices/motion001", headers=tenant(service))).json()
    assert shown["entity_name"] == "urn:ngsi-ld:Motion:900" and shown["attributes"] == change["attributes"]
    assert shown["timezone"] == "Europe/Berlin"


async def test_updating_an_unknown_device_is_not_found(client: httpx.AsyncClient, service: str) -> None:
    response = await client.put("/iot/devices/nope", json={"timezone": "UTC"}, headers=tenant(service))
    assert_error(response, 404, "DEVICE_NOT_FOUND", "No device was found with id:nope and undefined")


async def test_a_device_id_cannot_be_changed(client: httpx.AsyncClient, service: str) -> None:
    await provision(client, service, {"device_id": "d1"})
    response = await client.put("/iot/devices/d1", json={"device_id": "d2"}, headers=tenant(service))
    message = "Request error connecting to the Context Broker: Can't change the ID of a preprovisioned device"
    assert_error(response, 400, "BAD_REQUEST", message)


async def test_an_update_with_unknown_fields_is_wrong_syntax(client: httpx.AsyncClient, service: str) -> None:
    await provision(client, service, {"device_id": "d1"})
    response = await client.put("/iot/devices/d1", json={"colour": "red"}, headers=tenant(service))
    assert_error(response, 400, "WRONG_SYNTAX", "Wrong syntax in request: Errors found validating request.")


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        pytest.param({}, "", id="without-apikey"),
        pytest.param({"apikey": "k1"}, '"apikey":"k1",', id="with-apikey"),
    ],
)
async def test_deleting_a_device_answers_204_then_404(
    client: httpx.AsyncClient, service: str, query: dict[str, str], detail: str
) -> None:
    await provision(client, service, {"device_id": "temp002", "apikey": "k1"})
    assert_no_content(await client.delete("/iot/devices/temp002", params=query, headers=tenant(service)))
    again = await client.delete("/iot/devices/temp002", params=query, headers=tenant(service))
    message = f'No device was found with id:temp002 and {{{detail}"service":"{service}","subservice":"/"}}'
    assert_error(again, 404, "DEVICE_NOT_FOUND", message)


async def test_bulk_delete_removes_the_existing_devices_and_reports_the_first_missing(
    client: httpx.AsyncClient, service: str
) -> None:
    await provision(client, service, {"device_id": "d1"}, {"device_id": "d2"}, {"device_id": "d3"})
    body = {"devices": [{"deviceId": "d1"}, {"deviceId": "gone"}, {"deviceId": "d2"}, {"deviceId": "lost"}]}
    response = await client.post("/iot/op/delete", json=body, headers=tenant(service))
    message = f'No device was found with id:gone and {{"service":"{service}","subservice":"/"}}'
    assert_error(response, 404, "DEVICE_NOT_FOUND", message)
    left = (await client.get("/iot/devices", headers=tenant(service))).json()
    assert [device["device_id"] for device in left["devices"]] == ["d3"]
    done = await client.post(
        "/iot/op/delete", json={"devices": [{"deviceId": "d3"}]}, headers=tenant(service)
    )
    assert_no_content(done)
