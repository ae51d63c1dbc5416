"""The IoT Agent sandbox against ``iotagent-node-lib`` 4.14's provisioning API, over real HTTP.

Expected bodies are the literal ones a real ``iotagent-node-lib@4.14.0`` (npm, memory registry)
answered, wherever one was recorded. One server serves the module; each test works in a tenant of
its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_iota import IotaError, IotaStore, create_app
from fiware.sandbox.server import serving

JSON_UTF8 = "application/json; charset=utf-8"
GROUP_PATHS = [pytest.param("/iot/services", id="services"), pytest.param("/iot/groups", id="groups")]
MOTION = {
    "device_id": "motion001",
    "entity_name": "urn:ngsi-ld:Motion:001",
    "entity_type": "Motion",
    "timezone": "Europe/Berlin",
    "attributes": [{"object_id": "c", "name": "count", "type": "Integer"}],
    "static_attributes": [{"name": "refStore", "type": "Relationship", "value": "urn:ngsi-ld:Store:001"}],
    "protocol": "PDI-IoTA-UltraLight",
    "transport": "HTTP",
}


@dataclass(frozen=True)
class Iota:
    url: str
    store: IotaStore


@pytest.fixture(scope="module")
def iota() -> Iterator[Iota]:
    store = IotaStore()
    with serving(create_app(SandboxConfig(), store)) as url:
        yield Iota(url, store)


@pytest.fixture
async def client(iota: Iota) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=iota.url, timeout=5) as http:
        yield http


@pytest.fixture
def service() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def tenant(service: str, path: str = "/") -> dict[str, str]:
    return {"fiware-service": service, "fiware-servicepath": path}


def unique_key() -> str:
    # (resource, apikey) is unique across every tenant, so each test brings its own apikeys.
    return uuid.uuid4().hex


def group_body(path: str, *groups: dict[str, Any]) -> dict[str, Any]:
    return {path.rsplit("/", 1)[1]: list(groups)}


def a_group(apikey: str, **extra: Any) -> dict[str, Any]:
    return {"apikey": apikey, "resource": "/iot/d", "entity_type": "Thing", **extra}


def assert_error(response: httpx.Response, status: int, name: str, message: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json() == {"name": name, "message": message}


def assert_created(response: httpx.Response) -> None:
    assert response.status_code == 201
    assert response.headers["content-type"] == JSON_UTF8
    assert response.headers["content-length"] == "2" and response.content == b"{}"


def assert_no_content(response: httpx.Response) -> None:
    assert response.status_code == 204
    assert response.content == b"" and "content-type" not in response.headers


async def provision(
    client: httpx.AsyncClient, service: str, *devices: dict[str, Any], path: str = "/"
) -> None:
    assert_created(
        await client.post("/iot/devices", json={"devices": list(devices)}, headers=tenant(service, path))
    )


# ---- headers: fiware-service and fiware-servicepath on every provisioning route -------------------

ROUTES = [
    pytest.param("GET", "/iot/services", id="GET-services"),
    pytest.param("POST", "/iot/services", id="POST-services"),
    pytest.param("PUT", "/iot/services?resource=/r&apikey=k", id="PUT-services"),
    pytest.param("DELETE", "/iot/services?resource=/r&apikey=k", id="DELETE-services"),
    pytest.param("GET", "/iot/groups", id="GET-groups"),
    pytest.param("POST", "/iot/groups", id="POST-groups"),
    pytest.param("PUT", "/iot/groups?resource=/r&apikey=k", id="PUT-groups"),
    pytest.param("DELETE", "/iot/groups?resource=/r&apikey=k", id="DELETE-groups"),
    pytest.param("GET", "/iot/devices", id="GET-devices"),
    pytest.param("POST", "/iot/devices", id="POST-devices"),
    pytest.param("GET", "/iot/devices/d1", id="GET-device"),
    pytest.param("PUT", "/iot/devices/d1", id="PUT-device"),
    pytest.param("DELETE", "/iot/devices/d1", id="DELETE-device"),
    pytest.param("POST", "/iot/op/delete", id="POST-op-delete"),
]
MISSING = [
    pytest.param({}, '["fiware-service","fiware-servicepath"]', id="both"),
    pytest.param({"fiware-servicepath": "/"}, '["fiware-service"]', id="service"),
    pytest.param({"fiware-service": "openiot"}, '["fiware-servicepath"]', id="servicepath"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
@pytest.mark.parametrize(("headers", "missing"), MISSING)
async def test_every_provisioning_route_needs_both_fiware_headers(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], missing: str
) -> None:
    response = await client.request(method, url, headers=headers, json={"devices": []})
    message = f"Some headers were missing from the request: {missing}"
    assert_error(response, 400, "MISSING_HEADERS", message)


async def test_fiware_headers_are_checked_for_presence_not_content(client: httpx.AsyncClient) -> None:
    response = await client.get("/iot/devices", headers=tenant("", ""))
    assert response.status_code == 200 and response.json() == {"count": 0, "devices": []}


async def test_every_answer_carries_the_express_headers_and_the_callers_correlator(
    client: httpx.AsyncClient, service: str
) -> None:
    answered = await client.get("/iot/devices", headers={**tenant(service), "fiware-correlator": "corr-1"})
    assert answered.headers["fiware-correlator"] == "corr-1" and answered.headers["x-powered-by"] == "Express"
    made_up = await client.get("/iot/devices", headers=tenant(service))
    assert uuid.UUID(made_up.headers["fiware-correlator"])


# ---- config groups ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", GROUP_PATHS)
async def test_creating_a_group_answers_201_with_an_empty_object(
    client: httpx.AsyncClient, service: str, path: str
) -> None:
    assert_created(
        await client.post(path, json=group_body(path, a_group(unique_key())), headers=tenant(service))
    )


async def test_a_group_is_listed_as_in_the_real_run_under_either_path() -> None:
    body = {
        "services": [
            {
                "apikey": "4jggokgpepnvsb2uv4s40d59ov",
                "cbroker": "http://orion:1026",
                "entity_type": "Thing",
                "resource": "/iot/d",
            }
        ]
    }
    headers = tenant("openiot")
    with serving(create_app()) as url:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=5) as http:
            before = int(time.time() * 1000)
            assert_created(await http.post("/iot/services", json=body))
            after = int(time.time() * 1000)
            services = await http.get("/iot/services")
            groups = await http.get("/iot/groups")
    assert services.status_code == 200 and services.headers["content-type"] == JSON_UTF8
    listed = services.json()
    created = listed["services"][0]["creationDate"]
    assert before <= created <= after
    assert listed == {
        "count": 1,
        "services": [
            {
                "apikey": "4jggokgpepnvsb2uv4s40d59ov",
                "cbroker": "http://orion:1026",
                "resource": "/iot/d",
                "service": "openiot",
                "subservice": "/",
                "_id": 1,
                "creationDate": created,
                "entity_type": "Thing",
            }
        ],
    }
    assert groups.status_code == 200 and groups.json() == {"count": 1, "groups": listed["services"]}


@pytest.mark.parametrize("path", GROUP_PATHS)
async def test_a_second_group_with_the_same_resource_and_apikey_is_a_conflict(
    client: httpx.AsyncClient, service: str, path: str
) -> None:
    apikey = unique_key()
    group = {"apikey": apikey, "cbroker": "http://orion:1026", "entity_type": "Thing", "resource": "/iot/d"}
    assert_created(await client.post(path, json=group_body(path, group), headers=tenant(service)))
    again = await client.post(path, json=group_body(path, group), headers=tenant(service))
    stored = (
        f'{{"apikey":"{apikey}","cbroker":"http://orion:1026","resource":"/iot/d","type":"Thing",'
        f'"service":"{service}","subservice":"/"}}'
    )
    message = f"A device configuration already exists for resource /iot/d and API Key {apikey} and {stored}"
    assert_error(again, 409, "DUPLICATE_GROUP", message)


async def test_resource_and_apikey_are_unique_across_tenants(client: httpx.AsyncClient, service: str) -> None:
    apikey = unique_key()
    assert_created(
        await client.post("/iot/groups", json={"groups": [a_group(apikey)]}, headers=tenant(service))
    )
    elsewhere = await client.post(
        "/iot/groups", json={"groups": [a_group(apikey)]}, headers=tenant(service + "x")
    )
    assert elsewhere.status_code == 409 and elsewhere.json()["name"] == "DUPLICATE_GROUP"
    other_resource = {"groups": [a_group(apikey, resource="/iot/json")]}
    assert_created(await client.post("/iot/groups", json=other_resource, headers=tenant(service + "x")))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "/iot/services", {"services": [{"apikey": "x", "entity_type": "Thing"}]}, id="no-resource"
        ),
        pytest.param(
            "/iot/services", {"services": [{"resource": "/iot/d", "entity_type": "Thing"}]}, id="no-apikey"
        ),
        pytest.param("/iot/groups", {"groups": [{"apikey": 7, "resource": "/iot/d"}]}, id="apikey-not-text"),
        pytest.param("/iot/groups", {"groups": [a_group("k")], "extra": 1}, id="extra-top-level-key"),
        pytest.param("/iot/groups", {"services": [a_group("k")]}, id="key-of-the-other-path"),
        pytest.param("/iot/services", {"services": a_group("k")}, id="not-a-list"),
        pytest.param("/iot/services", {}, id="no-list"),
        pytest.param("/iot/groups", {"groups": [a_group("k", attributes={})]}, id="attributes-not-a-list"),
    ],
)
async def test_a_group_body_outside_the_template_is_wrong_syntax(
    client: httpx.AsyncClient, service: str, path: str, body: dict[str, Any]
) -> None:
    response = await client.post(path, json=body, headers=tenant(service))
    assert_error(response, 400, "WRONG_SYNTAX", "Wrong syntax in request: Errors found validating request.")


async def test_a_group_without_entity_type_misses_a_config_parameter(
    client: httpx.AsyncClient, service: str
) -> None:
    response = await client.post(
        "/iot/groups",
        json={"groups": [{"apikey": unique_key(), "resource": "/iot/d"}]},
        headers=tenant(service),
    )
    message = 'The following mandatory configuration parameters were missing: ["type"]'
    assert_error(response, 400, "MISSING_CONFIG_PARAMS", message)


@pytest.mark.parametrize("path", GROUP_PATHS)
async def test_wildcard_servicepath_pages_through_every_group_of_the_service(
    client: httpx.AsyncClient, service: str, path: str
) -> None:
    keys = [unique_key() for _ in range(5)]
    for index, apikey in enumerate(keys):
        subservice = "/a" if index % 2 else "/b"
        assert_created(
            await client.post(
                path, json=group_body(path, a_group(apikey)), headers=tenant(service, subservice)
            )
        )
    await client.post(path, json=group_body(path, a_group(unique_key())), headers=tenant(service + "x", "/a"))
    key = path.rsplit("/", 1)[1]
    seen: list[str] = []
    for offset in range(0, 6, 2):
        page = await client.get(path, params={"limit": 2, "offset": offset}, headers=tenant(service, "/*"))
        assert page.status_code == 200 and page.json()["count"] == 5
        seen += [group["apikey"] for group in page.json()[key]]
    assert seen == keys
    everything = await client.get(path, headers=tenant(service, "/*"))
    assert [group["apikey"] for group in everything.json()[key]] == keys


@pytest.mark.parametrize("path", GROUP_PATHS)
async def test_a_plain_servicepath_lists_exactly_its_groups_without_paging(
    client: httpx.AsyncClient, service: str, path: str
) -> None:
    mine, other = [unique_key(), unique_key(), unique_key()], unique_key()
    for apikey in mine:
        assert_created(
            await client.post(path, json=group_body(path, a_group(apikey)), headers=tenant(service, "/a"))
        )
    assert_created(
        await client.post(path, json=group_body(path, a_group(other)), headers=tenant(service, "/b"))
    )
    listed = await client.get(path, params={"limit": 1, "offset": 1}, headers=tenant(service, "/a"))
    key = path.rsplit("/", 1)[1]
    assert listed.json()["count"] == 3
    assert [(g["apikey"], g["service"], g["subservice"]) for g in listed.json()[key]] == [
        (apikey, service, "/a") for apikey in mine
    ]


@pytest.mark.parametrize("path", GROUP_PATHS)
async def test_a_servicepath_without_groups_lists_none(
    client: httpx.AsyncClient, service: str, path: str
) -> None:
    response = await client.get(path, headers=tenant(service))
    assert response.status_code == 200 and response.json() == {"count": 0, path.rsplit("/", 1)[1]: []}


@pytest.mark.parametrize("path", GROUP_PATHS)
async def test_updating_a_group_answers_204_and_changes_only_the_given_fields(
    client: httpx.AsyncClient, service: str, path: str
) -> None:
    apikey = unique_key()
    await client.post(
        path, json=group_body(path, a_group(apikey, cbroker="http://orion:1026")), headers=tenant(service)
    )
    response = await client.put(
        path,
        params={"resource": "/iot/d", "apikey": apikey},
        json={"entity_type": "Sensor", "cbHost": "http://orion:2026"},
        headers=tenant(service),
    )
    assert_no_content(response)
    (group,) = (await client.get(path, headers=tenant(service))).json()[path.rsplit("/", 1)[1]]
    assert group["entity_type"] == "Sensor" and group["cbHost"] == "http://orion:2026"
    assert group["cbroker"] == "http://orion:1026" and group["apikey"] == apikey


@pytest.mark.parametrize("path", GROUP_PATHS)
async def test_deleting_a_group_answers_204_then_404(
    client: httpx.AsyncClient, service: str, path: str
) -> None:
    apikey = unique_key()
    await client.post(path, json=group_body(path, a_group(apikey)), headers=tenant(service))
    query = {"resource": "/iot/d", "apikey": apikey}
    assert_no_content(await client.delete(path, params=query, headers=tenant(service)))
    assert (await client.get(path, headers=tenant(service))).json()["count"] == 0
    again = await client.delete(path, params=query, headers=tenant(service))
    message = f'Couldn\t find device group for fields: "/iot/d" and values: "{apikey}"'
    assert_error(again, 404, "DEVICE_GROUP_NOT_FOUND", message)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_an_unknown_group_is_not_found(client: httpx.AsyncClient, service: str, method: str) -> None:
    response = await client.request(
        method,
        "/iot/services",
        params={"resource": "/iot/x", "apikey": "nokey"},
        json={},
        headers=tenant(service),
    )
    message = 'Couldn\t find device group for fields: "/iot/x" and values: "nokey"'
    assert_error(response, 404, "DEVICE_GROUP_NOT_FOUND", message)


@pytest.mark.parametrize("path", GROUP_PATHS)
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize(
    ("query", "missing"),
    [
        pytest.param({}, '["resource","apikey"]', id="both"),
        pytest.param({"apikey": "k"}, '["resource"]', id="resource"),
        pytest.param({"resource": "/iot/d"}, '["apikey"]', id="apikey"),
    ],
)
async def test_group_put_and_delete_need_resource_and_apikey_in_the_query(
    client: httpx.AsyncClient, service: str, path: str, method: str, query: dict[str, str], missing: str
) -> None:
    response = await client.request(method, path, params=query, json={}, headers=tenant(service))
    assert_error(response, 400, "MISSING_HEADERS", f"Some headers were missing from the request: {missing}")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize(
    "where",
    [
        pytest.param(("other", "/"), id="other-service"),
        pytest.param(("same", "/other"), id="other-servicepath"),
    ],
)
async def test_a_group_is_changed_only_from_its_own_service_and_servicepath(
    client: httpx.AsyncClient, service: str, method: str, where: tuple[str, str]
) -> None:
    apikey = unique_key()
    await client.post("/iot/groups", json={"groups": [a_group(apikey)]}, headers=tenant(service))
    intruder = tenant(service if where[0] == "same" else service + "x", where[1])
    response = await client.request(
        method, "/iot/groups", params={"resource": "/iot/d", "apikey": apikey}, json={}, headers=intruder
    )
    message = "The declared service didn't match the stored one in the entity"
    assert_error(response, 403, "MISMATCHED_SERVICE", message)
    assert (await client.get("/iot/groups", headers=tenant(service))).json()["count"] == 1


async def test_deleting_a_group_with_device_removes_the_devices_of_its_servicepath(
    client: httpx.AsyncClient, service: str
) -> None:
    apikey = unique_key()
    await client.post("/iot/groups", json={"groups": [a_group(apikey)]}, headers=tenant(service))
    await provision(client, service, {"device_id": "d1"}, {"device_id": "d2"})
    await provision(client, service, {"device_id": "d3"}, path="/other")
    query = {"resource": "/iot/d", "apikey": apikey, "device": "true"}
    assert_no_content(await client.delete("/iot/groups", params=query, headers=tenant(service)))
    assert (await client.get("/iot/devices", headers=tenant(service))).json()["count"] == 0
    assert (await client.get("/iot/devices", headers=tenant(service, "/other"))).json()["count"] == 1


# ---- devices ----------------------------------------------------------------------------------------


def motion_as_listed(service: str) -> dict[str, Any]:
    """``motion001`` as iotagent-node-lib 4.14.0 lists it: the defaults filled in, absent fields left out."""
    return {
        "device_id": "motion001",
        "service": service,
        "service_path": "/",
        "entity_name": "urn:ngsi-ld:Motion:001",
        "entity_type": "Motion",
        "timezone": "Europe/Berlin",
        "polling": True,
        "transport": "HTTP",
        "attributes": [{"object_id": "c", "name": "count", "type": "Integer"}],
        "lazy": [],
        "commands": [],
        "static_attributes": [{"name": "refStore", "type": "Relationship", "value": "urn:ngsi-ld:Store:001"}],
        "protocol": "PDI-IoTA-UltraLight",
    }


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


async def test_a_body_that_is_not_json_is_a_server_error(client: httpx.AsyncClient, service: str) -> None:
    response = await client.post(
        "/iot/devices", content=b"{nope", headers={**tenant(service), "content-type": "application/json"}
    )
    assert response.status_code == 500 and response.json()["name"] == "SyntaxError"


@pytest.mark.parametrize(
    ("group", "device", "expected"),
    [
        pytest.param(
            None, {}, {"entity_type": "Thing", "entity_name": "Thing:d1", "transport": "MQTT"}, id="no-group"
        ),
        pytest.param(
            {"entity_type": "Meter", "transport": "AMQP"},
            {},
            {"entity_type": "Meter", "entity_name": "Meter:d1", "transport": "AMQP"},
            id="from-the-group",
        ),
        pytest.param(
            {"entity_type": "Meter", "defaultEntityNameConjunction": "-"},
            {"entity_type": "Gauge"},
            {"entity_type": "Gauge", "entity_name": "Gauge-d1", "transport": "MQTT"},
            id="device-type-group-conjunction",
        ),
        pytest.param(
            None, {"transport": "HTTP"}, {"transport": "HTTP", "polling": True}, id="http-is-polled"
        ),
        pytest.param(
            None,
            {"transport": "HTTP", "endpoint": "http://dev:80"},
            {"transport": "HTTP", "polling": False, "endpoint": "http://dev:80"},
            id="http-with-endpoint",
        ),
        pytest.param(
            {"endpoint": "http://group:80"},
            {"transport": "HTTP"},
            {"polling": False},
            id="http-with-group-endpoint",
        ),
        pytest.param(
            {"commands": [{"name": "reset", "type": "command"}]},
            {"commands": [{"name": "on", "type": "command"}]},
            {
                "commands": [
                    {"name": "on", "type": "command", "object_id": "on"},
                    {"name": "reset", "type": "command", "object_id": "reset"},
                ]
            },
            id="commands-merged-with-the-group",
        ),
        pytest.param(
            None,
            {"attributes": [{"name": "t", "type": "Number"}, {"object_id": "h", "type": "Number"}]},
            {
                "attributes": [
                    {"object_id": "t", "name": "t", "type": "Number"},
                    {"object_id": "h", "name": "h", "type": "Number"},
                ]
            },
            id="attribute-ids-default-to-each-other",
        ),
    ],
)
async def test_a_device_is_completed_from_its_group_and_the_defaults(
    client: httpx.AsyncClient,
    service: str,
    group: dict[str, Any] | None,
    device: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    if group is not None:
        body = {"groups": [{"apikey": unique_key(), "resource": "/iot/d", "entity_type": "Thing", **group}]}
        assert_created(await client.post("/iot/groups", json=body, headers=tenant(service)))
    await provision(client, service, {"device_id": "d1", **device})
    shown = (await client.get("/iot/devices/d1", headers=tenant(service))).json()
    assert {key: shown.get(key) for key in expected} == expected
    if "polling" not in expected:
        assert "polling" not in shown


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


# ---- /iot/about -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [pytest.param("/iot/about", id="about"), pytest.param("/version", id="version")]
)
async def test_about_reports_the_library_version_and_port_without_fiware_headers(
    client: httpx.AsyncClient, iota: Iota, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == JSON_UTF8
    assert response.json() == {
        "libVersion": "4.14.0",
        "port": httpx.URL(iota.url).port,
        "baseRoot": "/",
        "version": "0.0.0-sandbox",
    }


# ---- the store and the app options ------------------------------------------------------------------


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


async def test_the_configured_latency_delays_every_answer() -> None:
    with serving(create_app(SandboxConfig(latency_seconds=0.2))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            started = time.monotonic()
            response = await http.get("/iot/about")
            elapsed = time.monotonic() - started
    assert response.status_code == 200 and elapsed >= 0.2
