from __future__ import annotations

from pathlib import Path

import pytest

from app.devstack import Stack, ensure_services, free_port, host_port, port_open, with_db, with_port
from app.settings import Settings


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


def test_url_rewrites_keep_credentials_and_paths() -> None:
    assert with_port("redis://:pw@127.0.0.1:6379/1", 7000) == "redis://:pw@127.0.0.1:7000/1"
    assert with_db("redis://127.0.0.1:7000/0", 2) == "redis://127.0.0.1:7000/2"
    assert with_db("redis://127.0.0.1:7000", 2) == "redis://127.0.0.1:7000/2"


def test_unreachable_rabbitmq_falls_back_to_redis_broker(tmp_path: Path) -> None:
    dead = free_port()
    settings = Settings(
        _env_file=None, data_dir=tmp_path, celery_broker_url=f"amqp://guest:guest@127.0.0.1:{dead}//"
    )
    stack = Stack()
    try:
        overrides = ensure_services(settings, stack=stack, memory_mongo=True, rabbitmq_allowed=False)
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
        assert ensure_services(settings, stack=stack, memory_mongo=False) == {}
        assert stack.children == []
    finally:
        stack.stop()
