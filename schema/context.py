"""The one typed context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.tenancy import TenantScope
from app.resources import Resources
from app.settings import Settings
from schema.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    resources: Resources
    # Who calls: set from the Authorization header before the request reaches GraphQL, or from
    # `connection_init` on a WebSocket. None only on a socket that has not been accepted yet.
    principal: Principal | None = None
    # The WebSocket's bearer token, looked at again when each subscription starts.
    token: str | None = None
    request_id: str = ""
    # Strawberry fills this from `connection_init` on WebSocket connections.
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(default_factory=Loaders)

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def is_admin(self) -> bool:
        return self.principal is not None and self.principal.role is Role.ADMIN

    @property
    def scope(self) -> TenantScope:
        """The tenants this caller sees; AccessControl has refused the operation if nobody calls."""
        if self.principal is None:
            raise RuntimeError("no principal: the operation ran without AccessControl")
        return self.principal.scope


Info = StrawberryInfo[Context, None]

__all__ = ["Context", "Info"]
