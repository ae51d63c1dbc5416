"""IoT Agent stand-in: the provisioning (northbound) API of ``iotagent-node-lib`` 4.14, in memory.

Follows the library's code (``lib/services/northBound/*.js``, ``lib/errors.js``) and a real run of
``iotagent-node-lib@4.14.0`` from npm with the memory registry, where they disagree with its
``doc/api.md`` (which says 200 for POST and 404 for an empty device list):

- routes: config groups on ``/iot/services`` and ``/iot/groups`` (POST 201 ``{}``; GET with
  ``fiware-servicepath: /*`` listing the whole service with ``limit``/``offset``, otherwise the exact
  service and subservice; PUT/DELETE 204 keyed by the ``resource``/``apikey`` query parameters);
  devices on ``/iot/devices`` (POST 201 ``{}``, GET list with ``count`` = total and
  ``limit``/``offset``, no page cap, GET/PUT/DELETE by id), ``POST /iot/op/delete``,
  ``/iot/about`` and ``/version`` (which need no fiware headers).
- ``fiware-service`` and ``fiware-servicepath`` must be present on every provisioning route
  (``mandatoryHeaders``, although ``doc/api.md`` calls them optional): their presence is checked,
  not their content; their values separate tenants.
- fields: API names on the wire, the library's internal names in the store; ``service`` and
  ``subservice`` come from the headers; entity name ``<type>:<device_id>``, type from the group or
  the default type, transport from the group or the default transport, ``polling`` for HTTP
  devices, ``commands``/``lazy``/``static_attributes`` default to ``[]``.
- bodies: the same keys, the same key order and the same error messages as the real run,
  ``_id`` and ``creationDate`` on groups (memory registry), keys with no value left out.
- errors: ``{"name", "message"}`` with MISSING_HEADERS, WRONG_SYNTAX, MISSING_ATTRIBUTES,
  DUPLICATE_DEVICE_ID, DUPLICATE_GROUP, DEVICE_NOT_FOUND, DEVICE_GROUP_NOT_FOUND, MISMATCHED_SERVICE,
  BAD_REQUEST; also MISSING_CONFIG_PARAMS for a group without ``entity_type`` (``groupService``).
- ``/iot/about``: ``libVersion``, ``port``, ``baseRoot``, ``version``.

Deliberately not implemented: the southbound side (measures, commands, lazy attributes) and
therefore any call to Orion (provisioning a plain device does not create the entity anyway:
``devices-NGSI-v2.js`` ``createInitialEntityNgsi2``); ``/iot/configGroups``, ``/ready``,
``/metrics``, ``/admin/log``; entity names from ``entityNameExp`` and NGSI-LD names; the full
revalidator templates (only what decides acceptance for the bodies Chronos and the upstream
examples send: top-level keys, required and typed fields, attribute names).
Unknown paths answer Starlette's 404 and wrong methods its 405, where Express answers 404 HTML.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.latency import LatencyMiddleware

JsonDict = dict[str, Any]

LIB_VERSION = "4.14.0"
# `config.iotaVersion` of a real agent; the library reports it in /iot/about only when it is set.
IOTA_VERSION = "0.0.0-sandbox"
# Reported by /iot/about when the listening port is unknown (not served over a socket).
DEFAULT_PORT = 4041
# `config.defaultType`, `config.defaultTransport` and `defaultEntityNameConjunction` of the agent;
# iotagent-node-lib 4.14.0 gave "MQTT" to a device provisioned without transport.
DEFAULT_TYPE = "Thing"
DEFAULT_TRANSPORT = "MQTT"
DEFAULT_CONJUNCTION = ":"

MANDATORY_HEADERS = ("fiware-service", "fiware-servicepath")
GROUP_QUERY_PARAMETERS = ("resource", "apikey")
WILDCARD_SERVICE_PATH = "/*"


class IotaError(Exception):
    """An error as ``genericMiddleware.handleError`` answers it: ``{"name", "message"}`` and a status."""

    def __init__(self, name: str, message: str, status: int) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"name": self.name, "message": self.message}


def _stringify(value: object) -> str:
    """``JSON.stringify``: compact, non-ASCII kept, key order kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def missing_headers(missing: Sequence[str]) -> IotaError:
    return IotaError(
        "MISSING_HEADERS", "Some headers were missing from the request: " + _stringify(list(missing)), 400
    )


def wrong_syntax() -> IotaError:
    return IotaError("WRONG_SYNTAX", "Wrong syntax in request: Errors found validating request.", 400)


def missing_attributes(missing: Sequence[str], device: object) -> IotaError:
    message = f"The request was not well formed:Missing attributes: {_stringify(list(missing))} with: "
    return IotaError("MISSING_ATTRIBUTES", message + _stringify(device), 400)


def duplicate_device(device: JsonDict) -> IotaError:
    message = "A device with the same info (DeviceId, ApiKey, Service, Subservice) was found:"
    return IotaError("DUPLICATE_DEVICE_ID", f"{message}{device['id']} and {_stringify(device)}", 409)


def duplicate_group(group: JsonDict) -> IotaError:
    message = (
        f"A device configuration already exists for resource {group['resource']} "
        f"and API Key {group['apikey']} and {_stringify(group)}"
    )
    return IotaError("DUPLICATE_GROUP", message, 409)


def device_not_found(device_id: str, info: JsonDict | None) -> IotaError:
    # JSON.stringify(undefined) is undefined, which string concatenation spells "undefined".
    detail = "undefined" if info is None else _stringify(info)
    return IotaError("DEVICE_NOT_FOUND", f"No device was found with id:{device_id} and {detail}", 404)


def device_group_not_found(fields: str, values: str) -> IotaError:
    # `Couldn\t` in the library's single-quoted JS string is a tab, not an apostrophe.
    if fields and values:
        message = (
            f"Couldn\t find device group for fields: {_stringify(fields)} and values: {_stringify(values)}"
        )
    elif fields:
        message = f"Couldn\t find device group for fields: {_stringify(fields)}"
    else:
        message = "Couldn\t find device group"
    return IotaError("DEVICE_GROUP_NOT_FOUND", message, 404)


def mismatched_service() -> IotaError:
    return IotaError(
        "MISMATCHED_SERVICE", "The declared service didn't match the stored one in the entity", 403
    )


def bad_request(message: str) -> IotaError:
    return IotaError("BAD_REQUEST", "Request error connecting to the Context Broker: " + message, 400)


def missing_config_params(missing: Sequence[str]) -> IotaError:
    message = "The following mandatory configuration parameters were missing: " + _stringify(list(missing))
    return IotaError("MISSING_CONFIG_PARAMS", message, 400)


# ---- body validation (the revalidator templates, reduced to what decides acceptance) -------------

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


# ---- translations between the API and the registry (deviceProvisioningServer, groupAdministration) --

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


def _apply_map(translation: Mapping[str, str], body: Mapping[str, Any]) -> JsonDict:
    """``applyMap``: renamed keys move to the end, as deleting and re-adding does in JS."""
    result = dict(body)
    for key in body:
        if key in translation:
            result[translation[key]] = result.pop(key)
    return result


T = TypeVar("T")


def _copy(value: T) -> T:
    # The registry keeps its own copies: later changes to a request body never reach the store.
    return cast(T, json.loads(json.dumps(value)))


def _with_default_ids(attributes: list[Any]) -> list[Any]:
    """``setDefaultAttributeIds``: ``object_id`` defaults to ``name`` and the other way round."""
    for attribute in attributes:
        if isinstance(attribute, dict):
            if not attribute.get("object_id") and attribute.get("name"):
                attribute["object_id"] = attribute["name"]
            if not attribute.get("name") and attribute.get("object_id"):
                attribute["name"] = attribute["object_id"]
    return attributes


def _merge_arrays(original: list[Any], extra: list[Any]) -> list[Any]:
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
    return _apply_map(GROUP_INTERNAL_TO_API, group)


def _fill_device_data(service: str, subservice: str, body: Mapping[str, Any]) -> JsonDict:
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
    return _copy(device)


def _js_int(raw: str | None) -> int | None:
    """``parseInt(raw, 10)``: leading digits count, anything else is NaN (None)."""
    if raw is None:
        return None
    match = re.match(r"\s*([+-]?\d+)", raw)
    return int(match.group(1)) if match else None


def _page(items: list[JsonDict], limit: str | None, offset: str | None) -> list[JsonDict]:
    # The registries apply only a positive limit and offset; NaN, zero or negative values are ignored.
    start = _js_int(offset) or 0
    size = _js_int(limit) or 0
    page = items[max(start, 0) :]
    return page[:size] if size > 0 else page


class IotaStore:
    """Config groups and devices, keyed as the library keys them, safe to seed from another thread."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._groups: list[JsonDict] = []
        self._devices: list[JsonDict] = []
        self._next_group_id = 1

    # -- seeding and inspection (plain Python, same rules as the HTTP API) --

    def add_group(self, *, service: str, service_path: str, group: dict[str, object]) -> None:
        """Create a group as ``POST /iot/groups`` would; raises ``IotaError`` where it would refuse."""
        check_group_list({"groups": [group]}, "groups")
        self.create_groups(service, service_path, [dict(group)])

    def add_device(self, *, service: str, service_path: str, device: dict[str, object]) -> None:
        """Provision a device as ``POST /iot/devices`` would; raises ``IotaError`` where it would refuse."""
        check_device_list({"devices": [device]})
        self.provision(service, service_path, [dict(device)])

    def devices(self, *, service: str, service_path: str) -> list[dict[str, object]]:
        """The devices of one tenant and service path, as ``GET /iot/devices`` shows them."""
        with self._lock:
            return [
                device_to_api(_copy(device))
                for device in self._devices
                if device["service"] == service and device["subservice"] == service_path
            ]

    def groups(self, *, service: str, service_path: str) -> list[dict[str, object]]:
        """The groups of one tenant and service path, as ``GET /iot/groups`` shows them."""
        with self._lock:
            return [group_to_api(_copy(group)) for group in self._find_groups(service, service_path)]

    # -- groups (groupService + groupRegistryMemory) --

    def create_groups(self, service: str, subservice: str, groups: Sequence[Mapping[str, Any]]) -> None:
        # Validation and insertion alternate per group (async.series): the groups before a failing one stay.
        with self._lock:
            for item in groups:
                group = _apply_map(GROUP_API_TO_INTERNAL, _copy(item))
                group["service"] = service
                group["subservice"] = subservice
                if self._get_group(group["resource"], group["apikey"]) is not None:
                    raise duplicate_group(group)
                for field in ("service", "subservice", "type"):
                    if not group.get(field):
                        raise missing_config_params([field])
                group["_id"] = self._next_group_id
                group["creationDate"] = int(time.time() * 1000)
                self._next_group_id += 1
                self._groups.append(group)

    def list_groups(self, service: str, limit: str | None, offset: str | None) -> tuple[int, list[JsonDict]]:
        with self._lock:
            matching = [group for group in self._groups if group["service"] == service]
            return len(matching), [group_to_api(_copy(group)) for group in _page(matching, limit, offset)]

    def find_groups(self, service: str, subservice: str) -> list[JsonDict]:
        with self._lock:
            return [group_to_api(_copy(group)) for group in self._find_groups(service, subservice)]

    def update_group(
        self, service: str, subservice: str, resource: str, apikey: str, body: Mapping[str, Any]
    ) -> None:
        with self._lock:
            group = self._checked_group(service, subservice, resource, apikey)
            group.update(_apply_map(GROUP_API_TO_INTERNAL, _copy(body)))

    def remove_group(
        self, service: str, subservice: str, resource: str, apikey: str, *, with_devices: bool
    ) -> None:
        with self._lock:
            group = self._checked_group(service, subservice, resource, apikey)
            if with_devices:
                self._devices = [
                    device
                    for device in self._devices
                    if not (device["service"] == service and device["subservice"] == subservice)
                ]
            self._groups.remove(group)

    def _find_groups(self, service: str, subservice: str) -> list[JsonDict]:
        return [
            group
            for group in self._groups
            if group["service"] == service and group["subservice"] == subservice
        ]

    def _get_group(self, resource: object, apikey: object) -> JsonDict | None:
        # (resource, apikey) is unique across every service, not per tenant.
        for group in self._groups:
            if group.get("resource") == resource and group.get("apikey") == apikey:
                return group
        return None

    def _checked_group(self, service: str, subservice: str, resource: str, apikey: str) -> JsonDict:
        group = self._get_group(resource, apikey)
        if group is None:
            raise device_group_not_found(resource, apikey)
        # checkServiceIdentity lowercases the header, not the stored service.
        if group["service"] != service.lower() or group["subservice"] != subservice:
            raise mismatched_service()
        return group

    # -- devices (deviceService.registerDevice + the device registry) --

    def provision(self, service: str, subservice: str, devices: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            for body in devices:
                if "device_id" not in body:
                    raise missing_attributes(["device_id"], body)
                device = _fill_device_data(service, subservice, body)
                if self._find_device(device["id"], device.get("apikey"), service, subservice) is not None:
                    raise duplicate_device(device)
                self._devices.append(self._registered(device))

    def _registered(self, device: JsonDict) -> JsonDict:
        """What ``registerDevice`` stores: the device completed from its config group and the defaults."""
        group = self._group_for(device)
        if not device.get("type"):
            device["type"] = group.get("type") if group and group.get("type") else DEFAULT_TYPE
        if not device.get("transport"):
            device["transport"] = (
                group.get("transport") if group and group.get("transport") else DEFAULT_TRANSPORT
            )
        if device["transport"] == "HTTP":
            # A device without an endpoint of its own or of its group is polled for commands.
            device["polling"] = False if device.get("endpoint") else not (group and group.get("endpoint"))
        if not device.get("name"):
            conjunction = DEFAULT_CONJUNCTION
            if group and group.get("defaultEntityNameConjunction") is not None:
                conjunction = group["defaultEntityNameConjunction"]
            device["name"] = f"{device['type']}{conjunction}{device['id']}"
        for field in ("active", "lazy", "commands"):
            if device.get(field):
                _with_default_ids(device[field])
        commands = device.get("commands")
        group_commands = _copy(group.get("commands")) if group else None
        if commands is not None and group_commands:
            commands = _merge_arrays(commands, _with_default_ids(group_commands))
        elif commands is None and group_commands is not None:
            commands = group_commands
        device["commands"] = commands or []
        device["staticAttributes"] = device.get("staticAttributes") or []
        device["lazy"] = device.get("lazy") or []
        device["creationDate"] = int(time.time() * 1000)
        return device

    def _group_for(self, device: Mapping[str, Any]) -> JsonDict | None:
        """``findConfigurationGroup``: by type and apikey where the device has them, then, only for a
        device without apikey, the first group of its service and subservice."""
        candidates = self._find_groups(device["service"], device["subservice"])
        entity_type, apikey = device.get("type"), device.get("apikey")
        for group in candidates:
            if (not entity_type or group.get("type") == entity_type) and (
                not apikey or group.get("apikey") == apikey
            ):
                return group
        return candidates[0] if candidates and not apikey else None

    def list_devices(
        self, service: str, subservice: str, limit: str | None, offset: str | None
    ) -> tuple[int, list[JsonDict]]:
        with self._lock:
            matching = [
                device
                for device in self._devices
                if device["service"] == service and device["subservice"] == subservice
            ]
            return len(matching), [device_to_api(_copy(device)) for device in _page(matching, limit, offset)]

    def get_device(
        self, device_id: str, apikey: str | None, service: str, subservice: str
    ) -> JsonDict | None:
        with self._lock:
            device = self._find_device(device_id, apikey, service, subservice)
            return None if device is None else device_to_api(_copy(device))

    def update_device(
        self, device_id: str, apikey: str | None, service: str, subservice: str, body: Mapping[str, Any]
    ) -> bool:
        with self._lock:
            device = self._find_device(device_id, apikey, service, subservice)
            if device is None:
                return False
            for key, value in _copy(body).items():
                if key in DEVICE_UPDATE_TRANSLATION:
                    device[DEVICE_UPDATE_TRANSLATION[key]] = value
            for field in ("active", "lazy", "commands"):
                if isinstance(device.get(field), list):
                    _with_default_ids(device[field])
            return True

    def remove_device(self, device_id: str, apikey: str | None, service: str, subservice: str) -> bool:
        with self._lock:
            device = self._find_device(device_id, apikey, service, subservice)
            if device is None:
                return False
            self._devices.remove(device)
            return True

    def _find_device(
        self, device_id: object, apikey: object, service: str, subservice: str
    ) -> JsonDict | None:
        # Unique by (service, subservice, device_id, apikey); an empty or absent apikey matches any.
        for device in self._devices:
            if (
                device["id"] == device_id
                and device["service"] == service
                and device["subservice"] == subservice
                and (not apikey or device.get("apikey") == apikey)
            ):
                return device
        return None


# ---- HTTP ---------------------------------------------------------------------------------------

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class _Json(JSONResponse):
    media_type = JSON_MEDIA_TYPE


def _express_headers(request: Request) -> dict[str, str]:
    # The library's domain middleware echoes the caller's correlator or makes one up.
    correlator = request.headers.get("fiware-correlator") or str(uuid.uuid4())
    return {"X-Powered-By": "Express", "Fiware-Correlator": correlator}


def _json(request: Request, status: int, body: object) -> Response:
    return _Json(body, status_code=status, headers=_express_headers(request))


def _no_content(request: Request) -> Response:
    # Express drops the body of a 204 even when the handler sends `{}`.
    return Response(status_code=204, headers=_express_headers(request))


class _BodySyntaxError(Exception):
    """body-parser's SyntaxError: it carries no `code`, so handleError answers 500."""


async def _body(request: Request) -> Any:
    """The parsed body as body-parser leaves it: ``{}`` unless the content type is JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not (
        content_type.startswith("application/") and content_type.endswith("+json")
    ):
        return {}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        position = getattr(error, "pos", 0)
        raise _BodySyntaxError(f"Unexpected token in JSON at position {position}") from error
    if not isinstance(body, dict | list):
        # strict mode accepts only objects and arrays.
        raise _BodySyntaxError("Unexpected token in JSON at position 0")
    return body


def _tenant(request: Request) -> tuple[str, str]:
    missing = [name for name in MANDATORY_HEADERS if name not in request.headers]
    if missing:
        raise missing_headers(missing)
    return request.headers["fiware-service"], request.headers["fiware-servicepath"]


def _group_keys(request: Request) -> tuple[str, str]:
    missing = [name for name in GROUP_QUERY_PARAMETERS if name not in request.query_params]
    if missing:
        raise missing_headers(missing)  # sic: the library reports query parameters as headers
    return request.query_params["resource"], request.query_params["apikey"]


def _store(request: Request) -> IotaStore:
    store: IotaStore = request.app.state.store
    return store


def _list_key(request: Request) -> str:
    # Each path expects and answers its own list key; clients of either never see the other.
    return "groups" if request.url.path == "/iot/groups" else "services"


async def create_groups(request: Request) -> Response:
    body = await _body(request)
    service, subservice = _tenant(request)
    groups = check_group_list(body, _list_key(request))
    _store(request).create_groups(service, subservice, groups)
    return _json(request, 201, {})


async def list_groups(request: Request) -> Response:
    service, subservice = _tenant(request)
    key = _list_key(request)
    if subservice == WILDCARD_SERVICE_PATH:
        params = request.query_params
        count, groups = _store(request).list_groups(service, params.get("limit"), params.get("offset"))
    else:
        # The exact subservice: every group there, no paging (groupRegistry.find ignores limit/offset).
        groups = _store(request).find_groups(service, subservice)
        count = len(groups)
    return _json(request, 200, {"count": count, key: groups})


async def update_group(request: Request) -> Response:
    body = await _body(request)
    service, subservice = _tenant(request)
    resource, apikey = _group_keys(request)
    if not isinstance(body, dict):
        raise wrong_syntax()
    _store(request).update_group(service, subservice, resource, apikey, body)
    return _no_content(request)


async def delete_group(request: Request) -> Response:
    service, subservice = _tenant(request)
    resource, apikey = _group_keys(request)
    with_devices = bool(request.query_params.get("device"))
    _store(request).remove_group(service, subservice, resource, apikey, with_devices=with_devices)
    return _no_content(request)


async def create_devices(request: Request) -> Response:
    body = await _body(request)
    service, subservice = _tenant(request)
    _store(request).provision(service, subservice, check_device_list(body))
    return _json(request, 201, {})


async def list_devices(request: Request) -> Response:
    service, subservice = _tenant(request)
    params = request.query_params
    count, devices = _store(request).list_devices(
        service, subservice, params.get("limit"), params.get("offset")
    )
    return _json(request, 200, {"count": count, "devices": devices})


async def get_device(request: Request) -> Response:
    service, subservice = _tenant(request)
    device_id = request.path_params["device_id"]
    device = _store(request).get_device(device_id, request.query_params.get("apikey"), service, subservice)
    if device is None:
        # The registry's own error, which carries no type information ("… and undefined" in 4.14.0).
        raise device_not_found(device_id, None)
    return _json(request, 200, device)


async def update_device(request: Request) -> Response:
    body = await _body(request)
    service, subservice = _tenant(request)
    update = check_device_update(body)
    if update.get("device_id"):
        raise bad_request("Can't change the ID of a preprovisioned device")
    device_id = request.path_params["device_id"]
    apikey = request.query_params.get("apikey")
    if not _store(request).update_device(device_id, apikey, service, subservice, update):
        raise device_not_found(device_id, None)
    return _no_content(request)


def _lookup_info(apikey: str | None, service: str, subservice: str) -> JsonDict:
    info: JsonDict = {} if apikey is None else {"apikey": apikey}
    return {**info, "service": service, "subservice": subservice}


async def delete_device(request: Request) -> Response:
    service, subservice = _tenant(request)
    device_id = request.path_params["device_id"]
    apikey = request.query_params.get("apikey")
    if not _store(request).remove_device(device_id, apikey, service, subservice):
        raise device_not_found(device_id, _lookup_info(apikey, service, subservice))
    return _no_content(request)


async def delete_devices(request: Request) -> Response:
    body = await _body(request)
    service, subservice = _tenant(request)
    entries = body.get("devices") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise IotaError("TypeError", "req.body.devices is not iterable", 500)
    first_error: IotaError | None = None
    for entry in entries:
        # The existing devices are removed even when others are missing; the first miss is reported.
        fields = entry if isinstance(entry, dict) else {}
        device_id = "undefined" if fields.get("deviceId") is None else str(fields["deviceId"])
        apikey = fields.get("apikey")
        if not _store(request).remove_device(device_id, apikey, service, subservice) and first_error is None:
            first_error = device_not_found(device_id, _lookup_info(apikey, service, subservice))
    if first_error is not None:
        raise first_error
    return _no_content(request)


async def about(request: Request) -> Response:
    server = request.scope.get("server")
    port = server[1] if server and server[1] is not None else DEFAULT_PORT
    return _json(
        request, 200, {"libVersion": LIB_VERSION, "port": port, "baseRoot": "/", "version": IOTA_VERSION}
    )


async def _iota_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, IotaError):
        raise exc
    return _json(request, exc.status, exc.body())


async def _syntax_error(request: Request, exc: Exception) -> Response:
    return _json(request, 500, {"name": "SyntaxError", "message": str(exc)})


def create_app(config: SandboxConfig | None = None, store: IotaStore | None = None) -> Starlette:
    config = config or SandboxConfig()
    routes = [
        Route("/iot/about", about, methods=["GET"]),
        Route("/version", about, methods=["GET"]),
        Route("/iot/devices", list_devices, methods=["GET"]),
        Route("/iot/devices", create_devices, methods=["POST"]),
        Route("/iot/devices/{device_id}", get_device, methods=["GET"]),
        Route("/iot/devices/{device_id}", update_device, methods=["PUT"]),
        Route("/iot/devices/{device_id}", delete_device, methods=["DELETE"]),
        Route("/iot/op/delete", delete_devices, methods=["POST"]),
    ]
    for path in ("/iot/services", "/iot/groups"):
        routes += [
            Route(path, list_groups, methods=["GET"]),
            Route(path, create_groups, methods=["POST"]),
            Route(path, update_group, methods=["PUT"]),
            Route(path, delete_group, methods=["DELETE"]),
        ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(LatencyMiddleware, seconds=config.latency_seconds)],
        exception_handlers={IotaError: _iota_error, _BodySyntaxError: _syntax_error},
    )
    app.state.store = store if store is not None else IotaStore()
    return app


__all__ = [
    "DEFAULT_TRANSPORT",
    "DEFAULT_TYPE",
    "LIB_VERSION",
    "IotaError",
    "IotaStore",
    "create_app",
    "device_to_api",
    "group_to_api",
]
