from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox
from tests.conftest import both_stores
from tests.support import ApiServer, GraphQL, create_key, graphql_client, run_api
from tests.tasks.pipeline import STORE_FAULTS, seed_series

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


READINGS = """
query Readings($id: String!, $store: HistoryStore, $lastN: Int!, $from: DateTime, $to: DateTime,
               $service: String) {
  readings(entityType: "Sensor", entityId: $id, attribute: "temperature", historyStore: $store,
           lastN: $lastN, dateFrom: $from, dateTo: $to, service: $service) {
    historyStore dropped points { timestamp value }
  }
}
"""


@both_stores
async def test_readings_are_the_newest_of_the_store_asked(
    gql: GraphQL, api: ApiServer, fiware_sandbox: Sandbox, history_store: str, stranger: str
) -> None:
    store = history_store.upper().replace("-", "_")
    # 300 readings a minute apart in the store asked, and other values in the other one.
    entity = seed_series(fiware_sandbox, points=300, store=history_store)
    other = next(name for name in STORE_FAULTS if name != history_store)
    seed_series(fiware_sandbox, points=10, entity_id=entity, value=-1.0, store=other)
    found = (await gql.ok(READINGS, {"id": entity, "store": store, "lastN": 50}))["readings"]
    assert found["historyStore"] == store and found["dropped"] == 0
    points = found["points"]
    assert len(points) == 50 and all(p["value"] != -1.0 for p in points)
    times = [datetime.fromisoformat(p["timestamp"]) for p in points]
    assert times == sorted(times) and times[-1] > datetime.now(UTC) - timedelta(minutes=3)
    window = {"from": times[10].isoformat(), "to": times[19].isoformat()}
    sliced = (await gql.ok(READINGS, {"id": entity, "store": store, "lastN": 5, **window}))["readings"]
    assert [p["timestamp"] for p in sliced["points"]] == [p["timestamp"] for p in points[15:20]]
    # Another tenant's, or an entity never seen: nothing, not an error.
    elsewhere = await gql.ok(READINGS, {"id": entity, "store": store, "lastN": 5, "service": "nobody"})
    assert elsewhere["readings"]["points"] == []
    async with graphql_client(api, key=stranger) as client:
        theirs = await client.ok(READINGS, {"id": entity, "store": store, "lastN": 5, "service": "smart"})
    assert theirs["readings"]["points"] == []


@pytest.fixture(scope="module")
def stranger(service_env: dict[str, str], log_dir: Path) -> str:
    """A viewer of another tenant."""
    return create_key(service_env, role="viewer", tenants=["elsewhere:/"], name="stranger", cwd=log_dir)


async def test_readings_arguments_are_validated(gql: GraphQL) -> None:
    refused = await gql.run(READINGS, {"id": "x", "lastN": 0, "from": "2026-01-02T00:00:00+00:00",
                                       "to": "2026-01-01T00:00:00+00:00"})  # fmt: skip
    assert refused.codes == ["VALIDATION_ERROR"]
    fields = [e["field"] for e in refused.errors[0]["extensions"]["errors"]]
    assert fields == [["lastN"], ["dateFrom"]]
