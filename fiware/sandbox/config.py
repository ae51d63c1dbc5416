"""Options shared by the sandbox apps."""

from __future__ import annotations

from dataclasses import dataclass

QL_FLAVORS = ("1.0.0", "master")


@dataclass(frozen=True)
class SandboxConfig:
    # STH-Comet `server.maxPageSize` (env MAX_PAGE_SIZE upstream): the cap on hLimit and lastN.
    max_page_size: int = 100
    # Added to every request before it is handled, to model a remote server.
    latency_seconds: float = 0.0
    # Orion reports this in /version; from 4.0.0 on, `legacy` notifications are refused.
    orion_version: str = "3.12.0"
    # QuantumLeap's latest release tag answers `entityId`/`entityType` and 404 when nothing matches;
    # its unreleased master (1.0.1-dev, the `:edge` image) answers `id`/`type` and 200 `[]`.
    ql_flavor: str = "1.0.0"
    # QuantumLeap's DEFAULT_LIMIT (env DEFAULT_LIMIT upstream): the silent cap on lastN and limit.
    ql_default_limit: int = 10000

    def __post_init__(self) -> None:
        if self.ql_flavor not in QL_FLAVORS:
            raise ValueError(f"ql_flavor must be one of {', '.join(QL_FLAVORS)}, not {self.ql_flavor!r}")

    @property
    def orion_major(self) -> int:
        return int(self.orion_version.split(".")[0])


__all__ = ["QL_FLAVORS", "SandboxConfig"]
