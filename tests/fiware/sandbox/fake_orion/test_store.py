"""The Orion sandbox against Orion's NGSI v2 API (orion-api.md and the functional tests), over HTTP:
the update semantics of the entity operations, and the store's seeding interface.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from fiware.sandbox.fake_orion import OrionStore
from tests.fiware.sandbox.fake_orion.support import NOT_FOUND_ENTITY, assert_error, create, error, hdr


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


def test_override_metadata_replaces_metadata(client: httpx.Client, tenant: str) -> None:
    create(client, tenant, {"id": "E", "type": "T", "A": {"value": 1, "metadata": {"m": {"value": 1}}}})
    update = {"A": {"value": 1, "metadata": {"n": {"value": 2}}}}
    response = client.post("/v2/entities/E/attrs?options=overrideMetadata", json=update, headers=hdr(tenant))
    assert response.status_code == 204
    assert client.get("/v2/entities/E/attrs/A", headers=hdr(tenant)).json()["metadata"] == {
        "n": {"type": "Number", "value": 2}
    }


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
