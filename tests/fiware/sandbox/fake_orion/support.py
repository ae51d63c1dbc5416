"""Helpers of the Orion sandbox tests: a notification receiver, request helpers and expected errors."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

UUID = re.compile(r"[0-9a-f\-]{36}")


SUB_LOCATION = re.compile(r"/v2/subscriptions/([0-9a-f]{24})")


STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z")


DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


NOT_FOUND_ENTITY = {
    "error": "NotFound",
    "description": "The requested entity has not been found. Check type and id",
}


NOT_FOUND_SUB = {
    "error": "NotFound",
    "description": "The requested subscription has not been found. Check id",
}


SERVICE_NOT_FOUND = {
    "error": "BadRequest",
    "description": "Service not found. Check your URL as probably it is wrong.",
}


INVALID_FORMAT = {
    "error": "BadRequest",
    "description": "invalid attrsFormat, accepted values: normalized, simplifiedNormalized, keyValues, "
    "simplifiedkeyValues, values",
}


# -- notification receiver ------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """Records every POST; ``/status/<code>/…`` answers that code, ``/slow/…`` answers after 1 s."""

    url: str = ""
    calls: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.calls.append(Received(request.url.path, dict(request.headers), body))
        parts = request.url.path.split("/")
        if parts[1] == "slow":
            await asyncio.sleep(1.0)
        return Response(status_code=int(parts[2]) if parts[1] == "status" else 200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.endpoint, methods=["POST"])])

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [call for call in self.calls if call.path == path]

    def wait(self, path: str, count: int, timeout: float = 5.0) -> list[Received]:
        wait_until(lambda: len(self.at(path)) >= count, timeout)
        return self.at(path)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def hdr(tenant: str | None, path: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Fiware-Service": tenant} if tenant else {}
    if path is not None:
        headers["Fiware-ServicePath"] = path
    return {**headers, **{key.replace("_", "-"): value for key, value in extra.items()}}


def create(client: httpx.Client, tenant: str | None, entity: dict[str, Any], path: str | None = None) -> None:
    response = client.post("/v2/entities", json=entity, headers=hdr(tenant, path))
    assert response.status_code == 201, response.text


def subscribe(client: httpx.Client, tenant: str | None, body: dict[str, Any], path: str | None = None) -> str:
    response = client.post("/v2/subscriptions", json=body, headers=hdr(tenant, path))
    assert response.status_code == 201, response.text
    match = SUB_LOCATION.fullmatch(response.headers["location"])
    assert match is not None
    return match.group(1)


def sub_body(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": {"entities": [{"id": "E1", "type": "T"}]},
        "notification": {"http": {"url": url}},
    }
    for key, value in extra.items():
        if key in ("condition",):
            body["subject"][key] = value
        elif key in ("attrs", "attrsFormat", "metadata", "onlyChangedAttrs", "exceptAttrs"):
            body["notification"][key] = value
        else:
            body[key] = value
    return body


def assert_error(response: httpx.Response, status: int, body: dict[str, str]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert UUID.fullmatch(response.headers["fiware-correlator"])
    assert response.json() == body


def error(description: str, name: str = "BadRequest") -> dict[str, str]:
    return {"error": name, "description": description}
