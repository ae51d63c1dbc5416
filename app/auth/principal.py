"""The caller of an operation, as the API key it presented describes it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app.auth.roles import Role
from app.auth.tenancy import EVERY_TENANT, TenantScope


@dataclass(frozen=True)
class Principal:
    key_id: UUID | None  # None only for the open door of a server with auth turned off
    name: str
    role: Role
    scope: TenantScope

    @property
    def rate_key(self) -> str:
        return str(self.key_id) if self.key_id else "anonymous"


# Who calls when CHRONOS_AUTH_ENABLED is off: everything, everywhere (and logged loudly at start).
UNAUTHENTICATED_ADMIN = Principal(key_id=None, name="auth disabled", role=Role.ADMIN, scope=EVERY_TENANT)

__all__ = ["UNAUTHENTICATED_ADMIN", "Principal"]
