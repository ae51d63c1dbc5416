"""The IoT Agent sandbox's memory: config groups (``groupService`` and ``groupRegistryMemory``) and
devices (``deviceService`` and the device registry), keyed as the library keys them, with the
registries' paging; ``_id`` and ``creationDate`` on groups (memory registry)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from fiware.sandbox.fake_iota.errors import (
    JsonDict,
    device_group_not_found,
    duplicate_device,
    duplicate_group,
    mismatched_service,
    missing_attributes,
    missing_config_params,
)
from fiware.sandbox.fake_iota.registration import register_device
from fiware.sandbox.fake_iota.translation import (
    DEVICE_UPDATE_TRANSLATION,
    GROUP_API_TO_INTERNAL,
    apply_map,
    copy_json,
    device_to_api,
    fill_device_data,
    group_to_api,
    with_default_ids,
)
from fiware.sandbox.fake_iota.validation import check_device_list, check_group_list


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
                device_to_api(copy_json(device))
                for device in self._devices
                if device["service"] == service and device["subservice"] == service_path
            ]

    def groups(self, *, service: str, service_path: str) -> list[dict[str, object]]:
        """The groups of one tenant and service path, as ``GET /iot/groups`` shows them."""
        with self._lock:
            return [group_to_api(copy_json(group)) for group in self._find_groups(service, service_path)]

    # -- groups (groupService + groupRegistryMemory) --

    def create_groups(self, service: str, subservice: str, groups: Sequence[Mapping[str, Any]]) -> None:
        # Validation and insertion alternate per group (async.series): the groups before a failing one stay.
        with self._lock:
            for item in groups:
                group = apply_map(GROUP_API_TO_INTERNAL, copy_json(item))
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
            return len(matching), [group_to_api(copy_json(group)) for group in _page(matching, limit, offset)]

    def find_groups(self, service: str, subservice: str) -> list[JsonDict]:
        with self._lock:
            return [group_to_api(copy_json(group)) for group in self._find_groups(service, subservice)]

    def update_group(
        self, service: str, subservice: str, resource: str, apikey: str, body: Mapping[str, Any]
    ) -> None:
        with self._lock:
            group = self._checked_group(service, subservice, resource, apikey)
            group.update(apply_map(GROUP_API_TO_INTERNAL, copy_json(body)))

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
                device = fill_device_data(service, subservice, body)
                if self._find_device(device["id"], device.get("apikey"), service, subservice) is not None:
                    raise duplicate_device(device)
                self._devices.append(register_device(device, self._group_for(device)))

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
            return len(matching), [
                device_to_api(copy_json(device)) for device in _page(matching, limit, offset)
            ]

    def get_device(
        self, device_id: str, apikey: str | None, service: str, subservice: str
    ) -> JsonDict | None:
        with self._lock:
            device = self._find_device(device_id, apikey, service, subservice)
            return None if device is None else device_to_api(copy_json(device))

    def update_device(
        self, device_id: str, apikey: str | None, service: str, subservice: str, body: Mapping[str, Any]
    ) -> bool:
        with self._lock:
            device = self._find_device(device_id, apikey, service, subservice)
            if device is None:
                return False
            for key, value in copy_json(body).items():
                if key in DEVICE_UPDATE_TRANSLATION:
                    device[DEVICE_UPDATE_TRANSLATION[key]] = value
            for field in ("active", "lazy", "commands"):
                if isinstance(device.get(field), list):
                    with_default_ids(device[field])
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
