"""The STH-Comet sandbox against STH-Comet 2.11 (its code and unit tests), over HTTP:
``POST /notify`` (TimeInstant as recvTime, repeated points, tenant headers).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fiware.sandbox.fake_sth import SthStore
from tests.fiware.sandbox.fake_sth.support import (
    ATTR,
    ENTITY,
    TYPE,
    Tenant,
    attribute,
    hapi_bad_request,
    iso,
    notification,
    v2,
    v2_body,
)

# ---------------------------------------------------------------------------------------------------------
# POST /notify: TimeInstant as recvTime, repeated points, Fiware-Service required


def test_notify_stores_at_time_instant_upstream_fixture(
    http: httpx.Client, store: SthStore, tenant: Tenant
) -> None:
    # STH test/unit/contextResponses/V1contextResponseNumericWithFixedTimeInstant.json
    body = {
        "contextResponses": [
            {
                "contextElement": {
                    "attributes": [
                        {
                            "name": "attrNameNumeric",
                            "type": "attrType",
                            "value": "111",
                            "metadatas": [
                                {
                                    "name": "TimeInstant",
                                    "type": "ISO8601",
                                    "value": "1970-01-01T00:00:00.000Z",
                                }
                            ],
                        }
                    ],
                    "type": "entityType",
                    "isPattern": "false",
                    "id": "entityId",
                },
                "statusCode": {"code": "200", "reasonPhrase": "OK"},
            }
        ]
    }
    stored = http.post("/notify", json=body, headers={**tenant.headers, "Fiware-Correlator": "c-1"})
    assert stored.status_code == 200
    assert stored.content == b""
    assert stored.headers["fiware-correlator"] == "c-1"
    path = "/STH/v1/contextEntities/type/entityType/id/entityId/attributes/attrNameNumeric?lastN=1"
    response = http.get(path, headers=tenant.headers)
    values = response.json()["contextResponses"][0]["contextElement"]["attributes"][0]["values"]
    assert values == [{"recvTime": "1970-01-01T00:00:00.000Z", "attrType": "attrType", "attrValue": "111"}]


@pytest.mark.parametrize(
    "time_instant",
    [
        pytest.param(None, id="no-metadata"),
        pytest.param("not a date", id="unparsable-time-instant"),
        pytest.param("", id="empty-time-instant"),
    ],
)
def test_notify_without_usable_time_instant_stores_arrival_time(
    http: httpx.Client, tenant: Tenant, time_instant: str | None
) -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    body = notification(attribute("7", time_instant=time_instant))
    assert http.post("/notify", json=body, headers=tenant.headers).status_code == 200
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    [stored] = http.get(v2("lastN=1"), headers=tenant.headers).json()["value"]
    assert before <= datetime.fromisoformat(stored["recvTime"]) <= after
    assert stored["attrValue"] == "7"


def test_notify_ignores_a_repeated_value(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    body = notification(attribute("42", time_instant=iso(1)))
    for _ in range(2):
        assert http.post("/notify", json=body, headers=tenant.headers).status_code == 200
    assert tenant.count(store) == 1
    assert http.get(v2("lastN=5"), headers=tenant.headers).json() == v2_body(
        [{"recvTime": iso(1), "attrType": "Integer", "attrValue": "42"}]
    )


def test_notify_overwrites_a_different_value(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    for value in ("42", "43"):
        body = notification(attribute(value, time_instant=iso(1)))
        assert http.post("/notify", json=body, headers=tenant.headers).status_code == 200
    assert tenant.count(store) == 1
    [stored] = http.get(v2("lastN=5"), headers=tenant.headers).json()["value"]
    assert stored == {"recvTime": iso(1), "attrType": "Integer", "attrValue": "43"}


def test_notify_keys_points_by_attr_type_too(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    body = notification(
        attribute("1", time_instant=iso(1), kind="Integer"), attribute("1", time_instant=iso(1), kind="Text")
    )
    assert http.post("/notify", json=body, headers=tenant.headers).status_code == 200
    assert tenant.count(store) == 2
    values = http.get(v2("lastN=5"), headers=tenant.headers).json()["value"]
    assert sorted(point["attrType"] for point in values) == ["Integer", "Text"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(21.5, id="number"),
        pytest.param(0, id="zero"),
        pytest.param("", id="empty-string"),
        pytest.param({"lat": 40.4, "lon": -3.7}, id="object"),
        pytest.param([1, "two"], id="array"),
        pytest.param(True, id="boolean"),
    ],
)
def test_notify_keeps_the_json_type_of_values(http: httpx.Client, tenant: Tenant, value: object) -> None:
    body = notification(attribute(value, time_instant=iso(1)))
    assert http.post("/notify", json=body, headers=tenant.headers).status_code == 200
    [stored] = http.get(v2("lastN=1"), headers=tenant.headers).json()["value"]
    assert stored["attrValue"] == value
    assert type(stored["attrValue"]) is type(value)


def test_notify_true_then_1_is_an_update(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    for value in (True, 1):
        http.post("/notify", json=notification(attribute(value, time_instant=iso(1))), headers=tenant.headers)
    [stored] = http.get(v2("lastN=1"), headers=tenant.headers).json()["value"]
    assert stored["attrValue"] == 1 and stored["attrValue"] is not True
    assert tenant.count(store) == 1


def test_notify_stores_every_attribute_of_every_element(
    http: httpx.Client, store: SthStore, tenant: Tenant
) -> None:
    first = notification(
        attribute("1", time_instant=iso(1)),
        {"name": "power", "type": "Number", "value": 3.5, "metadatas": []},
    )
    second = notification(attribute("9", time_instant=iso(2)), entity="Lamp:002")
    body = {**first, "contextResponses": first["contextResponses"] + second["contextResponses"]}
    assert http.post("/notify", json=body, headers=tenant.headers).status_code == 200
    assert tenant.count(store) == 1
    assert tenant.count(store, attr="power") == 1
    assert tenant.count(store, entity="Lamp:002") == 1


@pytest.mark.parametrize(
    "context_responses",
    [
        pytest.param([], id="no-elements"),
        pytest.param(
            [{"contextElement": {"id": ENTITY, "type": TYPE, "attributes": []}}], id="empty-attributes"
        ),
        pytest.param([{"contextElement": {"id": ENTITY, "type": TYPE}}], id="no-attributes-key"),
        pytest.param([{"statusCode": {"code": "200"}}], id="no-context-element"),
    ],
)
def test_notify_without_attributes_is_400(
    http: httpx.Client, tenant: Tenant, context_responses: list[object]
) -> None:
    response = http.post("/notify", json={"contextResponses": context_responses}, headers=tenant.headers)
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "At least one attribute with an aggregatable value should be included in the notification",
        "validation": {"source": "payload", "keys": ["attributes"]},
    }


@pytest.mark.parametrize(
    ("headers", "missing"),
    [
        pytest.param({"Fiware-ServicePath": "/"}, "fiware-service", id="default-tenant-from-orion"),
        pytest.param({"Fiware-Service": "smart"}, "fiware-servicepath", id="no-servicepath"),
    ],
)
def test_notify_requires_tenant_headers(http: httpx.Client, headers: dict[str, str], missing: str) -> None:
    response = http.post("/notify", json=notification(attribute("1", time_instant=iso(1))), headers=headers)
    assert response.status_code == 400
    message = f'child "{missing}" fails because [{missing} is required]'
    assert response.json() == hapi_bad_request(message, "headers", [])


def test_notify_refuses_invalid_json(http: httpx.Client, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = http.post("/notify", content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Invalid request payload JSON format",
    }


def test_notify_never_answers_an_ngsiv2_notification(
    http: httpx.Client, store: SthStore, tenant: Tenant
) -> None:
    # What Orion >= 4 sends instead of `legacy` (Orion 4.0.0 removed it): STH's handler never replies.
    body = {
        "subscriptionId": "5b2bd1ef0c0e6a3e2c4a5f11",
        "data": [{"id": ENTITY, "type": TYPE, ATTR: {"type": "Integer", "value": 1, "metadata": {}}}],
    }
    with pytest.raises(httpx.ReadTimeout):
        http.post("/notify", json=body, headers=tenant.headers, timeout=0.3)
    assert tenant.count(store) == 0
