"""Training under faults: Redis restarted, every worker gone past the stale window, on a stack of its own.

The module runs its own RabbitMQ node and its own Redis (restartable on the same port), an API and
workers pointed at them, a short stale window (6 s) and a watchdog every second; MongoDB and the
FIWARE sandbox are the session's. Each scenario records what held and what was lost (see conftest).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from app.devstack import Stack, descendants, free_port, start_rabbitmq, start_redis, stop_process
from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox
from tests.chaos.conftest import ChaosReport
from tests.support import ApiServer, GraphQL, create_key, graphql_client, run_api, run_worker
from tests.tasks.pipeline import create_model, job, seed_series, start, wait_for
from tests.tasks.test_training import training_pid

STALE_SECONDS = 6
JOB = """query($id: ID!) { trainingJob(id: $id) {
  status heartbeatAgeSeconds stalled progress { fraction epoch } history { epoch } error { code message }
} }"""


@dataclass
class ChaosStack:
    env: dict[str, str]
    api: ApiServer
    log_dir: Path
    redis_port: int
    stack: Stack

    def restart_redis(self, *, down_seconds: float = 0.0) -> None:
        """Stop the module's Redis (everything in it is lost: it keeps nothing on disk) and start it again."""
        self.stop_redis()
        time.sleep(down_seconds)
        self.start_redis()

    def stop_redis(self) -> None:
        for name, process in list(self.stack.children):
            if name == "redis":
                stop_process(process, timeout=5)
                self.stack.children.remove((name, process))

    def start_redis(self) -> None:
        assert start_redis(self.stack, port=self.redis_port) is not None


@pytest.fixture(scope="module")
def chaos_stack(
    service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChaosStack]:
    log_dir = tmp_path_factory.mktemp("chaos-training")
    stack = Stack()
    try:
        broker_port, redis_port = free_port(), free_port()
        assert start_rabbitmq(stack, port=broker_port, data_dir=log_dir), "RabbitMQ did not start"
        assert start_redis(stack, port=redis_port) is not None, "Redis did not start"
        env = {
            **service_env,
            "CHRONOS_MONGO_DATABASE": "chronos_chaos",
            "CHRONOS_CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{broker_port}//",
            "CHRONOS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CHRONOS_JOB_STALE_SECONDS": str(STALE_SECONDS),
            "CHRONOS_WATCHDOG_INTERVAL_SECONDS": "1",
            "CHRONOS_TRAINING_CHUNK_POINTS": "200",
        }
        key = create_key(env, role="admin", name="chaos", cwd=log_dir)
        with run_api(env, log_dir, key=key) as api:
            yield ChaosStack(env, api, log_dir, redis_port, stack)
    finally:
        stack.stop()


@pytest.fixture
async def gql(chaos_stack: ChaosStack) -> AsyncIterator[GraphQL]:
    async with graphql_client(chaos_stack.api) as client:
        yield client


async def watched(gql: GraphQL, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql.ok(JOB, {"id": job_id}))["trainingJob"]
    return found


async def test_a_redis_restart_mid_collection_costs_nothing(
    chaos_stack: ChaosStack, gql: GraphQL, fiware_sandbox: Sandbox, chaos: ChaosReport
) -> None:
    # 30 chunks of 200 points, every STH page slowed down: the restart lands mid-collection.
    entity = seed_series(fiware_sandbox, points=6000)
    with run_worker(chaos_stack.env, chaos_stack.log_dir, name="redis-restart"):
        model = await create_model(gql, entity, epochs=2)
        fiware_sandbox.faults["sth"].inject(Fault(delay=0.05), times=120)
        job_id = (await start(gql, model["id"], lastN=6000))["trainingJob"]["id"]
        await wait_for(gql, job_id, {"COLLECTING_DATA"}, timeout=60)
        while (await job(gql, job_id))["pointsCollected"] < 400:
            await asyncio.sleep(0.05)
        collected_at_restart = (await job(gql, job_id))["pointsCollected"]
        chaos_stack.restart_redis(down_seconds=2)
        done = await wait_for(gql, job_id, timeout=120)
    fiware_sandbox.faults["sth"].planned.clear()
    chaos.record(
        "Redis restarted mid-collection (2 s down, nothing persisted)",
        held=[f"job {done['status']}", f"{done['pointsCollected']} of 6000 points collected"],
        lost=[] if done["status"] == "COMPLETED" else [f"job left {done['status']}: {done['error']}"],
    )
    assert 400 <= collected_at_restart < 6000
    assert done["status"] == "COMPLETED", done["error"]
    assert done["pointsCollected"] == 6000


async def train_once(gql: GraphQL, model_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a training and see it end: (startTraining's payload, the finished job or {})."""
    started = await start(gql, model_id, lastN=600)
    if started["errors"]:
        return started, {}
    return started, await wait_for(gql, started["trainingJob"]["id"], timeout=120)


def record_training(chaos: ChaosReport, scenario: str, started: dict[str, Any], done: dict[str, Any]) -> None:
    chaos.record(
        scenario,
        held=[f"admitted: {not started['errors']}", f"job {done.get('status')}"],
        lost=[] if done.get("status") == "COMPLETED" else [f"{started['errors']} {done.get('error')}"],
    )


async def test_training_starts_and_runs_after_a_redis_restart_without_restarting_anyone(
    chaos_stack: ChaosStack, gql: GraphQL, fiware_sandbox: Sandbox, chaos: ChaosReport
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=600), epochs=2)
    with run_worker(chaos_stack.env, chaos_stack.log_dir, name="after-restart"):
        chaos_stack.restart_redis(down_seconds=1)
        started, done = await train_once(gql, model["id"])
    record_training(
        chaos, "startTraining right after a Redis restart (API and worker not restarted)", started, done
    )
    assert started["errors"] == [] and done["status"] == "COMPLETED", (started, done)


async def test_training_starts_and_completes_while_redis_is_down(
    chaos_stack: ChaosStack, gql: GraphQL, fiware_sandbox: Sandbox, chaos: ChaosReport
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=600), epochs=2)
    with run_worker(chaos_stack.env, chaos_stack.log_dir, name="redis-down"):
        chaos_stack.stop_redis()
        try:
            started, done = await train_once(gql, model["id"])
        finally:
            chaos_stack.start_redis()
    record_training(
        chaos, "startTraining while Redis is down (progress streams lost, nothing else)", started, done
    )
    assert started["errors"] == [] and done["status"] == "COMPLETED", (started, done)


async def test_training_waits_out_every_worker_down_for_twice_the_stale_window(
    chaos_stack: ChaosStack, gql: GraphQL, fiware_sandbox: Sandbox, chaos: ChaosReport,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:  # fmt: skip
    epochs = 40
    model = await create_model(
        gql, seed_series(fiware_sandbox, points=3000), epochs=epochs, earlyStoppingPatience=0
    )
    fractions: list[float] = []
    with run_worker(chaos_stack.env, chaos_stack.log_dir, name="lost", concurrency=1) as lost:
        job_id = (await start(gql, model["id"], lastN=3000))["trainingJob"]["id"]
        while ((await watched(gql, job_id))["progress"]["epoch"] or 0) < 3:
            await asyncio.sleep(0.05)
        lost_at = (await watched(gql, job_id))["progress"]
        kill_tree(lost.process)  # a crash, not a shutdown: no grace, nothing handed back
    # Nobody works: the job says so by itself, and nothing fails it.
    deadline = time.monotonic() + 2 * STALE_SECONDS
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = await watched(gql, job_id)
        fractions.append(seen["progress"]["fraction"])
        await asyncio.sleep(0.5)
    with run_worker(chaos_stack.env, chaos_stack.log_dir, name="returned", concurrency=1):
        done = await wait_for(gql, job_id, timeout=180)
        fractions.append(done["progress"]["fraction"])
    raw = await mongo["chronos_chaos"]["training_jobs"].find_one({"_id": uuid.UUID(job_id)})
    history = [entry["epoch"] for entry in (await watched(gql, job_id))["history"]]
    chaos.record(
        f"every worker killed at epoch {lost_at['epoch']} of {epochs}, gone for {2 * STALE_SECONDS} s",
        held=[
            f"while down: status {seen['status']}, stalled={seen['stalled']}, "
            f"heartbeat age {seen['heartbeatAgeSeconds']} s",
            f"after: {done['status']}, epochs by run {raw and raw.get('epochs_by_run')}",
        ],
        lost=[f"{done['status']} {done['error']}"] if done["status"] != "COMPLETED" else [],
    )
    assert seen["status"] == "TRAINING" and seen["stalled"] is True
    assert seen["heartbeatAgeSeconds"] > STALE_SECONDS
    assert done["status"] == "COMPLETED", done["error"]
    assert history == list(range(1, epochs + 1)), "every epoch once"
    assert fractions == sorted(fractions), "progress never went back"


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_a_healthz_never_waits_for_redis(chaos_stack: ChaosStack, chaos: ChaosReport) -> None:
    chaos_stack.stop_redis()
    try:
        timings = []
        for _ in range(10):
            started = time.perf_counter()
            assert httpx.get(f"{chaos_stack.api.url}/healthz", timeout=10).status_code == 200
            timings.append(time.perf_counter() - started)
    finally:
        chaos_stack.start_redis()
    chaos.record(
        "Redis down: /healthz",
        held=[f"slowest of 10: {max(timings) * 1000:.0f} ms"],
        lost=[] if max(timings) < 2 else ["/healthz waited on Redis"],
    )
    assert max(timings) < 2


async def test_a_frozen_worker_loses_its_step_to_another_process_which_finishes_it(
    chaos_stack: ChaosStack, gql: GraphQL, fiware_sandbox: Sandbox, chaos: ChaosReport,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:  # fmt: skip
    epochs = 30
    model = await create_model(
        gql, seed_series(fiware_sandbox, points=600), epochs=epochs, earlyStoppingPatience=0
    )
    database = mongo["chronos_chaos"]
    with run_worker(chaos_stack.env, chaos_stack.log_dir, name="frozen", concurrency=2) as worker:
        job_id = (await start(gql, model["id"], lastN=600))["trainingJob"]["id"]
        while ((await watched(gql, job_id))["progress"]["epoch"] or 0) < 2:
            await asyncio.sleep(0.05)
        pid = await training_pid(database, job_id)
        os.kill(pid, signal.SIGSTOP)
        try:
            # Silent past the stale window: the watchdog counts a lost worker and sends the step again,
            # which the worker's other process takes over from the checkpoint.
            done = await wait_for(gql, job_id, timeout=120)
        finally:
            os.kill(pid, signal.SIGCONT)
        # The woken process finds it lost the step: it stops, and its files never become the job's.
        await asyncio.sleep(2)
        drives = worker.log_text().count("training.watchdog_drives")
    raw = await database["training_jobs"].find_one({"_id": uuid.UUID(job_id)})
    runs = (raw or {}).get("epochs_by_run") or {}
    artifacts = database["model_artifacts.files"].find({"metadata.job_id": job_id}, {"metadata.run": 1})
    stored_by = {a["metadata"]["run"] async for a in artifacts}
    history = [entry["epoch"] for entry in (await watched(gql, job_id))["history"]]
    chaos.record(
        "a worker process frozen (SIGSTOP) mid-training, then woken",
        held=[f"job {done['status']}", f"epochs by run {runs}", f"artifacts from {len(stored_by)} run(s)"],
        lost=[] if done["status"] == "COMPLETED" else [f"{done['status']} {done['error']}"],
    )
    assert done["status"] == "COMPLETED", done["error"]
    assert history == list(range(1, epochs + 1)) and len(runs) == 2, (history, runs)
    assert drives >= 1 and len(stored_by) == 1
