"""What every FIWARE client shares: one pooled ``httpx.AsyncClient`` per service, tenant headers
passed per call, encoded paths, bounded retries with backoff and jitter, typed errors."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from fiware.errors import FiwareBadRequest, FiwareConflict, FiwareError, FiwareNotFound, FiwareUnavailable


@dataclass(frozen=True)
class Tenant:
    """A FIWARE tenant: Fiware-Service and Fiware-ServicePath, sent on every call that needs them."""

    service: str
    service_path: str = "/"

    def headers(self) -> dict[str, str]:
        return {"Fiware-Service": self.service, "Fiware-ServicePath": self.service_path}


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on connection errors, timeouts and 5xx; never on 4xx.

    At most ``attempts`` tries and ``deadline`` seconds in all; the n-th wait is a random share
    ("full jitter") of ``min(max_delay, base_delay * 2**n)``.
    """

    attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 2.0
    deadline: float = 20.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


DEFAULT_RETRY = RetryPolicy()
# Methods whose repetition changes nothing; others are retried only when the request never left.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
NO_RETRY = RetryPolicy(attempts=1)


def make_http_client(base_url: str, *, timeout: float = 10.0, max_connections: int = 20) -> httpx.AsyncClient:
    """The pooled client of one service; create it once and share it."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )


def encode_path(*segments: str) -> str:
    """Segments joined with '/', each percent-encoded whole (a '/' or '#' in an id stays data)."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def _body(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text


def _describe(body: object) -> str:
    if isinstance(body, Mapping):
        parts = [str(body[key]) for key in ("error", "name", "description", "message") if key in body]
        if parts:
            return ": ".join(parts)
    return str(body)[:300]


class ServiceClient:
    """HTTP calls to one FIWARE service with the shared retry and error rules."""

    def __init__(self, http: httpx.AsyncClient, *, service: str, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self.http = http
        self.service = service
        self.retry = retry

    def _error(self, response: httpx.Response) -> FiwareError:
        body = _body(response)
        message = f"{self.service} answered {response.status_code} to {response.request.method} " + (
            f"{response.request.url.path}: {_describe(body)}"
        )
        status = response.status_code
        kind: type[FiwareError]
        if status == 404:
            kind = FiwareNotFound
        elif status == 409 or (status == 422 and "Already Exists" in str(body)):
            kind = FiwareConflict
        elif status >= 500:
            kind = FiwareUnavailable
        else:
            kind = FiwareBadRequest
        return kind(message, service=self.service, status=status, body=body)

    def object_of(self, response: httpx.Response) -> dict[str, Any]:
        """The response's JSON object body; a FiwareError for anything else."""
        return json_object(read_json(response, service=self.service), service=self.service)

    async def request(
        self,
        method: str,
        path: str,
        *,
        tenant: Tenant | None = None,
        params: Mapping[str, Any] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send, retrying what may succeed later; answer the response or raise a FiwareError."""
        all_headers = {**(tenant.headers() if tenant else {}), **(headers or {})}
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                response = await self.http.request(
                    method, path, params=params, json=json, headers=all_headers or None
                )
                if response.status_code < 400:
                    return response
                error = self._error(response)
                if response.status_code < 500:
                    raise error
            except httpx.TransportError as exc:
                # Connection refused or reset, timeouts, broken responses: all worth another try.
                error = FiwareUnavailable(
                    f"{self.service} unreachable for {method} {path}: {type(exc).__name__}",
                    service=self.service,
                )
                error.__cause__ = exc
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if sent and method not in IDEMPOTENT:
                    raise error from exc  # a POST may have taken effect: repeating it could double it
            else:
                if method not in IDEMPOTENT:
                    raise error
            attempt += 1
            wait = self.retry.delay(attempt - 1)
            if attempt >= self.retry.attempts or time.monotonic() - started + wait > self.retry.deadline:
                raise error
            await asyncio.sleep(wait)


def read_json(response: httpx.Response, *, service: str) -> Any:
    """The JSON body, or a FiwareError saying the server answered something else."""
    try:
        return response.json()
    except ValueError as exc:
        raise FiwareError(
            f"{service} answered {response.status_code} with a body that is not JSON",
            service=service,
            status=response.status_code,
            body=response.text[:300],
        ) from exc


def json_object(body: Any, *, service: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FiwareError(f"{service} answered a JSON {type(body).__name__}, not an object", service=service)
    return body


__all__ = [
    "DEFAULT_RETRY",
    "IDEMPOTENT",
    "NO_RETRY",
    "RetryPolicy",
    "ServiceClient",
    "Tenant",
    "encode_path",
    "json_object",
    "make_http_client",
    "read_json",
]
