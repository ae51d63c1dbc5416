"""Options shared by the sandbox apps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxConfig:
    # STH-Comet `server.maxPageSize` (env MAX_PAGE_SIZE upstream): the cap on hLimit and lastN.
    max_page_size: int = 100
    # Added to every request before it is handled, to model a remote server.
    latency_seconds: float = 0.0
    # Orion reports this in /version; from 4.0.0 on, `legacy` notifications are refused.
    orion_version: str = "3.12.0"

    @property
    def orion_major(self) -> int:
        return int(self.orion_version.split(".")[0])


__all__ = ["SandboxConfig"]
