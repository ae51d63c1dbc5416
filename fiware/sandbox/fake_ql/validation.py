"""What connexion 2.14 checks before QuantumLeap's code runs, worded as connexion and jsonschema 4.19
word it (QL ``specification/quantumleap.yml``; connexion ``decorators/validation.py``).

- query parameters, in the operation's order, each against its ``parameters:`` entry: an integer that
  Python's ``int()`` does not read is "Wrong type, expected 'integer' for query parameter 'lastN'";
  ``minimum`` and ``enum`` failures are ``str()`` of jsonschema's ``ValidationError``, which shows the
  whole parameter entry (``pprint.pformat(width=72)``) and the value. A repeated parameter counts
  with its last value (``decorators/uri_parsing.py`` ``resolve_params``). ``limit`` defaults to 10000,
  ``aggrScope`` to ``entity``, ``offset`` to 0.
- the notification body (``definitions/Notification``): not JSON → 400 "Request body is not valid JSON"
  when the ``Content-Type`` is exactly a JSON one, otherwise 415 "Invalid Content-type (<type>),
  expected JSON data" (``is_json_mimetype`` does not strip parameters, so
  ``application/json; charset=utf-8`` with a broken body is a 415); then the first schema error as
  ``<message> - '<path>'`` (``'data' is a required property``, ``'type' is a required property -
  'data.0'``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pprint import pformat
from textwrap import indent
from typing import Any, Final

from starlette.requests import Request

from fiware.sandbox.fake_ql.http import Answer, bad_request, problem


@dataclass(frozen=True)
class Param:
    """A query parameter as the spec declares it; ``entry`` is its ``parameters:`` mapping."""

    name: str
    entry: Mapping[str, object]

    @property
    def integer(self) -> bool:
        return self.entry["type"] == "integer"


def _param(name: str, kind: str, description: str, **rules: object) -> Param:
    return Param(name, {"in": "query", "name": name, "type": kind, **rules, "description": description})


AGGR_METHOD: Final = _param(
    "aggrMethod",
    "string",
    "Optional. The function to apply to the raw data filtered by the query parameters. If not given, "
    "the returned data are the same raw inserted data.",
    enum=["count", "sum", "avg", "min", "max"],
)
AGGR_PERIOD: Final = _param(
    "aggrPeriod",
    "string",
    "Optional. If not defined, the aggregation will apply to all the values contained in the search "
    "result. If defined, the aggregation function will instead be applied N times, once for each "
    "period, and all those results will be considered for the response. For example, a query asking "
    "for the average temperature of an attribute will typically return 1 value. However, with an "
    "aggregationPeriod of day, you get the daily average of the temperature instead (more than one "
    "value assuming you had measurements across many days within the scope of your search result). "
    "aggrPeriod must be accompanied by an aggrMethod, and the aggrMethod will be applied to all the "
    "numeric attributes specified in attrs; the rest of the non-numerical attrs will be ignored. By "
    "default, the response is grouped by entity_id. See aggrScope to create aggregation across entities.",
    enum=["year", "month", "day", "hour", "minute", "second"],
)
AGGR_SCOPE: Final = _param(
    "aggrScope",
    "string",
    "Optional. (This parameter is not yet supported). When the query results cover historical data "
    "for multiple entities instances, you can define the aggregation method to be applied for each "
    "entity instance [entity] or across them [global].",
    enum=["global", "entity"],
    default="entity",
)
OPTIONS: Final = _param(
    "options",
    "string",
    "Optional. (This parameter is not yet supported). Options dictionary to format output. See "
    "definition in NGSIv2 for example here: "
    "https://orioncontextbroker.docs.apiary.io/#reference/entities/list-entities/list-entities",
    enum=["keyValues", "values"],
)
LAST_N: Final = _param(
    "lastN",
    "integer",
    "Optional. Used to request only the last N values that satisfy the request conditions.",
    minimum=1,
)
LIMIT: Final = _param(
    "limit",
    "integer",
    "Optional. Maximum number of results to retrieve in a single response.",
    minimum=1,
    default=10000,
)
OFFSET: Final = _param(
    "offset",
    "integer",
    "Optional. Offset to apply to the response results. For example, if the query was to return 10 "
    "results and you use an offset of 1, the response will return the last 9 values. Make sure you "
    "don't give more offset than the number of results.",
    minimum=0,
)
GEOMETRY: Final = _param(
    "geometry",
    "string",
    "Optional but required if georel is specified. This parameter defines the reference shape to be "
    "used for geographical queries and has the same semantics as in the FIWARE-NGSI v2 Specification. "
    "Full details can be found in the Geographical Queries section of the specification: "
    "http://fiware.github.io/specifications/ngsiv2/stable/.",
    enum=["point", "line", "polygon", "box"],
)


def _plain(name: str) -> Param:
    return Param(name, {"in": "query", "name": name, "type": "string"})


# The parameters of /v2/entities/{entityId}/attrs/{attrName}[/value] and of
# /v2/types/{entityType}/attrs/{attrName}[/value], in the spec's order. georel and coords also have
# patterns upstream; this sandbox refuses geo queries before they would matter.
# The parameters both attribute queries share, in the spec's order (the first violation is reported).
_WINDOW: Final = (
    OPTIONS,
    _plain("fromDate"),
    _plain("toDate"),
    LAST_N,
    LIMIT,
    OFFSET,
    _plain("georel"),
    GEOMETRY,
    _plain("coords"),
)
ENTITY_ATTR: Final = (_plain("type"), AGGR_METHOD, AGGR_PERIOD, *_WINDOW)
TYPE_ATTR: Final = (_plain("id"), AGGR_METHOD, AGGR_PERIOD, AGGR_SCOPE, *_WINDOW, _plain("idPattern"))


def verbose_error(message: str, keyword: str, schema: object, instance: object) -> str:
    """``str(jsonschema.ValidationError)`` for an error at the root of ``schema``."""
    return (
        f"{message}\n\nFailed validating {keyword!r} in schema:\n"
        f"    {indent(pformat(schema, width=72), 4 * ' ').lstrip()}\n\n"
        f"On instance:\n    {indent(pformat(instance, width=72), 4 * ' ').lstrip()}"
    )


def _check(param: Param, raw: str) -> object:
    entry = param.entry
    value: object = raw
    if param.integer:
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"Wrong type, expected 'integer' for query parameter '{param.name}'") from None
    minimum = entry.get("minimum")
    if isinstance(minimum, int) and isinstance(value, int) and value < minimum:
        message = f"{value!r} is less than the minimum of {minimum!r}"
        raise bad_request(verbose_error(message, "minimum", dict(entry), value))
    enum = entry.get("enum")
    if isinstance(enum, list) and value not in enum:
        raise bad_request(verbose_error(f"{value!r} is not one of {enum!r}", "enum", dict(entry), value))
    return value


def query_values(request: Request, params: tuple[Param, ...]) -> dict[str, object]:
    """The query's parameters checked in order, with the spec's defaults filled in (Starlette's ``get``
    answers a repeated parameter's last value, as connexion's URI parser keeps it)."""
    values: dict[str, object] = {}
    for param in params:
        raw = request.query_params.get(param.name)
        if raw is None:
            if "default" in param.entry:
                values[param.name] = param.entry["default"]
            continue
        values[param.name] = _check(param, raw)
    return values


def _is_json_type(content_type: str) -> bool:
    """Flask's ``request.is_json``: the media type without its parameters."""
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _connexion_json_type(content_type: str) -> bool:
    """connexion's ``is_json_mimetype``: the whole header value, parameters and all."""
    parts = content_type.split("/")
    if len(parts) != 2:
        return False
    return parts[0] == "application" and (parts[1] == "json" or parts[1].endswith("+json"))


def notification_body(request: Request, raw: bytes) -> dict[str, Any]:
    """The notification body parsed and checked against ``definitions/Notification``."""
    content_type = request.headers.get("content-type", "")
    data: object = None
    if raw and _is_json_type(content_type):
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
    if data is None and raw:
        if _connexion_json_type(content_type):
            raise bad_request("Request body is not valid JSON")
        detail = f"Invalid Content-type ({content_type}), expected JSON data"
        raise problem(415, "Unsupported Media Type", detail)
    _check_notification(data)
    assert isinstance(data, dict)
    return data


_SCHEMA_TYPES: Final = {"object": dict, "array": list, "string": str}


def _type_error(instance: object, kind: str, path: str) -> Answer | None:
    if isinstance(instance, _SCHEMA_TYPES[kind]):
        return None
    suffix = f" - '{path}'" if path else ""
    return bad_request(f"{instance!r} is not of type {kind!r}{suffix}")


def _check_notification(data: object) -> None:
    """Draft 4 validation in schema order (type, required, properties), the first error only."""
    error = _type_error(data, "object", "")
    if error is not None:
        raise error
    assert isinstance(data, dict)
    if "data" not in data:
        raise bad_request("'data' is a required property")
    if "subscriptionId" in data and (
        error := _type_error(data["subscriptionId"], "string", "subscriptionId")
    ):
        raise error
    if error := _type_error(data["data"], "array", "data"):
        raise error
    for index, entity in enumerate(data["data"]):
        path = f"data.{index}"
        if error := _type_error(entity, "object", path):
            raise error
        for key in ("id", "type"):
            if key not in entity:
                raise bad_request(f"{key!r} is a required property - '{path}'")
        for key in ("type", "id"):
            if error := _type_error(entity[key], "string", f"{path}.{key}"):
                raise error


__all__ = [
    "ENTITY_ATTR",
    "TYPE_ATTR",
    "Param",
    "notification_body",
    "query_values",
    "verbose_error",
]
