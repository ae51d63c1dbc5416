"""The HTTP layer common to the routes of the IoT Agent sandbox: the Express headers, the body as
body-parser leaves it, the mandatory fiware headers and the error answers. ``fiware-service`` and
``fiware-servicepath`` must be present on every provisioning route (``mandatoryHeaders``, although
``doc/api.md`` calls them optional): their presence is checked, not their content; their values
separate tenants."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fiware.sandbox.fake_iota.errors import IotaError, missing_headers
from fiware.sandbox.fake_iota.store import IotaStore

MANDATORY_HEADERS = ("fiware-service", "fiware-servicepath")
JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class _Json(JSONResponse):
    media_type = JSON_MEDIA_TYPE


def _express_headers(request: Request) -> dict[str, str]:
    # The library's domain middleware echoes the caller's correlator or makes one up.
    correlator = request.headers.get("fiware-correlator") or str(uuid.uuid4())
    return {"X-Powered-By": "Express", "Fiware-Correlator": correlator}


def json_response(request: Request, status: int, body: object) -> Response:
    return _Json(body, status_code=status, headers=_express_headers(request))


def no_content(request: Request) -> Response:
    # Express drops the body of a 204 even when the handler sends `{}`.
    return Response(status_code=204, headers=_express_headers(request))


class BodySyntaxError(Exception):
    """body-parser's SyntaxError: it carries no `code`, so handleError answers 500."""


async def parsed_body(request: Request) -> Any:
    """The parsed body as body-parser leaves it: ``{}`` unless the content type is JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not (
        content_type.startswith("application/") and content_type.endswith("+json")
    ):
        return {}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        position = getattr(error, "pos", 0)
        raise BodySyntaxError(f"Unexpected token in JSON at position {position}") from error
    if not isinstance(body, dict | list):
        # strict mode accepts only objects and arrays.
        raise BodySyntaxError("Unexpected token in JSON at position 0")
    return body


def tenant_of(request: Request) -> tuple[str, str]:
    missing = [name for name in MANDATORY_HEADERS if name not in request.headers]
    if missing:
        raise missing_headers(missing)
    return request.headers["fiware-service"], request.headers["fiware-servicepath"]


def store_of(request: Request) -> IotaStore:
    store: IotaStore = request.app.state.store
    return store


async def on_iota_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, IotaError):
        raise exc
    return json_response(request, exc.status, exc.body())


async def on_syntax_error(request: Request, exc: Exception) -> Response:
    return json_response(request, 500, {"name": "SyntaxError", "message": str(exc)})
