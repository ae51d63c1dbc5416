"""The ASGI application: Starlette routes, the GraphQL view and the lifespan that owns clients.

Run it with ``python -m app.serve``, which reads the settings once and hands them here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import structlog
from pymongo.errors import PyMongoError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from app import heap
from app.log import configure_logging
from app.metrics import exposition
from app.resources import Resources, close_resources, open_resources
from app.settings import Settings, get_settings
from app.system.health import HealthStatus
from app.system.info import redact_url
from schema import build_schema
from schema.context import Context
from schema.shared_execution import RESULTS, compact_json

log = structlog.get_logger("chronos.api")

MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


class ChronosGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our typed context."""

    def __init__(self, *args: Any, resources: dict[str, Resources], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Filled by the lifespan: the view exists before the clients it hands out.
        self._resources = resources

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        return Context(request=request, response=response, resources=self._resources["current"])

    def encode_json(self, data: object) -> str:
        """Messages carrying a shared subscription result reuse its JSON, serialised once."""
        return RESULTS.encode_message(data) or compact_json(data)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, json=settings.json_logs)
    holder: dict[str, Resources] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            holder["current"] = await open_resources(settings)
        except PyMongoError as exc:
            # Say plainly what is missing before uvicorn reports a failed start-up.
            log.error(
                "api.mongo_unreachable",
                url=redact_url(settings.mongo_url),
                timeout_seconds=settings.mongo_timeout_seconds,
                error=type(exc).__name__,
            )
            raise
        heap.settle()
        if not settings.graphiql_enabled:
            log.info("graphiql.disabled")
        log.info(
            "api.started",
            environment=settings.environment.value,
            graphql=f"http://{settings.host}:{settings.port}/graphql",
        )
        try:
            yield
        finally:
            await close_resources(holder.pop("current"))
            log.info("api.stopped")

    graphql = ChronosGraphQL(
        build_schema(mask_errors=settings.is_production),
        resources=holder,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
        allowed_origins=settings.allowed_origins,
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        # A socket that never sends connection_init should not hold a slot for a minute.
        connection_init_wait_timeout=timedelta(seconds=10),
    )

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        health = await holder["current"].health()
        body = {
            "status": health.status.value,
            "dependencies": {d.name: d.status.value for d in health.dependencies},
        }
        # Ready means every dependency is usable; `health` tells DEGRADED from DOWN for people.
        code = 200 if health.status is HealthStatus.UP else 503
        return JSONResponse(body, status_code=code)

    async def metrics(_: Request) -> Response:
        resources = holder["current"]
        reading = await exposition.read_cluster(redis=resources.redis, hub=resources.hub.stats())
        return Response(exposition.render(resources.metrics, reading), media_type=exposition.CONTENT_TYPE)

    async def root(_: Request) -> Response:
        return RedirectResponse("/graphql")

    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type"],
        )
    ]
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/", root),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )


__all__ = ["ChronosGraphQL", "create_app"]
