"""The one typed context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from app.resources import Resources
from app.settings import Settings
from schema.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    resources: Resources
    # Strawberry fills this from `connection_init` on WebSocket connections.
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(default_factory=Loaders)

    @property
    def settings(self) -> Settings:
        return self.resources.settings


Info = StrawberryInfo[Context, None]

__all__ = ["Context", "Info"]
