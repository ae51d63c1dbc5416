from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Environment, LogFormat, Settings


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONOS_MONGO_DATABASE", "elsewhere")
    monkeypatch.setenv("CHRONOS_ALLOWED_ORIGINS", "http://a.example, http://b.example/")
    monkeypatch.setenv("CHRONOS_LOG_LEVEL", "debug")
    settings = Settings(_env_file=None)
    assert settings.mongo_database == "elsewhere"
    assert settings.allowed_origins == ["http://a.example", "http://b.example"]
    assert settings.log_level == "DEBUG"


def test_defaults_point_at_local_services() -> None:
    settings = Settings(_env_file=None)
    assert settings.celery_broker_url == "amqp://guest:guest@127.0.0.1:5672//"
    assert settings.fiware_service == "smart"
    assert settings.fiware_service_path == "/"
    assert settings.allowed_origins == []


@pytest.mark.parametrize(
    ("environment", "graphiql", "json_logs"),
    [
        (Environment.DEVELOPMENT, True, False),
        (Environment.TEST, True, False),
        (Environment.PRODUCTION, False, True),
    ],
)
def test_environment_decides_graphiql_and_log_format(
    environment: Environment, graphiql: bool, json_logs: bool
) -> None:
    settings = Settings(_env_file=None, environment=environment)
    assert settings.graphiql_enabled is graphiql
    assert settings.json_logs is json_logs


def test_explicit_choices_override_the_environment() -> None:
    settings = Settings(
        _env_file=None, environment=Environment.PRODUCTION, graphiql=True, log_format=LogFormat.CONSOLE
    )
    assert settings.graphiql_enabled
    assert not settings.json_logs


@pytest.mark.parametrize(
    "field",
    [
        {"fiware_service": "Bad-Tenant"},
        {"fiware_service_path": "relative"},
        {"log_level": "LOUD"},
        {"health_timeout_seconds": 5},
        {"port": 0},
    ],
)
def test_invalid_settings_are_refused_at_start(field: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **field)  # type: ignore[arg-type]


def test_env_example_documents_every_setting_with_its_default() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    names = {
        line.split("=", 1)[0].removeprefix("CHRONOS_").lower()
        for line in example.read_text().splitlines()
        if line.startswith("CHRONOS_")
    }
    assert names == set(Settings.model_fields)
    assert Settings(_env_file=example) == Settings(_env_file=None)
