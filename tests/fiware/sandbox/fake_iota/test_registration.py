"""The IoT Agent sandbox against ``iotagent-node-lib`` 4.14, over HTTP:
a provisioned device completed from its config group and the defaults.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fiware.sandbox.fake_iota.registration import DEFAULT_TYPE, register_device
from tests.fiware.sandbox.fake_iota.support import assert_created, provision, tenant, unique_key


@pytest.mark.parametrize(
    ("group", "device", "expected"),
    [
        pytest.param(
            None, {}, {"entity_type": "Thing", "entity_name": "Thing:d1", "transport": "MQTT"}, id="no-group"
        ),
        pytest.param(
            {"entity_type": "Meter", "transport": "AMQP"},
            {},
            {"entity_type": "Meter", "entity_name": "Meter:d1", "transport": "AMQP"},
            id="from-the-group",
        ),
        pytest.param(
            {"entity_type": "Meter", "defaultEntityNameConjunction": "-"},
            {"entity_type": "Gauge"},
            {"entity_type": "Gauge", "entity_name": "Gauge-d1", "transport": "MQTT"},
            id="device-type-group-conjunction",
        ),
        pytest.param(
            None, {"transport": "HTTP"}, {"transport": "HTTP", "polling": True}, id="http-is-polled"
        ),
        pytest.param(
            None,
            {"transport": "HTTP", "endpoint": "http://dev:80"},
            {"transport": "HTTP", "polling": False, "endpoint": "http://dev:80"},
            id="http-with-endpoint",
        ),
        pytest.param(
            {"endpoint": "http://group:80"},
            {"transport": "HTTP"},
            {"polling": False},
            id="http-with-group-endpoint",
        ),
        pytest.param(
            {"commands": [{"name": "reset", "type": "command"}]},
            {"commands": [{"name": "on", "type": "command"}]},
            {
                "commands": [
                    {"name": "on", "type": "command", "object_id": "on"},
                    {"name": "reset", "type": "command", "object_id": "reset"},
                ]
            },
            id="commands-merged-with-the-group",
        ),
        pytest.param(
            None,
            {"attributes": [{"name": "t", "type": "Number"}, {"object_id": "h", "type": "Number"}]},
            {
                "attributes": [
                    {"object_id": "t", "name": "t", "type": "Number"},
                    {"object_id": "h", "name": "h", "type": "Number"},
                ]
            },
            id="attribute-ids-default-to-each-other",
        ),
    ],
)
async def test_a_device_is_completed_from_its_group_and_the_defaults(
    client: httpx.AsyncClient,
    service: str,
    group: dict[str, Any] | None,
    device: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    if group is not None:
        body = {"groups": [{"apikey": unique_key(), "resource": "/iot/d", "entity_type": "Thing", **group}]}
        assert_created(await client.post("/iot/groups", json=body, headers=tenant(service)))
    await provision(client, service, {"device_id": "d1", **device})
    shown = (await client.get("/iot/devices/d1", headers=tenant(service))).json()
    assert {key: shown.get(key) for key in expected} == expected
    if "polling" not in expected:
        assert "polling" not in shown


def test_register_device_without_a_group_uses_the_defaults() -> None:
    device = register_device({"id": "d1", "transport": "HTTP", "commands": None}, None)
    assert device["type"] == DEFAULT_TYPE and device["name"] == f"{DEFAULT_TYPE}:d1"
    assert device["polling"] is True
    assert (device["commands"], device["lazy"], device["staticAttributes"]) == ([], [], [])
    assert isinstance(device["creationDate"], int)


def test_register_device_takes_the_groups_commands_when_it_has_none() -> None:
    group = {"type": "Meter", "transport": "AMQP", "commands": [{"name": "reset"}]}
    device = register_device({"id": "d1"}, group)
    assert (device["type"], device["transport"]) == ("Meter", "AMQP")
    assert device["commands"] == [{"name": "reset"}]
    assert device["commands"] is not group["commands"]
