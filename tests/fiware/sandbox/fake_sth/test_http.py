"""The STH-Comet sandbox against STH-Comet 2.11 (its code and unit tests), over HTTP:
the fiware headers (sthHeaderValidator.js, fiware-correlator, fiware-total-count).
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fiware.sandbox.fake_sth.support import V1_PATH, Tenant, bad_request, iso, points, url, v2, v2_body

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
