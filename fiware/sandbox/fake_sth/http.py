"""The HTTP layer common to the routes of the STH-Comet sandbox: the fiware headers and STH's two error
formats.

- mandatory ``Fiware-Service`` and ``Fiware-ServicePath`` (``sthHeaderValidator.js``, on ``/notify``
  too), ``fiware-correlator`` (echoed or a new UUID) and ``fiware-total-count`` (only with
  ``count=true``; the whole date window, whatever the page).
- error bodies: NGSIv2 ``{"error","description"}`` on the v2 data route and for 404s under
  ``/STH/v2`` (``sthGetDataHandlerV2.js``, ``sthNotFoundHandler.js``), hapi/boom
  ``{"statusCode","error","message"[,"validation"]}`` everywhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

SERVICE_HEADER: Final = "fiware-service"
SERVICE_PATH_HEADER: Final = "fiware-servicepath"
CORRELATOR_HEADER: Final = "fiware-correlator"
TOTAL_COUNT_HEADER: Final = "fiware-total-count"


class Failure(Exception):
    """A refusal; rendered by the route's dialect (NGSIv2 for the v2 data route, hapi/boom elsewhere)."""

    def __init__(self, status: int, message: str, validation: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        # hapi's `validation` member: which request part failed, and which keys.
        self.validation = validation


class SthJsonResponse(JSONResponse):
    media_type = "application/json; charset=utf-8"  # hapi's default for object payloads


def _hapi_body(failure: Failure) -> dict[str, object]:
    body: dict[str, object] = {
        "statusCode": failure.status,
        "error": HTTPStatus(failure.status).phrase,
        "message": failure.message,
    }
    if failure.validation is not None:
        body["validation"] = dict(failure.validation)
    return body


def _ngsi_v2_body(failure: Failure) -> dict[str, object]:
    # sthGetDataHandlerV2 removes only the first space of boom's error name ("InternalServer Error").
    return {"error": HTTPStatus(failure.status).phrase.replace(" ", "", 1), "description": failure.message}


def failure_response(failure: Failure, *, ngsi_v2: bool) -> Response:
    body = _ngsi_v2_body(failure) if ngsi_v2 else _hapi_body(failure)
    return SthJsonResponse(body, status_code=failure.status)


_QUERY_KEYS: Final = ("lastN", "hLimit", "hOffset", "filetype", "aggrMethod", "aggrPeriod", "count")


def query_failure(message: str) -> Failure:
    return Failure(400, message, {"source": "query", "keys": _QUERY_KEYS})


def joi_failure(key: str, reason: str) -> Failure:
    return Failure(400, f'child "{key}" fails because ["{key}" {reason}]', {"source": "query", "keys": [key]})


def correlator(request: Request) -> str:
    return request.headers.get(CORRELATOR_HEADER) or str(uuid.uuid4())


def tenant_of(request: Request) -> tuple[str, str]:
    """sthHeaderValidator: an empty header counts as missing (it tests truthiness)."""
    for name in (SERVICE_HEADER, SERVICE_PATH_HEADER):
        if not request.headers.get(name):
            raise Failure(
                400, f'child "{name}" fails because [{name} is required]', {"source": "headers", "keys": []}
            )
    return request.headers[SERVICE_HEADER], request.headers[SERVICE_PATH_HEADER]
