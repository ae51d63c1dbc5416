"""The Orion sandbox against Orion's NGSI v2 API (orion-api.md and the functional tests), over HTTP:
the entity routes and ``POST /v2/op/update``, the lifespan and the latency.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_orion import OrionStore, create_app
from fiware.sandbox.server import serving
from tests.fiware.sandbox.fake_orion.support import (
    NOT_FOUND_ENTITY,
    UUID,
    Receiver,
    assert_error,
    create,
    error,
    hdr,
    sub_body,
)


def test_create_then_create_again_already_exists(client: httpx.Client, tenant: str) -> None:
    """As Orion's test 1158_v2_entity_already_exists/create_already_exists.test."""
    entity = {"id": "Room1", "type": "Room", "temp": "29"}
    first = client.post("/v2/entities?options=keyValues", json=entity, headers=hdr(tenant))
    assert first.status_code == 201
    assert first.headers["location"] == "/v2/entities/Room1?type=Room"
    assert first.headers["content-length"] == "0"
    assert "content-type" not in first.headers
    assert UUID.fullmatch(first.headers["fiware-correlator"])
    again = client.post("/v2/entities?options=keyValues", json={**entity, "temp": "30"}, headers=hdr(tenant))
    assert_error(again, 422, {"description": "Already Exists", "error": "Unprocessable"})
    assert again.headers["content-length"] == "56"
    got = client.get("/v2/entities/Room1", headers=hdr(tenant))
    assert got.status_code == 200
    assert got.headers["content-length"] == "78"
    assert got.json() == {
        "id": "Room1",
        "temp": {"metadata": {}, "type": "Text", "value": "29"},
        "type": "Room",
    }


@pytest.mark.parametrize(
    "existing", [pytest.param(False, id="as-create"), pytest.param(True, id="as-update")]
)
def test_upsert_answers_204_with_location(client: httpx.Client, tenant: str, existing: bool) -> None:
    """As Orion's tests 3215_upsert_op/upsert_op_as_create.test and upsert_op_as_update.test."""
    if existing:
        create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1, "type": "Number"}})
    body = {"id": "E", "type": "T", "A": {"value": 2, "type": "Number"}, "B": {"value": 3, "type": "Number"}}
    response = client.post("/v2/entities?options=upsert", json=body, headers=hdr(tenant))
    assert response.status_code == 204
    assert response.headers["location"] == "/v2/entities/E?type=T"
    assert response.content == b""
    got = client.get("/v2/entities/E", headers=hdr(tenant))
    assert got.headers["content-length"] == "113"
    assert got.json() == {
        "A": {"metadata": {}, "type": "Number", "value": 2},
        "B": {"metadata": {}, "type": "Number", "value": 3},
        "id": "E",
        "type": "T",
    }


# -- entity operations -----------------------------------------------------------------------------


def test_get_entity_not_found_and_too_many_results(client: httpx.Client, tenant: str) -> None:
    assert_error(client.get("/v2/entities/Nope", headers=hdr(tenant)), 404, NOT_FOUND_ENTITY)
    create(client, tenant, {"id": "E", "type": "T1"})
    create(client, tenant, {"id": "E", "type": "T2"})
    ambiguous = client.get("/v2/entities/E", headers=hdr(tenant))
    assert_error(
        ambiguous, 409, error("More than one matching entity. Please refine your query", "TooManyResults")
    )
    assert client.get("/v2/entities/E?type=T2", headers=hdr(tenant)).json() == {"id": "E", "type": "T2"}


def test_entity_without_type_gets_thing(client: httpx.Client, tenant: str) -> None:
    response = client.post("/v2/entities", json={"id": "E"}, headers=hdr(tenant))
    assert response.headers["location"] == "/v2/entities/E?type=Thing"


def test_delete_entity_then_404(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T"})
    first = client.delete("/v2/entities/E", headers=hdr(tenant))
    assert first.status_code == 204
    assert UUID.fullmatch(first.headers["fiware-correlator"])
    assert_error(client.delete("/v2/entities/E", headers=hdr(tenant)), 404, NOT_FOUND_ENTITY)


def test_list_pagination_and_count(client: httpx.Client, tenant: str) -> None:
    entities = [{"id": f"E{n:02d}", "type": "T", "n": n} for n in range(25)]
    batch = {"actionType": "append", "entities": entities}
    assert client.post("/v2/op/update?options=keyValues", json=batch, headers=hdr(tenant)).status_code == 204
    default = client.get("/v2/entities", headers=hdr(tenant))
    assert [e["id"] for e in default.json()] == [f"E{n:02d}" for n in range(20)]  # limit 20, creation order
    assert "fiware-total-count" not in default.headers
    page = client.get("/v2/entities?limit=3&offset=21&options=count,keyValues", headers=hdr(tenant))
    assert page.headers["fiware-total-count"] == "25"
    assert page.json() == [{"id": f"E{n}", "type": "T", "n": n} for n in (21, 22, 23)]
    newest = client.get(
        "/v2/entities?limit=2&orderBy=!dateCreated,!id&attrs=n&options=values", headers=hdr(tenant)
    )
    assert newest.json() == [[24], [23]]


@pytest.mark.parametrize(
    ("query", "description"),
    [
        pytest.param("limit=1001", "Bad pagination limit: /1001/ [max: 1000]", id="over-max"),
        pytest.param("limit=0", "Bad pagination limit: /0/ [a value of ZERO is unacceptable]", id="zero"),
        pytest.param("limit=x", "Bad pagination limit: /x/ [must be a decimal number]", id="not-a-number"),
        pytest.param("offset=-1", "Bad pagination offset: /-1/ [must be a decimal number]", id="offset"),
        pytest.param("options=bogus", "Invalid value for URI param /options/", id="options"),
        pytest.param("type=", "Empty right-hand-side for URI param /type/", id="empty-param"),
        pytest.param("id=E&idPattern=E", "Incompatible parameters: id, IdPattern", id="id-and-pattern"),
        pytest.param("idPattern=(", "Invalid regex for entity idPattern", id="bad-regex"),
        pytest.param("q=A>1", "the sandbox does not implement the URI param /q/", id="q-not-implemented"),
    ],
)
def test_invalid_list_parameters(client: httpx.Client, query: str, description: str) -> None:
    assert_error(client.get(f"/v2/entities?{query}"), 400, error(description))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("type=Room", ["R1", "R2"], id="type"),
        pytest.param("type=Room,Car", ["R1", "R2", "C1"], id="types"),
        pytest.param("id=R2,C1", ["R2", "C1"], id="ids"),
        pytest.param("idPattern=^R", ["R1", "R2"], id="idPattern"),
        pytest.param("typePattern=a", ["C1"], id="typePattern"),
    ],
)
def test_list_filters(client: httpx.Client, tenant: str, query: str, expected: list[str]) -> None:
    for entity_id, entity_type in (("R1", "Room"), ("R2", "Room"), ("C1", "Car")):
        create(client, tenant, {"id": entity_id, "type": entity_type})
    assert [e["id"] for e in client.get(f"/v2/entities?{query}", headers=hdr(tenant)).json()] == expected


def test_forecast_series_with_time_instant(client: httpx.Client, tenant: str) -> None:
    """The forecast entity and the ``forecastSeries`` update Chronos sends."""
    entity = {
        "id": "urn:ngsi-ld:Chronos:Prediction:0123456789ab",
        "type": "Prediction",
        "sourceEntity": {"type": "Relationship", "value": "urn:ngsi-ld:Lamp:001"},
        "feature": {"type": "Text", "value": "luminosity"},
        "forecastSeries": {
            "type": "StructuredValue",
            "value": {"generatedAt": "2025-01-01T00:00:00.123456Z", "horizon": 2, "points": []},
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2025-01-01T00:00:00.123456Z"}},
        },
    }
    create(client, tenant, entity)
    series = {
        "generatedAt": "2025-01-01T01:00:00.000000Z",
        "horizon": 2,
        "points": [{"step": 1, "value": 12.3, "targetTimestamp": "2025-01-01T02:00:00Z"}],
    }
    update = {
        "forecastSeries": {
            "type": "StructuredValue",
            "value": series,
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2025-01-01T01:00:00.000000Z"}},
        }
    }
    url = f"/v2/entities/{entity['id']}"
    assert client.post(f"{url}/attrs", json=update, headers=hdr(tenant)).status_code == 204
    got = client.get(url, headers=hdr(tenant)).json()
    assert got["forecastSeries"] == {
        "type": "StructuredValue",
        "value": series,  # a StructuredValue is kept verbatim, strings inside it included
        "metadata": {"TimeInstant": {"type": "DateTime", "value": "2025-01-01T01:00:00.000Z"}},
    }
    assert got["sourceEntity"] == {"type": "Relationship", "value": "urn:ngsi-ld:Lamp:001", "metadata": {}}


def test_values_unique(client: httpx.Client, tenant: str) -> None:
    for n, value in enumerate([1, 1, 2]):
        create(client, tenant, {"id": f"E{n}", "type": "T", "A": {"value": value}})
    assert client.get("/v2/entities?options=unique&attrs=A", headers=hdr(tenant)).json() == [[1], [2]]


def test_single_attribute_routes(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1, "metadata": {"m": {"value": 1}}}})
    url = "/v2/entities/E/attrs"
    put = client.put(f"{url}/A", json={"value": {"x": 1}, "type": "StructuredValue"}, headers=hdr(tenant))
    assert put.status_code == 204
    # Metadata are merged on update, the old `m` stays.
    assert client.get(f"{url}/A", headers=hdr(tenant)).json() == {
        "type": "StructuredValue",
        "value": {"x": 1},
        "metadata": {"m": {"type": "Number", "value": 1}},
    }
    missing = client.put(f"{url}/Z", json={"value": 1}, headers=hdr(tenant))
    assert_error(missing, 404, error("The entity does not have such an attribute", "NotFound"))
    assert client.get(f"{url}/A/value", headers=hdr(tenant)).json() == {"x": 1}
    assert_error(
        client.put(f"{url}/A", content=b"1", headers=hdr(tenant, Content_Type="text/plain")),
        415,
        error("not supported content type: text/plain", "UnsupportedMediaType"),
    )
    text = client.put(f"{url}/A/value", content=b"42", headers=hdr(tenant, Content_Type="text/plain"))
    assert text.status_code == 204
    value = client.get(f"{url}/A/value", headers=hdr(tenant, Accept="text/plain"))
    assert (value.text, value.headers["content-type"]) == ("42", "text/plain; charset=utf-8")
    json_only = client.get(f"{url}/A/value", headers=hdr(tenant, Accept="application/json"))
    assert_error(json_only, 406, error("acceptable MIME types: text/plain", "NotAcceptable"))
    assert client.put(f"{url}/A/value", json=[1, 2], headers=hdr(tenant)).status_code == 204
    assert client.get(f"{url}/A", headers=hdr(tenant)).json()["value"] == [1, 2]
    assert client.delete(f"{url}/A", headers=hdr(tenant)).status_code == 204
    again = client.delete(f"{url}/A", headers=hdr(tenant))
    assert_error(again, 404, error("The entity does not have such an attribute", "NotFound"))


def test_batch_update_actions(client: httpx.Client, tenant: str) -> None:
    def batch(action: str, *entities: dict[str, Any]) -> httpx.Response:
        body = {"actionType": action, "entities": list(entities)}
        return client.post("/v2/op/update", json=body, headers=hdr(tenant))

    def key_values(entity_id: str) -> Any:
        return client.get(f"/v2/entities/{entity_id}?options=keyValues", headers=hdr(tenant)).json()

    a1 = {"value": 1, "type": "Number"}
    assert (
        batch("append", {"id": "E1", "type": "T1", "A1": a1}, {"id": "E2", "type": "T2"}).status_code == 204
    )
    strict = batch("appendStrict", {"id": "E1", "type": "T1", "A1": a1})
    assert_error(
        strict,
        422,
        {
            "error": "Unprocessable",
            "description": "one or more of the attributes in the request already exist: E1/T1 - [ A1 ]",
        },
    )
    assert batch("update", {"id": "E1", "type": "T1", "A1": {"value": 5}}).status_code == 204
    assert key_values("E1") == {"id": "E1", "type": "T1", "A1": 5}
    assert_error(batch("update", {"id": "X", "type": "T", "A": a1}), 404, NOT_FOUND_ENTITY)
    assert batch("replace", {"id": "E1", "type": "T1", "B": a1}).status_code == 204
    assert key_values("E1") == {"id": "E1", "type": "T1", "B": 1}
    partial = batch(
        "update", {"id": "E1", "type": "T1", "B": {"value": 7}}, {"id": "X", "type": "T", "A": a1}
    )
    assert_error(partial, 422, error("do not exist: X/T - [entity itself]", "PartialUpdate"))
    assert key_values("E1") == {"id": "E1", "type": "T1", "B": 7}
    assert batch("APPEND", {"id": "E2", "type": "T2", "C": a1, "D": a1}).status_code == 204  # NGSIv1 name
    assert batch("delete", {"id": "E2", "type": "T2", "C": a1}).status_code == 204
    assert key_values("E2") == {"id": "E2", "type": "T2", "D": 1}
    assert batch("delete", {"id": "E2", "type": "T2"}).status_code == 204
    assert_error(client.get("/v2/entities/E2", headers=hdr(tenant)), 404, NOT_FOUND_ENTITY)
    assert_error(
        batch("upsert", {"id": "E"}),
        400,
        error("invalid update action type: right ones are: append, appendStrict, delete, replace, update"),
    )
    assert_error(batch("append"), 400, error("empty entities vector"))


async def test_lifespan_client_and_latency(receiver: Receiver, sink: str) -> None:
    """With a lifespan the notification client opens at startup and closes at shutdown."""
    app = create_app(SandboxConfig(latency_seconds=0.05), OrionStore())
    async with app.router.lifespan_context(app):
        notifier_client = app.state.notifier.client()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orion") as orion:
            await orion.post("/v2/subscriptions", json=sub_body(receiver.url + sink))
            started = time.monotonic()
            assert (await orion.post("/v2/entities", json={"id": "E1", "type": "T"})).status_code == 201
            assert time.monotonic() - started >= 0.05
            deadline = time.monotonic() + 5
            while not receiver.at(sink) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
    assert len(receiver.at(sink)) == 1
    assert notifier_client.is_closed


@pytest.mark.parametrize(
    ("version", "text"),
    [("3.12.0", "date has invalid format"), ("4.2.0", "date has invalid format in metadata value")],
)
def test_a_bad_datetime_metadata_reads_as_the_emulated_version_words_it(version: str, text: str) -> None:
    """Orion says "in metadata value" from 4.2.0 on; the default 3.12 does not."""
    entity = {
        "id": "Room1",
        "type": "Room",
        "temp": {"value": 1, "metadata": {"TimeInstant": {"type": "DateTime", "value": "yesterday"}}},
    }
    with serving(create_app(SandboxConfig(orion_version=version))) as url:
        answer = httpx.post(f"{url}/v2/entities", json=entity, headers=hdr("t1"), timeout=5)
    assert_error(answer, 400, {"error": "BadRequest", "description": text})
