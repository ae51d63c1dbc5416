"""Helpers of the IoT Agent sandbox tests: tenants, bodies and the answers they expect."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fiware.sandbox.fake_iota import IotaStore

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
