from __future__ import annotations

import pytest

from app.settings import Settings
from app.system.info import build_info, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp://127.0.0.1:5672//"),
        (
            "mongodb://u:p%40ss@h1:27017,h2:27017/db?replicaSet=rs0",
            "mongodb://h1:27017,h2:27017/db?replicaSet=rs0",
        ),
        ("redis://:secret@redis:6379/0", "redis://redis:6379/0"),
        ("http://orion:1026", "http://orion:1026"),
        ("mongodb://h/?authSource=admin&password=x&tls=true", "mongodb://h/?tls=true"),
    ],
)
def test_redact_removes_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_build_info_lists_redacted_dependencies() -> None:
    settings = Settings(
        _env_file=None, celery_broker_url="amqp://chronos:hunter2@rabbit:5672/chronos", git_commit="abc123"
    )
    info = build_info(settings)
    urls = {d.name: d.url for d in info.dependencies}
    assert urls["broker"] == "amqp://rabbit:5672/chronos"
    assert set(urls) == {"mongo", "redis", "broker", "orion", "sthComet", "iotAgent"}
    assert "hunter2" not in repr(info)
    assert info.git_commit == "abc123"
    assert info.uptime_seconds() >= 0
