"""The live-worker count from real Celery workers' heartbeats, on brokers the tests start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.devstack import Stack, free_port, start_redis
from app.dispatch import producer
from app.settings import Settings
from app.system.health import Finding, HealthStatus
from app.system.workers import NO_WORKER, Sighting, WorkerWatch, report
from tests.app.system.silent import silent_port
from tests.support import WorkerProcess, run_worker

TIMEOUT = 1.5


@contextlib.contextmanager
def watching(broker: str) -> Iterator[WorkerWatch]:
    watch = WorkerWatch(
        broker_url=broker,
        celery=producer(Settings(_env_file=None, celery_broker_url=broker)),
        timeout=TIMEOUT,
    )
    watch.start()
    try:
        yield watch
    finally:
        watch.stop()


@pytest.fixture
def broker() -> Iterator[tuple[Stack, int, str]]:
    """A Redis of the test's own as the broker: no worker of the session listens there."""
    stack, port = Stack(), free_port()
    url = start_redis(stack, port=port)
    assert url is not None
    try:
        yield stack, port, url
    finally:
        stack.stop()


@contextlib.contextmanager
def worker_on(url: str, worker_env: dict[str, str], log_dir: Path, name: str) -> Iterator[WorkerProcess]:
    env = {**worker_env, "CHRONOS_CELERY_BROKER_URL": url}
    with run_worker(env, log_dir, name=name, concurrency=1, beat=False) as worker:
        yield worker


async def until(
    watch: WorkerWatch, holds: Callable[[Finding], bool], *, within: float
) -> tuple[Finding, float]:
    """The first finding that holds (or the last one seen) and the seconds it took."""
    started = time.monotonic()
    while True:
        found = await asyncio.wait_for(watch.probe(), TIMEOUT)
        elapsed = time.monotonic() - started
        if holds(found) or elapsed > within:
            return found, elapsed
        await asyncio.sleep(0.1)


def counted(n: int) -> Callable[[Finding], bool]:
    return lambda found: found.status is HealthStatus.UP and found.instances == n


async def test_a_running_worker_is_counted_by_the_first_probe(
    broker: tuple[Stack, int, str], worker_env: dict[str, str], log_dir: Path
) -> None:
    _, _, url = broker
    with worker_on(url, worker_env, log_dir, "early"), watching(url) as watch:
        # The worker was up before anyone listened: the wake-up on connecting gets its heartbeat
        # now, not at its next 2 s tick.
        started = time.monotonic()
        found = await asyncio.wait_for(watch.probe(), TIMEOUT)
        elapsed = time.monotonic() - started
    assert found.status is HealthStatus.UP and found.instances == 1, found
    assert found.message is not None and found.message.startswith("1 live worker: early@"), found
    assert elapsed < TIMEOUT


async def test_a_killed_worker_is_uncounted_once_its_heartbeats_stop(
    broker: tuple[Stack, int, str], worker_env: dict[str, str], log_dir: Path
) -> None:
    _, _, url = broker
    with watching(url) as watch, worker_on(url, worker_env, log_dir, "killed") as worker:
        assert counted(1)((await until(watch, counted(1), within=10))[0])
        # SIGKILL: no worker-offline event, only silence.
        for pid in [*worker.children(), worker.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        found, elapsed = await until(watch, lambda f: f.instances == 0, within=10)
    assert found.status is HealthStatus.DEGRADED and found.instances == 0, found
    assert found.message is not None and found.message.startswith(NO_WORKER), found
    assert "last heard: killed@" in found.message
    # Two announced intervals (2 s each) after its last heartbeat, at most.
    assert elapsed < 4.5


async def test_a_broker_outage_is_down_with_the_reason_and_the_workers_are_heard_again(
    broker: tuple[Stack, int, str], worker_env: dict[str, str], log_dir: Path
) -> None:
    stack, port, url = broker
    with watching(url) as watch, worker_on(url, worker_env, log_dir, "outage"):
        assert counted(1)((await until(watch, counted(1), within=10))[0])
        stack.stop()
        lost, lost_after = await until(watch, lambda f: f.status is HealthStatus.DOWN, within=5)
        assert start_redis(stack, port=port) == url
        back, back_after = await until(watch, counted(1), within=30)
    assert lost.status is HealthStatus.DOWN and lost.instances is None, lost
    assert lost.message is not None and lost.message.startswith("cannot hear the workers' heartbeats: ")
    assert lost_after < 5
    # The listener retries every 5 s at most; the worker reconnects on its own schedule.
    assert counted(1)(back), (back, back_after)


async def test_a_burst_of_probes_is_answered_from_memory(
    broker: tuple[Stack, int, str], worker_env: dict[str, str], log_dir: Path
) -> None:
    _, _, url = broker
    with watching(url) as watch, worker_on(url, worker_env, log_dir, "burst"):
        await until(watch, counted(1), within=10)
        started = time.perf_counter()
        found = await asyncio.gather(*(watch.probe() for _ in range(500)))
        elapsed = time.perf_counter() - started
    assert all(counted(1)(f) for f in found)
    # A ping per probe would wait for replies each time; memory answers 500 in far less than one.
    assert elapsed < 0.5, elapsed


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
async def test_a_silent_broker_is_down_within_the_timeout_and_stopping_is_prompt(scheme: str) -> None:
    with silent_port() as port:
        url = f"amqp://guest:guest@127.0.0.1:{port}//" if scheme == "amqp" else f"redis://127.0.0.1:{port}/0"
        watch = WorkerWatch(
            broker_url=url, celery=producer(Settings(_env_file=None, celery_broker_url=url)), timeout=TIMEOUT
        )
        watch.start()
        try:
            started = time.monotonic()
            found = await asyncio.wait_for(watch.probe(), TIMEOUT)
            probed = time.monotonic() - started
        finally:
            started = time.monotonic()
            await asyncio.to_thread(watch.stop)
            stopped = time.monotonic() - started
    assert found.status is HealthStatus.DOWN and found.instances is None, found
    assert probed < TIMEOUT
    assert stopped < TIMEOUT + 1.0


def test_the_report_names_live_workers_and_the_last_one_heard() -> None:
    now = 1000.0
    roster = {
        "b@host": Sighting("b@host", heard=now - 1, interval=2.0, active=1, online=True),
        "a@host": Sighting("a@host", heard=now - 3.9, interval=2.0, active=0, online=True),
        "gone@host": Sighting("gone@host", heard=now - 4.1, interval=2.0, active=0, online=True),
        "left@host": Sighting("left@host", heard=now - 0.5, interval=2.0, active=0, online=False),
    }
    found = report(roster, now=now)
    assert found == Finding(HealthStatus.UP, "2 live workers: a@host (0 active), b@host (1 active)", 2)
    nobody = report({k: v for k, v in roster.items() if not v.alive(now)}, now=now)
    assert nobody == Finding(HealthStatus.DEGRADED, f"{NO_WORKER}; last heard: left@host, just now", 0)
    assert report({}, now=now) == Finding(HealthStatus.DEGRADED, NO_WORKER, 0)
