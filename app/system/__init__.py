"""System aggregate: health of dependencies and application information."""

from app.system.health import DEPENDENCIES, DependencyHealth, HealthStatus, Probe, SystemHealth, check_health
from app.system.info import ApplicationInfo, DependencyUrl, build_info, redact_url

__all__ = [
    "DEPENDENCIES",
    "ApplicationInfo",
    "DependencyHealth",
    "DependencyUrl",
    "HealthStatus",
    "Probe",
    "SystemHealth",
    "build_info",
    "check_health",
    "redact_url",
]
