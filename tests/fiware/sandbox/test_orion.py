"""The Orion sandbox against Orion's NGSI v2 API (``doc/manuals/orion-api.md`` and the functional-test
transcripts under ``test/functionalTest/cases/``), over real HTTP.

One Orion (3.12.0) and one notification receiver serve the whole module; each test works in its
own tenant (a fresh ``Fiware-Service``) and receives on its own path, so tests do not see each other.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_orion import OrionStore, create_app
from fiware.sandbox.server import free_port, serving

UUID = re.compile(r"[0-9a-f\-]{36}")
SUB_LOCATION = re.compile(r"/v2/subscriptions/([0-9a-f]{24})")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z")
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
NOT_FOUND_ENTITY = {
    "error": "NotFound",
    "description": "The requested entity has not been found. Check type and id",
}
NOT_FOUND_SUB = {
    "error": "NotFound",
    "description": "The requested subscription has not been found. Check id",
}
SERVICE_NOT_FOUND = {
    "error": "BadRequest",
    "description": "Service not found. Check your URL as probably it is wrong.",
}
INVALID_FORMAT = {
    "error": "BadRequest",
    "description": "invalid attrsFormat, accepted values: normalized, simplifiedNormalized, keyValues, "
    "simplifiedkeyValues, values",
}


# -- notification receiver ------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """Records every POST; ``/status/<code>/…`` answers that code, ``/slow/…`` answers after 1 s."""

    url: str = ""
    calls: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.calls.append(Received(request.url.path, dict(request.headers), body))
        parts = request.url.path.split("/")
        if parts[1] == "slow":
            await asyncio.sleep(1.0)
        return Response(status_code=int(parts[2]) if parts[1] == "status" else 200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.endpoint, methods=["POST"])])

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [call for call in self.calls if call.path == path]

    def wait(self, path: str, count: int, timeout: float = 5.0) -> list[Received]:
        wait_until(lambda: len(self.at(path)) >= count, timeout)
        return self.at(path)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    with serving(found.app()) as url:
        found.url = url
        yield found


@pytest.fixture(scope="module")
def orion_app() -> Starlette:
    return create_app(SandboxConfig())


@pytest.fixture(scope="module")
def orion_url(orion_app: Starlette) -> Iterator[str]:
    with serving(orion_app) as url:
        yield url


@pytest.fixture
def client(orion_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=orion_url, timeout=5) as found:
        yield found


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture
def sink(receiver: Receiver) -> str:
    """A fresh notification path on the receiver."""
    return f"/notify/{uuid.uuid4().hex}"


def hdr(tenant: str | None, path: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Fiware-Service": tenant} if tenant else {}
    if path is not None:
        headers["Fiware-ServicePath"] = path
    return {**headers, **{key.replace("_", "-"): value for key, value in extra.items()}}


def create(client: httpx.Client, tenant: str | None, entity: dict[str, Any], path: str | None = None) -> None:
    response = client.post("/v2/entities", json=entity, headers=hdr(tenant, path))
    assert response.status_code == 201, response.text


def subscribe(client: httpx.Client, tenant: str | None, body: dict[str, Any], path: str | None = None) -> str:
    response = client.post("/v2/subscriptions", json=body, headers=hdr(tenant, path))
    assert response.status_code == 201, response.text
    match = SUB_LOCATION.fullmatch(response.headers["location"])
    assert match is not None
    return match.group(1)


def sub_body(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": {"entities": [{"id": "E1", "type": "T"}]},
        "notification": {"http": {"url": url}},
    }
    for key, value in extra.items():
        if key in ("condition",):
            body["subject"][key] = value
        elif key in ("attrs", "attrsFormat", "metadata", "onlyChangedAttrs", "exceptAttrs"):
            body["notification"][key] = value
        else:
            body[key] = value
    return body


def assert_error(response: httpx.Response, status: int, body: dict[str, str]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert UUID.fullmatch(response.headers["fiware-correlator"])
    assert response.json() == body


def error(description: str, name: str = "BadRequest") -> dict[str, str]:
    return {"error": name, "description": description}


# -- common rules: headers, content types, errors --------------------------------------------------


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


def test_correlator_is_echoed_when_sent(client: httpx.Client) -> None:
    response = client.get("/v2/entities", headers={"Fiware-Correlator": "my-correlator"})
    assert response.headers["fiware-correlator"] == "my-correlator"


@pytest.mark.parametrize(
    ("method", "url", "headers", "content", "status", "body"),
    [
        pytest.param(
            "POST",
            "/v2/entities",
            {"Content-Type": "text/plain"},
            b"hello",
            415,
            error("not supported content type: text/plain", "UnsupportedMediaType"),
            id="415-text-plain",
        ),
        pytest.param(
            "POST",
            "/v2/entities",
            {},
            b'{"id":"E"}',
            415,
            error(
                "Content-Type header not used, default application/octet-stream is not supported",
                "UnsupportedMediaType",
            ),
            id="415-no-content-type",
        ),
        pytest.param(
            "POST",
            "/v2/entities",
            {"Content-Type": "application/json"},
            b'{"id": ',
            400,
            error("Errors found in incoming JSON buffer", "ParseError"),
            id="parse-error",
        ),
        pytest.param(
            "POST",
            "/v2/entities",
            {"Content-Type": "application/json"},
            b"",
            411,
            error("Zero/No Content-Length in PUT/POST/PATCH request", "ContentLengthRequired"),
            id="411-no-body",
        ),
        pytest.param(
            "GET",
            "/v2/entities",
            {"Accept": "text/html"},
            b"",
            406,
            error("acceptable MIME types: application/json", "NotAcceptable"),
            id="406-accept",
        ),
        pytest.param(
            "GET",
            "/v2/entities",
            {"Content-Type": "application/json"},
            b"",
            400,
            error(
                "Orion accepts no payload for GET/DELETE requests. HTTP header Content-Type is thus forbidden"
            ),
            id="get-with-content-type",
        ),
        pytest.param(
            "GET", "/v2/entities/E1/attrs/A/value/more", {}, b"", 400, SERVICE_NOT_FOUND, id="unknown-path"
        ),
        pytest.param("GET", "/v2/entities//", {}, b"", 400, SERVICE_NOT_FOUND, id="double-slash-at-end"),
        pytest.param("GET", "/v1/contextEntities", {}, b"", 400, SERVICE_NOT_FOUND, id="ngsiv1-path"),
    ],
)
def test_common_request_errors(
    client: httpx.Client,
    tenant: str,
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes,
    status: int,
    body: dict[str, str],
) -> None:
    response = client.request(method, url, headers={**hdr(tenant), **headers}, content=content)
    assert_error(response, status, body)


def test_wrong_method_answers_405_with_allow(client: httpx.Client) -> None:
    response = client.put("/v2/entities", json={})
    assert_error(response, 405, error("method not allowed", "MethodNotAlowed"))
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("service", "description"),
    [
        pytest.param(
            "bad.name",
            "bad character in tenant name - only underscore and alphanumeric characters are allowed",
            id="bad-character",
        ),
        pytest.param(
            "Service-sr",
            "bad character in tenant name - only underscore and alphanumeric characters are allowed",
            id="hyphen",
        ),
        pytest.param("a" * 51, "bad length - a tenant name can be max 50 characters long", id="too-long"),
    ],
)
def test_invalid_tenant_is_refused(client: httpx.Client, service: str, description: str) -> None:
    response = client.get("/v2/entities", headers={"Fiware-Service": service})
    assert_error(response, 400, error(description))


def test_tenants_are_separate_and_lower_cased(client: httpx.Client, tenant: str) -> None:
    create(client, tenant.upper(), {"id": "E1", "type": "T"})
    assert [e["id"] for e in client.get("/v2/entities", headers=hdr(tenant)).json()] == ["E1"]
    other = client.get("/v2/entities/E1", headers=hdr(tenant + "x"))
    assert_error(other, 404, NOT_FOUND_ENTITY)


ABSOLUTE = "Only /absolute/ Service Paths allowed [a service path must begin with /]"


@pytest.mark.parametrize(
    ("method", "path", "description"),
    [
        pytest.param("GET", "sdffsfs", ABSOLUTE, id="relative"),
        pytest.param("GET", "/service,sr", ABSOLUTE, id="relative-second-path"),
        pytest.param(
            "GET", "/Service-sr", "a component of ServicePath contains an illegal character", id="illegal"
        ),
        pytest.param("GET", "/" + "a" * 51, "component-name too long in ServicePath", id="long-level"),
        pytest.param("GET", "/a" * 11, "too many components in ServicePath", id="eleven-levels"),
        pytest.param(
            "GET",
            ",".join(["/a"] * 11),
            "too many service paths - a maximum of ten service paths is allowed",
            id="eleven-paths",
        ),
        pytest.param(
            "POST", "/a,/b", "more than one service path in context update request", id="update-two-paths"
        ),
        pytest.param("POST", "/a/#", "Bad Character in Service-Path", id="update-hash"),
    ],
)
def test_invalid_service_path_is_refused(
    client: httpx.Client, tenant: str, method: str, path: str, description: str
) -> None:
    response = client.request(method, "/v2/entities", json={"id": "E"}, headers=hdr(tenant, path))
    assert_error(response, 400, error(description))


def test_service_path_scopes(client: httpx.Client, tenant: str) -> None:
    for entity_id, path in (("E1", "/a"), ("E2", "/a/b"), ("E3", "/c"), ("E4", None)):
        create(client, tenant, {"id": entity_id, "type": "T"}, path)

    def ids(path: str | None) -> list[str]:
        return [e["id"] for e in client.get("/v2/entities", headers=hdr(tenant, path)).json()]

    assert ids(None) == ["E1", "E2", "E3", "E4"]  # queries default to /#
    assert ids("/a/#") == ["E1", "E2"]
    assert ids("/a") == ["E1"]
    assert ids("/a, /c") == ["E1", "E3"]
    assert ids("/") == ["E4"]  # updates default to /
    # Updates name exactly one path, the default being /.
    patch = {"A": {"value": 1}}
    assert_error(client.post("/v2/entities/E1/attrs", json=patch, headers=hdr(tenant)), 404, NOT_FOUND_ENTITY)
    assert client.post("/v2/entities/E1/attrs", json=patch, headers=hdr(tenant, "/a/")).status_code == 204


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


@pytest.mark.parametrize(
    ("entity", "description"),
    [
        pytest.param({"type": "T"}, "entity id length: 0, min length supported: 1", id="no-id"),
        pytest.param({"id": "", "type": "T"}, "entity id length: 0, min length supported: 1", id="empty-id"),
        pytest.param({"id": "E?1"}, "Invalid characters in entity id", id="bad-id"),
        pytest.param({"id": "E", "type": "T#"}, "Invalid characters in entity type", id="bad-type"),
        pytest.param({"id": "E", "a b": 1}, "Invalid characters in attribute name", id="bad-attr-name"),
    ],
)
def test_invalid_entity_is_refused(
    client: httpx.Client, tenant: str, entity: dict[str, Any], description: str
) -> None:
    assert_error(client.post("/v2/entities", json=entity, headers=hdr(tenant)), 400, error(description))


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


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        pytest.param("x", "Text", id="string"),
        pytest.param(21.5, "Number", id="number"),
        pytest.param(True, "Boolean", id="boolean"),
        pytest.param({"a": [1]}, "StructuredValue", id="object"),
        pytest.param([1, 2], "StructuredValue", id="array"),
        pytest.param(None, "None", id="null"),
    ],
)
def test_default_attribute_types(client: httpx.Client, tenant: str, value: Any, kind: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": value}})
    assert client.get("/v2/entities/E/attrs/A", headers=hdr(tenant)).json() == {
        "type": kind,
        "value": value,
        "metadata": {},
    }


def test_representations(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1.0}, "B": {"value": "b", "type": "Text"}})
    url = "/v2/entities/E"
    assert client.get(f"{url}?options=keyValues", headers=hdr(tenant)).json() == {
        "id": "E",
        "type": "T",
        "A": 1,
        "B": "b",
    }
    assert client.get(f"{url}?options=values&attrs=B,A", headers=hdr(tenant)).json() == ["b", 1]
    assert client.get(f"{url}/attrs?attrs=B", headers=hdr(tenant)).json() == {
        "B": {"type": "Text", "value": "b", "metadata": {}}
    }


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


@pytest.mark.parametrize(
    ("attr", "stored"),
    [
        pytest.param(
            {"type": "DateTime", "value": "2018-09-12T16:14:00Z"}, "2018-09-12T16:14:00.000Z", id="Z"
        ),
        pytest.param(
            {"type": "DateTime", "value": "2018-09-12T16:14:00"}, "2018-09-12T16:14:00.000Z", id="no-tz"
        ),
        pytest.param(
            {"type": "ISO8601", "value": "2018-09-12T18:14:00.5+02:00"},
            "2018-09-12T16:14:00.500Z",
            id="offset",
        ),
    ],
)
def test_dates_are_normalised(client: httpx.Client, tenant: str, attr: dict[str, str], stored: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": attr})
    assert client.get("/v2/entities/E/attrs/A", headers=hdr(tenant)).json()["value"] == stored


@pytest.mark.parametrize(
    ("attr", "description"),
    [
        pytest.param(
            {"type": "DateTime", "value": "yesterday"},
            "date has invalid format in attribute value",
            id="attr",
        ),
        pytest.param(
            {"value": 1, "metadata": {"TimeInstant": {"type": "DateTime", "value": "soon"}}},
            "date has invalid format in metadata value",
            id="metadata",
        ),
    ],
)
def test_invalid_dates_are_refused(
    client: httpx.Client, tenant: str, attr: dict[str, Any], description: str
) -> None:
    response = client.post("/v2/entities", json={"id": "E", "A": attr}, headers=hdr(tenant))
    assert_error(response, 400, error(description))


def test_builtin_attributes_and_metadata_only_when_asked(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1, "metadata": {"m": {"value": "x"}}}})
    plain = client.get("/v2/entities/E", headers=hdr(tenant)).json()
    assert plain == {
        "id": "E",
        "type": "T",
        "A": {"type": "Number", "value": 1, "metadata": {"m": {"type": "Text", "value": "x"}}},
    }
    dated = client.get("/v2/entities/E?attrs=dateCreated,dateModified", headers=hdr(tenant)).json()
    assert set(dated) == {"id", "type", "dateCreated", "dateModified"}
    assert dated["dateCreated"]["type"] == "DateTime"
    assert DATE.fullmatch(dated["dateModified"]["value"])
    every = client.get("/v2/entities/E?attrs=*,servicePath", headers=hdr(tenant)).json()
    assert every["servicePath"] == {"type": "Text", "value": "/", "metadata": {}}
    assert "A" in every
    metadata = client.get("/v2/entities/E/attrs/A?metadata=dateCreated", headers=hdr(tenant)).json()
    assert list(metadata["metadata"]) == ["dateCreated"]
    both = client.get("/v2/entities/E/attrs/A?metadata=*,dateModified", headers=hdr(tenant)).json()
    assert list(both["metadata"]) == ["m", "dateModified"]


def test_post_attrs_updates_and_appends(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1}})
    response = client.post(
        "/v2/entities/E/attrs", json={"A": {"value": 2}, "B": {"value": 3}}, headers=hdr(tenant)
    )
    assert response.status_code == 204
    got = client.get("/v2/entities/E?options=keyValues", headers=hdr(tenant)).json()
    assert got == {"id": "E", "type": "T", "A": 2, "B": 3}


@pytest.mark.parametrize(
    ("attrs", "name", "applied"),
    [
        pytest.param({"A": {"value": 9}}, "Unprocessable", {"A": 1}, id="all-exist"),
        pytest.param({"A": {"value": 9}, "C": {"value": 5}}, "PartialUpdate", {"A": 1, "C": 5}, id="partial"),
    ],
)
def test_strict_append_on_existing_attribute(
    client: httpx.Client, tenant: str, attrs: dict[str, Any], name: str, applied: dict[str, int]
) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1}})
    response = client.post("/v2/entities/E/attrs?options=append", json=attrs, headers=hdr(tenant))
    description = "one or more of the attributes in the request already exist: E/T - [ A ]"
    assert_error(response, 422, error(description, name))
    assert client.get("/v2/entities/E?options=keyValues", headers=hdr(tenant)).json() == {
        "id": "E",
        "type": "T",
        **applied,
    }


def test_patch_updates_existing_attributes_only(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1}, "B": {"value": 1}})
    assert (
        client.patch("/v2/entities/E/attrs", json={"A": {"value": 2}}, headers=hdr(tenant)).status_code == 204
    )
    missing = client.patch("/v2/entities/E/attrs", json={"C": {"value": 2}, "D": 1}, headers=hdr(tenant))
    assert_error(missing, 422, error("do not exist: E/T - [ C, D ]", "Unprocessable"))
    partial = client.patch(
        "/v2/entities/E/attrs", json={"B": {"value": 5}, "C": {"value": 2}}, headers=hdr(tenant)
    )
    assert_error(partial, 422, error("do not exist: E/T - [ C ]", "PartialUpdate"))
    assert client.get("/v2/entities/E?options=keyValues", headers=hdr(tenant)).json() == {
        "id": "E",
        "type": "T",
        "A": 2,
        "B": 5,
    }
    gone = client.patch("/v2/entities/X/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    assert_error(gone, 404, NOT_FOUND_ENTITY)


def test_put_attrs_replaces_all(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1}, "B": {"value": 1}})
    assert (
        client.put("/v2/entities/E/attrs", json={"C": {"value": 3}}, headers=hdr(tenant)).status_code == 204
    )
    assert client.get("/v2/entities/E?options=keyValues", headers=hdr(tenant)).json() == {
        "id": "E",
        "type": "T",
        "C": 3,
    }


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


def test_override_metadata_replaces_metadata(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1, "metadata": {"m": {"value": 1}}}})
    update = {"A": {"value": 1, "metadata": {"n": {"value": 2}}}}
    response = client.post("/v2/entities/E/attrs?options=overrideMetadata", json=update, headers=hdr(tenant))
    assert response.status_code == 204
    assert client.get("/v2/entities/E/attrs/A", headers=hdr(tenant)).json()["metadata"] == {
        "n": {"type": "Number", "value": 2}
    }


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


# -- subscriptions ---------------------------------------------------------------------------------


def test_subscription_create_and_delete_twice(client: httpx.Client, tenant: str) -> None:
    """As Orion's test 1654_del_subs_v2/delete_subs_v2.test."""
    body: dict[str, Any] = {
        "subject": {
            "entities": [{"type": "Room", "idPattern": ".*"}],
            "condition": {
                "attrs": ["temperature"],
                "expression": {
                    "q": "temperature>40",
                    "geometry": "point",
                    "coords": "-40.4,-3.5",
                    "georel": "near;minDistance:5000",
                },
            },
        },
        "notification": {"http": {"url": "http://localhost:1234"}, "attrs": ["temperature", "humidity"]},
        "expires": "2050-04-05T14:00:00.00Z",
        "throttling": 5,
    }
    created = client.post("/v2/subscriptions", json=body, headers=hdr(tenant))
    assert created.status_code == 201
    assert created.headers["content-length"] == "0"
    assert UUID.fullmatch(created.headers["fiware-correlator"])
    match = SUB_LOCATION.fullmatch(created.headers["location"])
    assert match is not None
    got = client.get(f"/v2/subscriptions/{match.group(1)}", headers=hdr(tenant)).json()
    assert (got["expires"], got["throttling"]) == ("2050-04-05T14:00:00.000Z", 5)
    assert got["subject"]["condition"]["expression"] == body["subject"]["condition"]["expression"]
    first = client.delete(f"/v2/subscriptions/{match.group(1)}", headers=hdr(tenant))
    assert first.status_code == 204
    assert UUID.fullmatch(first.headers["fiware-correlator"])
    second = client.delete(f"/v2/subscriptions/{match.group(1)}", headers=hdr(tenant))
    assert_error(second, 404, NOT_FOUND_SUB)
    assert second.headers["content-length"] == "92"


def test_subscription_rendering(client: httpx.Client, tenant: str, receiver: Receiver, sink: str) -> None:
    """As Orion's test 1126_GET_v2_subscriptions/lastsuccesscode_and_lastfailurereason.test."""
    url = receiver.url + sink
    body = {"description": "Test 200 reponses", **sub_body(url)}
    sub_id = subscribe(client, tenant, body)
    expected: dict[str, Any] = {
        "description": "Test 200 reponses",
        "id": sub_id,
        "notification": {
            "attrs": [],
            "attrsFormat": "normalized",
            "covered": False,
            "http": {"url": url},
            "onlyChangedAttrs": False,
        },
        "status": "active",
        "subject": {
            "condition": {"attrs": [], "notifyOnMetadataChange": True},
            "entities": [{"id": "E1", "type": "T"}],
        },
    }
    assert client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json() == expected
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    receiver.wait(sink, 1)
    wait_until(
        lambda: (
            "lastSuccess"
            in client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()["notification"]
        )
    )
    after = client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()
    notification = after["notification"]
    assert STAMP.fullmatch(notification.pop("lastNotification"))
    assert STAMP.fullmatch(notification.pop("lastSuccess"))
    expected["notification"].update(lastSuccessCode=200, timesSent=1)
    assert after == expected


def test_subscription_list_count_and_service_path(client: httpx.Client, tenant: str) -> None:
    url = "http://localhost:1234/notify"
    ids = [subscribe(client, tenant, sub_body(url), path) for path in (None, "/a", "/a", "/b/#")]
    every = client.get("/v2/subscriptions?options=count&limit=2&offset=1", headers=hdr(tenant))
    assert every.headers["fiware-total-count"] == "4"
    assert [sub["id"] for sub in every.json()] == ids[1:3]
    narrowed = client.get("/v2/subscriptions", headers=hdr(tenant, "/a"))
    assert [sub["id"] for sub in narrowed.json()] == ids[1:3]
    # The service path is ignored on GET by id.
    assert client.get(f"/v2/subscriptions/{ids[3]}", headers=hdr(tenant, "/a")).status_code == 200
    assert client.get(f"/v2/subscriptions/{ids[3]}", headers=hdr(tenant + "x")).status_code == 404


@pytest.mark.parametrize(
    ("change", "description"),
    [
        pytest.param({"attrsFormat": "unique"}, INVALID_FORMAT["description"], id="unique-format"),
        pytest.param({"subject": {"entities": []}}, "empty entities vector", id="empty-entities"),
        pytest.param({"condition": {}}, "condition is empty", id="empty-condition"),
        pytest.param({"condition": {"attrs": []}}, "condition attrs is empty", id="empty-condition-attrs"),
        pytest.param(
            {"attrs": ["A"], "exceptAttrs": ["B"]},
            "http notification has attrs and exceptAttrs",
            id="attrs-except",
        ),
        pytest.param({"notification": {}}, "http notification is missing", id="no-channel"),
        pytest.param({"expires": "never"}, "expires has an invalid format", id="expires"),
        pytest.param(
            {"description": "x" * 1025},
            "description must be a string of at most 1024 characters",
            id="long-description",
        ),
        pytest.param(
            {"subject": {"entities": [{"type": "T"}]}},
            "subject entities element has not id/idPattern",
            id="entity-without-id",
        ),
        pytest.param(
            {"notification": {"http": {"url": "http://localhost:1234"}, "mqtt": {"url": "mqtt://localhost"}}},
            "only one of http, httpCustom, mqtt, mqttCustom, kafka or kafkaCustom is allowed",
            id="two-channels",
        ),
    ],
)
def test_invalid_subscription_is_refused(
    client: httpx.Client, tenant: str, change: dict[str, Any], description: str
) -> None:
    body = sub_body("http://localhost:1234/notify")
    if "subject" in change or "notification" in change:
        body.update(change)
    else:
        body = sub_body("http://localhost:1234/notify", **change)
    assert_error(client.post("/v2/subscriptions", json=body, headers=hdr(tenant)), 400, error(description))


@pytest.fixture(scope="module")
def orion4_url() -> Iterator[str]:
    with serving(create_app(SandboxConfig(orion_version="4.0.0"))) as url:
        yield url


@pytest.mark.parametrize(
    ("version", "status"),
    [pytest.param("4.0.0", 400, id="O-9-orion4"), pytest.param("3.12.0", 201, id="O-10-orion3")],
)
def test_legacy_subscriptions_by_orion_major(
    orion4_url: str, orion_url: str, version: str, status: int
) -> None:
    """Orion ≥ 4.0.0 removed `attrsFormat: legacy` (doc/manuals/deprecated.md); ≤ 3.12 accepts it."""
    base = orion4_url if version.startswith("4") else orion_url
    body = sub_body("http://localhost:1234/notify", attrsFormat="legacy")
    response = httpx.post(f"{base}/v2/subscriptions", json=body)
    assert response.status_code == status
    if status == 400:
        assert_error(response, 400, INVALID_FORMAT)
        # Any NGSI v2 format is fine on 4.x, and PATCH cannot sneak legacy in either.
        sub_id = SUB_LOCATION.fullmatch(
            httpx.post(f"{base}/v2/subscriptions", json=sub_body("http://localhost:1234/n")).headers[
                "location"
            ]
        )
        assert sub_id is not None
        patch = httpx.patch(
            f"{base}/v2/subscriptions/{sub_id.group(1)}", json={"notification": body["notification"]}
        )
        assert_error(patch, 400, INVALID_FORMAT)
    else:
        assert SUB_LOCATION.fullmatch(response.headers["location"])


@pytest.mark.parametrize(
    ("version", "libversions"),
    [pytest.param("3.12.0", True, id="3.x"), pytest.param("4.0.0", False, id="4.x")],
)
def test_version(orion4_url: str, orion_url: str, version: str, libversions: bool) -> None:
    base = orion4_url if version.startswith("4") else orion_url
    response = httpx.get(f"{base}/version")
    assert response.status_code == 200
    assert UUID.fullmatch(response.headers["fiware-correlator"])
    info = response.json()["orion"]
    assert info["version"] == version
    assert re.fullmatch(r"\d+ d, \d+ h, \d+ m, \d+ s", info["uptime"])
    assert {
        "git_hash",
        "compile_time",
        "compiled_by",
        "compiled_in",
        "release_date",
        "machine",
        "doc",
    } <= set(info)
    assert ("libversions" in info) is libversions
    asked = httpx.get(f"{base}/version?options=libVersions").json()["orion"]
    assert "libversions" in asked


# -- notifications ---------------------------------------------------------------------------------


def test_normalized_notification_default_tenant(client: httpx.Client, receiver: Receiver, sink: str) -> None:
    """Default tenant: no Fiware-Service header (fiware-orion#3540); metadata filtered as in Orion's
    test 3290_filtering_out_all_metadata_sub."""
    entity_id = f"E{uuid.uuid4().hex[:8]}"
    body = sub_body(receiver.url + sink, metadata=["a_md"])
    body["subject"]["entities"] = [{"id": entity_id, "type": "T"}]
    sub_id = subscribe(client, None, body)
    temperature = {
        "value": 23,
        "type": "Float",
        "metadata": {"TimeInstant": {"type": "ISO8601", "value": "2018-09-12T16:14:00Z"}},
    }
    response = client.post(
        "/v2/entities",
        json={"id": entity_id, "type": "T", "temperature": temperature},
        headers={"Fiware-Correlator": "c0ffee"},
    )
    assert response.status_code == 201
    [call] = receiver.wait(sink, 1)
    assert call.body == {
        "subscriptionId": sub_id,
        "data": [
            {"id": entity_id, "temperature": {"metadata": {}, "type": "Float", "value": 23}, "type": "T"}
        ],
    }
    assert call.headers["fiware-servicepath"] == "/"
    assert call.headers["ngsiv2-attrsformat"] == "normalized"
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    assert call.headers["accept"] == "application/json"
    assert call.headers["user-agent"] == "orion/3.12.0"
    assert call.headers["fiware-correlator"] == "c0ffee; cbnotif=1"
    assert "fiware-service" not in call.headers


def test_legacy_notification_of_chronos_subscription(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    """A legacy subscription on ``forecastSeries`` like Chronos's, and the NGSIv1 body Orion 3.12 posts
    for it (the only body STH-Comet's /notify accepts)."""
    entity_id = "urn:ngsi-ld:Chronos:Prediction:0123456789ab"
    create(
        client,
        tenant,
        {
            "id": entity_id,
            "type": "Prediction",
            "forecastSeries": {"type": "StructuredValue", "value": {"points": []}},
        },
        "/",
    )
    body = {
        "description": "Chronos - Forecast updates",
        "subject": {
            "entities": [{"id": entity_id, "type": "Prediction"}],
            "condition": {"attrs": ["forecastSeries"]},
        },
        "notification": {
            "http": {"url": receiver.url + sink},
            "attrs": ["forecastSeries"],
            "attrsFormat": "legacy",
        },
        "throttling": 1,
    }
    sub_id = subscribe(client, tenant, body, "/")
    series = {"generatedAt": "2025-01-01T00:00:00.000Z", "horizon": 1, "points": [{"step": 1, "value": 1.5}]}
    update = {
        "forecastSeries": {
            "type": "StructuredValue",
            "value": series,
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2025-01-01T00:00:00.000000Z"}},
        },
        "feature": {"type": "Text", "value": "luminosity"},
    }
    response = client.post(f"/v2/entities/{entity_id}/attrs", json=update, headers=hdr(tenant, "/"))
    assert response.status_code == 204
    [call] = receiver.wait(sink, 1)
    assert call.body == {
        "subscriptionId": sub_id,
        "originator": "localhost",
        "contextResponses": [
            {
                "contextElement": {
                    "attributes": [
                        {
                            "name": "forecastSeries",
                            "type": "StructuredValue",
                            "value": series,
                            "metadatas": [
                                {
                                    "name": "TimeInstant",
                                    "type": "DateTime",
                                    "value": "2025-01-01T00:00:00.000Z",
                                }
                            ],
                        }
                    ],
                    "id": entity_id,
                    "isPattern": "false",
                    "type": "Prediction",
                },
                "statusCode": {"code": "200", "reasonPhrase": "OK"},
            }
        ],
    }
    assert call.headers["fiware-service"] == tenant
    assert call.headers["fiware-servicepath"] == "/"
    assert "ngsiv2-attrsformat" not in call.headers
    assert re.fullmatch(r"[0-9a-f\-]{36}; cbnotif=1", call.headers["fiware-correlator"])


def test_legacy_numbers_stay_numbers(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    sub_id = subscribe(client, tenant, sub_body(receiver.url + sink, attrsFormat="legacy"))
    client.post("/v2/entities?options=keyValues", json={"id": "E1", "type": "T", "A": 1}, headers=hdr(tenant))
    [call] = receiver.wait(sink, 1)
    assert call.body == {
        "contextResponses": [
            {
                "contextElement": {
                    "attributes": [{"name": "A", "type": "Number", "value": 1}],
                    "id": "E1",
                    "isPattern": "false",
                    "type": "T",
                },
                "statusCode": {"code": "200", "reasonPhrase": "OK"},
            }
        ],
        "originator": "localhost",
        "subscriptionId": sub_id,
    }


def test_unchanged_value_does_not_notify(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    subscribe(client, tenant, sub_body(receiver.url + sink, attrsFormat="keyValues"))
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    url = "/v2/entities/E1/attrs"
    for value in (1, 1.0, 2, 2, "2"):
        assert client.post(url, json={"A": {"value": value}}, headers=hdr(tenant)).status_code == 204
    # Notifications of one subscription go out in order: once "2" (Text) arrived, nothing else is coming.
    calls = receiver.wait(sink, 3)
    assert [call.body["data"][0]["A"] for call in calls] == [1, 2, "2"]
    # A change of metadata alone is a change (notifyOnMetadataChange defaults to true).
    client.post(url, json={"A": {"value": "2", "metadata": {"m": {"value": 1}}}}, headers=hdr(tenant))
    assert len(receiver.wait(sink, 4)) == 4
    # options=forcedUpdate notifies even with nothing changed.
    client.post(f"{url}?options=forcedUpdate", json={"A": {"value": "2"}}, headers=hdr(tenant))
    assert len(receiver.wait(sink, 5)) == 5


def test_condition_attrs_and_projection(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    body = sub_body(receiver.url + sink, condition={"attrs": ["A"]}, attrs=["B"], attrsFormat="keyValues")
    subscribe(client, tenant, body)
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}, "B": {"value": 1}})
    client.patch("/v2/entities/E1/attrs", json={"B": {"value": 2}}, headers=hdr(tenant))  # not watched
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    calls = receiver.wait(sink, 2)
    assert [call.body["data"] for call in calls] == [
        [{"id": "E1", "type": "T", "B": 1}],
        [{"id": "E1", "type": "T", "B": 2}],
    ]


def test_throttling_drops_notifications_inside_the_window(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    sub_id = subscribe(client, tenant, sub_body(receiver.url + sink, throttling=1, attrsFormat="keyValues"))
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    started = time.monotonic()
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))  # inside: dropped
    assert time.monotonic() - started < 1
    wait_until(lambda: time.monotonic() - started > 1.05, timeout=2)
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 3}}, headers=hdr(tenant))
    calls = receiver.wait(sink, 2)
    assert [call.body["data"][0]["A"] for call in calls] == [1, 3]
    assert (
        client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()["notification"]["timesSent"]
        == 2
    )


@pytest.mark.parametrize(
    ("attrs_format", "expected"),
    [
        pytest.param("keyValues", {"data": [{"id": "E1", "type": "T", "A": 1}]}, id="keyValues"),
        pytest.param("values", {"data": [[1]]}, id="values"),
        pytest.param(
            "simplifiedNormalized",
            {"id": "E1", "type": "T", "A": {"type": "Number", "value": 1, "metadata": {}}},
            id="simplifiedNormalized",
        ),
        pytest.param("simplifiedKeyValues", {"id": "E1", "type": "T", "A": 1}, id="simplifiedKeyValues"),
    ],
)
def test_other_ngsiv2_formats(
    client: httpx.Client,
    tenant: str,
    receiver: Receiver,
    sink: str,
    attrs_format: str,
    expected: dict[str, Any],
) -> None:
    sub_id = subscribe(client, tenant, sub_body(receiver.url + sink, attrsFormat=attrs_format))
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    [call] = receiver.wait(sink, 1)
    if "data" in expected:
        expected = {"subscriptionId": sub_id, **expected}
    assert call.body == expected
    assert call.headers["ngsiv2-attrsformat"] == attrs_format


def test_builtins_in_notifications(client: httpx.Client, tenant: str, receiver: Receiver, sink: str) -> None:
    body = sub_body(
        receiver.url + sink,
        attrs=["A", "alterationType"],
        metadata=["previousValue", "actionType"],
        onlyChangedAttrs=True,
    )
    subscribe(client, tenant, body)
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}, "B": {"value": 1}})
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    calls = receiver.wait(sink, 2)
    assert calls[1].body["data"] == [
        {
            "id": "E1",
            "type": "T",
            "A": {
                "type": "Number",
                "value": 2,
                "metadata": {
                    "previousValue": {"type": "Number", "value": 1},
                    "actionType": {"type": "Text", "value": "update"},
                },
            },
            "alterationType": {"type": "Text", "value": "entityChange", "metadata": {}},
        }
    ]


def test_subject_matching(client: httpx.Client, tenant: str, receiver: Receiver, sink: str) -> None:
    body = sub_body(receiver.url + sink, attrsFormat="keyValues")
    body["subject"]["entities"] = [{"idPattern": "^Lamp", "type": "Lamp"}]
    subscribe(client, tenant, body, "/a/#")
    create(client, tenant, {"id": "Lamp1", "type": "Lamp"}, "/a/b")
    create(client, tenant, {"id": "Lamp2", "type": "Lamp"}, "/c")  # outside the subscription's scope
    create(client, tenant, {"id": "Pump1", "type": "Lamp"}, "/a")  # id does not match
    create(client, tenant, {"id": "Lamp3", "type": "Pump"}, "/a")  # type does not match
    create(client, tenant, {"id": "Lamp4", "type": "Lamp"}, "/a")
    calls = receiver.wait(sink, 2)
    assert [(call.body["data"][0]["id"], call.headers["fiware-servicepath"]) for call in calls] == [
        ("Lamp1", "/a/b"),
        ("Lamp4", "/a"),
    ]


def test_alteration_types_and_oneshot(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    deletes = sub_body(receiver.url + sink + "/delete", condition={"alterationTypes": ["entityDelete"]})
    subscribe(client, tenant, deletes)
    oneshot = subscribe(client, tenant, sub_body(receiver.url + sink + "/once", status="oneshot"))
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    assert client.delete("/v2/entities/E1", headers=hdr(tenant)).status_code == 204
    [deleted] = receiver.wait(sink + "/delete", 1)
    assert deleted.body["data"][0]["id"] == "E1"
    assert len(receiver.wait(sink + "/once", 1)) == 1
    assert client.get(f"/v2/subscriptions/{oneshot}", headers=hdr(tenant)).json()["status"] == "inactive"


def test_patch_subscription_expiry_and_except_attrs(
    client: httpx.Client, tenant: str, receiver: Receiver, sink: str
) -> None:
    active = subscribe(client, tenant, sub_body(receiver.url + sink + "/a", attrsFormat="keyValues"))
    expired = subscribe(client, tenant, sub_body(receiver.url + sink + "/e", expires="2000-01-01T00:00:00Z"))
    assert client.get(f"/v2/subscriptions/{expired}", headers=hdr(tenant)).json()["status"] == "expired"
    url = f"/v2/subscriptions/{active}"
    assert client.patch(url, json={"status": "inactive"}, headers=hdr(tenant)).status_code == 204
    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})  # inactive: not notified
    notification = {
        "http": {"url": receiver.url + sink + "/a"},
        "exceptAttrs": ["A"],
        "attrsFormat": "keyValues",
    }
    patch = {"status": "active", "notification": notification}
    assert client.patch(url, json=patch, headers=hdr(tenant)).status_code == 204
    client.post("/v2/entities/E1/attrs", json={"A": {"value": 2}, "B": {"value": 1}}, headers=hdr(tenant))
    [call] = receiver.wait(sink + "/a", 1)
    assert call.body["data"] == [{"id": "E1", "type": "T", "B": 1}]
    rendered = client.get(url, headers=hdr(tenant)).json()
    assert (rendered["status"], rendered["notification"]["exceptAttrs"]) == ("active", ["A"])
    assert "attrs" not in rendered["notification"]
    assert receiver.at(sink + "/e") == []
    missing = client.patch("/v2/subscriptions/000000000000000000000000", json=patch, headers=hdr(tenant))
    assert_error(missing, 404, NOT_FOUND_SUB)


def test_max_fails_limit_deactivates(client: httpx.Client, tenant: str) -> None:
    body = sub_body(f"http://127.0.0.1:{free_port()}/notify")
    body["notification"]["maxFailsLimit"] = 1
    sub_id = subscribe(client, tenant, body)

    def rendered() -> dict[str, Any]:
        found: dict[str, Any] = client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()
        return found

    create(client, tenant, {"id": "E1", "type": "T", "A": {"value": 1}})
    wait_until(lambda: rendered()["notification"].get("failsCounter") == 1)
    assert rendered()["status"] == "active"
    client.patch("/v2/entities/E1/attrs", json={"A": {"value": 2}}, headers=hdr(tenant))
    wait_until(lambda: rendered()["notification"].get("failsCounter") == 2)
    assert rendered()["status"] == "inactive"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("status/500", {"lastSuccessCode": 500, "timesSent": 1}, id="http-500-is-success"),
        pytest.param(
            "closed",
            {"failsCounter": 1, "lastFailureReason": "Could not connect to server", "timesSent": 1},
            id="refused",
        ),
        pytest.param(
            "slow",
            {"failsCounter": 1, "lastFailureReason": "Timeout was reached", "timesSent": 1},
            id="timeout",
        ),
    ],
)
def test_delivery_counters(
    client: httpx.Client, tenant: str, receiver: Receiver, target: str, expected: dict[str, Any]
) -> None:
    url = (
        f"http://127.0.0.1:{free_port()}/notify"
        if target == "closed"
        else f"{receiver.url}/{target}/{tenant}"
    )
    body = sub_body(url)
    body["notification"]["http"]["timeout"] = 200
    sub_id = subscribe(client, tenant, body)
    create(client, tenant, {"id": "E1", "type": "T"})

    def counters() -> dict[str, Any]:
        notification: dict[str, Any] = client.get(f"/v2/subscriptions/{sub_id}", headers=hdr(tenant)).json()[
            "notification"
        ]
        return notification

    wait_until(lambda: "lastSuccess" in counters() or "lastFailure" in counters())
    found = counters()
    assert {key: found[key] for key in expected} == expected
    assert STAMP.fullmatch(found.get("lastSuccess") or found["lastFailure"])


# -- store interface, lifespan and latency ---------------------------------------------------------


def test_store_seeding_interface(orion_app: Starlette, client: httpx.Client, tenant: str) -> None:
    store: OrionStore = orion_app.state.store
    store.upsert_entity(
        service=tenant,
        service_path="/s",
        entity={
            "id": "E",
            "type": "T",
            "A": {
                "type": "Number",
                "value": 1.0,
                "metadata": {"TimeInstant": {"type": "DateTime", "value": "2025-01-01T00:00:00Z"}},
            },
        },
    )
    got = client.get("/v2/entities/E", headers=hdr(tenant, "/s"))
    assert got.json() == {
        "id": "E",
        "type": "T",
        "A": {
            "type": "Number",
            "value": 1,
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2025-01-01T00:00:00.000Z"}},
        },
    }
    store.upsert_entity(
        service=tenant, service_path="/s", entity={"id": "E", "type": "T", "B": {"value": "x"}}
    )
    assert (
        client.patch("/v2/entities/E/attrs", json={"A": {"value": 5}}, headers=hdr(tenant, "/s")).status_code
        == 204
    )
    assert store.entity(service=tenant, entity_id="E") == {
        "id": "E",
        "type": "T",
        "A": {
            "type": "Number",
            "value": 5,
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2025-01-01T00:00:00.000Z"}},
        },
        "B": {"type": "Text", "value": "x", "metadata": {}},
    }
    assert store.entity(service=tenant, entity_id="E", entity_type="Other") is None
    assert store.entity(service=tenant + "x", entity_id="E") is None


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
