"""Translations of the IoT Agent sandbox between the provisioning API and the registry
(``deviceProvisioningServer``, ``groupAdministration``): API names on the wire, the library's
internal names in the store; bodies with the same keys, the same key order as the real run, and keys
with no value left out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

from fiware.sandbox.fake_iota.errors import JsonDict

GROUP_API_TO_INTERNAL = {
    "entity_type": "type",
    "internal_attributes": "internalAttributes",
    "static_attributes": "staticAttributes",
}
GROUP_INTERNAL_TO_API = {internal: api for api, internal in GROUP_API_TO_INTERNAL.items()}

# fillDeviceData: (internal, API) in the order the library builds the object; `service` and
# `subservice` go after `name` and `internalId` after `transport`, as there.
_DEVICE_HEAD = (("id", "device_id"), ("apikey", "apikey"), ("type", "entity_type"), ("name", "entity_name"))
_DEVICE_BODY = (
    ("active", "attributes"),
    ("staticAttributes", "static_attributes"),
    ("lazy", "lazy"),
    ("commands", "commands"),
    ("timezone", "timezone"),
    ("timestamp", "timestamp"),
    ("endpoint", "endpoint"),
    ("internalAttributes", "internal_attributes"),
    ("protocol", "protocol"),
    ("transport", "transport"),
)
_DEVICE_TAIL = tuple(
    (name, name)
    for name in (
        "autoprovision",
        "explicitAttrs",
        "ngsiVersion",
        "payloadType",
        "useCBflowControl",
        "storeLastMeasure",
        "lastMeasure",
    )
)

# provisioningAPITranslation, for PUT: API field → internal field.
DEVICE_UPDATE_TRANSLATION = {
    "apikey": "apikey",
    "entity_name": "name",
    "entity_type": "type",
    "timezone": "timezone",
    "timestamp": "timestamp",
    "protocol": "protocol",
    "transport": "transport",
    "endpoint": "endpoint",
    "attributes": "active",
    "commands": "commands",
    "lazy": "lazy",
    "internal_attributes": "internalAttributes",
    "static_attributes": "staticAttributes",
    "autoprovision": "autoprovision",
    "explicitAttrs": "explicitAttrs",
    "ngsiVersion": "ngsiVersion",
    "payloadType": "payloadType",
    "useCBflowControl": "useCBflowControl",
    "storeLastMeasure": "storeLastMeasure",
    "lastMeasure": "lastMeasure",
}

# attributeToProvisioningAPIFormat keeps only these keys of each attribute, lazy attribute and command.
_ATTRIBUTE_API_KEYS = (
    "object_id",
    "name",
    "type",
    "expression",
    "skipValue",
    "entity_name",
    "entity_type",
    "mqtt",
    "payloadType",
    "contentType",
    "metadata",
)


def apply_map(translation: Mapping[str, str], body: Mapping[str, Any]) -> JsonDict:
    """``applyMap``: renamed keys move to the end, as deleting and re-adding does in JS."""
    result = dict(body)
    for key in body:
        if key in translation:
            result[translation[key]] = result.pop(key)
    return result


T = TypeVar("T")


def copy_json(value: T) -> T:
    # The registry keeps its own copies: later changes to a request body never reach the store.
    return cast(T, json.loads(json.dumps(value)))


def with_default_ids(attributes: list[Any]) -> list[Any]:
    """``setDefaultAttributeIds``: ``object_id`` defaults to ``name`` and the other way round."""
    for attribute in attributes:
        if isinstance(attribute, dict):
            if not attribute.get("object_id") and attribute.get("name"):
                attribute["object_id"] = attribute["name"]
            if not attribute.get("name") and attribute.get("object_id"):
                attribute["name"] = attribute["object_id"]
    return attributes


def merge_arrays(original: list[Any], extra: list[Any]) -> list[Any]:
    """``mergeArrays``: the group's attributes whose object_id or name the device does not have yet."""

    def values(items: Iterable[Any], field: str) -> list[Any]:
        return [item.get(field) if isinstance(item, dict) else None for item in items]

    extra_dicts = [item for item in extra if isinstance(item, dict)]
    original_ids, extra_ids = values(original, "object_id"), values(extra, "object_id")
    added_ids = [key for key in extra_ids if key not in original_ids]
    added_names = [name for name in values(extra, "name") if name not in values(original, "name")]
    by_id = [item for item in extra_dicts if item.get("object_id") and item["object_id"] in added_ids]
    by_name = [
        item
        for item in extra_dicts
        if item.get("name") in added_names
        and (not item.get("object_id") or item["object_id"] not in extra_ids)
    ]
    return original + by_id + by_name


def _attribute_to_api(attribute: Any) -> Any:
    if not isinstance(attribute, dict):
        return attribute
    return {key: attribute[key] for key in _ATTRIBUTE_API_KEYS if key in attribute}


def device_to_api(device: Mapping[str, Any]) -> JsonDict:
    """``toProvisioningAPIFormat``: API names, fixed order, absent values left out."""
    result: JsonDict = {}

    def put(api: str, internal: str) -> None:
        if internal in device:
            result[api] = device[internal]

    def put_attributes(api: str, internal: str) -> None:
        # `device.active ? device.active.map(...) : undefined`: null lists vanish too.
        if device.get(internal) is not None:
            result[api] = [_attribute_to_api(item) for item in device[internal]]

    put("device_id", "id")
    put("apikey", "apikey")
    put("service", "service")
    put("service_path", "subservice")
    put("entity_name", "name")
    put("entity_type", "type")
    for name in ("timezone", "timestamp", "endpoint", "polling", "transport"):
        put(name, name)
    put_attributes("attributes", "active")
    put_attributes("lazy", "lazy")
    put_attributes("commands", "commands")
    put("static_attributes", "staticAttributes")
    put("internal_attributes", "internalAttributes")
    put("protocol", "protocol")
    for internal, api in _DEVICE_TAIL:
        put(api, internal)
    return result


def group_to_api(group: Mapping[str, Any]) -> JsonDict:
    return apply_map(GROUP_INTERNAL_TO_API, group)


def fill_device_data(service: str, subservice: str, body: Mapping[str, Any]) -> JsonDict:
    """``fillDeviceData``: the registry object built from a POSTed device, before defaults."""
    device: JsonDict = {}
    for internal, api in _DEVICE_HEAD:
        if api in body:
            device[internal] = body[api]
    device["service"] = service
    device["subservice"] = subservice
    for internal, api in _DEVICE_BODY:
        if api in body:
            device[internal] = body[api]
    device["internalId"] = None
    for internal, api in _DEVICE_TAIL:
        if api in body:
            device[internal] = body[api]
    return copy_json(device)
