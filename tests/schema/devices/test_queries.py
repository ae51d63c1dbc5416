from __future__ import annotations

import uuid
from pathlib import Path

from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox
from tests.support import GraphQL, graphql_client, run_api

DEVICES = """
query Devices($service: String, $servicePath: String) {
  devices(service: $service, servicePath: $servicePath) {
    entityType
    entities { entityId deviceId attributes }
  }
}
"""


def device(
    device_id: str, entity_type: str, *measures: str, entity_name: str | None = None
) -> dict[str, object]:
    found: dict[str, object] = {
        "device_id": device_id,
        "entity_type": entity_type,
        "attributes": [{"object_id": m[:1], "name": m, "type": "Number"} for m in measures],
    }
    if entity_name:
        found["entity_name"] = entity_name
    return found


async def test_devices_grouped_by_type_without_chronos_own(gql: GraphQL, fiware_sandbox: Sandbox) -> None:
    service = f"t_{uuid.uuid4().hex[:8]}"
    for path, item in [
        ("/rooms", device("r2", "Room", "temperature", entity_name="urn:Room:2")),
        ("/rooms", device("r1", "Room", "temperature", entity_name="urn:Room:1")),
        ("/rooms", device("b1", "Boiler", "pressure", "temp")),
        ("/rooms", device("chronos-forecast-abc", "Prediction")),
        ("/other", device("x", "Room", "temperature")),
    ]:
        fiware_sandbox.iota.add_device(service=service, service_path=path, device=item)

    groups = (await gql.ok(DEVICES, {"service": service, "servicePath": "/rooms"}))["devices"]
    assert groups == [
        {
            "entityType": "Boiler",
            "entities": [{"entityId": "Boiler:b1", "deviceId": "b1", "attributes": ["pressure", "temp"]}],
        },
        {
            "entityType": "Room",
            "entities": [
                {"entityId": "urn:Room:1", "deviceId": "r1", "attributes": ["temperature"]},
                {"entityId": "urn:Room:2", "deviceId": "r2", "attributes": ["temperature"]},
            ],
        },
    ]
    assert (await gql.ok(DEVICES, {"service": f"t_{uuid.uuid4().hex[:8]}"}))["devices"] == []


async def test_tenant_arguments_are_validated(gql: GraphQL) -> None:
    result = await gql.run(DEVICES, {"service": "Bad-Tenant", "servicePath": "rooms"})
    assert result.codes == ["VALIDATION_ERROR"]
    fields = [e["field"] for e in result.errors[0]["extensions"]["errors"]]
    assert fields == [["service"], ["servicePath"]]


async def test_upstream_refusal_and_outage_are_explained(
    gql: GraphQL, fiware_sandbox: Sandbox, service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    fiware_sandbox.faults["iota"].inject(Fault(status=400))
    refused = await gql.run(DEVICES)
    assert refused.codes == ["UPSTREAM_ERROR"] and "status 400" in refused.errors[0]["message"]

    env = {
        **service_env,
        "CHRONOS_IOT_AGENT_URL": "http://127.0.0.1:9",
        "CHRONOS_FIWARE_TIMEOUT_SECONDS": "1",
    }
    with run_api(env, log_dir, key=admin_key) as server:
        async with graphql_client(server) as client:
            down = await client.run(DEVICES)
            health = (await client.ok("{ health { status dependencies { name status } } }"))["health"]
    assert down.codes == ["UNAVAILABLE"] and "IoT Agent" in down.errors[0]["message"]
    assert health["status"] == "DEGRADED"
    assert {d["name"]: d["status"] for d in health["dependencies"]}["iotAgent"] == "DOWN"
