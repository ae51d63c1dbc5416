"""Orion 4 end to end, in both history-store modes: a series kept in the store, a model trained on
it, forecasts published through Orion 4's normalized subscription and ``predictionHistory`` reading
them back from the store. QuantumLeap takes the notifications itself (and gets the next step as
plain numeric columns); STH-Comet gets them through Cygnus.

Each mode is a stack of its own (API, worker with beat) on its own database, broker and Redis
database, so that neither its beat nor the suite's claims the other's forecasts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.runner import Sandbox, running_sandbox
from tests.support import ApiServer, GraphQL, WorkerProcess, create_key, graphql_client, run_api, run_worker
from tests.tasks.pipeline import create_model, seed_series, start, wait_for
from tests.tasks.test_forecasting import HISTORY
from tests.tasks.test_model_forecasting import SET

ORION = "4.7.0"


@pytest.fixture(scope="module")
def orion4_ql() -> Iterator[Sandbox]:
    with running_sandbox(SandboxConfig(orion_version=ORION)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module", params=["quantumleap", "sth-comet"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def ql_env(service_env: dict[str, str], orion4_ql: Sandbox, store: str) -> dict[str, str]:
    redis = service_env["CHRONOS_REDIS_URL"].rsplit("/", 1)[0]
    databases = {"quantumleap": 12, "sth-comet": 14}[store]
    return {
        **service_env,
        "CHRONOS_MONGO_DATABASE": f"chronos_test_orion4_{store.replace('-', '_')}",
        "CHRONOS_CELERY_BROKER_URL": f"{redis}/{databases}",
        "CHRONOS_REDIS_URL": f"{redis}/{databases + 1}",
        "CHRONOS_ORION_URL": orion4_ql.orion_url,
        "CHRONOS_STH_COMET_URL": orion4_ql.sth_url,
        "CHRONOS_IOT_AGENT_URL": orion4_ql.iota_url,
        "CHRONOS_HISTORY_STORE": store,
        "CHRONOS_QUANTUMLEAP_URL": orion4_ql.ql_url,
        "CHRONOS_CYGNUS_NOTIFY_URL": f"{orion4_ql.cygnus_url}/notify",
        "CHRONOS_TRAINING_CHUNK_POINTS": "200",
    }


@pytest.fixture(scope="module")
def ql_api(ql_env: dict[str, str], log_dir: Path) -> Iterator[ApiServer]:
    key = create_key(ql_env, role="admin", name="orion 4", cwd=log_dir)
    with run_api(ql_env, log_dir, key=key) as server:
        yield server


@pytest.fixture(scope="module")
def ql_worker(ql_env: dict[str, str], log_dir: Path, store: str) -> Iterator[WorkerProcess]:
    with run_worker(ql_env, log_dir, name=f"orion4-{store}") as process:
        yield process


@pytest.fixture
async def ql_gql(ql_api: ApiServer) -> AsyncIterator[GraphQL]:
    async with graphql_client(ql_api) as client:
        yield client


async def history(gql: GraphQL, job_id: str, runs: int, timeout: float = 40.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = (await gql.ok(HISTORY, {"id": job_id, "first": 20}))["predictionHistory"]["edges"]
        nodes = [edge["node"] for edge in found if edge["node"]["points"]]
        if len(nodes) >= runs or time.monotonic() > deadline:
            return nodes
        await asyncio.sleep(0.3)


async def test_a_model_trained_on_the_store_publishes_into_it_through_orion_4(
    ql_gql: GraphQL, ql_worker: WorkerProcess, orion4_ql: Sandbox, store: str
) -> None:
    entity = seed_series(orion4_ql, points=300, store=store)
    model = (await create_model(ql_gql, entity))["id"]
    started = await start(ql_gql, model, lastN=301)  # above the stored count: every point
    assert started["errors"] == [] and started["trainingJob"]["pointsAvailable"] == 300
    job = await wait_for(ql_gql, started["trainingJob"]["id"])
    assert job["status"] == "COMPLETED", job["error"]
    assert job["pointsCollected"] == 300, "every point the store holds"

    switched = await ql_gql.ok(SET, {"model": model, "enabled": True, "input": {"intervalSeconds": 2.0}})
    assert switched["setModelForecasting"]["errors"] == []
    entity_id = switched["setModelForecasting"]["prediction"]["entityId"]
    async with httpx.AsyncClient(base_url=orion4_ql.orion_url, timeout=10) as orion:
        listed = (await orion.get("/v2/subscriptions", headers={"Fiware-Service": "smart"})).json()
    [subscription] = [sub for sub in listed if entity_id in str(sub["subject"])]
    notification = subscription["notification"]
    assert notification["attrsFormat"] == "normalized" and "throttling" not in subscription
    sink = f"{orion4_ql.ql_url}/v2/notify" if store == "quantumleap" else f"{orion4_ql.cygnus_url}/notify"
    assert notification["http"]["url"] == sink

    runs = await history(ql_gql, job["id"], runs=2)
    assert len(runs) >= 2, "forecasts reach the store through Orion 4 and read back from it"
    assert runs[0]["recordedAt"] > runs[1]["recordedAt"], "newest first"
    if store == "quantumleap":
        assert notification["metadata"] == ["dateModified", "*"]
        plotted_in_quantumleap(orion4_ql, entity_id)


def plotted_in_quantumleap(sandbox: Sandbox, entity_id: str) -> None:
    columns = sandbox.ql.columns("smart", "Prediction")
    assert columns["forecastnext"].ngsi_type == "Number" and columns["forecastnextat"].ngsi_type == "DateTime"
    rows = [row for row in sandbox.ql.rows("smart", "Prediction") if row.entity_id == entity_id]
    plotted = [row.values["forecastnext"] for row in rows if row.values.get("forecastnext") is not None]
    assert len(plotted) >= 2 and all(isinstance(value, float) for value in plotted)
