"""The STH-Comet sandbox against STH-Comet 2.11 (its code and unit tests), over HTTP: the joi
schema of sthServer.js.
"""

from __future__ import annotations

import httpx
import pytest

from tests.fiware.sandbox.fake_sth.support import (
    TYPE,
    V1_PATH,
    V2_PATH,
    Tenant,
    bad_request,
    ms,
    points,
    url,
    v2,
    v2_body,
)

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
