"""The QuantumLeap sandbox against QuantumLeap 1.0.0 and master (``query_1T1E1A.py``,
``sql_translator.py``, ``tests/test_1T1E1A.py`` and a real run on PostgreSQL), over HTTP:
``GET /v2/entities/{id}/attrs/{attr}`` and ``…/value``."""

from __future__ import annotations

import httpx
import pytest

from fiware.sandbox.fake_ql import QlStore
from tests.fiware.sandbox.fake_ql.support import (
    NO_RECORDS,
    PROBLEM,
    assert_answer,
    at,
    hdr,
    index,
    problem,
    seed,
)

URL = "/v2/entities/E1/attrs/temperature"


def _page(*days: int, offset: float = 0.0) -> dict[str, object]:
    return {"index": [index(day) for day in days], "values": [day - 1 + offset for day in days]}


def test_last_n_answer(http: httpx.Client, store: QlStore, tenant: str) -> None:
    seed(store, tenant, range(1, 11))
    response = http.get(f"{URL}?type=Sensor&lastN=3", headers=hdr(tenant))
    expected = {
        "entityId": "E1",
        "entityType": "Sensor",
        "attrName": "temperature",
        "index": [
            "2024-01-08T10:00:00.000+00:00",
            "2024-01-09T10:00:00.000+00:00",
            "2024-01-10T10:00:00.000+00:00",
        ],
        "values": [7.0, 8.0, 9.0],
    }
    assert_answer(response, 200, expected)


def test_master_answers_id_and_type(master: httpx.Client, store: QlStore, tenant: str) -> None:
    seed(store, tenant, range(1, 4))
    response = master.get(f"{URL}?lastN=1", headers=hdr(tenant))
    expected = {"id": "E1", "type": "Sensor", "attrName": "temperature", "index": [index(3)], "values": [2.0]}
    assert_answer(response, 200, expected)


@pytest.mark.parametrize(
    ("query", "days"),
    [
        pytest.param("", range(1, 11), id="everything"),
        pytest.param("lastN=2", range(9, 11), id="last-n"),
        pytest.param("limit=3", range(1, 4), id="limit"),
        pytest.param("limit=3&offset=2", range(3, 6), id="limit-offset"),
        pytest.param("lastN=3&offset=2", range(6, 9), id="last-n-skips-the-newest"),
        pytest.param("lastN=5&limit=2", range(9, 11), id="smallest-cap"),
        pytest.param(
            "fromDate=2024-01-03T10:00:00Z&toDate=2024-01-05T10:00:00Z", range(3, 6), id="inclusive"
        ),
        pytest.param('fromDate="2024-01-09T10:00:00Z"', range(9, 11), id="quoted-date"),
        pytest.param("toDate=2024-01-03", range(1, 3), id="date-only-is-midnight"),
        pytest.param("fromDate=2024-01-02T11:00:00%2B01:00&lastN=1", range(10, 11), id="offset-converted"),
    ],
)
def test_paging_and_window(http: httpx.Client, store: QlStore, tenant: str, query: str, days: range) -> None:
    seed(store, tenant, range(1, 11))
    response = http.get(f"{URL}/value?{query}", headers=hdr(tenant))
    assert_answer(response, 200, _page(*days))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("aggrMethod=avg", {"index": [], "values": [4.5]}, id="avg"),
        pytest.param("aggrMethod=sum&lastN=2", {"index": [], "values": [45.0]}, id="groups-not-rows"),
        pytest.param("aggrMethod=count", {"index": [], "values": [10]}, id="count"),
        pytest.param(
            "aggrMethod=max&aggrPeriod=day&lastN=2",
            {
                "index": ["2024-01-09T00:00:00.000+00:00", "2024-01-10T00:00:00.000+00:00"],
                "values": [8.0, 9.0],
            },
            id="per-day",
        ),
        pytest.param(
            "aggrMethod=min&aggrPeriod=month",
            {"index": ["2024-01-01T00:00:00.000+00:00"], "values": [0.0]},
            id="per-month",
        ),
    ],
)
def test_aggregation(
    http: httpx.Client, store: QlStore, tenant: str, query: str, expected: dict[str, object]
) -> None:
    seed(store, tenant, range(1, 11))
    assert_answer(http.get(f"{URL}/value?{query}", headers=hdr(tenant)), 200, expected)


def test_count_counts_values_not_rows(http: httpx.Client, store: QlStore, tenant: str) -> None:
    seed(store, tenant, range(1, 4))
    store.add_points(
        service=tenant,
        entity_type="Sensor",
        entity_id="E1",
        attr_name="temperature",
        attr_type="Number",
        points=[(at(4), "not a number")],
    )
    assert_answer(
        http.get(f"{URL}/value?aggrMethod=count", headers=hdr(tenant)), 200, {"index": [], "values": [3]}
    )


def test_count_without_rows_is_no_records(
    http: httpx.Client, master: httpx.Client, store: QlStore, tenant: str
) -> None:
    seed(store, tenant, range(1, 4))
    query = f"{URL}?aggrMethod=count&fromDate=2025-01-01T00:00:00Z"
    assert_answer(http.get(query, headers=hdr(tenant)), 404, NO_RECORDS)
    assert_answer(master.get(query, headers=hdr(tenant)), 200, [])


def test_aggregate_on_text_is_refused(http: httpx.Client, store: QlStore, tenant: str) -> None:
    store.add_points(
        service=tenant,
        entity_type="Sensor",
        entity_id="E1",
        attr_name="label",
        attr_type="Text",
        points=[(at(1), "a")],
    )
    body = {
        "error": "AggrMethod cannot be applied",
        "description": "AggrMethod cannot be applied on type TEXT and BOOLEAN.",
    }
    assert_answer(http.get("/v2/entities/E1/attrs/label?aggrMethod=avg", headers=hdr(tenant)), 404, body)
    counted = http.get("/v2/entities/E1/attrs/label/value?aggrMethod=count", headers=hdr(tenant))
    assert_answer(counted, 200, {"index": [], "values": [1]})


@pytest.mark.parametrize("query", ["", "/value"], ids=["attr", "value"])
def test_no_records_by_flavour(http: httpx.Client, master: httpx.Client, tenant: str, query: str) -> None:
    # test_1T1E1A.py::test_not_found at 1.0.0 and at master
    response = http.get(f"/v2/entities/nobody/attrs/temperature{query}", headers=hdr(tenant))
    assert_answer(response, 404, NO_RECORDS)
    assert response.headers["content-length"] == "85"
    assert_answer(master.get(f"/v2/entities/nobody/attrs/temperature{query}", headers=hdr(tenant)), 200, [])


@pytest.mark.parametrize(
    "query",
    ["offset=10", "type=Other", "fromDate=2030-01-01T00:00:00Z"],
    ids=["offset-past-the-end", "wrong-type", "empty-window"],
)
def test_nothing_matching_is_no_records(http: httpx.Client, store: QlStore, tenant: str, query: str) -> None:
    seed(store, tenant, range(1, 11))
    assert_answer(http.get(f"{URL}?{query}", headers=hdr(tenant)), 404, NO_RECORDS)


def test_tenant_is_case_insensitive_and_default_separate(
    http: httpx.Client, store: QlStore, tenant: str
) -> None:
    seed(store, tenant, range(1, 3))
    assert http.get(f"{URL}/value", headers=hdr(tenant.upper())).json() == _page(1, 2)
    assert_answer(http.get(f"{URL}?type=Sensor", headers=hdr(None)), 404, NO_RECORDS)


@pytest.mark.parametrize(
    ("path", "found"),
    # Unanchored at the start: /b matches /a/b too.
    [("/", True), ("/a", True), ("/A", True), ("/a/b", True), ("/b", True), ("/a/b/c", False), ("/c", False)],
)
def test_service_path_prefix(http: httpx.Client, store: QlStore, tenant: str, path: str, found: bool) -> None:
    store.add_points(
        service=tenant,
        service_path="/a/b",
        entity_type="Sensor",
        entity_id="E1",
        attr_name="temperature",
        attr_type="Number",
        points=[(at(1), 1.0)],
    )
    response = http.get(URL, headers=hdr(tenant, path))
    assert response.status_code == (200 if found else 404)


def test_same_id_under_two_types_is_ambiguous(http: httpx.Client, store: QlStore, tenant: str) -> None:
    # test_1T1E1A.py::test_no_type_not_unique
    seed(store, tenant, range(1, 2))
    store.add_points(
        service=tenant,
        entity_type="Room",
        entity_id="E1",
        attr_name="temperature",
        attr_type="Number",
        points=[(at(1), 5.0)],
    )
    body = {
        "error": "<class 'exceptions.exceptions.AmbiguousNGSIIdError'>",
        "description": "There are multiple entities with the given entity_id E1. Please specify entity_type.",
    }
    assert_answer(http.get(URL, headers=hdr(tenant)), 400, body)
    assert http.get(f"{URL}/value?type=Room", headers=hdr(tenant)).json()["values"] == [5.0]


def test_attribute_name_is_case_insensitive_and_echoed(
    http: httpx.Client, store: QlStore, tenant: str
) -> None:
    seed(store, tenant, range(1, 2))
    response = http.get("/v2/entities/E1/attrs/TEMPERATURE", headers=hdr(tenant))
    expected = {
        "entityId": "E1",
        "entityType": "Sensor",
        "attrName": "TEMPERATURE",
        "index": [index(1)],
        "values": [0.0],
    }
    assert_answer(response, 200, expected)


def test_column_of_another_entity_reads_as_null(http: httpx.Client, store: QlStore, tenant: str) -> None:
    seed(store, tenant, range(1, 3))
    store.add_points(
        service=tenant,
        entity_type="Sensor",
        entity_id="E2",
        attr_name="humidity",
        attr_type="Number",
        points=[(at(1), 50.0)],
    )
    assert http.get("/v2/entities/E1/attrs/humidity/value", headers=hdr(tenant)).json() == {
        "index": [index(1), index(2)],
        "values": [None, None],
    }
    assert_answer(http.get("/v2/entities/E1/attrs/pressure", headers=hdr(tenant)), 404, NO_RECORDS)


# ---------------------------------------------------------------------------------------------------------
# Refusals


LAST_N_ZERO = (
    "0 is less than the minimum of 1\n\n"
    "Failed validating 'minimum' in schema:\n"
    "    {'description': 'Optional. Used to request only the last N values that '\n"
    "                    'satisfy the request conditions.',\n"
    "     'in': 'query',\n"
    "     'minimum': 1,\n"
    "     'name': 'lastN',\n"
    "     'type': 'integer'}\n\n"
    "On instance:\n"
    "    0"
)

OFFSET_NEGATIVE = (
    "-1 is less than the minimum of 0\n\n"
    "Failed validating 'minimum' in schema:\n"
    "    {'description': 'Optional. Offset to apply to the response results. '\n"
    "                    'For example, if the query was to return 10 results '\n"
    "                    'and you use an offset of 1, the response will return '\n"
    '                    "the last 9 values. Make sure you don\'t give more "\n'
    "                    'offset than the number of results.',\n"
    "     'in': 'query',\n"
    "     'minimum': 0,\n"
    "     'name': 'offset',\n"
    "     'type': 'integer'}\n\n"
    "On instance:\n"
    "    -1"
)

MEDIAN = (
    "'median' is not one of ['count', 'sum', 'avg', 'min', 'max']\n\n"
    "Failed validating 'enum' in schema:\n"
    "    {'description': 'Optional. The function to apply to the raw data '\n"
    "                    'filtered by the query parameters. If not given, the '\n"
    "                    'returned data are the same raw inserted data.',\n"
    "     'enum': ['count', 'sum', 'avg', 'min', 'max'],\n"
    "     'in': 'query',\n"
    "     'name': 'aggrMethod',\n"
    "     'type': 'string'}\n\n"
    "On instance:\n"
    "    'median'"
)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        pytest.param("lastN=0", LAST_N_ZERO, id="last-n-zero"),
        pytest.param("offset=-1", OFFSET_NEGATIVE, id="offset-negative"),
        pytest.param("aggrMethod=median", MEDIAN, id="aggr-method"),
        pytest.param(
            "lastN=abc", "Wrong type, expected 'integer' for query parameter 'lastN'", id="last-n-type"
        ),
        pytest.param(
            "limit=1.5", "Wrong type, expected 'integer' for query parameter 'limit'", id="limit-type"
        ),
        pytest.param("lastN=0&aggrMethod=median", MEDIAN, id="spec-order"),
    ],
)
def test_connexion_refusals(http: httpx.Client, query: str, detail: str) -> None:
    assert_answer(http.get(f"{URL}?{query}"), 400, problem(400, "Bad Request", detail), PROBLEM)


def test_limit_zero_is_refused(http: httpx.Client) -> None:
    response = http.get(f"{URL}?limit=0")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "0 is less than the minimum of 1\n\nFailed validating 'minimum'"
    )


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        pytest.param(
            "aggrPeriod=day",
            400,
            {"error": "Bad parameters use", "description": "aggrMethod is compulsory when using aggrPeriod."},
            id="period-without-method",
        ),
        pytest.param(
            "options=keyValues",
            501,
            {
                "error": "Not implemented option",
                "description": "aggrScope and options are not yet implemented.",
            },
            id="options",
        ),
        pytest.param(
            "fromDate=notadate",
            500,
            "Something went wrong with QL. Error: The parameter value 'notadate' for parameter "
            "**fromDate** or **toDate** is not valid.",
            id="bad-date",
        ),
    ],
)
def test_quantumleap_refusals(
    http: httpx.Client, store: QlStore, tenant: str, query: str, status: int, body: object
) -> None:
    seed(store, tenant, range(1, 2))
    assert_answer(http.get(f"{URL}?{query}", headers=hdr(tenant)), status, body)
