"""Every root field, called with no key, a viewer's key and another tenant's key: never a leak.

``CALLS`` must name every root field of the schema (a test checks it), so a new field cannot
ship without being walked through here.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pymongo import AsyncMongoClient
from websockets.typing import Subprotocol

from app.db import init_documents
from app.models.documents import ModelDocument
from app.models.enums import ModelType, TargetMode
from app.settings import Settings
from app.training.config import snapshot
from app.training.documents import TrainingJobDocument, TrainingRequest, TrainingStatus
from schema import schema
from tests.support import ApiServer, bearer, create_key

TENANT = "smart:/"
OTHER_TENANT = "elsewhere:/"


@dataclass(frozen=True)
class Call:
    document: str
    # What another tenant's editor gets: "open" (no tenant data, answered), "empty" (answered with
    # nothing of the tenant's), "null" (the field is null), "not_found" (NOT_FOUND, top level or
    # in the payload), "forbidden" (FORBIDDEN in the payload: it named a tenant not its own).
    stranger: str


CALLS: dict[str, Call] = {
    "health": Call("{ health { status } }", "open"),
    "info": Call("{ info { name version } }", "open"),
    "modelTypes": Call("{ modelTypes { value } }", "open"),
    "models": Call("{ models(first: 100) { totalCount edges { node { id } } } }", "empty"),
    "model": Call("query($model: ID!) { model(id: $model) { id name } }", "null"),
    "trainingJob": Call("query($job: ID!) { trainingJob(id: $job) { id } }", "null"),
    "trainingJobs": Call("{ trainingJobs(first: 100) { totalCount edges { node { id } } } }", "empty"),
    "predict": Call("query($job: ID!) { predict(trainingJobId: $job) { horizon } }", "not_found"),
    "predictionHistory": Call(
        "query($job: ID!) { predictionHistory(trainingJobId: $job) { edges { cursor } } }", "not_found"
    ),
    "devices": Call('{ devices(service: "smart", servicePath: "/") { entityType } }', "empty"),
    "readings": Call(
        """{ readings(entityType: "Sensor", entityId: "urn:x", attribute: "t", service: "smart",
           servicePath: "/") { points { value } } }""",
        "empty",
    ),
    # The caller's own key: nothing of a tenant's.
    "viewer": Call("{ viewer { role tenants { service } } }", "open"),
    "createModel": Call(
        """mutation { createModel(input: {entityType: "Sensor", entityId: "urn:x", feature: "t",
           fiwareService: "smart", fiwareServicePath: "/"}) { model { id } errors { code field } } }""",
        "forbidden",
    ),
    "updateModel": Call(
        """mutation($model: ID!) { updateModel(id: $model, input: {name: "taken"}) {
           model { id } errors { code } } }""",
        "not_found",
    ),
    "deleteModel": Call(
        "mutation($model: ID!) { deleteModel(id: $model) { deletedId errors { code } } }", "not_found"
    ),
    "startTraining": Call(
        "mutation($model: ID!) { startTraining(modelId: $model) { trainingJob { id } errors { code } } }",
        "not_found",
    ),
    "cancelTraining": Call(
        "mutation($job: ID!) { cancelTraining(jobId: $job) { trainingJob { id } errors { code } } }",
        "not_found",
    ),
    "deleteTrainingJob": Call(
        "mutation($job: ID!) { deleteTrainingJob(jobId: $job) { deletedId errors { code } } }", "not_found"
    ),
    "togglePrediction": Call(
        """mutation($job: ID!) { togglePrediction(trainingJobId: $job, enabled: false) {
           prediction { enabled } errors { code } } }""",
        "not_found",
    ),
    "promoteTrainingJob": Call(
        """mutation($job: ID!) { promoteTrainingJob(trainingJobId: $job) {
           model { id } errors { code } } }""",
        "not_found",
    ),
    "compareTrainingJobs": Call(
        """query($job: ID!) { compareTrainingJobs(ids: [$job, "00000000-0000-4000-8000-000000000000"]) {
           jobs { id } } }""",
        "not_found",
    ),
    "setModelForecasting": Call(
        """mutation($model: ID!) { setModelForecasting(modelId: $model, enabled: false) {
           prediction { enabled } errors { code } } }""",
        "not_found",
    ),
    "setRetrainingPolicy": Call(
        """mutation($model: ID!) { setRetrainingPolicy(modelId: $model, input: null) {
           model { id } errors { code } } }""",
        "not_found",
    ),
    "createFleetModels": Call(
        """mutation { createFleetModels(input: {template: {feature: "t", fiwareService: "smart",
           fiwareServicePath: "/"}, selection: {entityType: "Sensor", entityIds: ["urn:x"]}}) {
           results { entityId } errors { code field } } }""",
        "forbidden",
    ),
    "startFleetTrainings": Call(
        """mutation($model: ID!) { startFleetTrainings(modelIds: [$model]) {
           results { trainingJob { id } errors { code } } errors { code } } }""",
        "not_found",
    ),
    "setFleetForecasting": Call(
        """mutation($model: ID!) { setFleetForecasting(modelIds: [$model], enabled: false) {
           results { prediction { enabled } errors { code } } errors { code } } }""",
        "not_found",
    ),
    "healthUpdates": Call("subscription { healthUpdates(intervalSeconds: 1) { status } }", "open"),
    "trainingProgress": Call(
        "subscription($job: ID!) { trainingProgress(jobId: $job) { seq } }", "not_found"
    ),
    "trainingJobUpdates": Call(
        "subscription($model: ID) { trainingJobUpdates(modelId: $model) { jobId } }", "empty"
    ),
    "modelUpdates": Call("subscription($model: ID) { modelUpdates(modelId: $model) { kind } }", "not_found"),
}


def root_fields() -> dict[str, str]:
    """Every root field of the schema, with its operation type."""
    graphql = schema._schema
    roots = {
        "query": graphql.query_type,
        "mutation": graphql.mutation_type,
        "subscription": graphql.subscription_type,
    }
    return {name: kind for kind, root in roots.items() if root for name in root.fields}


def kind_of(field: str) -> str:
    return root_fields()[field]


@dataclass(frozen=True)
class TenantObjects:
    model_id: str
    job_id: str


@pytest.fixture
async def tenant_objects(
    mongo: AsyncMongoClient[dict[str, Any]], test_settings: Settings
) -> AsyncIterator[TenantObjects]:
    """A model of TENANT and a finished job of it, written straight to the API's database."""
    await init_documents(mongo, test_settings.mongo_database)
    model = ModelDocument(
        name=f"secret-{uuid.uuid4().hex[:6]}", model_type=ModelType.LSTM, rnn_layers=[{"units": 4}],
        dense_layers=[], lookback_window=8, forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32,
        epochs=2, learning_rate=0.001, validation_ratio=0.15, test_ratio=0.15, entity_type="Sensor",
        entity_id=f"urn:s:{uuid.uuid4().hex[:8]}", feature="t", fiware_service="smart",
        fiware_service_path="/",
    )  # fmt: skip
    await model.insert()
    job = TrainingJobDocument(
        model_id=model.id,
        status=TrainingStatus.FAILED,
        request=TrainingRequest(last_n=100),
        config=snapshot(model),
        request_fingerprint="x",
    )
    await job.insert()
    try:
        yield TenantObjects(str(model.id), str(job.id))
    finally:
        await model.delete()
        await job.delete()


@pytest.fixture(scope="session")
def viewer_key(service_env: dict[str, str], log_dir: Path) -> str:
    return create_key(service_env, role="viewer", tenants=[TENANT], name="viewer", cwd=log_dir)


@pytest.fixture(scope="session")
def stranger_key(service_env: dict[str, str], log_dir: Path) -> str:
    return create_key(service_env, role="editor", tenants=[OTHER_TENANT], name="stranger", cwd=log_dir)


async def call(
    api: ApiServer, field: str, objects: TenantObjects, key: str | None
) -> tuple[int, dict[str, Any]]:
    """One call of ``field`` with ``key``: the HTTP status and the first JSON result."""
    variables = {"model": objects.model_id, "job": objects.job_id}
    used = {name: value for name, value in variables.items() if f"${name}" in CALLS[field].document}
    body = {"query": CALLS[field].document, "variables": used}
    headers = bearer(key)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=3)) as client:
        if kind_of(field) != "subscription":
            response = await client.post(api.graphql_url, json=body, headers=headers)
            return response.status_code, response.json()
        # Subscriptions over SSE: the first event, or nothing within a moment for quiet streams.
        headers["accept"] = "text/event-stream"
        async with client.stream("POST", api.graphql_url, json=body, headers=headers) as response:
            if response.status_code != 200:
                return response.status_code, json.loads(await response.aread())
            try:
                async with asyncio.timeout(1.5):
                    async for line in response.aiter_lines():
                        if line.startswith("data: ") and line != "data: ":
                            return 200, json.loads(line.removeprefix("data: "))
            except TimeoutError:
                pass
            return 200, {"data": None}


def codes(result: dict[str, Any], field: str) -> set[str]:
    """Error codes of a result: top level, and in a mutation payload's ``errors``."""
    found = {e.get("extensions", {}).get("code") for e in result.get("errors") or []}
    payload = (result.get("data") or {}).get(field)
    if isinstance(payload, dict):
        found |= {e["code"] for e in payload.get("errors") or []}
        # Bulk payloads report each item's failure in its result.
        found |= {e["code"] for item in payload.get("results") or [] for e in item.get("errors") or []}
    return found


async def counts(mongo: AsyncMongoClient[dict[str, Any]], settings: Settings) -> tuple[int, int]:
    database = mongo[settings.mongo_database]
    return (
        await database["models"].count_documents({}),
        await database["training_jobs"].count_documents({}),
    )


def test_every_root_field_is_walked() -> None:
    assert set(CALLS) == set(root_fields()), "add the new root field to CALLS, with what a stranger gets"


async def test_without_a_key_nothing_answers(api: ApiServer, tenant_objects: TenantObjects) -> None:
    for field in CALLS:
        for key in (None, "chr_" + "0" * 43, "not-a-key"):
            status, result = await call(api, field, tenant_objects, key)
            assert status == 401, (field, key, result)
            assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (field, result)
            assert "data" not in result


async def test_a_websocket_without_a_valid_key_is_closed_at_connection_init(api: ApiServer) -> None:
    url = api.graphql_url.replace("http", "ws")
    for payload in ({}, {"Authorization": "Bearer chr_wrong"}):
        async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_viewer_reads_its_tenant_and_changes_nothing(
    api: ApiServer,
    tenant_objects: TenantObjects,
    viewer_key: str,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    before = await counts(mongo, test_settings)
    for field in CALLS:
        status, result = await call(api, field, tenant_objects, viewer_key)
        assert status == 200, (field, result)
        if kind_of(field) == "mutation":
            assert codes(result, field) == {"FORBIDDEN"}, (field, result)
            assert result.get("data") is None, (field, result)
        else:
            assert "FORBIDDEN" not in codes(result, field) and "UNAUTHENTICATED" not in codes(result, field)
    assert await counts(mongo, test_settings) == before
    _, model = await call(api, "model", tenant_objects, viewer_key)
    assert model["data"]["model"]["id"] == tenant_objects.model_id
    # Hosts, ports and driver messages are for operators.
    details = "{ info { dependencies { url } } health { dependencies { message } } }"
    async with httpx.AsyncClient(timeout=10) as client:
        seen = (
            await client.post(api.graphql_url, json={"query": details}, headers=bearer(viewer_key))
        ).json()
        full = (await client.post(api.graphql_url, json={"query": details}, headers=api.headers)).json()
    assert seen["data"]["info"]["dependencies"] == []
    assert all(d["message"] is None for d in seen["data"]["health"]["dependencies"])
    assert full["data"]["info"]["dependencies"] and any(
        d["message"] for d in full["data"]["health"]["dependencies"]
    )


async def test_a_model_with_jobs_cannot_move_to_another_tenant(
    api: ApiServer, tenant_objects: TenantObjects
) -> None:
    # Its jobs would otherwise follow it into a tenant that was never meant to see them.
    move = """mutation($model: ID!) { updateModel(id: $model, input: {fiwareService: "elsewhere"}) {
              model { id } errors { code field } } }"""
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            api.graphql_url,
            json={"query": move, "variables": {"model": tenant_objects.model_id}},
            headers=api.headers,
        )
    payload = answer.json()["data"]["updateModel"]
    assert payload["model"] is None
    assert payload["errors"] == [{"code": "CONFLICT", "field": ["input", "fiwareService"]}]


async def test_another_tenants_key_never_sees_or_touches_the_tenants_objects(
    api: ApiServer,
    tenant_objects: TenantObjects,
    stranger_key: str,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    before = await counts(mongo, test_settings)
    secrets_of_tenant = (tenant_objects.model_id, tenant_objects.job_id)
    for field, spec in CALLS.items():
        status, result = await call(api, field, tenant_objects, stranger_key)
        assert status == 200, (field, result)
        found = codes(result, field)
        data = (result.get("data") or {}).get(field)
        if spec.stranger == "open":
            assert not found and data is not None, (field, result)
        elif spec.stranger == "empty":
            assert not found, (field, result)
            assert not any(s in json.dumps(data) for s in secrets_of_tenant), (field, result)
        elif spec.stranger == "null":
            assert not found and data is None, (field, result)
        elif spec.stranger == "not_found":
            assert found == {"NOT_FOUND"}, (field, result)
        else:
            assert found == {"FORBIDDEN"}, (field, result)
    assert await counts(mongo, test_settings) == before
    stored = await mongo[test_settings.mongo_database]["models"].find_one(
        {"_id": uuid.UUID(tenant_objects.model_id)}
    )
    assert stored is not None and stored["name"].startswith("secret-"), "untouched"


async def test_what_a_stranger_cannot_find_an_admin_can(
    api: ApiServer, tenant_objects: TenantObjects
) -> None:
    # So the NOT_FOUND a stranger gets comes from tenancy, not from a missing object.
    for field in ("updateModel", "cancelTraining", "predict", "trainingProgress"):
        _, result = await call(api, field, tenant_objects, api.key)
        assert "NOT_FOUND" not in codes(result, field), (field, result)
