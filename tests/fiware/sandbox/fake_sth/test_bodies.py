"""The STH-Comet sandbox against STH-Comet 2.11 (its code and unit tests), over HTTP:
the v1 and v2 bodies; unknown series are 200 and empty, never 404.
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from fiware.sandbox.fake_sth import SthStore
from fiware.sandbox.fake_sth.bodies import point_bodies
from fiware.sandbox.fake_sth.store import Row
from tests.fiware.sandbox.fake_sth.support import (
    ATTR,
    ENTITY,
    JSON_TYPE,
    TYPE,
    V1_PATH,
    Tenant,
    points,
    v1_body,
    v2,
)

# ---------------------------------------------------------------------------------------------------------
# bodies: v2 answers `value` (not the docs' `values`); unknown series are 200 and empty, never 404


def test_v2_body_uses_value_and_structured_value(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    recv_times = ["2018-06-21T12:20:19.841Z", "2018-06-21T12:20:20.819Z", "2018-06-21T12:20:29.923Z"]
    store.add_points(
        service=tenant.service,
        service_path=tenant.path,
        entity_type=TYPE,
        entity_id=ENTITY,
        attr_name=ATTR,
        attr_type="Integer",
        points=[
            (datetime.fromisoformat(recv), value)
            for recv, value in zip(recv_times, ["1972", "1982", "1937"], strict=True)
        ],
    )
    response = http.get(v2("hLimit=3&hOffset=0"), headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == {
        "type": "StructuredValue",
        "value": [
            {"recvTime": "2018-06-21T12:20:19.841Z", "attrType": "Integer", "attrValue": "1972"},
            {"recvTime": "2018-06-21T12:20:20.819Z", "attrType": "Integer", "attrValue": "1982"},
            {"recvTime": "2018-06-21T12:20:29.923Z", "attrType": "Integer", "attrValue": "1937"},
        ],
    }


def test_v1_body_uses_context_responses_and_values(http: httpx.Client, seeded: Tenant) -> None:
    response = http.get(f"{V1_PATH}?hLimit=3&hOffset=0", headers=seeded.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == {
        "contextResponses": [
            {
                "contextElement": {
                    "attributes": [{"name": "luminosity", "values": points(0, 1, 2)}],
                    "id": "Lamp:001",
                    "isPattern": False,
                    "type": "Lamp",
                },
                "statusCode": {"code": "200", "reasonPhrase": "OK"},
            }
        ]
    }


def test_v1_pages_like_v2(http: httpx.Client, seeded: Tenant) -> None:
    response = http.get(f"{V1_PATH}?lastN=2&count=true", headers=seeded.headers)
    assert response.json() == v1_body(points(8, 9))
    assert response.headers["fiware-total-count"] == "10"


@pytest.mark.parametrize(
    ("path", "headers_of"),
    [
        pytest.param(f"/STH/v2/entities/Lamp:999/attrs/{ATTR}?type={TYPE}", "same", id="unknown-entity"),
        pytest.param(f"/STH/v2/entities/{ENTITY}/attrs/colour?type={TYPE}", "same", id="unknown-attribute"),
        pytest.param(f"/STH/v2/entities/{ENTITY}/attrs/{ATTR}?type=Streetlight", "same", id="other-type"),
        pytest.param(v2(), "other-service", id="unknown-service"),
        pytest.param(v2(), "other-path", id="unknown-service-path"),
    ],
)
def test_unknown_series_is_200_and_empty_v2(
    http: httpx.Client, seeded: Tenant, path: str, headers_of: str
) -> None:
    tenants = {
        "same": seeded,
        "other-service": Tenant(seeded.service + "x"),
        "other-path": Tenant(seeded.service, "/elsewhere"),
    }
    response = http.get(f"{path}&lastN=5", headers=tenants[headers_of].headers)
    assert response.status_code == 200
    assert response.json() == {"type": "StructuredValue", "value": []}


def test_unknown_series_is_200_and_empty_v1(http: httpx.Client, tenant: Tenant) -> None:
    path = f"/STH/v1/contextEntities/type/Lamp/id/Lamp:404/attributes/{ATTR}?lastN=5"
    response = http.get(path, headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == v1_body([], entity="Lamp:404")


def test_point_bodies_show_recv_time_as_iso_and_values_as_received() -> None:
    rows: list[Row] = [(1529582400123, "Integer", 1), (1529582401000, None, {"a": [True]})]
    assert point_bodies(rows) == [
        {"recvTime": "2018-06-21T12:00:00.123Z", "attrType": "Integer", "attrValue": 1},
        {"recvTime": "2018-06-21T12:00:01.000Z", "attrType": None, "attrValue": {"a": [True]}},
    ]
