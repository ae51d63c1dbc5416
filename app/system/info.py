"""What is running: name, version, build, environment, uptime and where it connects."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.settings import Settings
from app.timeutil import utcnow
from fiware.clients import HistoryStore

APP_NAME = "Chronos"
_SECRET_WORDS = ("pass", "secret", "token", "key", "auth", "sig", "credential")


@dataclass(frozen=True)
class DependencyUrl:
    name: str
    url: str


@dataclass(frozen=True)
class ApplicationInfo:
    name: str
    version: str
    git_commit: str | None
    build_time: str | None
    environment: str
    started_at: datetime
    dependencies: list[DependencyUrl]

    def uptime_seconds(self, now: datetime | None = None) -> float:
        return round(((now or utcnow()) - self.started_at).total_seconds(), 3)


def redact_url(url: str) -> str:
    """The URL without user, password or secret-looking query parameters."""
    parts = urlsplit(url)
    # Mongo URLs may list several hosts; the credentials end at the last '@'.
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not any(word in k.lower() for word in _SECRET_WORDS)
        ]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _version() -> str:
    try:
        return metadata.version("chronos")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_info(settings: Settings) -> ApplicationInfo:
    urls = {
        "mongo": settings.mongo_url,
        "redis": settings.redis_url,
        "broker": settings.celery_broker_url,
        "orion": settings.orion_url,
        "sthComet": settings.sth_comet_url,
        "iotAgent": settings.iot_agent_url,
    }
    if settings.history_store is HistoryStore.QUANTUMLEAP:
        urls["quantumLeap"] = settings.quantumleap_url
    return ApplicationInfo(
        name=APP_NAME,
        version=_version(),
        git_commit=settings.git_commit or _git_commit(),
        build_time=settings.build_time,
        environment=settings.environment.value,
        started_at=utcnow(),
        dependencies=[DependencyUrl(name, redact_url(url)) for name, url in urls.items()],
    )


__all__ = ["APP_NAME", "ApplicationInfo", "DependencyUrl", "build_info", "redact_url"]
