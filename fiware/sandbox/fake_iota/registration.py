"""What the IoT Agent sandbox stores for a provisioned device (``deviceService.registerDevice``): the
device completed from its config group and the agent's defaults. Entity name ``<type>:<device_id>``,
type from the group or the default type, transport from the group or the default transport,
``polling`` for HTTP devices, ``commands``/``lazy``/``static_attributes`` default to ``[]``."""

from __future__ import annotations

import time
from typing import Any

from fiware.sandbox.fake_iota.errors import JsonDict
from fiware.sandbox.fake_iota.translation import copy_json, merge_arrays, with_default_ids

# `config.defaultType`, `config.defaultTransport` and `defaultEntityNameConjunction` of the agent;
# iotagent-node-lib 4.14.0 gave "MQTT" to a device provisioned without transport.
DEFAULT_TYPE = "Thing"
DEFAULT_TRANSPORT = "MQTT"
DEFAULT_CONJUNCTION = ":"


def register_device(device: JsonDict, group: JsonDict | None) -> JsonDict:
    """What ``registerDevice`` stores: the device completed from its config group and the defaults."""
    _complete_identity(device, group)
    for field in ("active", "lazy", "commands"):
        if device.get(field):
            with_default_ids(device[field])
    device["commands"] = _commands(device.get("commands"), group)
    device["staticAttributes"] = device.get("staticAttributes") or []
    device["lazy"] = device.get("lazy") or []
    device["creationDate"] = int(time.time() * 1000)
    return device


def _complete_identity(device: JsonDict, group: JsonDict | None) -> None:
    """Type, transport, polling and entity name, from the device, else its group, else the defaults."""
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


def _commands(commands: list[Any] | None, group: JsonDict | None) -> list[Any]:
    """The device's commands with the group's it does not have yet, or the group's when it has none."""
    group_commands = copy_json(group.get("commands")) if group else None
    if commands is not None and group_commands:
        commands = merge_arrays(commands, with_default_ids(group_commands))
    elif commands is None and group_commands is not None:
        commands = group_commands
    return commands or []
