"""The STH-Comet sandbox against STH-Comet 2.11 (its code and unit tests), over HTTP:
the dispatch, paging and page-size gate of getDataHandler, and the date window of getRawData.
"""

from __future__ import annotations

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_sth import SthStore, create_app
from fiware.sandbox.fake_sth.query import DataQuery
from fiware.sandbox.server import serving
from tests.fiware.sandbox.fake_sth.support import (
    COMBINATION,
    GATE_KEYS,
    JSON_TYPE,
    PAGE_SIZE,
    SEEDED,
    TYPE,
    V2_PATH,
    Tenant,
    attribute,
    bad_request,
    iso,
    ms,
    notification,
    points,
    url,
    v2,
    v2_body,
)

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


def data_query(**values: object) -> DataQuery:
    return DataQuery.from_values(values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({"lastN": 3}, (7, 10), id="last-n"),
        pytest.param({"lastN": 0}, (2, 10), id="last-n-zero-is-all"),
        pytest.param({"lastN": 20}, (2, 10), id="last-n-beyond-the-window"),
        pytest.param({"hOffset": 3, "hLimit": 2}, (5, 7), id="page"),
        pytest.param({"hOffset": 20, "hLimit": 2}, (10, 10), id="page-beyond-the-window"),
        pytest.param({"hOffset": 0, "hLimit": 0}, (2, 10), id="falsy-page-is-all"),
        pytest.param({}, (2, 10), id="nothing"),
    ],
)
def test_select_bounds(values: dict[str, object], expected: tuple[int, int]) -> None:
    assert data_query(**values).select(2, 10) == expected


def test_from_values_keeps_only_the_expected_types() -> None:
    query = data_query(lastN="3", count=True, type="Lamp")
    assert (query.last_n, query.count, query.entity_type) == (None, True, "Lamp")
