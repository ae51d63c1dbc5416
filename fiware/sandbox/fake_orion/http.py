"""The HTTP layer common to every route of the Orion sandbox: tenant and service path headers,
content type, ``Accept``, URI parameters and pagination, the correlator, and Orion's error bodies
for its own errors and for unknown paths and methods (Orion's ``doc/manuals/orion-api.md``,
"Multi tenancy", "Service path", "MIME Types", "Error Responses")."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fiware.sandbox.fake_orion.model import Json, OrionError, bad_request, loads, normalize
from fiware.sandbox.fake_orion.store import OrionStore

SERVICE_NOT_FOUND = "Service not found. Check your URL as probably it is wrong."
MAX_LIMIT = 1000
DEFAULT_LIMIT = 20
OPTIONS = frozenset(
    {
        "keyValues",
        "values",
        "unique",
        "count",
        "append",
        "upsert",
        "overrideMetadata",
        "forcedUpdate",
        "noAttrDetail",
        "flowControl",
        "skipForwarding",
        "normalized",
    }
)

_PATH_LEVEL = re.compile(r"[A-Za-z0-9_]*")
_TENANT = re.compile(r"[a-z0-9_]*")
_DIGITS = re.compile(r"[0-9]+")


class CorrelatorMiddleware:
    """Every answer carries ``Fiware-Correlator``; Orion also drops one trailing ``/`` of the path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlator = Headers(scope=scope).get("fiware-correlator") or str(uuid.uuid4())
        path = scope["path"]
        scope = {**scope, "orion.correlator": correlator}
        if len(path) > 1 and path.endswith("/"):
            scope["path"] = path[:-1]

        async def send_with_correlator(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Fiware-Correlator"] = correlator
            await send(message)

        await self.app(scope, receive, send_with_correlator)


def _service(request: Request) -> str:
    name = request.headers.get("fiware-service", "").lower()
    if len(name) > 50:
        raise bad_request("bad length - a tenant name can be max 50 characters long")
    if not _TENANT.fullmatch(name):
        raise bad_request(
            "bad character in tenant name - only underscore and alphanumeric characters are allowed"
        )
    return name


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise bad_request("Only /absolute/ Service Paths allowed [a service path must begin with /]")
    levels = path[1:].split("/") if path != "/" else []
    if len(levels) > 10:
        raise bad_request("too many components in ServicePath")
    for index, level in enumerate(levels):
        if len(level) > 50:
            raise bad_request("component-name too long in ServicePath")
        if level == "#" and index == len(levels) - 1:
            continue
        if not _PATH_LEVEL.fullmatch(level):
            raise bad_request("a component of ServicePath contains an illegal character")


def service_paths(raw: str | None, *, update: bool) -> list[str]:
    """The ``Fiware-ServicePath`` header checked: one path for updates, up to ten for queries."""
    default = "/" if update else "/#"
    if raw is None or not raw.strip():
        return [default]
    parts = raw.split(",")
    if len(parts) > 10:
        raise bad_request("too many service paths - a maximum of ten service paths is allowed")
    paths = []
    for part in parts:
        path = part.strip()
        while len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        if path:
            _check_path(path)
        paths.append(path or default)
    if update:
        if len(paths) > 1:
            raise bad_request("more than one service path in context update request")
        if "#" in paths[0]:
            raise bad_request("Bad Character in Service-Path")
    return paths


@dataclass
class Call:
    """A request past the common checks of 2.1."""

    request: Request
    service: str
    paths: list[str]
    options: set[str]
    correlator: str
    body: Json

    @property
    def store(self) -> OrionStore:
        store: OrionStore = self.request.app.state.store
        return store

    def param(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def csv(self, name: str) -> list[str] | None:
        value = self.param(name)
        return [item for item in value.split(",") if item] if value is not None else None

    def page(self) -> tuple[int, int]:
        return int(self.param("limit") or DEFAULT_LIMIT), int(self.param("offset") or 0)

    def mode(self) -> str:
        if self.options & {"values", "unique"}:
            return "values"
        return "keyValues" if "keyValues" in self.options else "normalized"


def _check_params(request: Request) -> set[str]:
    options: set[str] = set()
    for key, value in request.query_params.multi_items():
        if not value:
            raise bad_request(f"Empty right-hand-side for URI param /{key}/")
        if key == "offset" and not _DIGITS.fullmatch(value):
            raise bad_request(f"Bad pagination offset: /{value}/ [must be a decimal number]")
        if key == "limit":
            if not _DIGITS.fullmatch(value):
                raise bad_request(f"Bad pagination limit: /{value}/ [must be a decimal number]")
            if int(value) > MAX_LIMIT:
                raise bad_request(f"Bad pagination limit: /{value}/ [max: {MAX_LIMIT}]")
            if int(value) == 0:
                raise bad_request(f"Bad pagination limit: /{value}/ [a value of ZERO is unacceptable]")
        if key == "options":
            items = set(value.split(","))
            if not items <= OPTIONS:
                raise bad_request("Invalid value for URI param /options/")
            options |= items
    return options


def _check_accept(request: Request, *, text: bool) -> None:
    accept = request.headers.get("accept")
    if accept is None:
        return
    ranges = {part.split(";")[0].strip() for part in accept.split(",")}
    acceptable = {"*/*", "application/*", "application/json"} | ({"text/*", "text/plain"} if text else set())
    if not ranges & acceptable:
        types = "application/json, text/plain" if text else "application/json"
        raise OrionError(406, f"acceptable MIME types: {types}")


async def prepare(request: Request, *, update: bool, text: bool = False) -> Call:
    """Checks in Orion's order: service path, content type, URI parameters, Accept, payload, tenant."""
    paths = service_paths(request.headers.get("fiware-servicepath"), update=update)
    raw = await request.body()
    content_type = request.headers.get("content-type")
    media = content_type.split(";")[0].strip() if content_type else ""
    if raw and not content_type:
        raise OrionError(
            415, "Content-Type header not used, default application/octet-stream is not supported"
        )
    if raw and media != "application/json" and not (text and media == "text/plain"):
        raise OrionError(415, f"not supported content type: {media}")
    options = _check_params(request)
    _check_accept(request, text=text)
    if content_type and not raw and request.method in ("GET", "DELETE"):
        raise bad_request(
            "Orion accepts no payload for GET/DELETE requests. HTTP header Content-Type is thus forbidden"
        )
    if not raw and request.method in ("POST", "PUT", "PATCH"):
        raise OrionError(411, "Zero/No Content-Length in PUT/POST/PATCH request")
    service = _service(request)
    body: Json = None
    if raw:
        body = _text_value(raw.decode(errors="replace")) if media == "text/plain" else loads(raw)
    return Call(request, service, paths, options, request.scope["orion.correlator"], body)


def _text_value(text: str) -> Json:
    # A text/plain value: a number, true, false, null or a quoted string; anything else as it is.
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return normalize(value) if not isinstance(value, dict | list) else text


async def on_orion_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OrionError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = set((exc.headers or {}).get("Allow", "").split(", "))
        allow = ", ".join(method for method in ("GET", "POST", "PUT", "PATCH", "DELETE") if method in allowed)
        return JSONResponse(
            {"error": "MethodNotAlowed", "description": "method not allowed"}, 405, headers={"Allow": allow}
        )
    return JSONResponse({"error": "BadRequest", "description": SERVICE_NOT_FOUND}, 400)


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "OPTIONS",
    "SERVICE_NOT_FOUND",
    "Call",
    "CorrelatorMiddleware",
    "on_http_error",
    "on_orion_error",
    "prepare",
    "service_paths",
]
