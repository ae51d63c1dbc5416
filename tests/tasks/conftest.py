"""A real Celery worker process (prefork pool, with beat) for the pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import WorkerProcess, run_worker

# Small chunks so even a tiny job runs a real chord of several collection tasks; a short stale
# time and a fast watchdog so worker-loss tests finish in seconds.
WORKER_SETTINGS = {
    "CHRONOS_TRAINING_CHUNK_POINTS": "200",
    "CHRONOS_WATCHDOG_INTERVAL_SECONDS": "1",
    "CHRONOS_JOB_STALE_SECONDS": "15",
}


@pytest.fixture(scope="session")
def worker_env(service_env: dict[str, str]) -> dict[str, str]:
    return {**service_env, **WORKER_SETTINGS}


@pytest.fixture(scope="session")
def worker(worker_env: dict[str, str], log_dir: Path) -> Iterator[WorkerProcess]:
    with run_worker(worker_env, log_dir, name="pipeline") as process:
        yield process
