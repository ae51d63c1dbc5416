from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.devstack import (
    Stack,
    alive,
    descendants,
    ensure_services,
    free_port,
    host_port,
    hosts,
    mongo_reachable,
    port_open,
    start_rabbitmq,
    with_db,
    with_port,
)
from app.settings import Settings
from app.system.amqp_probe import probe_amqp
from tests.support import wait_until


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mongodb://127.0.0.1:27017/?directConnection=true", ("127.0.0.1", 27017)),
        ("mongodb://u:p@h1:1,h2:2/db", ("h1", 1)),
        ("redis://redis/0", ("redis", 6379)),
        ("amqp://guest:guest@[::1]:5673//", ("::1", 5673)),
    ],
)
def test_host_port(url: str, expected: tuple[str, int]) -> None:
    assert host_port(url, 6379 if url.startswith("redis") else 27017) == expected


def test_every_mongo_host_counts_and_srv_urls_are_never_replaced(test_settings: Settings) -> None:
    live_host, live_port = host_port(test_settings.mongo_url, 27017)
    dead = free_port()
    assert hosts("mongodb://a:1,[::1]:2,b/x", 27017) == [("a", 1), ("::1", 2), ("b", 27017)]
    assert mongo_reachable(f"mongodb://127.0.0.1:{dead},{live_host}:{live_port}/?replicaSet=rs0")
    assert not mongo_reachable(f"mongodb://127.0.0.1:{dead}/")
    assert mongo_reachable("mongodb+srv://user:pw@cluster0.example.net/chronos")


def test_url_rewrites_keep_credentials_and_paths() -> None:
    assert with_port("redis://:pw@127.0.0.1:6379/1", 7000) == "redis://:pw@127.0.0.1:7000/1"
    assert with_db("redis://127.0.0.1:7000/0", 2) == "redis://127.0.0.1:7000/2"
    assert with_db("redis://127.0.0.1:7000", 2) == "redis://127.0.0.1:7000/2"
    assert with_port("redis://[::1]:6379/0", 7001) == "redis://[::1]:7001/0"


def test_unreachable_rabbitmq_falls_back_to_redis_broker(tmp_path: Path) -> None:
    dead = free_port()
    settings = Settings(
        _env_file=None, data_dir=tmp_path, celery_broker_url=f"amqp://guest:guest@127.0.0.1:{dead}//"
    )
    stack = Stack()
    try:
        overrides = ensure_services(
            settings, stack=stack, memory_mongo=True, rabbitmq_allowed=False, sandbox=False
        )
        mongo_host, mongo_port = host_port(overrides["CHRONOS_MONGO_URL"], 27017)
        assert port_open(mongo_host, mongo_port)
    finally:
        stack.stop()
    broker = overrides["CHRONOS_CELERY_BROKER_URL"]
    assert broker.startswith("redis://") and broker.endswith("/2")
    assert not port_open(mongo_host, mongo_port), "stopping the stack stops what it started"


def test_reachable_services_are_used_as_they_are(tmp_path: Path, test_settings: Settings) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        mongo_url=test_settings.mongo_url,
        redis_url=test_settings.redis_url,
        celery_broker_url=test_settings.celery_broker_url,
    )
    stack = Stack()
    try:
        assert ensure_services(settings, stack=stack, memory_mongo=False, sandbox=False) == {}
        assert stack.children == []
    finally:
        stack.stop()


def test_run_starts_the_stack_and_interrupt_stops_only_its_children(
    tmp_path: Path, test_settings: Settings
) -> None:
    api_port, mongo_port = free_port(), free_port()
    env = {
        **os.environ,
        "CHRONOS_PORT": str(api_port),
        "CHRONOS_MONGO_URL": f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
        "CHRONOS_REDIS_URL": test_settings.redis_url,
        "CHRONOS_CELERY_BROKER_URL": test_settings.celery_broker_url,
        "CHRONOS_DATA_DIR": str(tmp_path),
        "CHRONOS_LOG_FORMAT": "json",
        # Nothing answers here: make run starts the FIWARE sandbox with its demo sensors.
        "CHRONOS_ORION_URL": f"http://127.0.0.1:{free_port()}",
        "CHRONOS_STH_COMET_URL": f"http://127.0.0.1:{free_port()}",
        "CHRONOS_IOT_AGENT_URL": f"http://127.0.0.1:{free_port()}",
    }
    with open(tmp_path / "devstack.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.devstack"], env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
    try:
        assert process.stdout is not None
        # Logs go to stderr; stdout carries only the banner, printed once the API answers.
        banner = "".join(process.stdout.readline() for _ in range(3))
        assert f"GraphiQL: http://127.0.0.1:{api_port}/graphql" in banner
        query = "{ health { status } devices { entityType entities { entityId attributes } } }"
        answer = httpx.post(f"http://127.0.0.1:{api_port}/graphql", json={"query": query}, timeout=30).json()
        assert answer["data"]["health"]["status"] == "UP", answer
        entities = {e["entityId"]: e["attributes"] for g in answer["data"]["devices"] for e in g["entities"]}
        assert entities["urn:ngsi-ld:WaterQualityObserved:NERACOOS-B01"] == ["temperature"]
        assert (tmp_path / "mongo").is_dir(), "SecantusDB keeps its data in the data folder"
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert not port_open("127.0.0.1", api_port) and not port_open("127.0.0.1", mongo_port)
    redis_host, redis_port = host_port(test_settings.redis_url, 6379)
    assert port_open(redis_host, redis_port), "services it did not start keep running"


def test_rabbitmq_of_our_own_starts_answers_and_stops_entirely(tmp_path: Path) -> None:
    if shutil.which("rabbitmq-server") is None:
        pytest.skip("rabbitmq-server is not installed here")
    port = free_port()
    stack = Stack()
    try:
        assert start_rabbitmq(stack, port=port, data_dir=tmp_path)
        assert "RabbitMQ" in asyncio.run(probe_amqp(f"amqp://guest:guest@127.0.0.1:{port}//"))
        tree = [pid for _, process in stack.children for pid in (process.pid, *descendants(process.pid))]
    finally:
        stack.stop()
    assert not port_open("127.0.0.1", port)
    assert wait_until(lambda: not any(map(alive, tree)), timeout=5), "no process of the node survives"
