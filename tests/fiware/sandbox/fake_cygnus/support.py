"""Helpers of the Cygnus sandbox tests: what Orion 4 sends, and reading it back through STH-Comet."""

from __future__ import annotations

import json
from typing import Any

import httpx

# What Orion sends (its notification headers; CYG NGSIRestHandler's wrongContentType wants exactly this).
CONTENT_TYPE = {"Content-Type": "application/json; charset=utf-8"}


def orion_headers(
    service: str | None, path: str = "/", attrs_format: str | None = "normalized"
) -> dict[str, str]:
    headers = {**CONTENT_TYPE, "Fiware-ServicePath": path}
    if service is not None:
        headers["Fiware-Service"] = service
    if attrs_format is not None:
        headers["Ngsiv2-AttrsFormat"] = attrs_format
    return headers


def attribute(value: Any, kind: str = "Number", time_instant: str | None = None) -> dict[str, Any]:
    metadata = {"TimeInstant": {"type": "DateTime", "value": time_instant}} if time_instant else {}
    return {"type": kind, "value": value, "metadata": metadata}


def normalized(*entities: dict[str, Any]) -> bytes:
    return json.dumps({"subscriptionId": "65a1b2c3d4e5f60718293a4b", "data": list(entities)}).encode()


def legacy(entity_id: str, entity_type: str, *attributes: dict[str, Any]) -> bytes:
    """An NGSIv1 notification, as Orion <= 3.x sends for ``attrsFormat: legacy``."""
    element = {"attributes": list(attributes), "type": entity_type, "isPattern": "false", "id": entity_id}
    response = {"contextElement": element, "statusCode": {"code": "200", "reasonPhrase": "OK"}}
    return json.dumps(
        {
            "subscriptionId": "65a1b2c3d4e5f60718293a4b",
            "originator": "localhost",
            "contextResponses": [response],
        }
    ).encode()


def points(
    sth: httpx.Client, service: str, entity: str, kind: str, attr: str, path: str = "/"
) -> list[dict[str, Any]]:
    """The raw points STH-Comet answers for the attribute (v2 API, lastN=100)."""
    response = sth.get(
        f"/STH/v2/entities/{entity}/attrs/{attr}",
        params={"type": kind, "lastN": "100"},
        headers={"Fiware-Service": service, "Fiware-ServicePath": path},
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["value"]
    return found


def assert_refused(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == message
