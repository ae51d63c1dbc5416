"""The IoT Agent sandbox against ``iotagent-node-lib`` 4.14, over HTTP: config groups.

Expected bodies are the literal ones a real ``iotagent-node-lib@4.14.0`` (npm, memory registry)
answered, wherever one was recorded.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from fiware.sandbox.fake_iota import create_app
from fiware.sandbox.server import serving
from tests.fiware.sandbox.fake_iota.support import (
    GROUP_PATHS,
    JSON_UTF8,
    a_group,
    assert_created,
    assert_error,
    assert_no_content,
    group_body,
    provision,
    tenant,
    unique_key,
)

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
