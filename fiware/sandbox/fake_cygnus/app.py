"""Cygnus stand-in (``telefonicaid/fiware-cygnus`` 3.18.0, archived upstream and superseded by Kafnus):
the NGSI agent's HTTP source as Orion 4 → Cygnus → MongoDB ← STH-Comet uses it. Every request goes to
the ``NGSIRestHandler`` (:mod:`~fiware.sandbox.fake_cygnus.handler`), whatever its method or path, as
Flume's ``HTTPSource`` hands them over; accepted notifications are written by the ``NGSIMongoSink``
(:mod:`~fiware.sandbox.fake_cygnus.sink`) into the STH-Comet sandbox's store the app is built with.

- 200 with an empty body once the events are in the channel (``HTTPSource``); the sink writes before
  the answer here, where upstream it runs later in its own thread.
- refusals: the status and Flume's reason, "Bad request from client. <handler message>" for 400s. Jetty
  wraps that reason in an HTML error page, which is not reproduced: the body is the reason as plain text.

Deliberately not implemented: the admin API (port 5080/5081), other sinks, interceptors and name
mappings, and the channel's capacity (503 when full).
"""

from __future__ import annotations

from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_cygnus.handler import Refused, events
from fiware.sandbox.fake_cygnus.sink import persist
from fiware.sandbox.fake_sth import SthStore
from fiware.sandbox.fake_sth.dates import now_ms
from fiware.sandbox.latency import LatencyMiddleware

_ANY_METHOD: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _endpoint(store: SthStore) -> Route:
    async def handle(request: Request) -> Response:
        body = await request.body()
        received = now_ms()
        try:
            found = events(request.method, request.url.path, request.headers.raw, body)
        except Refused as refused:
            return PlainTextResponse(refused.message, status_code=refused.status)
        for event in found:
            persist(store, event, received)
        return Response(status_code=200)

    return Route("/{path:path}", handle, methods=_ANY_METHOD)


def create_app(config: SandboxConfig | None = None, store: SthStore | None = None) -> Starlette:
    """Cygnus writing into ``store``: give it the STH-Comet sandbox's store so STH reads what it got."""
    config = config or SandboxConfig()
    store = store if store is not None else SthStore()
    app = Starlette(
        routes=[_endpoint(store)],
        middleware=[Middleware(LatencyMiddleware, seconds=config.latency_seconds)],
    )
    app.router.redirect_slashes = False
    app.state.store = store
    app.state.config = config
    return app


__all__ = ["create_app"]
