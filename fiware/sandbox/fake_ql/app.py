"""QuantumLeap stand-in: the NGSI v2 time-series API of ``orchestracities/ngsi-timeseries-api`` that Chronos
uses, in memory, built rule by rule from its code, tests and spec at tag 1.0.0 (commit f8fd27b) and,
with ``config.ql_flavor="master"``, at master (1.0.1-dev, commit b0b3f8e), and from a real run of both on
PostgreSQL. This module holds the meta routes and the app; ``routes`` the query routes, ``http`` the
answers and headers, ``validation`` connexion's checks, ``notify`` ``POST /v2/notify``, ``timex`` the
time index, ``query`` the query engine, ``store`` the tables, ``columns`` the column types and casts
and ``dates`` the time rules.

- routes: ``POST /v2/notify``; ``GET /v2/entities/{entityId}/attrs/{attrName}`` and ``…/value``
  (``query_1T1E1A.py``); ``GET /v2/types/{entityType}/attrs/{attrName}`` and ``…/value``
  (``query_1TNE1A.py``: one LIMIT for the whole type, entities in ``id=`` order, then by id); ``GET
  /version``, ``GET /health`` (``Cache-Control: max-age=180``), ``GET /v2/`` (the URL map).
- flavours: 1.0.0 answers ``entityId``/``entityType`` and, when nothing matches, 404
  ``{"error":"Not Found","description":"No records were found for such query."}``; master answers
  ``id``/``type`` and 200 ``[]`` (QLm ``RELEASE_NOTES.md`` 1.0.1, ``test_1T1E1A.py::test_not_found``).
- QL's own refusals (``reporter.py`` ``_validate_query_params``): ``aggrPeriod`` without ``aggrMethod``
  → 400 "Bad parameters use"; any ``options``, or ``aggrScope`` other than ``entity`` → 501 "Not
  implemented option"; an entity id under two types without ``type`` → 400 ``AmbiguousNGSIIdError``; an
  aggregate the column has none of → 404 "AggrMethod cannot be applied"; an unreadable ``fromDate`` or
  ``toDate`` → 500 JSON string on ``/v2/entities/…`` and 422 on ``/v2/types/…``.
- the attribute in the path matches its column case-insensitively; the answer echoes it as asked.
- ``DEFAULT_LIMIT`` is ``config.ql_default_limit``.

Deliberately not implemented: the other query routes (``/v2/entities``, ``/v2/entities/{id}``,
``/v2/types/{type}``, ``/v2/attrs``, ``/v2/op/query``), ``DELETE``, geo queries (501), the work queue
and the CrateDB backend's differences; ``/health`` always passes.
"""

from __future__ import annotations

from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_ql.http import Answer, QlJsonResponse, on_answer, on_http_error
from fiware.sandbox.fake_ql.notify import NotifyEndpoint
from fiware.sandbox.fake_ql.routes import QueryRoutes
from fiware.sandbox.fake_ql.store import QlStore
from fiware.sandbox.latency import LatencyMiddleware

QL_VERSIONS: Final = {"1.0.0": "1.0.0", "master": "1.0.1-dev"}
API_URLS: Final = {
    "notify_url": "/v2/notify",
    "subscriptions_url": "/v2/subscriptions",
    "entities_url": "/v2/entities",
    "types_url": "/v2/types",
    "attributes_url": "/v2/attrs",
}


def _meta_routes(config: SandboxConfig) -> list[Route]:
    async def version(request: Request) -> Response:
        return QlJsonResponse({"version": QL_VERSIONS[config.ql_flavor]})

    async def health(request: Request) -> Response:
        return QlJsonResponse({"status": "pass"}, headers={"Cache-Control": "max-age=180"})

    async def api_list(request: Request) -> Response:
        return QlJsonResponse(API_URLS)

    return [
        Route("/version", version, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/v2/", api_list, methods=["GET"]),
    ]


def create_app(config: SandboxConfig | None = None, store: QlStore | None = None) -> Starlette:
    config = config or SandboxConfig()
    store = store if store is not None else QlStore()
    queries = QueryRoutes(store, config)
    entity_attr = "/v2/entities/{entityId}/attrs/{attrName}"
    type_attr = "/v2/types/{entityType}/attrs/{attrName}"
    routes = [
        Route("/v2/notify", NotifyEndpoint(store).notify, methods=["POST"]),
        Route(entity_attr, queries.entity_attr, methods=["GET"]),
        Route(f"{entity_attr}/value", queries.entity_attr_value, methods=["GET"]),
        Route(type_attr, queries.type_attr, methods=["GET"]),
        Route(f"{type_attr}/value", queries.type_attr_value, methods=["GET"]),
        *_meta_routes(config),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(LatencyMiddleware, seconds=config.latency_seconds)],
        exception_handlers={Answer: on_answer, 404: on_http_error, 405: on_http_error},
    )
    app.router.redirect_slashes = False
    app.state.store = store
    app.state.config = config
    return app


__all__ = ["API_URLS", "QL_VERSIONS", "create_app"]
