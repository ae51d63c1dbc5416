"""The STH-Comet sandbox against STH-Comet 2.11 (its code and unit tests), over HTTP:
DELETE, /version, the not-found handler, and create_app's options.
"""

from __future__ import annotations

import time

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_sth import SthStore, create_app
from fiware.sandbox.server import serving
from tests.fiware.sandbox.fake_sth.support import (
    ENTITY,
    JSON_TYPE,
    SEEDED,
    TYPE,
    V1_PATH,
    Tenant,
    hapi_bad_request,
    v2,
)

# ---------------------------------------------------------------------------------------------------------
# DELETE, /version, the not-found handler


def test_delete_attribute(http: httpx.Client, store: SthStore, seeded: Tenant) -> None:
    seeded.seed(store, range(3), attr="power")
    response = http.delete(V1_PATH, headers={**seeded.headers, "Fiware-Correlator": "d-1"})
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["fiware-correlator"] == "d-1"
    assert (seeded.count(store), seeded.count(store, attr="power")) == (0, 3)


def test_delete_entity(http: httpx.Client, store: SthStore, seeded: Tenant) -> None:
    seeded.seed(store, range(3), attr="power")
    seeded.seed(store, range(3), entity="Lamp:002")
    response = http.delete(f"/STH/v1/contextEntities/type/{TYPE}/id/{ENTITY}", headers=seeded.headers)
    assert response.status_code == 204
    remaining = (
        seeded.count(store),
        seeded.count(store, attr="power"),
        seeded.count(store, entity="Lamp:002"),
    )
    assert remaining == (0, 0, 3)


def test_delete_all_of_a_service_path(http: httpx.Client, store: SthStore, seeded: Tenant) -> None:
    elsewhere = Tenant(seeded.service, "/elsewhere")
    elsewhere.seed(store, range(2))
    response = http.delete("/STH/v1/contextEntities", headers=seeded.headers)
    assert response.status_code == 204
    assert (seeded.count(store), elsewhere.count(store)) == (0, 2)


def test_delete_of_nothing_is_still_204(http: httpx.Client, tenant: Tenant) -> None:
    assert http.delete(V1_PATH, headers=tenant.headers).status_code == 204


def test_delete_requires_tenant_headers(http: httpx.Client, store: SthStore, seeded: Tenant) -> None:
    response = http.delete(V1_PATH, headers={"Fiware-Service": seeded.service})
    assert response.status_code == 400
    message = 'child "fiware-servicepath" fails because [fiware-servicepath is required]'
    assert response.json() == hapi_bad_request(message, "headers", [])
    assert seeded.count(store) == SEEDED


def test_version(http: httpx.Client) -> None:
    response = http.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == {"version": "2.11.0"}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        pytest.param(
            "GET", "/STH/v2/nothing", {"error": "NotFound", "description": "invalid path"}, id="v2-path"
        ),
        pytest.param(
            "PUT", v2("lastN=1"), {"error": "NotFound", "description": "invalid path"}, id="v2-method"
        ),
        pytest.param("GET", "/nothing", {"statusCode": 404, "error": "Not Found"}, id="other-path"),
        pytest.param("POST", f"{V1_PATH}?lastN=1", {"statusCode": 404, "error": "Not Found"}, id="v1-method"),
        pytest.param("GET", "/notify", {"statusCode": 404, "error": "Not Found"}, id="notify-get"),
        pytest.param("GET", "/version/", {"statusCode": 404, "error": "Not Found"}, id="trailing-slash"),
        pytest.param(
            "GET", "/admin/log", {"statusCode": 404, "error": "Not Found"}, id="admin-log-not-sandboxed"
        ),
    ],
)
def test_not_found_handler(
    http: httpx.Client, tenant: Tenant, method: str, path: str, expected: object
) -> None:
    response = http.request(method, path, headers=tenant.headers)
    assert response.status_code == 404
    assert response.json() == expected
    assert response.headers["content-type"] == JSON_TYPE
    assert "fiware-correlator" in response.headers


def test_create_app_exposes_its_store() -> None:
    shared = SthStore()
    assert create_app(store=shared).state.store is shared
    assert isinstance(create_app().state.store, SthStore)


def test_latency_from_config_delays_every_request() -> None:
    with serving(create_app(SandboxConfig(latency_seconds=0.2))) as base_url:
        start = time.perf_counter()
        response = httpx.get(f"{base_url}/version")
        assert time.perf_counter() - start >= 0.2
    assert response.status_code == 200
