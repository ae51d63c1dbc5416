"""The query routes of the QuantumLeap sandbox and their answers: ``query_1T1E1A.py`` and
``query_1TNE1A.py`` of QL 1.0.0 and master (see :mod:`~fiware.sandbox.fake_ql.app` for the rules)."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_ql.http import Answer, QlJsonResponse, query_service, service_path
from fiware.sandbox.fake_ql.query import AggrRefused, Ambiguous, Found, InvalidDate, Query, resolve_type, run
from fiware.sandbox.fake_ql.store import QlStore
from fiware.sandbox.fake_ql.validation import ENTITY_ATTR, TYPE_ATTR, Param, query_values

NO_RECORDS: Final = {"error": "Not Found", "description": "No records were found for such query."}
AGGR_REFUSED: Final = {
    "error": "AggrMethod cannot be applied",
    "description": "AggrMethod cannot be applied on type TEXT and BOOLEAN.",
}
_ERROR_CLASS: Final = "<class 'exceptions.exceptions.{}'>"


def _text(values: dict[str, object], name: str) -> str | None:
    value = values.get(name)
    return value if isinstance(value, str) else None


def _number(values: dict[str, object], name: str) -> int | None:
    value = values.get(name)
    return value if isinstance(value, int) else None


def _checked(request: Request, params: tuple[Param, ...]) -> dict[str, object]:
    """Connexion's checks, then ``_validate_query_params`` and the geo parameters."""
    values = query_values(request, params)
    if _text(values, "aggrPeriod") and not _text(values, "aggrMethod"):
        description = "aggrMethod is compulsory when using aggrPeriod."
        raise Answer(400, {"error": "Bad parameters use", "description": description})
    if _text(values, "options") or _text(values, "aggrScope") not in (None, "entity"):
        description = "aggrScope and options are not yet implemented."
        raise Answer(501, {"error": "Not implemented option", "description": description})
    if any(_text(values, name) for name in ("georel", "geometry", "coords")):
        description = "The QuantumLeap sandbox does not implement geo queries"
        raise Answer(501, {"error": "Not Implemented", "description": description})
    return values


def _query(request: Request, values: dict[str, object]) -> Query:
    return Query(
        attr=request.path_params["attrName"],
        entity_type=None,
        aggr_method=_text(values, "aggrMethod"),
        aggr_period=_text(values, "aggrPeriod"),
        from_date=_text(values, "fromDate"),
        to_date=_text(values, "toDate"),
        last_n=_number(values, "lastN"),
        limit=_number(values, "limit"),
        offset=_number(values, "offset") or 0,
        service=query_service(request),
        service_path=service_path(request),
    )


class QueryRoutes:
    def __init__(self, store: QlStore, config: SandboxConfig) -> None:
        self.store = store
        self.config = config
        master = config.ql_flavor == "master"
        self._id, self._type = ("id", "type") if master else ("entityId", "entityType")

    def _nothing(self) -> Response:
        if self.config.ql_flavor == "master":
            return QlJsonResponse([])
        return QlJsonResponse(NO_RECORDS, status_code=404)

    def _entity_found(self, request: Request, *, value_only: bool) -> Response:
        values = _checked(request, ENTITY_ATTR)
        entity_id = request.path_params["entityId"]
        query = replace(_query(request, values), entity_ids=(entity_id,))
        try:
            # query_1T1E1A passes `type` on; the translator looks the type up when it is empty.
            entity_type = _text(values, "type") or resolve_type(self.store, query, entity_id)
            found = run(self.store, replace(query, entity_type=entity_type), self.config.ql_default_limit)
        except Ambiguous as ambiguous:
            error = {"error": _ERROR_CLASS.format("AmbiguousNGSIIdError"), "description": str(ambiguous)}
            raise Answer(400, error) from None
        except InvalidDate as invalid:
            raise Answer(500, f"Something went wrong with QL. Error: {invalid}") from None
        except AggrRefused:
            raise Answer(404, AGGR_REFUSED) from None
        if not found:
            return self._nothing()
        first = found[0]
        body: dict[str, object] = {self._id: first.id, self._type: first.type, "attrName": query.attr}
        if value_only:
            body = {}
        body["index"] = [] if query.aggr_method and not query.aggr_period else first.index
        body["values"] = first.values
        return QlJsonResponse(body)

    async def entity_attr(self, request: Request) -> Response:
        return self._entity_found(request, value_only=False)

    async def entity_attr_value(self, request: Request) -> Response:
        return self._entity_found(request, value_only=True)

    def _type_found(self, request: Request, *, value_only: bool) -> Response:
        values = _checked(request, TYPE_ATTR)
        raw_ids = _text(values, "id")
        ids = tuple(part.strip() for part in raw_ids.split(",") if part) if raw_ids else None
        entity_type = request.path_params["entityType"]
        query = replace(
            _query(request, values),
            entity_type=entity_type,
            entity_ids=ids or None,
            id_pattern=_text(values, "idPattern") or None,
        )
        try:
            found = run(self.store, query, self.config.ql_default_limit)
        except InvalidDate as invalid:
            body = {"error": _ERROR_CLASS.format("InvalidParameterValue"), "description": str(invalid)}
            raise Answer(422, body) from None
        except AggrRefused:
            raise Answer(404, AGGR_REFUSED) from None
        if not found:
            return self._nothing()
        entries = self._entries(found, query, ids or ())
        if value_only:
            return QlJsonResponse({"values": entries})
        return QlJsonResponse({self._type: entity_type, "attrName": query.attr, "entities": entries})

    def _entries(self, found: list[Found], query: Query, ids: tuple[str, ...]) -> list[dict[str, object]]:
        """``_prepare_response``: the ``id=`` entities first in that order, then the rest by id. Aggregated
        without a period, the listed ones get ``[fromDate or "", toDate or ""]`` as index, the rest ``[]``."""
        whole = bool(query.aggr_method and not query.aggr_period)
        window: list[str] = [query.from_date or "", query.to_date or ""]
        by_id = {entity.id: entity for entity in found}
        entries: list[dict[str, object]] = []
        for entity_id in ids:
            if entity_id in by_id:
                entity = by_id.pop(entity_id)
                entries.append(
                    {self._id: entity_id, "index": window if whole else entity.index, "values": entity.values}
                )
        for entity_id in sorted(by_id):
            entity = by_id[entity_id]
            entries.append(
                {self._id: entity_id, "index": [] if whole else entity.index, "values": entity.values}
            )
        return entries

    async def type_attr(self, request: Request) -> Response:
        return self._type_found(request, value_only=False)

    async def type_attr_value(self, request: Request) -> Response:
        return self._type_found(request, value_only=True)


__all__ = ["AGGR_REFUSED", "NO_RECORDS", "QueryRoutes"]
