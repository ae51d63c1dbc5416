"""STH-Comet sandbox: an in-memory stand-in for STH-Comet's raw-data HTTP API, built rule by rule from
``telefonicaid/fiware-sth-comet`` 2.11 (commit a54984f): its code and unit tests, where they
disagree with its docs. This module holds the routes and the app; ``http`` the headers and error
formats, ``validation`` the joi schema, ``query`` the dispatch and the query shapes, ``bodies`` the
answers, ``notifications`` ``POST /notify``, ``store`` the points and ``dates`` the time rules.

- routes (``lib/server/sthServer.js``): raw data over v1
  (``/STH/v1/contextEntities/type/{t}/id/{id}/attributes/{a}``) and v2
  (``/STH/v2/entities/{id}/attrs/{a}?type=``), ``POST /notify``, the three ``DELETE`` routes (204 even when
  nothing matched), ``GET /version`` and the ``/{p*}`` not-found handler, which also answers a wrong method
  on a known path.
- 200 with an empty list (never 404) for any unknown service, service path, entity or attribute.

Deliberately not implemented: ``GET``/``PUT /admin/log`` (the not-found handler answers).
"""

from __future__ import annotations

from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_sth.bodies import point_bodies, v1_body, v2_body
from fiware.sandbox.fake_sth.http import (
    CORRELATOR_HEADER,
    TOTAL_COUNT_HEADER,
    Failure,
    SthJsonResponse,
    correlator,
    failure_response,
    tenant_of,
)
from fiware.sandbox.fake_sth.notifications import NotifyEndpoint
from fiware.sandbox.fake_sth.query import DataQuery
from fiware.sandbox.fake_sth.store import SthStore
from fiware.sandbox.fake_sth.validation import V1_SCHEMA, V2_SCHEMA, Param, validate
from fiware.sandbox.latency import LatencyMiddleware

STH_VERSION: Final = "2.11.0"


class _SthApi:
    def __init__(self, store: SthStore, config: SandboxConfig) -> None:
        self.store = store
        self.config = config

    async def data_v1(self, request: Request) -> Response:
        try:
            return self._data(request, V1_SCHEMA, request.path_params["entityType"], ngsi_v2=False)
        except Failure as failure:
            return failure_response(failure, ngsi_v2=False)

    async def data_v2(self, request: Request) -> Response:
        try:
            return self._data(request, V2_SCHEMA, None, ngsi_v2=True)
        except Failure as failure:
            return failure_response(failure, ngsi_v2=True)

    def _data(
        self, request: Request, schema: tuple[Param, ...], path_type: str | None, *, ngsi_v2: bool
    ) -> Response:
        # hapi validates headers before the query.
        service, service_path = tenant_of(request)
        query = DataQuery.from_values(validate(request, schema))
        query.admit_raw(self.config.max_page_size)
        entity_type = path_type if path_type is not None else query.entity_type or ""
        entity_id, attr_name = request.path_params["entityId"], request.path_params["attrName"]
        total, rows = self.store.read(
            (service, service_path, entity_type, entity_id, attr_name),
            date_from=query.date_from,
            date_to=query.date_to,
            select=query.select,
        )
        points = point_bodies(rows)
        body = v2_body(points) if ngsi_v2 else v1_body(entity_type, entity_id, attr_name, points)
        headers = {CORRELATOR_HEADER: correlator(request)}
        if query.count:
            headers[TOTAL_COUNT_HEADER] = str(total)
        return SthJsonResponse(body, headers=headers)

    async def remove(self, request: Request) -> Response:
        try:
            service, service_path = tenant_of(request)
        except Failure as failure:
            return failure_response(failure, ngsi_v2=False)
        params = request.path_params
        self.store.remove(
            service=service,
            service_path=service_path,
            entity_type=params.get("entityType"),
            entity_id=params.get("entityId"),
            attr_name=params.get("attrName"),
        )
        return Response(status_code=204, headers={CORRELATOR_HEADER: correlator(request)})

    async def version(self, request: Request) -> Response:
        return SthJsonResponse({"version": STH_VERSION})

    async def not_found(self, request: Request) -> Response:
        if request.url.path.startswith("/STH/v2"):
            body: dict[str, object] = {"error": "NotFound", "description": "invalid path"}
        else:
            body = {"statusCode": 404, "error": "Not Found"}
        return SthJsonResponse(body, status_code=404, headers={CORRELATOR_HEADER: correlator(request)})


_ANY_METHOD: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_V1_ATTRIBUTE: Final = "/STH/v1/contextEntities/type/{entityType}/id/{entityId}/attributes/{attrName}"


def _routes(api: _SthApi) -> list[Route]:
    return [
        Route(_V1_ATTRIBUTE, api.data_v1, methods=["GET"]),
        Route("/STH/v2/entities/{entityId}/attrs/{attrName}", api.data_v2, methods=["GET"]),
        Route("/notify", NotifyEndpoint(api.store), methods=["POST"]),
        Route("/STH/v1/contextEntities", api.remove, methods=["DELETE"]),
        Route("/STH/v1/contextEntities/type/{entityType}/id/{entityId}", api.remove, methods=["DELETE"]),
        Route(_V1_ATTRIBUTE, api.remove, methods=["DELETE"]),
        Route("/version", api.version, methods=["GET"]),
        # hapi's `* /{p*}`: a full match for every method, so a wrong method on a known path is a 404
        # here too, not Starlette's 405.
        Route("/{path:path}", api.not_found, methods=_ANY_METHOD),
    ]


def create_app(config: SandboxConfig | None = None, store: SthStore | None = None) -> Starlette:
    config = config or SandboxConfig()
    store = store if store is not None else SthStore()
    app = Starlette(
        routes=_routes(_SthApi(store, config)),
        middleware=[Middleware(LatencyMiddleware, seconds=config.latency_seconds)],
    )
    app.state.store = store
    app.state.config = config
    return app
