"""The IoT Agent sandbox's translations between the provisioning API's names and the registry's."""

from __future__ import annotations

from typing import Any

from fiware.sandbox.fake_iota.translation import (
    GROUP_API_TO_INTERNAL,
    apply_map,
    device_to_api,
    fill_device_data,
    group_to_api,
    merge_arrays,
    with_default_ids,
)


def test_apply_map_moves_renamed_keys_to_the_end() -> None:
    body = {"entity_type": "Meter", "apikey": "k", "static_attributes": [], "resource": "/r"}
    mapped = apply_map(GROUP_API_TO_INTERNAL, body)
    assert list(mapped) == ["apikey", "resource", "type", "staticAttributes"]
    assert list(group_to_api(mapped)) == ["apikey", "resource", "entity_type", "static_attributes"]


def test_default_ids_fill_each_other() -> None:
    attributes: list[Any] = [{"name": "t"}, {"object_id": "h"}, {"object_id": "x", "name": "y"}, "odd"]
    assert with_default_ids(attributes) == [
        {"name": "t", "object_id": "t"},
        {"object_id": "h", "name": "h"},
        {"object_id": "x", "name": "y"},
        "odd",
    ]


def test_merge_arrays_adds_only_what_the_device_lacks() -> None:
    device = [{"object_id": "a", "name": "a"}]
    group = [{"object_id": "a", "name": "a"}, {"object_id": "b", "name": "b"}, {"name": "c"}]
    assert merge_arrays(device, group) == [*device, {"object_id": "b", "name": "b"}, {"name": "c"}]


def test_a_device_goes_to_the_registry_and_back() -> None:
    body: dict[str, Any] = {
        "entity_name": "Meter:m1",
        "device_id": "m1",
        "attributes": [{"name": "t", "extra": 1}],
    }
    device = fill_device_data("svc", "/", body)
    assert list(device) == ["id", "name", "service", "subservice", "active", "internalId"]
    assert device_to_api(device) == {
        "device_id": "m1",
        "service": "svc",
        "service_path": "/",
        "entity_name": "Meter:m1",
        "attributes": [{"name": "t"}],
    }
    body["attributes"][0]["name"] = "changed"
    assert device["active"][0]["name"] == "t"
