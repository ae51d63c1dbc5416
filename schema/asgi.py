"""The ASGI application: Starlette routes, the GraphQL view and the lifespan that owns clients.

Run it with ``python -m schema.serve``, which reads the settings once and hands them here.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import NonTextMessageReceived
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult

from app import console, graphiql, heap, media
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
from app.training import service as training_service
from schema import build_schema
from schema.context import Context
from schema.limits import QueryLimits
from schema.shared_execution import RESULTS, compact_json
from schema.valid_text import has_lone_surrogate

log = structlog.get_logger("chronos.api")

MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


PRINCIPAL = "chronos.principal"
REQUEST_ID = "chronos.request_id"
# The lifespan's state: Starlette copies it into every request's and socket's scope["state"].
RESOURCES = "resources"


NOT_UTF8 = "The body is not UTF-8: GraphQL over HTTP takes UTF-8 JSON."
SUB_RESPONSE = "chronos.sub_response"
# Request errors with a status of their own; any other is a 400.
REQUEST_ERROR_STATUS = {
    ErrorCode.FORBIDDEN.value: 403,
    ErrorCode.RATE_LIMITED.value: 429,
    ErrorCode.UNAVAILABLE.value: 503,
}


def _request_error_status(errors: list[GraphQLError]) -> int:
    codes = {(error.extensions or {}).get("code") for error in errors}
    statuses = {REQUEST_ERROR_STATUS.get(str(code), 400) for code in codes}
    return statuses.pop() if len(statuses) == 1 else 400


def _refusal(error: HTTPException) -> Response:
    # Strawberry answers these in plain text; clients parse every answer as JSON. The access log's
    # line is the only one: a flood of refusals must not cost more than answering it.
    body = {"errors": [{"message": error.reason, "extensions": {"code": ErrorCode.BAD_REQUEST.value}}]}
    return JSONResponse(body, status_code=error.status_code)


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


def resources_of(scope: Scope) -> Resources:
    """The clients the lifespan opened, as Starlette hands its state to each request and socket."""
    resources: Resources = scope["state"][RESOURCES]
    return resources


class TextOnlySocket(ASGIWebSocketAdapter):
    """Closes a socket that sends anything but UTF-8 text with 4400, in either protocol.

    ``app.ws_protocol`` hands a text frame that is not UTF-8 over as bytes, so both reach this.
    Strawberry's graphql-ws handler would close with 1002 and graphql-transport-ws with 4400 "must be
    text"; one answer for both, and one log line.
    """

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        try:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                yield message
        except NonTextMessageReceived:
            log.info("request.refused", status=4400, reason="websocket message is not UTF-8 text")
            await self.close(4400, "A message must be a UTF-8 text frame.")


class ChronosGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our typed context, behind the API key check."""

    websocket_adapter_class = TextOnlySocket

    def __init__(self, *args: Any, console_dir: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.console_dir = console_dir

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
                    response = _refusal(error)
            await response(scope, receive, send_with_id)

    async def _authenticate(self, scope: Scope, state: dict[str, Any], request_id: str) -> Response | None:
        authenticator = resources_of(scope).authenticator
        if authenticator.required and _wants_ide(scope):
            return None
        try:
            state[PRINCIPAL] = await authenticator.authenticate(
                bearer_token(Request(scope).headers.get("authorization"))
            )
        except Unauthenticated as error:
            return error_response(error, status=401, request_id=request_id)
        except Unavailable as error:
            return error_response(error, status=503, request_id=request_id)
        return None

    def parse_json(self, data: str | bytes) -> Any:
        # Strawberry takes any JSON for a request and fails on scalars (500) and on an
        # operationName that is not a string (an uncoded error): refuse them as it does the rest.
        # json.loads would also guess UTF-16 and UTF-32 from bytes, and fails on bad UTF-8 with an
        # error Strawberry does not catch (a 500 and a traceback per request): GraphQL over HTTP is
        # UTF-8, so anything else is refused here.
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(400, NOT_UTF8) from None
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
            if has_lone_surrogate(item.get("operationName")):
                # Strawberry echoes an unknown name in its error, which then cannot be encoded: a 500.
                raise HTTPException(400, "The GraphQL operation's `operationName` must be valid Unicode.")
        return parsed

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        state = request.scope.get("state", {})
        principal: Principal | None = state.get(PRINCIPAL)
        return Context(
            request=request,
            response=response,
            resources=resources_of(request.scope),
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

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # Where process_result, which is handed only the request, finds it.
        request.scope.setdefault("state", {})[SUB_RESPONSE] = sub_response
        return sub_response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        body = await super().process_result(request, result)
        sub_response = request.scope.get("state", {}).get(SUB_RESPONSE)
        if sub_response is None or media.preferred(request.headers.get("accept")) != media.GRAPHQL_RESPONSE:
            return body
        sub_response.media_type = media.GRAPHQL_RESPONSE
        if result.data is None and result.errors and all(error.path is None for error in result.errors):
            # Nothing executed (the document, the variables or the caller was refused): a request
            # error, which has no data entry and a 4xx status in this media type.
            body.pop("data", None)
            sub_response.status_code = _request_error_status(result.errors)
        return body

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == media.GRAPHQL_RESPONSE:
            response.headers["content-type"] = f"{media.GRAPHQL_RESPONSE}; charset=utf-8"
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our page: its files come from this server, not a CDN, and it opens on the walkthrough.
        return graphiql.ide_response(self.console_dir)


async def _caller(
    request: Request, resources: Resources, role: Role, *, refusal: str
) -> Principal | Response:
    """The request's key if it may act as ``role``, else the refusal to send (``refusal`` for a role
    too low)."""
    request_id = uuid.uuid4().hex
    try:
        principal = await resources.authenticator.authenticate(
            bearer_token(request.headers.get("authorization"))
        )
    except Unauthenticated as error:
        return error_response(error, status=401, request_id=request_id)
    except Unavailable as error:
        return error_response(error, status=503, request_id=request_id)
    if not principal.role.includes(role):
        return error_response(Forbidden(refusal), status=403, request_id=request_id)
    return principal


async def _admin_only(request: Request, resources: Resources) -> Response | None:
    found = await _caller(request, resources, Role.ADMIN, refusal="metrics take an admin key")
    return found if isinstance(found, Response) else None


async def artifact(request: Request) -> Response:
    """A training job's artifact, for a key that sees the job's tenant (the console's download links)."""
    resources = resources_of(request.scope)
    caller = await _caller(request, resources, Role.VIEWER, refusal="artifacts take a key")
    if isinstance(caller, Response):
        return caller
    try:
        found, body = await training_service.artifact_of(
            job_id=request.path_params["job_id"], name=request.path_params["name"], scope=caller.scope
        )
    except ChronosError as error:
        status = 404 if error.code is ErrorCode.NOT_FOUND else 400
        return error_response(error, status=status, request_id=uuid.uuid4().hex)
    disposition = f"attachment; filename*=UTF-8''{quote(found.name)}"
    headers = {"content-disposition": disposition, "etag": f'"{found.checksum}"', "cache-control": "private"}
    return Response(body, media_type=found.content_type, headers=headers)


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[dict[str, Resources]]:
    settings: Settings = app.state.settings
    resources = await open_resources(settings)
    heap.settle()
    _log_start(settings)
    try:
        yield {RESOURCES: resources}
    finally:
        await close_resources(resources)
        log.info("api.stopped")


def _log_start(settings: Settings) -> None:
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


def _graphql_view(settings: Settings) -> ChronosGraphQL:
    limits = QueryLimits(
        max_depth=settings.max_query_depth,
        max_tokens=settings.max_query_tokens,
        max_aliases=settings.max_query_aliases,
        max_cost=settings.max_query_cost,
        allow_introspection=settings.introspection_enabled,
    )
    return ChronosGraphQL(
        build_schema(mask_errors=settings.is_production, limits=limits),
        console_dir=settings.console_dir or graphiql.CONSOLE_DIR,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
        allowed_origins=settings.allowed_origins,
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        # A socket that never sends connection_init should not hold a slot for a minute.
        connection_init_wait_timeout=timedelta(seconds=10),
    )


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    health = await resources_of(request.scope).health()
    body = {
        "status": health.status.value,
        "dependencies": {d.name: d.status.value for d in health.dependencies},
    }
    # Ready means this process can serve: what DEPENDENCIES marks needed (MongoDB, the broker)
    # answers, which is exactly when health is not DOWN. DEGRADED (Orion, Redis, no worker...)
    # is ready: taking every API process out for it would stop what still works.
    code = 503 if health.status is HealthStatus.DOWN else 200
    return JSONResponse(body, status_code=code)


async def metrics(request: Request) -> Response:
    resources = resources_of(request.scope)
    # Counts span every tenant, so only admins read them (Prometheus sends a bearer token).
    refusal = await _admin_only(request, resources)
    if refusal is not None:
        return refusal
    reading = await exposition.read_cluster(
        redis=resources.redis, hub=resources.hub.stats(), workers=resources.workers
    )
    return Response(exposition.render(resources.metrics, reading), media_type=exposition.CONTENT_TYPE)


# Liveness, readiness, metrics and artifact downloads: HTTP without GraphQL.
PLAIN_ROUTES: list[BaseRoute] = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
    Route("/artifacts/{job_id}/{name}", artifact),
]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    configure_logging(
        level=settings.log_level, json=settings.json_logs, http_requests=settings.log_http_requests
    )
    graphql = _graphql_view(settings)
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
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *PLAIN_ROUTES,
            *console.routes(console_dir=graphql.console_dir),
            *graphiql.routes(enabled=settings.graphiql_enabled, console_dir=graphql.console_dir),
        ],
        middleware=middleware,
        lifespan=_lifespan,
    )
    # What the lifespan opens its clients from; requests read those clients from their state.
    app.state.settings = settings
    return app


__all__ = ["ChronosGraphQL", "create_app"]
