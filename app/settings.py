"""Chronos settings: one class, read once at start-up from ``CHRONOS_*`` variables.

Nothing else in the code base reads ``os.environ``; entry points call :func:`get_settings`
(or build a :class:`Settings` themselves, as tests do) and pass it down.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fiware.clients import HistoryStore
from fiware.names import check_service, check_service_path


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class Settings(BaseSettings):
    """Every knob Chronos has. ``.env.example`` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="CHRONOS_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    environment: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongo_database: str = "chronos"
    mongo_timeout_seconds: float = Field(default=10.0, gt=0)
    redis_url: str = "redis://127.0.0.1:6379/0"
    celery_broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"

    orion_url: str = "http://127.0.0.1:1026"
    sth_comet_url: str = "http://127.0.0.1:8666"
    iot_agent_url: str = "http://127.0.0.1:4041"
    fiware_service: str = "smart"
    fiware_service_path: str = "/"
    fiware_timeout_seconds: float = Field(default=10.0, gt=0)
    sth_max_page_size: int = Field(default=100, ge=1, le=10000)
    sth_concurrency: int = Field(default=5, ge=1, le=64)
    # Where sensor history and published forecasts are read: STH-Comet, or QuantumLeap at
    # `quantumleap_url`, paged `quantumleap_page_size` rows at a time (at most its DEFAULT_LIMIT).
    history_store: HistoryStore = HistoryStore.STH_COMET
    quantumleap_url: str = "http://127.0.0.1:8668"
    quantumleap_page_size: int = Field(default=1000, ge=1, le=10000)
    forecast_entity_type: str = "Prediction"

    training_chunk_points: int = Field(default=50_000, ge=100, le=200_000)
    training_max_gap_steps: int = Field(default=3, ge=0, le=1000)
    training_time_limit_seconds: int = Field(default=6 * 3600, ge=60)
    collection_time_limit_seconds: int = Field(default=1800, ge=30)
    job_stale_seconds: float = Field(default=300.0, ge=5)
    watchdog_interval_seconds: float = Field(default=30.0, ge=1)
    dispatch_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    shutdown_grace_seconds: float = Field(default=20.0, ge=1, le=3600)

    sth_notify_url: str | None = None
    # Orion 4 sends only normalized notifications, which STH-Comet cannot take: Cygnus's /notify
    # (as Orion reaches it) bridges them; QuantumLeap takes them itself at quantumleap_notify_url.
    cygnus_notify_url: str | None = None
    quantumleap_notify_url: str | None = None
    prediction_min_interval_seconds: float = Field(default=10.0, gt=0)
    forecast_scheduler_interval_seconds: float = Field(default=5.0, gt=0)
    forecast_batch_size: int = Field(default=100, ge=1, le=10_000)
    # Recurring forecasts in batches (app.predictions.batch): each tick's claims go out as tasks of
    # up to `forecast_task_batch_size` slots (spread over `worker_concurrency` tasks when fewer),
    # each reading STH-Comet `forecast_read_concurrency` series at a time and publishing through
    # Orion's batch update, `forecast_publish_batch_size` entities per request (Orion refuses
    # requests over 1 MB by default: about 300 forecasts of 24 points). False: one task per slot.
    forecast_batching: bool = True
    forecast_task_batch_size: int = Field(default=500, ge=1, le=10_000)
    forecast_read_concurrency: int = Field(default=8, ge=1, le=64)
    forecast_publish_batch_size: int = Field(default=100, ge=1, le=1000)
    # Beat's model ticks: scheduled retrainings and challenger decisions, and live-accuracy checks
    # (0 switches one off).
    retraining_tick_seconds: float = Field(default=60.0, ge=0)
    # The shortest retraining interval a policy may ask for (tests lower it).
    retraining_min_interval_seconds: float = Field(default=60.0, gt=0)
    # A challenger's decision claimed longer ago than this was lost with its process (killed
    # mid-decision): the next tick takes it over. A decision takes seconds.
    retraining_decision_stale_seconds: float = Field(default=600.0, gt=0)
    monitor_interval_seconds: float = Field(default=300.0, ge=0)
    # Rolling windows of the stored live accuracy (and the Prometheus gauges), besides each
    # model's drift window; at most three, each at most seven days.
    live_windows_seconds: list[float] = Field(default_factory=lambda: [86_400.0, 604_800.0], max_length=3)
    models_tick_batch: int = Field(default=200, ge=1, le=10_000)
    iota_forecast_apikey: str = "chronos-forecast"
    iota_forecast_resource: str = "/iot/d"

    log_level: str = "INFO"
    # Every outgoing HTTP request as a log line (httpx's own); off, FIWARE traffic would fill the logs.
    log_http_requests: bool = False
    log_format: LogFormat = LogFormat.AUTO
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ws_compression: bool = False
    graphiql: bool | None = None
    auth_enabled: bool | None = None
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    introspection: bool | None = None
    max_query_depth: int = Field(default=10, ge=2, le=100)
    max_query_tokens: int = Field(default=2000, ge=100, le=100_000)
    max_query_aliases: int = Field(default=15, ge=0, le=1000)
    max_query_cost: int = Field(default=5000, ge=10, le=10_000_000)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    mutation_rate_limit: int = Field(default=60, ge=0, le=1_000_000)
    mutation_rate_window_seconds: float = Field(default=60.0, gt=0, le=86400)
    health_timeout_seconds: float = Field(default=1.5, gt=0, le=2.0)

    data_dir: Path = Path(".data")
    # The npm folder whose node_modules hold GraphiQL's files; unset, the checkout's console/ (the image
    # sets its own).
    console_dir: Path | None = None
    git_commit: str | None = None
    build_time: str | None = None

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # A comma-separated list reads better in an env file than JSON.
        parts = value.split(",") if isinstance(value, str) else value
        if not isinstance(parts, list):
            return value
        # Browsers send origins without a trailing slash; compare like with like.
        return [str(part).strip().rstrip("/") for part in parts if str(part).strip()]

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("fiware_service", "fiware_service_path")
    @classmethod
    def _valid_tenant(cls, value: str, info: ValidationInfo) -> str:
        check = check_service if info.field_name == "fiware_service" else check_service_path
        problem = check(value)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def notify_url(self) -> str:
        """Where Orion sends forecast changes: STH-Comet's /notify as Orion reaches it."""
        return self.sth_notify_url or f"{self.sth_comet_url.rstrip('/')}/notify"

    @property
    def ql_notify_url(self) -> str:
        """Where Orion sends forecast changes for QuantumLeap: its /v2/notify as Orion reaches it."""
        return self.quantumleap_notify_url or f"{self.quantumleap_url.rstrip('/')}/v2/notify"

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def json_logs(self) -> bool:
        if self.log_format is LogFormat.AUTO:
            return self.is_production
        return self.log_format is LogFormat.JSON

    @property
    def graphiql_enabled(self) -> bool:
        return (not self.is_production) if self.graphiql is None else self.graphiql

    @property
    def auth_required(self) -> bool:
        """API keys are checked: always in production unless turned off, never elsewhere unless on."""
        return self.is_production if self.auth_enabled is None else self.auth_enabled

    @property
    def introspection_enabled(self) -> bool:
        return (not self.is_production) if self.introspection is None else self.introspection


@functools.cache
def get_settings() -> Settings:
    return Settings()
