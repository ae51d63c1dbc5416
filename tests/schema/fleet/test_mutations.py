"""createFleetModels, startFleetTrainings and setFleetForecasting through the real API and worker,
called with a key of the fleet's tenant only."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fiware.sandbox.runner import Sandbox
from tests.support import ApiServer, GraphQL, WorkerProcess, create_key, graphql_client, run_api
from tests.tasks.pipeline import create_model, seed_series, wait_for

ERRORS = "errors { code message field }"
CREATE = f"""
mutation($input: FleetModelsInput!) {{
  createFleetModels(input: $input) {{
    results {{ entityId created model {{ id name entityId status }} trainingJob {{ id status }} {ERRORS} }}
    pageInfo {{ hasNextPage endCursor }}
    {ERRORS}
    retryAfterSeconds
  }}
}}"""
START = f"""
mutation($ids: [ID!]!, $input: StartTrainingInput) {{
  startFleetTrainings(modelIds: $ids, input: $input) {{
    results {{ modelId trainingJob {{ id status }} {ERRORS} }} {ERRORS} retryAfterSeconds
  }}
}}"""
SWITCH = f"""
mutation($ids: [ID!]!, $enabled: Boolean!, $input: PredictionToggleInput) {{
  setFleetForecasting(modelIds: $ids, enabled: $enabled, input: $input) {{
    results {{ modelId prediction {{ enabled entityId }} {ERRORS} }} {ERRORS} retryAfterSeconds
  }}
}}"""
MODELS = "query($type: String!) { models(filter: {entityType: $type}) { totalCount } }"


def tiny_template(service: str) -> dict[str, Any]:
    return {
        "feature": "temperature",
        "fiwareService": service,
        "fiwareServicePath": "/",
        "lookbackWindow": 8,
        "forecastHorizon": 2,
        "rnnLayers": [{"units": 4}],
        "epochs": 2,
        "batchSize": 32,
    }


def provision(sandbox: Sandbox, service: str, entity_type: str, count: int, *, history: int = 0) -> list[str]:
    """``count`` devices of ``entity_type`` measuring temperature, the first ones with ``history``
    points in STH-Comet (all but the last, when ``history``); their entity ids."""
    entities = []
    for n in range(count):
        entity_id = f"urn:ngsi-ld:{entity_type}:{n:03d}"
        sandbox.iota.add_device(
            service=service,
            service_path="/",
            device={
                "device_id": f"{entity_type.lower()}-{n:03d}",
                "entity_type": entity_type,
                "entity_name": entity_id,
                "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}],
            },
        )
        if history and n < count - 1:
            seed_series(sandbox, points=history, entity_id=entity_id, service=service)
        entities.append(entity_id)
    return entities


def outcome(results: list[dict[str, Any]]) -> list[list[tuple[str, list[str] | None]]]:
    return [[(e["code"], e["field"]) for e in result["errors"]] for result in results]


async def test_a_fleet_is_created_trained_and_switched_on_and_a_stranger_model_is_not_found(
    api: ApiServer, gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, service_env: dict[str, str],
    log_dir: Path,
) -> None:  # fmt: skip
    service = f"t_{uuid.uuid4().hex[:8]}"
    # Seeded as "Sensor" by seed_series: the fleet's entities are sensors.
    entities = provision(fiware_sandbox, service, "Sensor", 3, history=300)
    foreign = (await create_model(gql, seed_series(fiware_sandbox, points=300)))["id"]  # the server's tenant
    key = create_key(service_env, role="editor", tenants=[f"{service}:/"], name="fleet", cwd=log_dir)
    async with graphql_client(api, key=key) as fleet:
        fleet_input = {
            "template": tiny_template(service),
            "selection": {"entityType": "Sensor"},
            "startTraining": True,
            "training": {"lastN": 300},
        }
        created = (await fleet.ok(CREATE, {"input": fleet_input}))["createFleetModels"]
        assert created["errors"] == [] and created["pageInfo"]["hasNextPage"] is False
        results = created["results"]
        assert [r["entityId"] for r in results] == entities and all(r["created"] for r in results)
        # The last entity has no history: its model is made, its training refused next to it.
        assert outcome(results) == [[], [], [("INSUFFICIENT_DATA", ["input", "training"])]]
        trained, idle = [r["model"]["id"] for r in results[:2]], results[2]["model"]["id"]
        assert results[2]["trainingJob"] is None and results[2]["model"]["status"] == "DRAFT"

        again = (await fleet.ok(START, {"ids": [*trained, idle, foreign], "input": {"lastN": 300}}))[
            "startFleetTrainings"
        ]
        assert again["errors"] == [] and [r["trainingJob"] for r in again["results"]] == [None] * 4
        assert outcome(again["results"]) == [
            [("CONFLICT", ["modelIds", "0"])],
            [("CONFLICT", ["modelIds", "1"])],
            [("INSUFFICIENT_DATA", ["input"])],
            [("NOT_FOUND", ["modelIds", "3"])],
        ]
        for result in results[:2]:
            done = await wait_for(gql, result["trainingJob"]["id"])
            assert done["status"] == "COMPLETED", done["error"]

        on = await fleet.ok(SWITCH, {"ids": [trained[0], foreign, trained[1], idle], "enabled": True})
        switched = on["setFleetForecasting"]["results"]
        assert outcome(switched) == [
            [],
            [("NOT_FOUND", ["modelIds", "1"])],
            [],
            [("CONFLICT", ["modelIds", "3"])],
        ]
        assert [s["prediction"]["entityId"] if s["prediction"] else None for s in switched] == [
            f"urn:ngsi-ld:Chronos:Forecast:{uuid.UUID(trained[0]).hex}", None,
            f"urn:ngsi-ld:Chronos:Forecast:{uuid.UUID(trained[1]).hex}", None,
        ]  # fmt: skip
        off = (await fleet.ok(SWITCH, {"ids": trained, "enabled": False}))["setFleetForecasting"]["results"]
        assert [s["prediction"]["enabled"] for s in off] == [False, False]

        # Run again, the page makes nothing twice and starts nothing on trained models.
        rerun = (await fleet.ok(CREATE, {"input": fleet_input}))["createFleetModels"]["results"]
        assert [(r["model"]["id"], r["created"], r["trainingJob"]) for r in rerun[:2]] == [
            (m, False, None) for m in trained
        ]
        assert (rerun[2]["model"]["id"], outcome(rerun)[2]) == (
            idle,
            [("INSUFFICIENT_DATA", ["input", "training"])],
        )


async def test_whole_request_refusals_write_nothing(gql: GraphQL, fiware_sandbox: Sandbox) -> None:
    service = f"t_{uuid.uuid4().hex[:8]}"
    provision(fiware_sandbox, service, "Meter", 2)
    bad = {
        "template": {**tiny_template(service), "rnnLayers": [{"units": 0}]},
        "selection": {"entityType": "Meter", "after": "not-a-cursor"},
        "namePrefix": "meter ",
    }
    refused = (await gql.ok(CREATE, {"input": bad}))["createFleetModels"]
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("VALIDATION_ERROR", ["input", "template", "rnnLayers", "0", "units"]),
        ("VALIDATION_ERROR", ["input", "selection", "after"]),
    ]
    assert refused["results"] == [] and refused["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    assert (await gql.ok(MODELS, {"type": "Meter"}))["models"]["totalCount"] == 0
    too_many = [str(uuid.uuid4()) for _ in range(501)]
    for document, variables in ((START, {"ids": too_many}), (SWITCH, {"ids": too_many, "enabled": False})):
        payload = next(iter((await gql.ok(document, variables)).values()))
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION_ERROR", ["modelIds"])]

    first = await gql.ok(
        CREATE,
        {
            "input": {
                **bad,
                "template": tiny_template(service),
                "selection": {"entityType": "Meter", "first": 1},
            }
        },
    )
    page = first["createFleetModels"]
    assert page["errors"] == [] and page["pageInfo"]["hasNextPage"] is True
    assert page["results"][0]["model"]["name"] == "meter urn:ngsi-ld:Meter:000"


async def test_a_bulk_call_over_the_keys_budget_is_refused_whole(
    service_env: dict[str, str], log_dir: Path, admin_key: str, fiware_sandbox: Sandbox
) -> None:
    service = f"t_{uuid.uuid4().hex[:8]}"
    entities = provision(fiware_sandbox, service, "Valve", 6)
    env = {**service_env, "CHRONOS_MUTATION_RATE_LIMIT": "5", "CHRONOS_MUTATION_RATE_WINDOW_SECONDS": "60"}
    key = create_key(service_env, role="editor", tenants=[f"{service}:/"], name="budget", cwd=log_dir)
    fleet_input = {
        "template": tiny_template(service),
        "selection": {"entityType": "Valve", "entityIds": entities},
    }
    with run_api(env, log_dir, key=admin_key) as server:
        async with graphql_client(server, key=key) as fleet:
            # Six entities are six mutations: more than the whole budget of five.
            never = (await fleet.ok(CREATE, {"input": fleet_input}))["createFleetModels"]
            assert [e["code"] for e in never["errors"]] == ["RATE_LIMITED"] and never["results"] == []
            assert "send fewer items" in never["errors"][0]["message"] and never["retryAfterSeconds"] is None
            # Two fit (the refusal above took its root field's one): then three do not, for now.
            two = (await fleet.ok(START, {"ids": [str(uuid.uuid4()), str(uuid.uuid4())]}))[
                "startFleetTrainings"
            ]
            assert (
                two["errors"] == [] and [r["errors"][0]["code"] for r in two["results"]] == ["NOT_FOUND"] * 2
            )
            three = await fleet.ok(SWITCH, {"ids": [str(uuid.uuid4()) for _ in range(3)], "enabled": False})
            refused = three["setFleetForecasting"]
            assert [e["code"] for e in refused["errors"]] == ["RATE_LIMITED"] and refused["results"] == []
            assert 0 < refused["retryAfterSeconds"] <= 60
        async with graphql_client(server) as admin:
            assert (await admin.ok(MODELS, {"type": "Valve"}))["models"]["totalCount"] == 0
