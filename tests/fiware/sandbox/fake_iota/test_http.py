"""The IoT Agent sandbox against ``iotagent-node-lib`` 4.14, over HTTP:
the fiware headers on every provisioning route, the Express headers, and bodies that are not JSON.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fiware.sandbox.fake_iota.support import assert_error, tenant

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


async def test_a_body_that_is_not_json_is_a_server_error(client: httpx.AsyncClient, service: str) -> None:
    response = await client.post(
        "/iot/devices", content=b"{nope", headers={**tenant(service), "content-type": "application/json"}
    )
    assert response.status_code == 500 and response.json()["name"] == "SyntaxError"
