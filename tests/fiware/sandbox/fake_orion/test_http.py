"""The Orion sandbox against Orion's NGSI v2 API (orion-api.md and the functional tests), over HTTP:
the common rules (headers, tenants, service paths, content types, errors).
"""

from __future__ import annotations

import httpx
import pytest

from tests.fiware.sandbox.fake_orion.support import (
    NOT_FOUND_ENTITY,
    SERVICE_NOT_FOUND,
    assert_error,
    create,
    error,
    hdr,
)


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
