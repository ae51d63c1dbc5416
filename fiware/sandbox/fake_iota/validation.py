"""Body validation of the IoT Agent sandbox: the revalidator templates of the provisioning API
(``deviceGroup.json``, ``createDevice.json``, ``updateDevice.json``), reduced to what decides acceptance
for the bodies Chronos and the upstream examples send: top-level keys, required and typed fields,
attribute names."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fiware.sandbox.fake_iota.errors import JsonDict, wrong_syntax

GROUP_QUERY_PARAMETERS = ("resource", "apikey")

# Attribute names and types: the `pattern` of createDevice.json/updateDevice.json.
_ATTRIBUTE_TEXT = re.compile(r"""[^<>();'="]+""")
_COMMAND_VALUE = re.compile(r"""[^<>();'="]*""")

Kind = str  # "string", "boolean", "array", "attributes", "commands", "any"


def _valid_attribute_list(value: object, *, commands: bool) -> bool:
    if not isinstance(value, list):
        return False
    for item in value:
        if not isinstance(item, dict):
            return False
        for key in ("object_id", "name", "type"):
            if key in item and not (isinstance(item[key], str) and _ATTRIBUTE_TEXT.fullmatch(item[key])):
                return False
        command_value = item.get("value", "")
        if commands and not (isinstance(command_value, str) and _COMMAND_VALUE.fullmatch(command_value)):
            return False
    return True


def _valid(kind: Kind, value: object) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "attributes":
        return _valid_attribute_list(value, commands=False)
    if kind == "commands":
        return _valid_attribute_list(value, commands=True)
    return True


def _valid_fields(item: Mapping[str, object], kinds: Mapping[str, Kind]) -> bool:
    return all(_valid(kind, item[key]) for key, kind in kinds.items() if key in item)


GROUP_FIELDS: dict[str, Kind] = {
    "apikey": "string",
    "resource": "string",
    "entity_type": "string",
    "token": "string",
    "trust": "string",
    "cbHost": "string",
    "cbroker": "string",
    "timezone": "string",
    "transport": "string",
    "endpoint": "string",
    "ngsiVersion": "string",
    "payloadType": "string",
    "entityNameExp": "string",
    "expressionLanguage": "string",
    "defaultEntityNameConjunction": "string",
    "description": "string",
    "timestamp": "boolean",
    "autoprovision": "boolean",
    "useCBflowControl": "boolean",
    "storeLastMeasure": "boolean",
    "attributes": "array",
    "lazy": "array",
    "commands": "array",
    "static_attributes": "array",
    "explicitAttrs": "any",
    "internal_attributes": "any",
}

DEVICE_FIELDS: dict[str, Kind] = {
    "device_id": "string",
    "entity_name": "string",
    "entity_type": "string",
    "apikey": "string",
    "timezone": "string",
    "protocol": "string",
    "transport": "string",
    "endpoint": "string",
    "expressionLanguage": "string",
    "ngsiVersion": "string",
    "payloadType": "string",
    "cmdMode": "string",
    "timestamp": "boolean",
    "autoprovision": "boolean",
    "useCBflowControl": "boolean",
    "storeLastMeasure": "boolean",
    "cache": "boolean",
    "attributes": "attributes",
    "lazy": "attributes",
    "commands": "commands",
    "static_attributes": "array",
    "internal_attributes": "any",
    "explicitAttrs": "any",
    "lastMeasure": "any",
}


def check_group_list(body: object, key: str) -> list[JsonDict]:
    """deviceGroup.json: ``{key: [group, …]}`` and nothing else; each group has apikey and resource."""
    if not isinstance(body, dict) or set(body) != {key} or not isinstance(body[key], list):
        raise wrong_syntax()
    groups: list[JsonDict] = body[key]
    for group in groups:
        if not isinstance(group, dict) or not all(field in group for field in GROUP_QUERY_PARAMETERS):
            raise wrong_syntax()
        if not _valid_fields(group, GROUP_FIELDS):
            raise wrong_syntax()
    return groups


def check_device_list(body: object) -> list[JsonDict]:
    """createDevice.json: ``{"devices": [device, …]}`` and nothing else (``device_id`` is checked later)."""
    if not isinstance(body, dict) or set(body) != {"devices"} or not isinstance(body["devices"], list):
        raise wrong_syntax()
    devices: list[JsonDict] = body["devices"]
    if not all(isinstance(device, dict) and _valid_fields(device, DEVICE_FIELDS) for device in devices):
        raise wrong_syntax()
    return devices


def check_device_update(body: object) -> JsonDict:
    """updateDevice.json: a device with only known fields (additionalProperties false)."""
    if (
        not isinstance(body, dict)
        or not set(body) <= set(DEVICE_FIELDS)
        or not _valid_fields(body, DEVICE_FIELDS)
    ):
        raise wrong_syntax()
    return body
