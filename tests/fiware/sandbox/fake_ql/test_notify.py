"""The QuantumLeap sandbox against QuantumLeap 1.0.0 (``reporter.py``, ``timex.py``, the translators,
``tests/test_notify.py`` and a real run on PostgreSQL), over HTTP: ``POST /v2/notify``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from fiware.sandbox.fake_ql import QlStore
from tests.fiware.sandbox.fake_ql.support import (
    ACCEPTED,
    NO_RECORDS,
    PROBLEM,
    assert_answer,
    entity,
    hdr,
    notification,
    notify,
    number,
    problem,
)

URL = "/v2/entities/E1/attrs/temperature"

# ---------------------------------------------------------------------------------------------------------
# Answers


def test_accepted_notification_is_stored_at_its_time_instant(
    http: httpx.Client, store: QlStore, tenant: str
) -> None:
    response = notify(http, entity(temperature=number(21.5, "2024-01-05T10:00:00.000Z")), **hdr(tenant))
    assert_answer(response, 200, ACCEPTED)
    assert response.content == b'"Notification successfully processed"\n'
    [row] = store.rows(tenant, "Sensor")
    assert (row.entity_id, row.entity_type, row.service_path) == ("E1", "Sensor", "/")
    assert row.time_index == datetime(2024, 1, 5, 10, tzinfo=UTC)
    assert row.values == {"temperature": 21.5}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(notification(), id="no-data"),
        pytest.param(notification(entity()), id="no-attributes"),
    ],
)
def test_nothing_to_store_is_still_accepted(
    http: httpx.Client, store: QlStore, tenant: str, body: dict[str, Any]
) -> None:
    assert_answer(http.post("/v2/notify", json=body, headers=hdr(tenant)), 200, ACCEPTED)
    assert store.rows(tenant, "Sensor") == []


def test_json_with_a_charset_is_accepted(http: httpx.Client, tenant: str) -> None:
    body = json.dumps(notification(entity(temperature=number(1.0)))).encode()
    headers = {**hdr(tenant), "Content-Type": "application/json; charset=utf-8"}
    assert_answer(http.post("/v2/notify", content=body, headers=headers), 200, ACCEPTED)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "expected"),
    [
        pytest.param(
            "application/json",
            b"{not json",
            400,
            problem(400, "Bad Request", "Request body is not valid JSON"),
            id="not-json",  # test_notify.py::test_invalid_no_body
        ),
        pytest.param(
            "text/plain",
            b'{"data": []}',
            415,
            problem(415, "Unsupported Media Type", "Invalid Content-type (text/plain), expected JSON data"),
            id="text-plain",
        ),
        pytest.param(
            # connexion's is_json_mimetype keeps the parameters, so this is not "JSON" to it.
            "application/json; charset=utf-8",
            b"{not json",
            415,
            problem(
                415,
                "Unsupported Media Type",
                "Invalid Content-type (application/json; charset=utf-8), expected JSON data",
            ),
            id="charset-not-json",
        ),
        pytest.param(
            "application/json",
            b"",
            400,
            problem(400, "Bad Request", "None is not of type 'object'"),
            id="empty",
        ),
        pytest.param(
            "application/json",
            b"{}",
            400,
            problem(400, "Bad Request", "'data' is a required property"),
            id="no-data",  # test_invalid_empty_body
        ),
        pytest.param(
            "application/json",
            b'{"data": [{"id": "E1"}]}',
            400,
            problem(400, "Bad Request", "'type' is a required property - 'data.0'"),
            id="no-type",  # test_invalid_no_type
        ),
        pytest.param(
            "application/json",
            b'{"data": [{"type": "T"}]}',
            400,
            problem(400, "Bad Request", "'id' is a required property - 'data.0'"),
            id="no-id",  # test_invalid_no_id
        ),
        pytest.param(
            "application/json",
            b'{"data": {"id": "E1", "type": "T"}}',
            400,
            problem(400, "Bad Request", "{'id': 'E1', 'type': 'T'} is not of type 'array' - 'data'"),
            id="data-not-a-list",
        ),
    ],
)
def test_bodies_connexion_refuses(
    http: httpx.Client, content_type: str, body: bytes, status: int, expected: dict[str, Any]
) -> None:
    response = http.post("/v2/notify", content=body, headers={"Content-Type": content_type})
    assert_answer(response, status, expected, PROBLEM)


@pytest.mark.parametrize("value", [21.5, 0, True, None, ""], ids=["float", "zero", "true", "null", "empty"])
def test_key_values_attribute_is_an_internal_error(
    http: httpx.Client, store: QlStore, tenant: str, value: object
) -> None:
    """What Orion sends for `attrsFormat: keyValues`: QL's preprocessing raises on bare values."""
    response = notify(http, entity(temperature=value), **hdr(tenant))
    detail = (
        "The server encountered an internal error and was unable to complete your request. Either the "
        "server is overloaded or there is an error in the application."
    )
    assert_answer(response, 500, problem(500, "Internal Server Error", detail), PROBLEM)
    assert store.rows(tenant, "Sensor") == []


def test_time_index_candidate_that_is_not_text_is_an_internal_error(http: httpx.Client, tenant: str) -> None:
    """timestr.to_datetime raises a TypeError on a number, which QL does not catch."""
    body = entity(TimeInstant={"type": "Number", "value": 5}, temperature=number(1.0))
    response = notify(http, body, **hdr(tenant))
    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"


def test_key_values_string_attribute_is_dropped(http: httpx.Client, store: QlStore, tenant: str) -> None:
    body = entity(temperature=number(1.0), label="kitchen")
    assert_answer(notify(http, body, **hdr(tenant)), 200, ACCEPTED)
    assert [row.values for row in store.rows(tenant, "Sensor")] == [{"temperature": 1.0}]
    assert set(store.columns(tenant, "Sensor")) == {"temperature"}


def test_attributes_without_value_are_null_and_without_type_or_value_dropped(
    http: httpx.Client, store: QlStore, tenant: str
) -> None:
    # test_notify.py::test_invalid_no_value, test_no_value_no_type_for_attributes
    body = entity(
        temperature=number(1.0), humidity={"type": "Number"}, pressure=number(""), empty={"metadata": {}}
    )
    assert_answer(notify(http, body, **hdr(tenant)), 200, ACCEPTED)
    [row] = store.rows(tenant, "Sensor")
    assert row.values == {"temperature": 1.0, "humidity": None, "pressure": None}
    assert "empty" not in store.columns(tenant, "Sensor")


def test_entity_with_only_falsy_values_is_dropped(http: httpx.Client, store: QlStore, tenant: str) -> None:
    """_filter_empty_entities: 0.0 and "" are empty, integers are not."""
    assert_answer(notify(http, entity(temperature=number(0.0)), **hdr(tenant)), 200, ACCEPTED)
    assert store.rows(tenant, "Sensor") == []
    assert_answer(notify(http, entity(count=number(0, kind="Integer")), **hdr(tenant)), 200, ACCEPTED)
    assert len(store.rows(tenant, "Sensor")) == 1


def test_repeated_notification_is_stored_twice(http: httpx.Client, store: QlStore, tenant: str) -> None:
    body = entity(temperature=number(21.5, "2024-01-05T10:00:00Z"))
    for _ in range(2):
        assert_answer(notify(http, body, **hdr(tenant)), 200, ACCEPTED)
    response = http.get(f"{URL}/value", headers=hdr(tenant))
    expected = {"index": ["2024-01-05T10:00:00.000+00:00"] * 2, "values": [21.5, 21.5]}
    assert_answer(response, 200, expected)


# ---------------------------------------------------------------------------------------------------------
# Service paths and tenants


def test_service_path_list_must_match_the_entities(http: httpx.Client, store: QlStore, tenant: str) -> None:
    # test_notify.py::test_multiple_data_elements_invalid_different_servicepath
    body = [entity("E1", temperature=number(1.0)), entity("E2", temperature=number(2.0))]
    response = notify(http, *body[:1], **hdr(tenant, "/a, /b"))
    message = (
        "Notification not processed or not updated: The header value 'Fiware-ServicePath' for header "
        "/a, /b is not valid. Multiple servicePath are allowed only if their number match the number of "
        "entities"
    )
    assert_answer(response, 400, message)
    assert_answer(notify(http, *body, **hdr(tenant, "/a, /b")), 200, ACCEPTED)
    assert {row.entity_id: row.service_path for row in store.rows(tenant, "Sensor")} == {
        "E1": "/a",
        "E2": "/b",
    }


def test_tenant_is_lower_cased_and_ngsild_tenant_wins(
    http: httpx.Client, store: QlStore, tenant: str
) -> None:
    body = entity(temperature=number(1.0))
    assert_answer(notify(http, body, **hdr(tenant.upper())), 200, ACCEPTED)
    assert_answer(notify(http, body, **hdr("ignored", NGSILD_Tenant=tenant)), 200, ACCEPTED)
    assert len(store.rows(tenant, "Sensor")) == 2
    assert store.rows("ignored", "Sensor") == []


def test_default_tenant_is_separate(http: httpx.Client, tenant: str) -> None:
    entity_id = f"E{tenant}"
    assert_answer(notify(http, entity(entity_id, temperature=number(1.0))), 200, ACCEPTED)
    assert_answer(
        http.get(f"/v2/entities/{entity_id}/attrs/temperature", headers=hdr(tenant)), 404, NO_RECORDS
    )
    assert http.get(f"/v2/entities/{entity_id}/attrs/temperature").status_code == 200


# ---------------------------------------------------------------------------------------------------------
# Time index


def _dated(value: str) -> dict[str, str]:
    return {"type": "DateTime", "value": value}


@pytest.mark.parametrize(
    ("attrs", "headers", "expected"),
    [
        pytest.param(
            {
                "TimeInstant": _dated("2020-01-01T00:00:00Z"),
                "temperature": number(1.0)
                | {
                    "metadata": {
                        "dateModified": _dated("2021-01-01T00:00:00Z"),
                        "TimeInstant": _dated("2022-01-01T00:00:00Z"),
                    }
                },
            },
            {},
            "2020-01-01T00:00:00.000+00:00",
            id="attribute-beats-metadata",
        ),
        pytest.param(
            {
                "temperature": number(1.0)
                | {
                    "metadata": {
                        "dateModified": _dated("2021-01-01T00:00:00Z"),
                        "TimeInstant": _dated("2022-01-01T00:00:00Z"),
                    }
                },
            },
            {},
            "2022-01-01T00:00:00.000+00:00",
            id="time-instant-metadata-beats-date-modified",
        ),
        pytest.param(
            {
                "obsTime": _dated("2019-01-01T00:00:00Z"),
                "TimeInstant": _dated("2020-01-01T00:00:00Z"),
                "temperature": number(1.0),
            },
            {"Fiware-TimeIndex-Attribute": "obsTime"},
            "2019-01-01T00:00:00.000+00:00",
            id="custom-header",
        ),
        pytest.param(
            {
                "temperature": number(1.0, "2024-01-02T00:00:00Z"),
                "humidity": number(50.0, "2024-01-03T00:00:00+01:00"),
            },
            {},
            "2024-01-02T23:00:00.000+00:00",
            id="latest-metadata",
        ),
        pytest.param(
            {
                "timestamp": _dated("2018-01-01T00:00:00Z"),
                "dateModified": _dated("2017-01-01T00:00:00Z"),
                "temperature": number(1.0),
            },
            {},
            "2018-01-01T00:00:00.000+00:00",
            id="timestamp-beats-date-modified",
        ),
        pytest.param(
            {"dateModified": _dated("2017-01-01T00:00:00Z"), "temperature": number(1.0)},
            {},
            "2017-01-01T00:00:00.000+00:00",
            id="date-modified",
        ),
        pytest.param(
            {"TimeInstant": _dated("not a date"), "temperature": number(1.0, "2016-01-01T00:00:00Z")},
            {},
            "2016-01-01T00:00:00.000+00:00",
            id="unreadable-candidate-is-skipped",
        ),
    ],
)
def test_time_index_priority(
    http: httpx.Client, tenant: str, attrs: dict[str, Any], headers: dict[str, str], expected: str
) -> None:
    assert_answer(notify(http, entity(**attrs), **hdr(tenant), **headers), 200, ACCEPTED)
    response = http.get(f"{URL}/value", headers=hdr(tenant))
    assert_answer(response, 200, {"index": [expected], "values": [1.0]})


def test_without_time_information_the_index_is_the_arrival(http: httpx.Client, tenant: str) -> None:
    before = datetime.now(UTC)
    assert_answer(notify(http, entity(temperature=number(1.0)), **hdr(tenant)), 200, ACCEPTED)
    after = datetime.now(UTC)
    [stamp] = http.get(f"{URL}/value", headers=hdr(tenant)).json()["index"]
    assert (
        before.replace(microsecond=before.microsecond // 1000 * 1000)
        <= datetime.fromisoformat(stamp)
        <= after
    )


# ---------------------------------------------------------------------------------------------------------
# Column types and casts


@pytest.mark.parametrize(
    ("kind", "value", "read_back"),
    [
        pytest.param("Number", 1, 1.0, id="number-int"),
        pytest.param("Number", "2.5", 2.5, id="number-string"),
        pytest.param("Number", True, None, id="number-bool"),
        pytest.param("Number", "2024-01-01T00:00:00Z", None, id="number-date"),
        pytest.param("Integer", 1.0, 1, id="integer-float"),
        pytest.param("Integer", "1.0", 1, id="integer-string"),
        pytest.param("Integer", True, None, id="integer-bool"),
        pytest.param("Text", 42, "42", id="text-int"),
        pytest.param("Text", True, "True", id="text-bool"),
        pytest.param("Text", ["a", "b"], "['a', 'b']", id="text-list"),
        pytest.param("StructuredValue", {"a": [1, 2]}, {"a": [1, 2]}, id="structured-object"),
        pytest.param("StructuredValue", [1.5, 2.5], [1.5, 2.5], id="structured-list"),
        pytest.param("StructuredValue", "x", None, id="structured-scalar"),
        pytest.param("Array", [1.5, 2.5], [1.5, 2.5], id="array"),
        pytest.param("Boolean", "true", True, id="boolean-string"),
        pytest.param("Boolean", 1, True, id="boolean-one"),
        pytest.param("Boolean", "maybe", None, id="boolean-other"),
        pytest.param("DateTime", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000+00:00", id="datetime"),
        pytest.param("Float", 21, 21, id="unknown-type-int"),
        pytest.param("Float", 21.5, 21.5, id="unknown-type-float"),
    ],
)
def test_values_are_cast_to_their_column(
    http: httpx.Client, tenant: str, kind: str, value: object, read_back: object
) -> None:
    # using.md "Data Casting"; test_notify.py::test_valid_data_for_type
    body = entity(temperature=number(value, "2024-01-05T10:00:00Z", kind=kind))
    assert_answer(notify(http, body, **hdr(tenant)), 200, ACCEPTED)
    response = http.get(f"{URL}/value", headers=hdr(tenant))
    assert_answer(response, 200, {"index": ["2024-01-05T10:00:00.000+00:00"], "values": [read_back]})


def test_column_type_is_fixed_on_first_sight(http: httpx.Client, store: QlStore, tenant: str) -> None:
    for day, attr in [(1, number(1.5)), (2, number("2.5", kind="Text")), (3, number("abc", kind="Text"))]:
        body = entity(temperature=attr | {"metadata": {"TimeInstant": _dated(f"2024-01-0{day}T00:00:00Z")}})
        assert_answer(notify(http, body, **hdr(tenant)), 200, ACCEPTED)
    assert store.columns(tenant, "Sensor")["temperature"].ngsi_type == "Number"
    assert http.get(f"{URL}/value", headers=hdr(tenant)).json()["values"] == [1.5, 2.5, None]


def test_unknown_type_with_a_falsy_first_value_is_text(http: httpx.Client, tenant: str) -> None:
    """_compute_type reads the first value as `value or object`: 0 makes a Text column."""
    assert_answer(notify(http, entity(temperature=number(0, kind="Float")), **hdr(tenant)), 200, ACCEPTED)
    assert http.get(f"{URL}/value", headers=hdr(tenant)).json()["values"] == ["0"]
