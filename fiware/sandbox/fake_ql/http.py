"""The HTTP layer common to the routes of the QuantumLeap sandbox: JSON as connexion writes it, RFC 7807
problems, the not-found and wrong-method answers, and the tenant headers.

- bodies: connexion 2.14's ``Jsonifier(flask.json, indent=2)`` writes every answer as
  ``json.dumps(body, indent=2, sort_keys=True) + "\\n"``, strings included: a plain message is a JSON
  string (QL ``reporter.py`` ``notify`` returns one). Clients must not depend on the key order.
- problems (``connexion/problem.py``): ``application/problem+json``
  ``{"detail","status","title","type":"about:blank"}``; unknown paths and wrong methods answer werkzeug's
  404 and 405 as problems (connexion's ``common_error_handler``), an unexpected exception the 500 one.
- tenant: ``Fiware-Service`` (absent or empty: the default tenant); on ``/v2/notify`` only,
  ``NGSILD-Tenant`` takes precedence (QL ``src/reporter/httputil.py`` ``fiware_s``; queries read
  ``fiware-service`` alone, ``query_1T1E1A.py``). ``Fiware-ServicePath`` defaults to ``/``.
"""

from __future__ import annotations

import json
from typing import Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

JSON: Final = "application/json"
PROBLEM: Final = "application/problem+json"
_INTERNAL_DETAIL: Final = (
    "The server encountered an internal error and was unable to complete your request. Either the "
    "server is overloaded or there is an error in the application."
)
_NOT_FOUND_DETAIL: Final = (
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again."
)


class QlJsonResponse(Response):
    media_type = JSON

    def render(self, content: object) -> bytes:
        return (json.dumps(content, indent=2, sort_keys=True) + "\n").encode()


class Answer(Exception):
    """An answer that ends the request early: a connexion problem or one of QL's own refusals."""

    def __init__(self, status: int, body: object, media_type: str = JSON) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.media_type = media_type

    def response(self) -> Response:
        return QlJsonResponse(self.body, status_code=self.status, media_type=self.media_type)


def problem(status: int, title: str, detail: str) -> Answer:
    body = {"detail": detail, "status": status, "title": title, "type": "about:blank"}
    return Answer(status, body, PROBLEM)


def bad_request(detail: str) -> Answer:
    return problem(400, "Bad Request", detail)


def internal_error() -> Answer:
    """What connexion answers when QL's code raises: werkzeug's InternalServerError as a problem."""
    return problem(500, "Internal Server Error", _INTERNAL_DETAIL)


def notify_service(request: Request) -> str | None:
    return request.headers.get("ngsild-tenant") or request.headers.get("fiware-service") or None


def query_service(request: Request) -> str | None:
    return request.headers.get("fiware-service") or None


def service_path(request: Request) -> str:
    return request.headers.get("fiware-servicepath", "/")


async def on_answer(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Answer)
    return exc.response()


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        answer = problem(405, "Method Not Allowed", "The method is not allowed for the requested URL.")
        response = answer.response()
        response.headers["Allow"] = (exc.headers or {}).get("Allow", "")
        return response
    return problem(404, "Not Found", _NOT_FOUND_DETAIL).response()


__all__ = [
    "JSON",
    "PROBLEM",
    "Answer",
    "QlJsonResponse",
    "bad_request",
    "internal_error",
    "notify_service",
    "on_answer",
    "on_http_error",
    "problem",
    "query_service",
    "service_path",
]
