"""The Orion sandbox against Orion's NGSI v2 API (orion-api.md and the functional tests), over HTTP:
the subscription routes and ``/version``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.fiware.sandbox.fake_orion.support import (
    NOT_FOUND_SUB,
    SUB_LOCATION,
    UUID,
    assert_error,
    hdr,
    sub_body,
    subscribe,
)

# -- subscriptions ---------------------------------------------------------------------------------


def test_subscription_create_and_delete_twice(client: httpx.Client, tenant: str) -> None:
    """As Orion's test 1654_del_subs_v2/delete_subs_v2.test."""
    body: dict[str, Any] = {
        "subject": {
            "entities": [{"type": "Room", "idPattern": ".*"}],
            "condition": {
                "attrs": ["temperature"],
                "expression": {
                    "q": "temperature>40",
                    "geometry": "point",
                    "coords": "-40.4,-3.5",
                    "georel": "near;minDistance:5000",
                },
            },
        },
        "notification": {"http": {"url": "http://localhost:1234"}, "attrs": ["temperature", "humidity"]},
        "expires": "2050-04-05T14:00:00.00Z",
        "throttling": 5,
    }
    created = client.post("/v2/subscriptions", json=body, headers=hdr(tenant))
    assert created.status_code == 201
    assert created.headers["content-length"] == "0"
    assert UUID.fullmatch(created.headers["fiware-correlator"])
    match = SUB_LOCATION.fullmatch(created.headers["location"])
    assert match is not None
    got = client.get(f"/v2/subscriptions/{match.group(1)}", headers=hdr(tenant)).json()
    assert (got["expires"], got["throttling"]) == ("2050-04-05T14:00:00.000Z", 5)
    assert got["subject"]["condition"]["expression"] == body["subject"]["condition"]["expression"]
    first = client.delete(f"/v2/subscriptions/{match.group(1)}", headers=hdr(tenant))
    assert first.status_code == 204
    assert UUID.fullmatch(first.headers["fiware-correlator"])
    second = client.delete(f"/v2/subscriptions/{match.group(1)}", headers=hdr(tenant))
    assert_error(second, 404, NOT_FOUND_SUB)
    assert second.headers["content-length"] == "92"


def test_subscription_list_count_and_service_path(client: httpx.Client, tenant: str) -> None:
    url = "http://localhost:1234/notify"
    ids = [subscribe(client, tenant, sub_body(url), path) for path in (None, "/a", "/a", "/b/#")]
    every = client.get("/v2/subscriptions?options=count&limit=2&offset=1", headers=hdr(tenant))
    assert every.headers["fiware-total-count"] == "4"
    assert [sub["id"] for sub in every.json()] == ids[1:3]
    narrowed = client.get("/v2/subscriptions", headers=hdr(tenant, "/a"))
    assert [sub["id"] for sub in narrowed.json()] == ids[1:3]
    # The service path is ignored on GET by id.
    assert client.get(f"/v2/subscriptions/{ids[3]}", headers=hdr(tenant, "/a")).status_code == 200
    assert client.get(f"/v2/subscriptions/{ids[3]}", headers=hdr(tenant + "x")).status_code == 404


@pytest.mark.parametrize(
    ("version", "libversions"),
    [pytest.param("3.12.0", True, id="3.x"), pytest.param("4.0.0", False, id="4.x")],
)
def test_version(orion4_url: str, orion_url: str, version: str, libversions: bool) -> None:
    base = orion4_url if version.startswith("4") else orion_url
    response = httpx.get(f"{base}/version")
    assert response.status_code == 200
    assert UUID.fullmatch(response.headers["fiware-correlator"])
    info = response.json()["orion"]
    assert info["version"] == version
    assert re.fullmatch(r"\d+ d, \d+ h, \d+ m, \d+ s", info["uptime"])
    assert {
        "git_hash",
        "compile_time",
        "compiled_by",
        "compiled_in",
        "release_date",
        "machine",
        "doc",
    } <= set(info)
    assert ("libversions" in info) is libversions
    asked = httpx.get(f"{base}/version?options=libVersions").json()["orion"]
    assert "libversions" in asked
