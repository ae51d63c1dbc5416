"""What a worker writes to its log: each task's start and end once, no tick or HTTP request lines."""

from __future__ import annotations

import json
from typing import Any

from app.queues import (
    COLLECT_DATA_CHUNK,
    ORCHESTRATE_TRAINING,
    PERIODIC,
    PROCESS_COLLECTED_DATA,
    TRAIN_MODEL,
)
from fiware.sandbox.runner import Sandbox
from tests.support import GraphQL, WorkerProcess
from tests.tasks.pipeline import create_model, seed_series, start, wait_for


def records(worker: WorkerProcess) -> list[dict[str, Any]]:
    found = []
    for line in worker.log_text().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


async def test_a_training_logs_each_task_once_with_its_duration_and_no_noise(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    created = await create_model(gql, seed_series(fiware_sandbox, points=600))
    job_id = (await start(gql, created["id"], lastN=600))["trainingJob"]["id"]
    assert (await wait_for(gql, job_id))["status"] == "COMPLETED"
    # The session worker's beat has ticked every 0.5 s all along: none of it may show at INFO.
    lines = records(worker)
    finished = [r for r in lines if r.get("event") == "task.finished"]
    names = {r["task"] for r in finished}
    assert {ORCHESTRATE_TRAINING, COLLECT_DATA_CHUNK, PROCESS_COLLECTED_DATA, TRAIN_MODEL} <= names
    assert all(r["outcome"] and r["seconds"] >= 0 for r in finished)
    started = {r["task_id"] for r in lines if r.get("event") == "task.started"}
    # A periodic task starts at DEBUG but a failed one ends at WARNING (other tests stop Redis and
    # the broker under this worker), so only the others must show both ends.
    assert {r["task_id"] for r in finished if r["task"] not in PERIODIC} <= started
    # Other tests share this worker: their failures may be logged, but nothing routine at INFO.
    noise = [
        r["event"]
        for r in lines
        if r.get("level") == "info"
        and (
            str(r.get("event", "")).startswith(("HTTP Request", "Scheduler: Sending due task"))
            or r.get("logger") in {"celery.worker.strategy", "celery.app.trace", "httpx", "celery.beat"}
        )
    ]
    assert noise == []
