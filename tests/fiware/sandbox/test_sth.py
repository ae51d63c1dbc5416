"""The STH-Comet sandbox against STH-Comet 2.11's raw-data API (its code and unit tests), over real HTTP.

Each test uses its own tenant (a fresh ``Fiware-Service``), so one server serves the whole module.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_sth import SthStore, create_app, same_json
from fiware.sandbox.server import serving

T0 = datetime(2018, 6, 21, 12, 0, tzinfo=UTC)
ENTITY, TYPE, ATTR = "Lamp:001", "Lamp", "luminosity"
V2_PATH = f"/STH/v2/entities/{ENTITY}/attrs/{ATTR}"
V1_PATH = f"/STH/v1/contextEntities/type/{TYPE}/id/{ENTITY}/attributes/{ATTR}"
JSON_TYPE = "application/json; charset=utf-8"
# sthGetDataHandler's `validation.keys` for the gate's own refusals.
GATE_KEYS = ["lastN", "hLimit", "hOffset", "filetype", "aggrMethod", "aggrPeriod", "count"]
COMBINATION = (
    "A combination of the following query params is required: lastN, hLimit and hOffset, filetype, "
    "or aggrMethod and aggrPeriod"
)
PAGE_SIZE = "hLimit <= lastN <= config.maxPageSize"
SEEDED = 10


@dataclass(frozen=True)
class Tenant:
    service: str
    path: str = "/"

    @property
    def headers(self) -> dict[str, str]:
        return {"Fiware-Service": self.service, "Fiware-ServicePath": self.path}

    def count(self, store: SthStore, attr: str = ATTR, entity: str = ENTITY, kind: str = TYPE) -> int:
        return store.count(
            service=self.service, service_path=self.path, entity_type=kind, entity_id=entity, attr_name=attr
        )

    def seed(self, store: SthStore, seconds: range, *, entity: str = ENTITY, attr: str = ATTR) -> int:
        return store.add_points(
            service=self.service,
            service_path=self.path,
            entity_type=TYPE,
            entity_id=entity,
            attr_name=attr,
            attr_type="Integer",
            points=[(at(second), str(second)) for second in seconds],
        )


def at(second: float) -> datetime:
    return T0 + timedelta(seconds=second)


def iso(second: float) -> str:
    return at(second).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(second: float) -> int:
    return int(at(second).timestamp() * 1000)


def point(second: int) -> dict[str, object]:
    return {"recvTime": iso(second), "attrType": "Integer", "attrValue": str(second)}


def points(*seconds: int) -> list[dict[str, object]]:
    return [point(second) for second in seconds]


def v2(query: str = "") -> str:
    return f"{V2_PATH}?type={TYPE}&{query}" if query else f"{V2_PATH}?type={TYPE}"


def url(dialect: str, query: str) -> str:
    return v2(query) if dialect == "v2" else f"{V1_PATH}?{query}"


def v1_body(values: list[dict[str, object]], entity: str = ENTITY, kind: str = TYPE) -> dict[str, object]:
    return {
        "contextResponses": [
            {
                "contextElement": {
                    "attributes": [{"name": ATTR, "values": values}],
                    "id": entity,
                    "isPattern": False,
                    "type": kind,
                },
                "statusCode": {"code": "200", "reasonPhrase": "OK"},
            }
        ]
    }


def v2_body(values: list[dict[str, object]]) -> dict[str, object]:
    return {"type": "StructuredValue", "value": values}


def bad_request(dialect: str, message: str, keys: list[str], source: str = "query") -> dict[str, object]:
    if dialect == "v2":
        return {"error": "BadRequest", "description": message}
    return {
        "statusCode": 400,
        "error": "Bad Request",
        "message": message,
        "validation": {"source": source, "keys": keys},
    }


def hapi_bad_request(message: str, source: str, keys: list[str]) -> dict[str, object]:
    return bad_request("v1", message, keys, source)


def notification(*attributes: dict[str, Any], entity: str = ENTITY, kind: str = TYPE) -> dict[str, Any]:
    """What Orion <= 3.12 sends for an `attrsFormat: legacy` subscription.

    As in Orion 3.12.0's functional test 2507_csub_metadata_field (NGSIv1 notifications)."""
    element = {"attributes": list(attributes), "type": kind, "isPattern": "false", "id": entity}
    return {
        "subscriptionId": "5b2bd1ef0c0e6a3e2c4a5f11",
        "originator": "localhost",
        "contextResponses": [
            {"contextElement": element, "statusCode": {"code": "200", "reasonPhrase": "OK"}}
        ],
    }


def attribute(value: object, *, time_instant: str | None = None, kind: str = "Integer") -> dict[str, Any]:
    attr: dict[str, Any] = {"name": ATTR, "type": kind, "value": value}
    if time_instant is not None:
        attr["metadatas"] = [{"name": "TimeInstant", "type": "ISO8601", "value": time_instant}]
    return attr


@pytest.fixture(scope="module")
def store() -> SthStore:
    return SthStore()


@pytest.fixture(scope="module")
def http(store: SthStore) -> Iterator[httpx.Client]:
    with serving(create_app(store=store)) as base_url, httpx.Client(base_url=base_url, timeout=5.0) as client:
        yield client


@pytest.fixture
def tenant() -> Tenant:
    return Tenant(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def seeded(store: SthStore, tenant: Tenant) -> Tenant:
    """Ten points of Lamp:001/luminosity, one a second from T0, valued "0" to "9"."""
    tenant.seed(store, range(SEEDED))
    return tenant


# ---------------------------------------------------------------------------------------------------------
# getDataHandler: dispatch, paging and the page-size gate


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("hLimit=3&hOffset=0", [0, 1, 2], id="first-page"),
        pytest.param("hLimit=3&hOffset=4", [4, 5, 6], id="offset-after-ascending-sort"),
        pytest.param("hLimit=3&hOffset=8", [8, 9], id="short-last-page"),
        pytest.param("hLimit=3&hOffset=10", [], id="offset-past-the-end"),
        pytest.param("hLimit=100&hOffset=0", list(range(SEEDED)), id="hLimit-equal-to-maxPageSize"),
        pytest.param("hLimit=0&hOffset=0", list(range(SEEDED)), id="hLimit0-hOffset0-unsorted-find-no-limit"),
        pytest.param("hLimit=0&hOffset=7", [7, 8, 9], id="hLimit0-is-mongo-limit0-no-limit"),
        pytest.param("lastN=3", [7, 8, 9], id="lastN-newest-in-ascending-order"),
        pytest.param("lastN=100", list(range(SEEDED)), id="lastN-equal-to-maxPageSize"),
        pytest.param("lastN=0", list(range(SEEDED)), id="lastN0-is-mongo-limit0-no-limit"),
        pytest.param("lastN=3&hLimit=2&hOffset=5", [7, 8, 9], id="lastN-ignores-hLimit-hOffset"),
        pytest.param("lastN=3&hLimit=3&hOffset=0", [7, 8, 9], id="hLimit-equal-to-lastN"),
        pytest.param("lastN=0&hLimit=50&hOffset=0", list(range(SEEDED)), id="lastN0-skips-hLimit-le-lastN"),
        pytest.param("filetype=CSV", list(range(SEEDED)), id="uppercase-CSV-passes-gate-answers-json"),
        pytest.param("filetype=CSV&hOffset=8", [8, 9], id="uppercase-CSV-with-truthy-hOffset"),
    ],
)
def test_raw_query_shapes(http: httpx.Client, seeded: Tenant, query: str, expected: list[int]) -> None:
    response = http.get(v2(query), headers=seeded.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == v2_body(points(*expected))


@pytest.mark.parametrize("dialect", ["v1", "v2"])
@pytest.mark.parametrize(
    "query",
    [
        pytest.param("hLimit=101&hOffset=0", id="hLimit-above-maxPageSize"),
        pytest.param("lastN=101", id="lastN-above-maxPageSize"),
        pytest.param("lastN=2&hLimit=3&hOffset=0", id="hLimit-above-lastN"),
        pytest.param("lastN=0&hLimit=101&hOffset=0", id="lastN0-still-checks-hLimit"),
        pytest.param("lastN=101&hLimit=0&hOffset=0", id="hLimit0-still-checks-lastN"),
        pytest.param("filetype=csv&lastN=101", id="csv-still-checks-lastN"),
    ],
)
def test_page_size_rule(http: httpx.Client, seeded: Tenant, dialect: str, query: str) -> None:
    response = http.get(url(dialect, query), headers=seeded.headers)
    assert response.status_code == 400
    assert response.json() == bad_request(dialect, PAGE_SIZE, GATE_KEYS)
    assert "fiware-total-count" not in response.headers


@pytest.mark.parametrize("dialect", ["v1", "v2"])
@pytest.mark.parametrize(
    "query",
    [
        pytest.param("", id="no-params"),
        pytest.param("hLimit=3", id="hLimit-without-hOffset"),
        pytest.param("hOffset=0", id="hOffset-without-hLimit"),
        pytest.param("count=true", id="count-alone"),
        pytest.param(f"dateFrom={iso(0)}&dateTo={iso(5)}", id="dates-alone"),
        pytest.param("filetype=json", id="filetype-not-csv"),
        pytest.param("aggrMethod=sum", id="aggrMethod-without-aggrPeriod"),
        pytest.param("aggrPeriod=hour", id="aggrPeriod-without-aggrMethod"),
    ],
)
def test_no_usable_param_combination(http: httpx.Client, seeded: Tenant, dialect: str, query: str) -> None:
    response = http.get(url(dialect, query), headers=seeded.headers)
    assert response.status_code == 400
    assert response.json() == bad_request(dialect, COMBINATION, GATE_KEYS)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        pytest.param("v1", {"statusCode": 501, "error": "Not Implemented"}, id="v1"),
        pytest.param("v2", {"error": "NotImplemented"}, id="v2"),
    ],
)
@pytest.mark.parametrize(
    "query",
    [
        pytest.param("aggrMethod=sum&aggrPeriod=hour", id="aggregated"),
        pytest.param("filetype=csv", id="csv-download"),
        pytest.param("filetype=csv&hLimit=3&hOffset=0", id="csv-download-paged"),
    ],
)
def test_unimplemented_parts_answer_501(
    http: httpx.Client, seeded: Tenant, dialect: str, expected: dict[str, object], query: str
) -> None:
    response = http.get(url(dialect, query), headers=seeded.headers)
    assert response.status_code == 501
    body = response.json()
    assert {key: body[key] for key in expected} == expected


def test_max_page_size_comes_from_sandbox_config(store: SthStore, seeded: Tenant) -> None:
    app = create_app(SandboxConfig(max_page_size=5), store)
    with serving(app) as base_url, httpx.Client(base_url=base_url) as client:
        at_cap = client.get(v2("hLimit=5&hOffset=0"), headers=seeded.headers)
        over_hlimit = client.get(v2("hLimit=6&hOffset=0"), headers=seeded.headers)
        over_lastn = client.get(v2("lastN=6"), headers=seeded.headers)
    assert at_cap.status_code == 200
    assert at_cap.json() == v2_body(points(0, 1, 2, 3, 4))
    for refused in (over_hlimit, over_lastn):
        assert refused.status_code == 400
        assert refused.json() == {"error": "BadRequest", "description": PAGE_SIZE}


def test_default_max_page_size_is_100() -> None:
    assert SandboxConfig().max_page_size == 100


# ---------------------------------------------------------------------------------------------------------
# joi validation of the query (sthServer.js)


@pytest.mark.parametrize("dialect", ["v1", "v2"])
@pytest.mark.parametrize(
    ("query", "message", "key"),
    [
        pytest.param(
            "lastN=abc", 'child "lastN" fails because ["lastN" must be a number]', "lastN", id="not-a-number"
        ),
        pytest.param("lastN=", 'child "lastN" fails because ["lastN" must be a number]', "lastN", id="empty"),
        pytest.param(
            "hLimit=-1&hOffset=0",
            'child "hLimit" fails because ["hLimit" must be greater than -1]',
            "hLimit",
            id="negative",
        ),
        pytest.param(
            "hLimit=1&hOffset=1.5",
            'child "hOffset" fails because ["hOffset" must be an integer]',
            "hOffset",
            id="not-an-integer",
        ),
        pytest.param(
            "lastN=1&lastN=2",
            'child "lastN" fails because ["lastN" must be a number]',
            "lastN",
            id="repeated-param",
        ),
        pytest.param(
            "hLimit=x&lastN=x",
            'child "lastN" fails because ["lastN" must be a number]',
            "lastN",
            id="first-failure-in-schema-order",
        ),
        pytest.param(
            "lastN=1&dateFrom=yesterday",
            'child "dateFrom" fails because '
            '["dateFrom" must be a number of milliseconds or valid date string]',
            "dateFrom",
            id="bad-date",
        ),
        pytest.param(
            "lastN=1&count=yes",
            'child "count" fails because ["count" must be a boolean]',
            "count",
            id="bad-boolean",
        ),
        pytest.param(
            "lastN=1&filetype=",
            'child "filetype" fails because ["filetype" is not allowed to be empty]',
            "filetype",
            id="empty-string",
        ),
        pytest.param(
            "aggrMethod=sum&aggrPeriod=week",
            'child "aggrPeriod" fails because '
            '["aggrPeriod" must be one of [month, day, hour, minute, second]]',
            "aggrPeriod",
            id="bad-aggrPeriod",
        ),
        pytest.param(
            "aggrMethod=avg&aggrPeriod=hour",
            'child "aggrMethod" fails because ["aggrMethod" with value "avg" fails to match the required '
            "pattern: /^(min|max|sum|sum2|occur|all)(,(min|max|sum|sum2|occur|all))*$/]",
            "aggrMethod",
            id="bad-aggrMethod",
        ),
        pytest.param("lastN=1&foo=bar", '"foo" is not allowed', "foo", id="unknown-param"),
    ],
)
def test_joi_validation(
    http: httpx.Client, seeded: Tenant, dialect: str, query: str, message: str, key: str
) -> None:
    response = http.get(url(dialect, query), headers=seeded.headers)
    assert response.status_code == 400
    assert response.json() == bad_request(dialect, message, [key])


def test_v2_requires_the_type_param(http: httpx.Client, seeded: Tenant) -> None:
    missing = http.get(f"{V2_PATH}?lastN=1", headers=seeded.headers)
    empty = http.get(f"{V2_PATH}?lastN=1&type=", headers=seeded.headers)
    assert missing.status_code == empty.status_code == 400
    assert missing.json() == {
        "error": "BadRequest",
        "description": 'child "type" fails because ["type" is required]',
    }
    assert empty.json() == {
        "error": "BadRequest",
        "description": 'child "type" fails because ["type" is not allowed to be empty]',
    }


def test_v1_refuses_the_type_param(http: httpx.Client, seeded: Tenant) -> None:
    response = http.get(f"{V1_PATH}?lastN=1&type={TYPE}", headers=seeded.headers)
    assert response.status_code == 400
    assert response.json() == bad_request("v1", '"type" is not allowed', ["type"])


def test_count_and_dates_accept_joi_conversions(http: httpx.Client, seeded: Tenant) -> None:
    response = http.get(v2(f"lastN=2&count=TRUE&dateTo={ms(5)}"), headers=seeded.headers)
    assert response.status_code == 200
    assert response.headers["fiware-total-count"] == "6"
    assert response.json() == v2_body(points(4, 5))


# ---------------------------------------------------------------------------------------------------------
# headers (sthHeaderValidator.js, fiware-correlator, fiware-total-count)


@pytest.mark.parametrize("dialect", ["v1", "v2"])
@pytest.mark.parametrize(
    ("headers", "missing"),
    [
        pytest.param({"Fiware-ServicePath": "/"}, "fiware-service", id="no-service"),
        pytest.param({"Fiware-Service": "smart"}, "fiware-servicepath", id="no-servicepath"),
        pytest.param({"Fiware-Service": "", "Fiware-ServicePath": "/"}, "fiware-service", id="empty-service"),
        pytest.param({}, "fiware-service", id="neither-reports-service-first"),
    ],
)
def test_data_routes_require_tenant_headers(
    http: httpx.Client, dialect: str, headers: dict[str, str], missing: str
) -> None:
    # A bad query too: hapi validates headers first.
    response = http.get(url(dialect, "lastN=abc"), headers=headers)
    assert response.status_code == 400
    message = f'child "{missing}" fails because [{missing} is required]'
    assert response.json() == bad_request(dialect, message, [], source="headers")
    assert "fiware-correlator" not in response.headers


def test_missing_service_literal_bodies(http: httpx.Client) -> None:
    only_path = {"Fiware-ServicePath": "/"}
    assert http.get(v2("lastN=1"), headers=only_path).json() == {
        "error": "BadRequest",
        "description": 'child "fiware-service" fails because [fiware-service is required]',
    }
    assert http.get(f"{V1_PATH}?lastN=1", headers=only_path).json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": 'child "fiware-service" fails because [fiware-service is required]',
        "validation": {"source": "headers", "keys": []},
    }


def test_correlator_is_echoed(http: httpx.Client, seeded: Tenant) -> None:
    headers = {**seeded.headers, "Fiware-Correlator": "corr-42"}
    response = http.get(v2("lastN=1"), headers=headers)
    assert response.status_code == 200
    assert response.headers["fiware-correlator"] == "corr-42"


def test_correlator_is_generated_when_absent(http: httpx.Client, seeded: Tenant) -> None:
    response = http.get(v2("lastN=1"), headers=seeded.headers)
    assert uuid.UUID(response.headers["fiware-correlator"]).version == 4


@pytest.mark.parametrize(
    ("query", "total", "expected"),
    [
        pytest.param("count=true&hLimit=3&hOffset=0", "10", [0, 1, 2], id="total-ignores-page"),
        pytest.param("count=true&lastN=2", "10", [8, 9], id="total-ignores-lastN"),
        pytest.param(
            f"count=true&dateFrom={iso(2)}&dateTo={iso(8)}&hLimit=2&hOffset=0",
            "7",
            [2, 3],
            id="total-of-the-date-window",
        ),
        pytest.param("count=true&hLimit=3&hOffset=50", "10", [], id="total-past-the-end"),
    ],
)
def test_total_count_header(
    http: httpx.Client, seeded: Tenant, query: str, total: str, expected: list[int]
) -> None:
    response = http.get(v2(query), headers=seeded.headers)
    assert response.status_code == 200
    assert response.headers["fiware-total-count"] == total
    assert response.json() == v2_body(points(*expected))


@pytest.mark.parametrize(
    "query", [pytest.param("lastN=3", id="absent"), pytest.param("lastN=3&count=false", id="false")]
)
def test_total_count_only_with_count_true(http: httpx.Client, seeded: Tenant, query: str) -> None:
    response = http.get(v2(query), headers=seeded.headers)
    assert response.status_code == 200
    assert "fiware-total-count" not in response.headers


def test_total_count_of_unknown_series_is_zero(http: httpx.Client, tenant: Tenant) -> None:
    response = http.get(v2("count=true&lastN=5"), headers=tenant.headers)
    assert response.status_code == 200
    assert response.headers["fiware-total-count"] == "0"
    assert response.json() == v2_body([])


# ---------------------------------------------------------------------------------------------------------
# getRawData: date window (both bounds inclusive) and order


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(f"dateFrom={iso(3)}&dateTo={iso(5)}", [3, 4, 5], id="both-bounds-inclusive"),
        pytest.param(f"dateFrom={iso(7)}", [7, 8, 9], id="dateFrom-inclusive"),
        pytest.param(f"dateTo={iso(1)}", [0, 1], id="dateTo-inclusive"),
        pytest.param(f"dateFrom={ms(3)}&dateTo={ms(5)}", [3, 4, 5], id="epoch-milliseconds"),
        pytest.param(f"dateFrom={iso(3.5)}&dateTo={iso(5.999)}", [4, 5], id="between-points"),
        pytest.param(f"dateFrom={iso(5)}&dateTo={iso(3)}", [], id="empty-window"),
        pytest.param(f"dateFrom={iso(3)}&dateTo={iso(3)}", [3], id="single-instant"),
    ],
)
def test_date_window(http: httpx.Client, seeded: Tenant, query: str, expected: list[int]) -> None:
    response = http.get(v2(f"hLimit=100&hOffset=0&{query}"), headers=seeded.headers)
    assert response.status_code == 200
    assert response.json() == v2_body(points(*expected))


def test_date_window_with_offset_and_lastn(http: httpx.Client, seeded: Tenant) -> None:
    paged = http.get(v2(f"dateFrom={iso(2)}&hLimit=2&hOffset=1"), headers=seeded.headers)
    newest = http.get(v2(f"dateTo={iso(5)}&lastN=2"), headers=seeded.headers)
    assert paged.json() == v2_body(points(3, 4))
    assert newest.json() == v2_body(points(4, 5))


def test_dates_with_offsets_are_compared_in_utc(http: httpx.Client, seeded: Tenant) -> None:
    window = {"dateFrom": "2018-06-21T14:00:02+02:00", "dateTo": "2018-06-21T14:00:03.000+02:00"}
    response = http.get(V2_PATH, params={"type": TYPE, "lastN": "10", **window}, headers=seeded.headers)
    assert response.json() == v2_body(points(2, 3))


def test_points_come_back_ascending_whatever_the_arrival_order(
    http: httpx.Client, store: SthStore, tenant: Tenant
) -> None:
    for second in (5, 1, 3):
        tenant.seed(store, range(second, second + 1))
    for second in (4, 0, 2):
        notified = notification(attribute(str(second), time_instant=iso(second)))
        assert http.post("/notify", json=notified, headers=tenant.headers).status_code == 200
    response = http.get(v2("hLimit=10&hOffset=0"), headers=tenant.headers)
    assert response.json() == v2_body(points(0, 1, 2, 3, 4, 5))


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


def test_tenants_are_kept_apart(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    other_service = Tenant(tenant.service + "b")
    other_path = Tenant(tenant.service, "/gardens")
    for owner, second in ((tenant, 1), (other_service, 2), (other_path, 3)):
        owner.seed(store, range(second, second + 1))
    for owner, second in ((tenant, 1), (other_service, 2), (other_path, 3)):
        assert http.get(v2("lastN=10"), headers=owner.headers).json() == v2_body(points(second))


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


# ---------------------------------------------------------------------------------------------------------
# SthStore, create_app and the benchmark-sized path


def test_bulk_seeding_and_deep_pages_are_fast(http: httpx.Client, store: SthStore, tenant: Tenant) -> None:
    total = 200_000
    start = time.perf_counter()
    stored = tenant.seed(store, range(total))
    assert time.perf_counter() - start < 1.0
    assert stored == tenant.count(store) == total
    start = time.perf_counter()
    response = http.get(v2(f"hLimit=100&hOffset={total - 100}&count=true"), headers=tenant.headers)
    assert time.perf_counter() - start < 0.5
    assert response.headers["fiware-total-count"] == str(total)
    assert response.json() == v2_body(points(*range(total - 100, total)))


def test_add_points_applies_the_notification_key(store: SthStore, tenant: Tenant) -> None:
    assert tenant.seed(store, range(5)) == 5
    assert tenant.seed(store, range(5)) == 0  # same values again: ignored
    changed = store.add_points(
        service=tenant.service,
        service_path=tenant.path,
        entity_type=TYPE,
        entity_id=ENTITY,
        attr_name=ATTR,
        attr_type="Integer",
        points=[(at(1), "changed"), (at(2), "2"), (at(10), "10")],
    )
    assert changed == 2  # one overwrite, one new point
    assert tenant.count(store) == 6


def test_add_points_merges_earlier_points_in_order(
    http: httpx.Client, store: SthStore, tenant: Tenant
) -> None:
    tenant.seed(store, range(5, 8))
    tenant.seed(store, range(0, 10, 2))
    response = http.get(v2("hLimit=100&hOffset=0"), headers=tenant.headers)
    assert response.json() == v2_body(points(0, 2, 4, 5, 6, 7, 8))


def test_add_points_reads_naive_datetimes_as_utc_and_cuts_to_milliseconds(
    http: httpx.Client, store: SthStore, tenant: Tenant
) -> None:
    store.add_points(
        service=tenant.service,
        service_path=tenant.path,
        entity_type=TYPE,
        entity_id=ENTITY,
        attr_name=ATTR,
        attr_type="Number",
        points=[(datetime(2020, 1, 2, 3, 4, 5, 678_999), 1.5)],
    )
    [stored] = http.get(v2("lastN=1"), headers=tenant.headers).json()["value"]
    assert stored == {"recvTime": "2020-01-02T03:04:05.678Z", "attrType": "Number", "attrValue": 1.5}


def test_add_points_with_nothing_stores_nothing(store: SthStore, tenant: Tenant) -> None:
    assert tenant.seed(store, range(0)) == 0
    assert tenant.count(store) == 0


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


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        pytest.param("1", "1", True, id="equal-strings"),
        pytest.param(1, 1.0, True, id="json-numbers"),
        pytest.param(True, 1, False, id="boolean-is-not-number"),
        pytest.param("1", 1, False, id="string-is-not-number"),
        pytest.param({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True, id="deep-equal"),
        pytest.param({"a": [1, True]}, {"a": [1, 1]}, False, id="deep-boolean"),
        pytest.param([1, 2], [2, 1], False, id="array-order"),
        pytest.param({"a": 1}, [1], False, id="object-is-not-array"),
    ],
)
def test_same_json_is_lodash_is_equal(left: object, right: object, same: bool) -> None:
    assert same_json(left, right) is same
