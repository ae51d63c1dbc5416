"""The Cygnus sandbox against Cygnus 3.18.0 (``NGSIRestHandler.java``, ``NGSIMongoSink.java``, Flume's
``HTTPSource``; contract checks CY-1 to CY-6), over HTTP, read back through the STH-Comet sandbox."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_sth import SthStore
from fiware.sandbox.runner import running_sandbox
from tests.fiware.sandbox.fake_cygnus.support import (
    CONTENT_TYPE,
    assert_refused,
    attribute,
    legacy,
    normalized,
    orion_headers,
    points,
)
from tests.fiware.sandbox.fake_orion.support import wait_until

ENTITY = {"id": "Lamp:001", "type": "Lamp"}

# ---------------------------------------------------------------------------------------------------------
# Accepted notifications (CY-1, CY-2)


def test_normalized_notification_is_one_document_per_attribute(
    cygnus: httpx.Client, sth: httpx.Client, store: SthStore, tenant: str
) -> None:
    """CY-1: 200, and one raw document per attribute, received now when there is no TimeInstant."""
    before = int(time.time() * 1000)
    body = normalized({**ENTITY, "luminosity": attribute(21.5), "state": attribute("on", "Text")})
    response = cygnus.post("/notify", content=body, headers=orion_headers(tenant))
    after = int(time.time() * 1000)
    assert response.status_code == 200
    assert response.content == b""
    [point] = points(sth, tenant, "Lamp:001", "Lamp", "luminosity")
    assert (point["attrType"], point["attrValue"]) == ("Number", 21.5)
    received = datetime.fromisoformat(point["recvTime"]).timestamp() * 1000
    assert before <= received <= after
    key = {"service": tenant, "service_path": "/", "entity_type": "Lamp", "entity_id": "Lamp:001"}
    assert store.count(**key, attr_name="state") == 1


def test_time_instant_metadata_is_the_received_time(
    cygnus: httpx.Client, sth: httpx.Client, tenant: str
) -> None:
    """CY-2 (ngsi_mongo_sink.md §2.3.2)."""
    body = normalized({**ENTITY, "luminosity": attribute(3, time_instant="2030-01-01T00:00:00.000Z")})
    assert cygnus.post("/notify", content=body, headers=orion_headers(tenant)).status_code == 200
    expected = [{"recvTime": "2030-01-01T00:00:00.000Z", "attrType": "Number", "attrValue": 3}]
    assert points(sth, tenant, "Lamp:001", "Lamp", "luminosity") == expected


def test_date_values_are_cast_to_dates(cygnus: httpx.Client, sth: httpx.Client, tenant: str) -> None:
    moment = attribute("2024-05-01T12:00:00+02:00", "DateTime", time_instant="2024-05-01T10:00:00Z")
    assert (
        cygnus.post(
            "/notify", content=normalized({**ENTITY, "lastSeen": moment}), headers=orion_headers(tenant)
        ).status_code
        == 200
    )
    [point] = points(sth, tenant, "Lamp:001", "Lamp", "lastSeen")
    assert point["attrValue"] == "2024-05-01T10:00:00.000Z"


def test_legacy_or_no_format_header_reads_ngsiv1(
    cygnus: httpx.Client, sth: httpx.Client, tenant: str
) -> None:
    metadatas = [{"name": "TimeInstant", "type": "ISO8601", "value": "2024-01-01T00:00:00.000Z"}]
    body = legacy(
        "Lamp:001", "Lamp", {"name": "luminosity", "type": "Number", "value": 7, "metadatas": metadatas}
    )
    for attrs_format in ("legacy", None):
        headers = orion_headers(tenant, attrs_format=attrs_format)
        assert cygnus.post("/notify", content=body, headers=headers).status_code == 200
    expected = [{"recvTime": "2024-01-01T00:00:00.000Z", "attrType": "Number", "attrValue": 7}]
    assert points(sth, tenant, "Lamp:001", "Lamp", "luminosity") == expected


def test_default_service_and_one_path_for_every_entity(
    cygnus: httpx.Client, store: SthStore, tenant: str
) -> None:
    """Without Fiware-Service Cygnus writes to `sth_default`; a normalized notification with one service
    path files every entity under it (issue #2042)."""
    entity_id = f"Lamp:{tenant}"
    body = normalized(
        {"id": entity_id, "type": "Lamp", "luminosity": attribute(1)},
        {"id": entity_id, "type": "Pump", "flow": attribute(2)},
    )
    assert cygnus.post("/notify", content=body, headers=orion_headers(None, "/floor")).status_code == 200
    key = {"service": "default", "service_path": "/floor", "entity_id": entity_id}
    assert store.count(**key, entity_type="Lamp", attr_name="luminosity") == 1
    assert store.count(**key, entity_type="Pump", attr_name="flow") == 1


def test_unreadable_time_instant_stores_nothing_of_the_entity(
    cygnus: httpx.Client, store: SthStore, tenant: str
) -> None:
    body = normalized(
        {**ENTITY, "luminosity": attribute(1, time_instant="soon"), "state": attribute("on", "Text")}
    )
    assert cygnus.post("/notify", content=body, headers=orion_headers(tenant)).status_code == 200
    key = {"service": tenant, "service_path": "/", "entity_type": "Lamp", "entity_id": "Lamp:001"}
    assert store.count(**key, attr_name="state") == 0


# ---------------------------------------------------------------------------------------------------------
# Refusals (CY-3 to CY-6)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param(
            orion_headers("s", attrs_format="keyValues"),
            "Bad request from client. keyValues format not supported",
            id="CY-3-key-values",
        ),
        pytest.param(
            {"Fiware-Service": "s"},
            "Bad request from client. Missing content type. Required 'application/json; charset=utf-8'",
            id="CY-4-no-content-type",
        ),
        pytest.param(
            {"Content-Type": "application/json"},
            "Bad request from client. application/json content type not supported",
            id="CY-4b-no-charset",
        ),
        pytest.param(
            orion_headers("s", "foo"),
            "Bad request from client. 'fiware-servicepath' header value foo must start with '/'",
            id="CY-6-relative-path",
        ),
        pytest.param(
            orion_headers("s" * 51),
            f"Bad request from client. 'fiware-service' header length greater than 50) for {'s' * 51}",
            id="long-service",
        ),
        pytest.param(
            orion_headers("s", "/a,/b"),
            "Bad request from client. 'fiware-servicepath' header value does not match the number of "
            "notified context responses",
            id="paths-mismatch",
        ),
    ],
)
def test_refused_headers(cygnus: httpx.Client, headers: dict[str, str], message: str) -> None:
    assert_refused(
        cygnus.post("/notify", content=normalized({**ENTITY, "x": attribute(1)}), headers=headers),
        400,
        message,
    )


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        pytest.param("GET", "/notify", "Bad request from client. GET method not supported", id="CY-5-get"),
        pytest.param(
            "POST",
            "/other",
            "Bad request from client. /other target not supported, /notify expected.",
            id="CY-5-path",
        ),
    ],
)
def test_wrong_method_or_path(cygnus: httpx.Client, method: str, path: str, message: str) -> None:
    body = normalized({**ENTITY, "x": attribute(1)}) if method == "POST" else None
    response = cygnus.request(method, path, content=body, headers=CONTENT_TYPE)
    assert_refused(response, 400, message)


def test_bad_headers_are_checked_before_the_method(cygnus: httpx.Client) -> None:
    response = cygnus.get("/notify", headers={"Content-Type": "text/plain"})
    assert_refused(response, 400, "Bad request from client. text/plain content type not supported")


def test_empty_and_unreadable_bodies(cygnus: httpx.Client, tenant: str) -> None:
    empty = cygnus.post("/notify", content=b"", headers=orion_headers(tenant))
    assert_refused(empty, 400, "Bad request from client. No content in the request")
    # A normalized body without the header goes to the NGSIv1 parser, which finds no contextResponses.
    v2_as_v1 = cygnus.post(
        "/notify",
        content=normalized({**ENTITY, "x": attribute(1)}),
        headers=orion_headers(tenant, attrs_format=None),
    )
    assert v2_as_v1.status_code == 500
    broken = cygnus.post("/notify", content=b"{not json", headers=orion_headers(tenant))
    assert broken.status_code == 500


# ---------------------------------------------------------------------------------------------------------
# Orion 4 → Cygnus → STH-Comet in the whole sandbox


def test_orion_4_notifies_cygnus_and_sth_reads_it() -> None:
    with (
        running_sandbox(SandboxConfig(orion_version="4.0.0")) as sandbox,
        httpx.Client(timeout=5.0) as client,
    ):
        headers = {"Fiware-Service": "smart", "Fiware-ServicePath": "/"}
        subscription = {
            "subject": {"entities": [{"id": "Lamp:001", "type": "Lamp"}]},
            "notification": {"http": {"url": f"{sandbox.cygnus_url}/notify"}, "metadata": ["TimeInstant"]},
        }
        assert (
            client.post(
                f"{sandbox.orion_url}/v2/subscriptions", json=subscription, headers=headers
            ).status_code
            == 201
        )
        luminosity = attribute(12, time_instant="2024-01-05T10:00:00Z")
        created = client.post(
            f"{sandbox.orion_url}/v2/entities", json={**ENTITY, "luminosity": luminosity}, headers=headers
        )
        assert created.status_code == 201
        key = {"service": "smart", "service_path": "/", "entity_type": "Lamp", "entity_id": "Lamp:001"}
        wait_until(lambda: sandbox.sth.count(**key, attr_name="luminosity") == 1)
        assert sandbox.faults["cygnus"].seen == 1
        with httpx.Client(base_url=sandbox.sth_url, timeout=5.0) as sth:
            expected = [{"recvTime": "2024-01-05T10:00:00.000Z", "attrType": "Number", "attrValue": 12}]
            assert points(sth, "smart", "Lamp:001", "Lamp", "luminosity") == expected
