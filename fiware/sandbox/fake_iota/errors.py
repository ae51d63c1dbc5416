"""Errors of the IoT Agent sandbox, as ``lib/errors.js`` words them and ``genericMiddleware.handleError``
answers them: ``{"name", "message"}`` with MISSING_HEADERS, WRONG_SYNTAX, MISSING_ATTRIBUTES,
DUPLICATE_DEVICE_ID, DUPLICATE_GROUP, DEVICE_NOT_FOUND, DEVICE_GROUP_NOT_FOUND, MISMATCHED_SERVICE,
BAD_REQUEST; also MISSING_CONFIG_PARAMS for a group without ``entity_type`` (``groupService``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

JsonDict = dict[str, Any]


class IotaError(Exception):
    """An error as ``genericMiddleware.handleError`` answers it: ``{"name", "message"}`` and a status."""

    def __init__(self, name: str, message: str, status: int) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"name": self.name, "message": self.message}


def stringify(value: object) -> str:
    """``JSON.stringify``: compact, non-ASCII kept, key order kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def missing_headers(missing: Sequence[str]) -> IotaError:
    return IotaError(
        "MISSING_HEADERS", "Some headers were missing from the request: " + stringify(list(missing)), 400
    )


def wrong_syntax() -> IotaError:
    return IotaError("WRONG_SYNTAX", "Wrong syntax in request: Errors found validating request.", 400)


def missing_attributes(missing: Sequence[str], device: object) -> IotaError:
    message = f"The request was not well formed:Missing attributes: {stringify(list(missing))} with: "
    return IotaError("MISSING_ATTRIBUTES", message + stringify(device), 400)


def duplicate_device(device: JsonDict) -> IotaError:
    message = "A device with the same info (DeviceId, ApiKey, Service, Subservice) was found:"
    return IotaError("DUPLICATE_DEVICE_ID", f"{message}{device['id']} and {stringify(device)}", 409)


def duplicate_group(group: JsonDict) -> IotaError:
    message = (
        f"A device configuration already exists for resource {group['resource']} "
        f"and API Key {group['apikey']} and {stringify(group)}"
    )
    return IotaError("DUPLICATE_GROUP", message, 409)


def device_not_found(device_id: str, info: JsonDict | None) -> IotaError:
    # JSON.stringify(undefined) is undefined, which string concatenation spells "undefined".
    detail = "undefined" if info is None else stringify(info)
    return IotaError("DEVICE_NOT_FOUND", f"No device was found with id:{device_id} and {detail}", 404)


def device_group_not_found(fields: str, values: str) -> IotaError:
    # `Couldn\t` in the library's single-quoted JS string is a tab, not an apostrophe.
    if fields and values:
        message = (
            f"Couldn\t find device group for fields: {stringify(fields)} and values: {stringify(values)}"
        )
    elif fields:
        message = f"Couldn\t find device group for fields: {stringify(fields)}"
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
    message = "The following mandatory configuration parameters were missing: " + stringify(list(missing))
    return IotaError("MISSING_CONFIG_PARAMS", message, 400)
