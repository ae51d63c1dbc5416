"""The Orion sandbox against Orion's NGSI v2 API (orion-api.md and the functional tests), over HTTP:
attributes, dates and entities as parsed from requests and rendered in answers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fiware.sandbox.fake_orion.model import OrionError, parse_entity
from tests.fiware.sandbox.fake_orion.support import DATE, assert_error, create, error, hdr


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
            # 3.12.0 (the default) names no place for a metadata date (test null_in_datetime_md).
            {"value": 1, "metadata": {"TimeInstant": {"type": "DateTime", "value": "soon"}}},
            "date has invalid format",
            id="metadata",
        ),
    ],
)
def test_invalid_dates_are_refused(
    client: httpx.Client, tenant: str, attr: dict[str, Any], description: str
) -> None:
    response = client.post("/v2/entities", json={"id": "E", "A": attr}, headers=hdr(tenant))
    assert_error(response, 400, error(description))


@pytest.mark.parametrize(
    ("version", "description"),
    [
        ("3.12.0", "date has invalid format"),
        ("4.1.0", "date has invalid format"),
        ("4.2.0", "date has invalid format in metadata value"),
        ("4.7.0", "date has invalid format in metadata value"),
    ],
)
def test_metadata_date_error_by_orion_version(version: str, description: str) -> None:
    """Orion 4.2.0 started saying where the bad date is; the parser takes the release to word it."""
    body = {"id": "E", "A": {"value": 1, "metadata": {"TimeInstant": {"type": "DateTime", "value": "soon"}}}}
    with pytest.raises(OrionError) as raised:
        parse_entity(body, key_values=False, orion_version=version)
    assert (raised.value.status, raised.value.body()) == (400, error(description))


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
