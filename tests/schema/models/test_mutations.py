from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.settings import Settings
from tests.conftest import unique
from tests.schema.models.fragments import CREATE, DELETE, GET, UPDATE
from tests.support import GraphQL


def new_input(**changes: Any) -> dict[str, Any]:
    return {"entityType": "Sensor", "entityId": unique(), "feature": "temperature", **changes}


async def create(gql: GraphQL, **changes: Any) -> dict[str, Any]:
    payload = (await gql.ok(CREATE, {"input": new_input(**changes)}))["createModel"]
    assert payload["errors"] == []
    model: dict[str, Any] = payload["model"]
    return model


async def test_create_applies_documented_defaults(gql: GraphQL) -> None:
    model = await create(gql)
    uuid.UUID(model["id"])
    assert model["name"] == "LSTM - temperature"
    assert model["status"] == "DRAFT"
    assert model["rnnLayers"] == [{"units": 32, "dropout": 0.0, "recurrentDropout": 0.0}]
    assert model["denseLayers"] == []
    # An unset lookback is chosen per training job from its data.
    assert (model["lookbackWindow"], model["forecastHorizon"], model["batchSize"], model["epochs"]) == (
        None,
        12,
        64,
        100,
    )
    assert (model["targetMode"], model["learningRate"], model["earlyStoppingPatience"]) == ("DELTA", 0.001, 8)
    assert (model["validationRatio"], model["testRatio"]) == (0.15, 0.15)
    assert (model["fiwareService"], model["fiwareServicePath"]) == ("smart", "/")
    assert model["historyStore"] == "STH_COMET"  # the server's CHRONOS_HISTORY_STORE, recorded
    assert model["createdAt"].endswith("+00:00") and model["createdAt"] == model["updatedAt"]


async def test_a_model_may_read_another_store_than_the_servers(gql: GraphQL) -> None:
    model = await create(gql, historyStore="QUANTUMLEAP")
    assert model["historyStore"] == "QUANTUMLEAP"
    fetched = (await gql.ok(GET, {"id": model["id"]}))["model"]
    assert fetched["historyStore"] == "QUANTUMLEAP"
    moved = (await gql.ok(UPDATE, {"id": model["id"], "input": {"historyStore": "STH_COMET"}}))["updateModel"]
    assert moved["errors"] == [] and moved["model"]["historyStore"] == "STH_COMET"
    back = (await gql.ok(UPDATE, {"id": model["id"], "input": {"historyStore": None}}))["updateModel"]
    # Null: the server's store, as for a model created before stores were recorded.
    assert back["errors"] == [] and back["model"]["historyStore"] == "STH_COMET"


async def test_create_with_everything_given(gql: GraphQL) -> None:
    model = await create(
        gql,
        modelType="GRU",
        name="Boiler",
        description="Room 4",
        rnnLayers=[{"units": 64, "dropout": 0.1}, {"units": 16, "recurrentDropout": 0.2}],
        denseLayers=[{"units": 8, "activation": "TANH", "dropout": 0.05}],
        epochs=3,
        fiwareService="city_a",
        fiwareServicePath="/north/rooms",
    )
    assert model["modelType"] == "GRU" and model["name"] == "Boiler" and model["description"] == "Room 4"
    assert model["rnnLayers"][1] == {"units": 16, "dropout": 0.0, "recurrentDropout": 0.2}
    assert model["denseLayers"] == [{"units": 8, "dropout": 0.05, "activation": "TANH"}]
    assert model["earlyStoppingPatience"] == 3, "default patience never exceeds epochs"
    assert (model["fiwareService"], model["fiwareServicePath"]) == ("city_a", "/north/rooms")


async def test_create_reports_every_invalid_field_with_its_path(gql: GraphQL) -> None:
    payload = (
        await gql.ok(
            CREATE,
            {
                "input": new_input(
                    entityId="bad id",
                    rnnLayers=[{"units": 2048}, {"units": 8, "dropout": 1.5}],
                    denseLayers=[{"units": 0}],
                    lookbackWindow=0,
                    validationRatio=0.6,
                    testRatio=0.5,
                    epochs=2,
                    earlyStoppingPatience=3,
                    fiwareServicePath="x",
                )
            },
        )
    )["createModel"]
    assert payload["model"] is None
    assert {tuple(e["field"]) for e in payload["errors"]} == {
        ("input", "entityId"),
        ("input", "rnnLayers", "0", "units"),
        ("input", "rnnLayers", "1", "dropout"),
        ("input", "denseLayers", "0", "units"),
        ("input", "lookbackWindow"),
        ("input", "testRatio"),
        ("input", "earlyStoppingPatience"),
        ("input", "fiwareServicePath"),
    }
    assert {e["code"] for e in payload["errors"]} == {"VALIDATION_ERROR"}
    assert all(e["message"] for e in payload["errors"])


async def test_bad_enum_is_refused_by_the_schema(gql: GraphQL) -> None:
    result = await gql.run(CREATE, {"input": new_input(modelType="TRANSFORMER")})
    assert result.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert "TRANSFORMER" in result.errors[0]["message"]
    activation = await gql.run(
        CREATE, {"input": new_input(denseLayers=[{"units": 4, "activation": "softmax"}])}
    )
    assert activation.codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_refused_input_writes_nothing(gql: GraphQL) -> None:
    entity = unique()
    payload = (await gql.ok(CREATE, {"input": new_input(entityId=entity, epochs=0)}))["createModel"]
    assert payload["errors"]
    listed = await gql.ok(
        "query($e: String) { models(filter: {entityId: $e}) { totalCount } }", {"e": entity}
    )
    assert listed["models"]["totalCount"] == 0


async def test_update_changes_a_draft(gql: GraphQL) -> None:
    model = await create(gql, epochs=20)
    payload = (
        await gql.ok(
            UPDATE,
            {"id": model["id"], "input": {"epochs": 3, "rnnLayers": [{"units": 8}], "feature": "humidity"}},
        )
    )["updateModel"]
    assert payload["errors"] == []
    updated = payload["model"]
    assert updated["epochs"] == 3 and updated["earlyStoppingPatience"] == 3
    assert updated["rnnLayers"] == [{"units": 8, "dropout": 0.0, "recurrentDropout": 0.0}]
    assert updated["name"] == "LSTM - humidity", "a default name follows the feature"
    assert updated["updatedAt"] > model["updatedAt"]
    assert updated["createdAt"] == model["createdAt"]
    fetched = (await gql.ok(GET, {"id": model["id"]}))["model"]
    assert fetched == updated


async def test_update_keeps_a_chosen_name_and_null_resets_it(gql: GraphQL) -> None:
    model = await create(gql, name="Mine", description="notes")
    kept = (await gql.ok(UPDATE, {"id": model["id"], "input": {"feature": "co2"}}))["updateModel"]["model"]
    assert kept["name"] == "Mine"
    reset = (await gql.ok(UPDATE, {"id": model["id"], "input": {"name": None, "description": None}}))[
        "updateModel"
    ]["model"]
    assert reset["name"] == "LSTM - co2" and reset["description"] is None


async def test_update_reports_null_and_merged_problems_together(gql: GraphQL) -> None:
    model = await create(gql, earlyStoppingPatience=10)
    changes = {
        "epochs": 4,
        "forecastHorizon": None,
        "rnnLayers": [{"units": 16}, {"units": 0}],
        "denseLayers": [{"units": 4, "dropout": 1}],
    }
    payload = (await gql.ok(UPDATE, {"id": model["id"], "input": changes}))["updateModel"]
    assert payload["model"] is None
    assert {tuple(e["field"]) for e in payload["errors"]} == {
        ("input", "forecastHorizon"),
        ("input", "earlyStoppingPatience"),
        ("input", "rnnLayers", "1", "units"),
        ("input", "denseLayers", "0", "dropout"),
    }
    patience = next(e for e in payload["errors"] if e["field"][-1] == "earlyStoppingPatience")
    assert "epochs = 4" in patience["message"] and "got 10" in patience["message"]
    unchanged = (await gql.ok(GET, {"id": model["id"]}))["model"]
    assert unchanged["epochs"] == 100 and unchanged["updatedAt"] == model["updatedAt"]


@pytest.mark.parametrize(
    ("changes", "enum"),
    [({"targetMode": "RESIDUAL"}, "TargetMode"), ({"modelType": "RNN"}, "ModelType")],
)
async def test_update_refuses_unknown_enum_values(gql: GraphQL, changes: dict[str, Any], enum: str) -> None:
    model = await create(gql)
    result = await gql.run(UPDATE, {"id": model["id"], "input": changes})
    assert result.codes == ["GRAPHQL_VALIDATION_FAILED"] and enum in result.errors[0]["message"]


async def test_concurrent_edits_never_lose_an_update(gql: GraphQL) -> None:
    model = await create(gql)
    results = await asyncio.gather(
        *(gql.ok(UPDATE, {"id": model["id"], "input": {"batchSize": 100 + i}}) for i in range(8))
    )
    payloads = [r["updateModel"] for r in results]
    winners = [p["model"]["batchSize"] for p in payloads if not p["errors"]]
    assert winners, "at least one edit wins"
    assert all(e["code"] == "CONFLICT" for p in payloads for e in p["errors"])
    stored = (await gql.ok(GET, {"id": model["id"]}))["model"]
    # Every edit that reported success was applied on top of the version it read.
    assert stored["batchSize"] in winners


@pytest.mark.parametrize("status", ["TRAINING", "TRAINED"])
async def test_update_outside_draft_is_a_conflict(gql: GraphQL, test_settings: Settings, status: str) -> None:
    model = await create(gql)
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        test_settings.mongo_url, uuidRepresentation="standard"
    )
    try:
        await client[test_settings.mongo_database]["models"].update_one(
            {"_id": uuid.UUID(model["id"])}, {"$set": {"status": status}}
        )
    finally:
        await client.close()
    payload = (await gql.ok(UPDATE, {"id": model["id"], "input": {"epochs": 7}}))["updateModel"]
    assert payload["model"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("CONFLICT", ["id"])]
    assert status in payload["errors"][0]["message"]
    deleted = (await gql.ok(DELETE, {"id": model["id"]}))["deleteModel"]
    if status == "TRAINING":
        assert [e["code"] for e in deleted["errors"]] == ["CONFLICT"]
    else:
        assert deleted == {"deletedId": model["id"], "errors": []}


async def test_update_and_delete_unknown_or_malformed_ids(gql: GraphQL) -> None:
    missing = str(uuid.uuid4())
    update = (await gql.ok(UPDATE, {"id": missing, "input": {"epochs": 3}}))["updateModel"]
    assert [(e["code"], e["field"]) for e in update["errors"]] == [("NOT_FOUND", ["id"])]
    delete = (await gql.ok(DELETE, {"id": missing}))["deleteModel"]
    assert delete["deletedId"] is None and [e["code"] for e in delete["errors"]] == ["NOT_FOUND"]
    malformed = (await gql.ok(DELETE, {"id": "not-a-uuid"}))["deleteModel"]
    assert [(e["code"], e["field"]) for e in malformed["errors"]] == [("VALIDATION_ERROR", ["id"])]


async def test_delete_removes_the_model(gql: GraphQL) -> None:
    model = await create(gql)
    deleted = (await gql.ok(DELETE, {"id": model["id"]}))["deleteModel"]
    assert deleted == {"deletedId": model["id"], "errors": []}
    assert (await gql.ok(GET, {"id": model["id"]}))["model"] is None
    again = (await gql.ok(DELETE, {"id": model["id"]}))["deleteModel"]
    assert [e["code"] for e in again["errors"]] == ["NOT_FOUND"]


async def test_a_null_lookback_hands_the_choice_back_to_the_data(gql: GraphQL) -> None:
    model = await create(gql, lookbackWindow=24)
    assert model["lookbackWindow"] == 24
    payload = (await gql.ok(UPDATE, {"id": model["id"], "input": {"lookbackWindow": None}}))["updateModel"]
    assert payload["errors"] == [] and payload["model"]["lookbackWindow"] is None
