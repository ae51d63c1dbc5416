"""SIGTERM to a worker mid-training: the step goes back to the broker and another worker resumes it."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from app.queues import Queue
from app.settings import Settings
from fiware.sandbox.runner import Sandbox
from tasks.app import create_celery
from tests.support import GraphQL, WorkerProcess, run_worker
from tests.tasks.pipeline import CANCEL, training_underway, wait_for
from tests.tasks.pipeline import job as job_of
from tests.tasks.test_training import training_pid

GRACE_SECONDS = 3
# Celery's cold shutdown may add two 5 s broker-socket timeouts to the grace before it cancels the
# task (celery.worker.worker.SHUTDOWN_SOCKET_TIMEOUT): 400 epochs of 600 points once finished inside
# that. The most epochs a model may have, on 3,000 points, last minutes; the test cancels the job once
# another worker has resumed it, so their number costs nothing.
EPOCHS, POINTS = 1000, 3000


async def test_sigterm_mid_training_hands_the_step_to_another_worker(
    gql: GraphQL,
    worker: WorkerProcess,
    worker_env: dict[str, str],
    log_dir: Path,
    fiware_sandbox: Sandbox,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    control = create_celery(
        Settings(
            _env_file=None,
            celery_broker_url=worker_env["CHRONOS_CELERY_BROKER_URL"],
        )
    ).control
    session_worker = [f"pipeline@{socket.gethostname()}"]
    # The session's worker steps aside from training, so the one this test stops gets the job.
    assert control.cancel_consumer(Queue.MODEL_TRAINING.value, destination=session_worker, reply=True)
    try:
        env = {**worker_env, "CHRONOS_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}
        with run_worker(env, log_dir, name="stopping", concurrency=1, beat=False) as stopping:
            job_id = await training_underway(gql, fiware_sandbox, epochs=EPOCHS, points=POINTS)
            database = mongo[test_settings.mongo_database]
            assert await training_pid(database, job_id) in stopping.children()

            stopping.process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            epoch_at_signal = (await job_of(gql, job_id))["progress"]["epoch"]
            while stopping.process.poll() is None and time.monotonic() - sent < GRACE_SECONDS + 30:
                await asyncio.sleep(0.2)
            assert stopping.process.poll() is not None, "the worker outlived its grace"
            stopped_after = time.monotonic() - sent
            held = await job_of(gql, job_id)
            # Not failed, not lost: handed back, waiting in the queue.
            assert held["status"] == "TRAINING", (
                f"{held['status']} {held['error']}: SIGTERM at epoch {epoch_at_signal}, "
                f"worker gone after {stopped_after:.1f} s, job at epoch {held['progress']['epoch']}"
            )
            raw = await database["training_jobs"].find_one({"_id": uuid.UUID(job_id)})
            assert raw is not None
            lease = raw["lease"]
            assert lease["active"] is False and lease["attempt"] == 1, lease
            assert "worker.handed_back" in stopping.log_text()
        assert GRACE_SECONDS <= stopped_after < GRACE_SECONDS + 30
        assert "Cold shutdown" in stopping.log_text() or "cold shutdown" in stopping.log_text().lower()
    finally:
        control.add_consumer(Queue.MODEL_TRAINING.value, destination=session_worker, reply=True)

    # The session's worker takes the step again and goes on from the checkpoint: then it may stop.
    at_stop = held["progress"]["epoch"] or 0
    deadline = time.monotonic() + 120
    while ((await job_of(gql, job_id))["progress"]["epoch"] or 0) <= at_stop + 2:
        assert time.monotonic() < deadline, "nobody resumed the step"
        await asyncio.sleep(0.2)
    assert "training.step_resumed" in worker.log_text()
    resumed = await job_of(gql, job_id)
    epochs = [entry["epoch"] for entry in resumed["history"]]
    assert epochs == list(range(1, len(epochs) + 1)), "every epoch once, none skipped"
    await gql.ok(CANCEL, {"id": job_id})
    assert (await wait_for(gql, job_id, timeout=60))["status"] == "CANCELLED"
