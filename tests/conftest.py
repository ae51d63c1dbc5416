"""Session services for the suite: SecantusDB in memory on a free port, Redis, and a RabbitMQ node.

Redis is the configured (default) server when it answers; RabbitMQ is a node of the session's own
on a free port, so no other worker on the machine can consume the session's tasks. Whatever is
missing ``app.devstack`` starts where installed, exactly as ``make run`` does.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from app.db import connect_mongo, init_documents
from app.devstack import Stack, ensure_services, free_port
from app.settings import Environment, Settings
from fiware.sandbox.runner import Sandbox, running_sandbox
from tests.support import (
    ApiServer,
    GraphQL,
    WorkerProcess,
    create_key,
    graphql_client,
    run_api,
    run_worker,
)

# Fixtures that start or reach a real server: a test that uses any of them (directly or through
# another fixture) is a `services` test; `make test-fast` runs the rest.
SERVICE_FIXTURES = frozenset({"service_env", "fiware_sandbox", "module_sandbox"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def fiware_sandbox() -> Iterator[Sandbox]:
    """Orion, STH-Comet and IoT Agent stand-ins for the whole session, seeded by each test."""
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def service_env(
    tmp_path_factory: pytest.TempPathFactory, fiware_sandbox: Sandbox
) -> Iterator[dict[str, str]]:
    """``CHRONOS_*`` variables that point at the session's services."""
    data_dir = tmp_path_factory.mktemp("services")
    stack = Stack()
    try:
        # A RabbitMQ node of the session's own, on a free port: a worker of another session (or of
        # `make run`) consuming the same queue names on the machine's broker would take our tasks.
        broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
        base = Settings(_env_file=None, data_dir=data_dir, celery_broker_url=broker)
        overrides = ensure_services(base, stack=stack, memory_mongo=True, sandbox=False)
        # Every service URL spelled out: API processes get these and no inherited CHRONOS_*.
        urls = {
            f"CHRONOS_{name.upper()}": str(getattr(base, name))
            for name in ("mongo_url", "redis_url", "celery_broker_url")
        }
        yield {
            **urls,
            **overrides,
            "CHRONOS_ENVIRONMENT": "test",
            "CHRONOS_AUTH_ENABLED": "true",
            # The suite's one admin key sends thousands of mutations; the limit has tests of its own.
            "CHRONOS_MUTATION_RATE_LIMIT": "1000000",
            "CHRONOS_MONGO_DATABASE": "chronos_test",
            "CHRONOS_DATA_DIR": str(data_dir),
            "CHRONOS_ORION_URL": fiware_sandbox.orion_url,
            "CHRONOS_STH_COMET_URL": fiware_sandbox.sth_url,
            "CHRONOS_QUANTUMLEAP_URL": fiware_sandbox.ql_url,
            "CHRONOS_IOT_AGENT_URL": fiware_sandbox.iota_url,
            # Recurring forecasts every second or two, so tests see several runs.
            "CHRONOS_PREDICTION_MIN_INTERVAL_SECONDS": "1",
            "CHRONOS_FORECAST_SCHEDULER_INTERVAL_SECONDS": "0.5",
            # Retraining schedules of a few seconds may be set; the model ticks that run them are off
            # (each tick queries the models collection, which SecantusDB scans as it grows):
            # tests/tasks/test_retraining.py runs a worker of its own with them on.
            "CHRONOS_RETRAINING_MIN_INTERVAL_SECONDS": "1",
            "CHRONOS_RETRAINING_TICK_SECONDS": "0",
            "CHRONOS_MONITOR_INTERVAL_SECONDS": "0",
        }
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def test_settings(service_env: dict[str, str]) -> Settings:
    fields: dict[str, Any] = {
        key.removeprefix("CHRONOS_").lower(): value for key, value in service_env.items()
    }
    return Settings(_env_file=None, **fields)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def admin_key(service_env: dict[str, str], log_dir: Path) -> str:
    """The session's admin key: the suite runs with API keys checked, as production does."""
    return create_key(service_env, role="admin", name="test suite", cwd=log_dir)


@pytest.fixture(scope="session")
def api(service_env: dict[str, str], log_dir: Path, admin_key: str) -> Iterator[ApiServer]:
    with run_api(service_env, log_dir, key=admin_key) as server:
        yield server


# Small chunks so even a tiny job runs a real chord of several collection tasks; a short stale
# time and a fast watchdog so worker-loss tests finish in seconds.
WORKER_SETTINGS = {
    "CHRONOS_TRAINING_CHUNK_POINTS": "200",
    "CHRONOS_WATCHDOG_INTERVAL_SECONDS": "1",
    # Long enough for a fresh pool process to import TensorFlow and compile on a busy CI machine.
    "CHRONOS_JOB_STALE_SECONDS": "40",
}


@pytest.fixture(scope="session")
def worker_env(service_env: dict[str, str]) -> dict[str, str]:
    return {**service_env, **WORKER_SETTINGS}


@pytest.fixture(scope="session")
def session_worker(worker_env: dict[str, str], log_dir: Path) -> Iterator[WorkerProcess]:
    with run_worker(worker_env, log_dir, name="pipeline") as process:
        yield process


# The history stores a test marked `both_stores` runs against, on the session's stack: its models
# name the store (`historyStore`, which the test helpers' `create_model` sets from the client), and
# seed_series writes the sandbox's series into both, so a test needs no other change. The
# deployment-wide choice (CHRONOS_HISTORY_STORE) has stacks of its own: tests/tasks/test_orion4_pipeline.py.
STORES = ("sth-comet", "quantumleap")
both_stores = pytest.mark.parametrize("history_store", STORES, indirect=True)


@pytest.fixture
def history_store(request: pytest.FixtureRequest) -> str:
    # Function scope: a parametrised session fixture would make pytest regroup the whole session.
    return str(getattr(request, "param", "sth-comet"))


@pytest.fixture
def worker(session_worker: WorkerProcess) -> WorkerProcess:
    return session_worker


@pytest.fixture
async def gql(api: ApiServer, history_store: str) -> AsyncIterator[GraphQL]:
    """A client of the session's API whose test models read ``history_store``."""
    async with graphql_client(api) as client:
        client.history_store = history_store.upper().replace("-", "_")
        yield client


@pytest.fixture
async def mongo(test_settings: Settings) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client = connect_mongo(test_settings.mongo_url, timeout_seconds=5)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def beanie_db(mongo: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[str]:
    """Beanie bound to a database of this test's own, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await init_documents(mongo, name)
    try:
        yield name
    finally:
        await mongo.drop_database(name)


def unique(prefix: str = "urn:test") -> str:
    return f"{prefix}:{uuid.uuid4().hex[:10]}"


__all__ = ["Environment", "unique"]
