"""System aggregate: health of dependencies and application information."""

from app.system.health import (
    DEPENDENCIES,
    NEEDED,
    Dependency,
    DependencyHealth,
    Finding,
    HealthStatus,
    Probe,
    SystemHealth,
    check_health,
)
from app.system.info import ApplicationInfo, DependencyUrl, build_info, redact_url

__all__ = [
    "DEPENDENCIES",
    "NEEDED",
    "ApplicationInfo",
    "Dependency",
    "DependencyHealth",
    "DependencyUrl",
    "Finding",
    "HealthStatus",
    "Probe",
    "SystemHealth",
    "build_info",
    "check_health",
    "redact_url",
]
