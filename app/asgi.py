"""The ASGI application: Starlette routes, the GraphQL view and the lifespan that owns clients.

Run it with ``python -m app.serve``, which reads the settings once and hands them here.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import structlog
from cross_web import HTTPException
from pymongo.errors import PyMongoError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from app import heap
from app.auth.authenticator import bearer_token, connection_token
from app.auth.principal import Principal
from app.auth.roles import Role
from app.body_limit import BodyLimit
from app.errors import ChronosError, ErrorCode, Forbidden, Unauthenticated, Unavailable
from app.log import configure_logging
from app.metrics import exposition
from app.resources import Resources, close_resources, open_resources
from app.settings import Settings, get_settings
from app.system.health import HealthStatus
from app.system.info import redact_url
from schema import build_schema
from schema.context import Context
from schema.limits import QueryLimits
from schema.shared_execution import RESULTS, compact_json

log = structlog.get_logger("chronos.api")

MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


PRINCIPAL = "chronos.principal"
REQUEST_ID = "chronos.request_id"


def error_response(error: ChronosError, *, status: int, request_id: str) -> JSONResponse:
    """A GraphQL-shaped refusal for requests that never reach GraphQL."""
    headers = {"x-request-id": request_id}
    if error.code is ErrorCode.UNAUTHENTICATED:
        headers["www-authenticate"] = 'Bearer realm="chronos"'
    body = {
        "errors": [{"message": error.message, "extensions": {**error.extensions, "requestId": request_id}}]
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _wants_ide(scope: Scope) -> bool:
    # GraphiQL's page itself carries no key; the queries it then sends do.
    request = Request(scope)
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and ("query" not in request.query_params)
    )


class ChronosGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our typed context, behind the API key check."""

    def __init__(self, *args: Any, resources: dict[str, Resources], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Filled by the lifespan: the view exists before the clients it hands out.
        self._resources = resources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            state = scope.setdefault("state", {})
            state[REQUEST_ID] = request_id
            if scope["type"] != "http":
                await super().__call__(scope, receive, send)
                return

            async def send_with_id(message: Message) -> None:
                headers = message.get("headers", [])
                if message["type"] == "http.response.start" and b"x-request-id" not in dict(headers):
                    message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
                await send(message)

            response = await self._authenticate(scope, state, request_id)
            if response is None:
                try:
                    response = await self.run(Request(scope, receive=receive))
                except HTTPException as error:
                    # Strawberry answers these in plain text; clients parse every answer as JSON.
                    body = {"errors": [{"message": error.reason, "extensions": {"code": "BAD_REQUEST"}}]}
                    response = JSONResponse(body, status_code=error.status_code)
            await response(scope, receive, send_with_id)

    async def _authenticate(self, scope: Scope, state: dict[str, Any], request_id: str) -> Response | None:
        authenticator = self._resources["current"].authenticator
        if authenticator.required and _wants_ide(scope):
            return None
        try:
            state[PRINCIPAL] = await authenticator.authenticate(
                bearer_token(Request(scope).headers.get("authorization"))
            )
        except Unauthenticated as error:
            return error_response(error, status=401, request_id=request_id)
        except PyMongoError as error:
            log.warning("auth.unavailable", error=type(error).__name__)
            unavailable = Unavailable("cannot check the API key now; try again shortly")
            return error_response(unavailable, status=503, request_id=request_id)
        return None

    def parse_json(self, data: str | bytes) -> Any:
        # Strawberry takes any JSON for a request and fails on scalars (500) and on an
        # operationName that is not a string (an uncoded error): refuse them as it does the rest.
        try:
            parsed = super().parse_json(data)
        except RecursionError:
            raise HTTPException(400, "The request body nests too deeply.") from None
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(item, dict):
                raise HTTPException(400, "A GraphQL request is a JSON object with a `query` string.")
            if not isinstance(item.get("operationName"), str | None):
                raise HTTPException(
                    400, "The GraphQL operation's `operationName` must be a string or null, if provided."
                )
        return parsed

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        state = request.scope.get("state", {})
        principal: Principal | None = state.get(PRINCIPAL)
        return Context(
            request=request,
            response=response,
            resources=self._resources["current"],
            principal=principal,
            request_id=state.get(REQUEST_ID, ""),
        )

    async def on_ws_connect(self, context: Context) -> None:
        token = connection_token(context.connection_params)
        try:
            context.principal = await context.resources.authenticator.authenticate(token)
        except Unauthenticated as error:
            # graphql-transport-ws closes with 4403; legacy graphql-ws sends connection_error.
            raise ConnectionRejectionError({"message": error.message, "code": error.code.value}) from None
        context.token = token

    def encode_json(self, data: object) -> str:
        """Messages carrying a shared subscription result reuse its JSON, serialised once."""
        return RESULTS.encode_message(data) or compact_json(data)


async def _admin_only(request: Request, resources: Resources) -> Response | None:
    request_id = uuid.uuid4().hex
    try:
        principal = await resources.authenticator.authenticate(
            bearer_token(request.headers.get("authorization"))
        )
    except Unauthenticated as error:
        return error_response(error, status=401, request_id=request_id)
    if not principal.role.includes(Role.ADMIN):
        return error_response(Forbidden("metrics take an admin key"), status=403, request_id=request_id)
    return None


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
        if not settings.auth_required:
            log.warning(
                "auth.disabled",
                message="CHRONOS_AUTH_ENABLED is off: anyone who reaches this API may read, train and delete "
                "everything, in every tenant",
                environment=settings.environment.value,
            )
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

    limits = QueryLimits(
        max_depth=settings.max_query_depth,
        max_tokens=settings.max_query_tokens,
        max_aliases=settings.max_query_aliases,
        max_cost=settings.max_query_cost,
        allow_introspection=settings.introspection_enabled,
    )
    graphql = ChronosGraphQL(
        build_schema(mask_errors=settings.is_production, limits=limits),
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

    async def metrics(request: Request) -> Response:
        resources = holder["current"]
        # Counts span every tenant, so only admins read them (Prometheus sends a bearer token).
        refusal = await _admin_only(request, resources)
        if refusal is not None:
            return refusal
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
            expose_headers=["x-request-id"],
        ),
        # Inside CORS, so browsers can read the refusal.
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes, paths={"/graphql"}),
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
