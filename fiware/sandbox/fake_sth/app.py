"""STH-Comet sandbox: an in-memory stand-in for STH-Comet's raw-data HTTP API, built rule by rule from
``telefonicaid/fiware-sth-comet`` 2.11 (commit a54984f): its code and unit tests, where they
disagree with its docs.

Implemented:

- routes (``lib/server/sthServer.js``): raw data over v1
  (``/STH/v1/contextEntities/type/{t}/id/{id}/attributes/{a}``) and v2
  (``/STH/v2/entities/{id}/attrs/{a}?type=``), ``POST /notify``, the three ``DELETE`` routes (204 even when
  nothing matched), ``GET /version`` and the ``/{p*}`` not-found handler, which also answers a wrong method
  on a known path.
- the joi schema of ``sthServer.js`` (non-negative integers, dates, booleans, the ``aggrMethod`` pattern,
  the ``aggrPeriod`` choices, ``type`` required in v2, unknown parameters refused), the dispatch and
  ``hLimit <= lastN <= config.maxPageSize`` gate of ``sthGetDataHandler.js`` ``getDataHandler``
  (JavaScript truthiness included), and the three query shapes of ``sthDatabase.js`` ``getRawData``:
  ``lastN`` gives the newest N in ascending order, a truthy ``hOffset``/``hLimit`` gives an ascending
  page, anything else gives every point; ``dateFrom`` and ``dateTo`` are both inclusive.
- mandatory ``Fiware-Service`` and ``Fiware-ServicePath`` (``sthHeaderValidator.js``, on ``/notify``
  too), ``fiware-correlator`` (echoed or a new UUID) and ``fiware-total-count`` (only with
  ``count=true``; the whole date window, whatever the page).
- the v1 ``contextResponses``/``values`` and v2 ``StructuredValue``/``value`` bodies
  (``sthServerUtils.js`` ``getNGSIPayload``; ``doc/manuals/raw-data-retrieval.md`` wrongly shows
  ``values`` for v2), ``recvTime`` as ISO 8601 with milliseconds and ``Z``, values returned as
  received, and 200 with an empty list (never 404) for any unknown service, service path, entity or
  attribute.
- error bodies: NGSIv2 ``{"error","description"}`` on the v2 data route and for 404s under
  ``/STH/v2`` (``sthGetDataHandlerV2.js``, ``sthNotFoundHandler.js``), hapi/boom
  ``{"statusCode","error","message"[,"validation"]}`` everywhere else.
- ``/notify`` (``sthNotificationHandler.js``): NGSIv1 ``contextResponses`` bodies, ``TimeInstant``
  metadata as the stored time when it parses, else the arrival time (``sthUtils.js``
  ``getAttributeTimestamp``), the (time, attrName, attrType) key with a repeated value ignored and a
  different value overwriting, 400 when no attribute is present, 200 with an empty body, and no answer
  at all to a body without a ``contextResponses`` array (an NGSIv2 notification).
- ``maxPageSize`` from ``SandboxConfig.max_page_size`` (default 100, as STH's ``config.js``
  ``server.maxPageSize`` and env ``MAX_PAGE_SIZE``).

Deliberately not implemented:

- aggregated data: a request that dispatches there gets 501 (in the route's error format) rather
  than invented aggregates.
- ``filetype=csv`` downloads: 501 likewise. ``filetype=CSV`` passes the gate but the database
  layer only honours lower case, so upstream (and this sandbox) answers JSON with every point.
- ``GET``/``PUT /admin/log``: the not-found handler answers.
- MongoDB failures (500 ``MongoDB is not connected``), truncation, and the non-default data models.
- JavaScript ``Date.parse`` formats beyond ISO 8601; a date-time without an offset is read as UTC (as a
  server running in UTC does).
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from itertools import pairwise
from operator import itemgetter
from typing import Any, Final, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.latency import LatencyMiddleware

STH_VERSION: Final = "2.11.0"

SERVICE_HEADER: Final = "fiware-service"
SERVICE_PATH_HEADER: Final = "fiware-servicepath"
CORRELATOR_HEADER: Final = "fiware-correlator"
TOTAL_COUNT_HEADER: Final = "fiware-total-count"

# ---------------------------------------------------------------------------------------------------------
# Time: STH keeps JavaScript Dates, so everything is whole milliseconds since the epoch.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_ONE_MS = timedelta(milliseconds=1)
# The range of a JavaScript Date; beyond it `new Date(n)` is an Invalid Date.
_JS_DATE_LIMIT_MS = 8.64e15
_JS_TIMESTAMP = re.compile(r"[+-]?\d+(\.\d+)?")


def _to_ms(moment: datetime) -> int:
    return (moment - (_EPOCH_NAIVE if moment.tzinfo is None else _EPOCH)) // _ONE_MS


def _iso(ms: int) -> str:
    """``Date.prototype.toJSON``: what STH's JSON bodies show for ``recvTime``."""
    return (_EPOCH_NAIVE + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def _parse_iso_date(text: str) -> int | None:
    try:
        return _to_ms(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


def _parse_joi_date(text: str) -> int | None:
    """``joi.date()``: digits are milliseconds since the epoch, anything else a date string."""
    if _JS_TIMESTAMP.fullmatch(text):
        value = float(text)
        return int(value) if abs(value) <= _JS_DATE_LIMIT_MS else None
    return _parse_iso_date(text)


def _now_ms() -> int:
    return _to_ms(datetime.now(UTC))


# ---------------------------------------------------------------------------------------------------------
# Storage


def same_json(left: object, right: object) -> bool:
    """lodash ``_.isEqual`` on JSON values, which STH uses to tell a repeat from an update: unlike
    Python's ``==``, ``true`` is not ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same_json(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return False
    return left == right


SeriesKey = tuple[str, str, str, str, str]
"""(service, service path, entity type, entity id, attribute name): one attribute's raw points."""

Row = tuple[int, str | None, object]
"""(recvTime in ms, attrType, attrValue): what STH's projection returns for one raw point."""


class _Series:
    """One attribute's points sorted by time, as parallel lists so ``bisect`` works on the times.
    Equal times stay in arrival order (MongoDB has no tie-breaker either)."""

    __slots__ = ("times", "types", "values")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.types: list[str | None] = []
        self.values: list[object] = []

    def put(self, ms: int, attr_type: str | None, value: object) -> bool:
        """One point under STH's (recvTime, attrName, attrType) key; False when it was already there."""
        times = self.times
        if not times or ms > times[-1]:
            self._insert(len(times), ms, attr_type, value)
            return True
        end = bisect_right(times, ms)
        for index in range(bisect_left(times, ms), end):
            if self.types[index] == attr_type:
                if same_json(self.values[index], value):
                    return False
                self.values[index] = value
                return True
        self._insert(end, ms, attr_type, value)
        return True

    def append_later(self, attr_type: str | None, points: list[tuple[int, object]]) -> int:
        """Sorted points all later than the stored ones: the common seeding case, kept cheap."""
        times = [ms for ms, _ in points]
        if all(earlier < later for earlier, later in pairwise(times)):
            self.times.extend(times)
            self.types.extend([attr_type] * len(points))
            self.values.extend(value for _, value in points)
            return len(points)
        return sum(self.put(ms, attr_type, value) for ms, value in points)

    def merge(self, attr_type: str | None, points: list[tuple[int, object]]) -> int:
        """Many points that interleave with the stored ones: a rebuild, because inserting each one into
        the middle of the lists would be quadratic."""
        slots: dict[tuple[int, str | None], object] = dict(
            zip(zip(self.times, self.types, strict=True), self.values, strict=True)
        )
        stored = 0
        for ms, value in points:
            key = (ms, attr_type)
            if key in slots and same_json(slots[key], value):
                continue
            slots[key] = value
            stored += 1
        ordered = sorted(slots.items(), key=lambda item: item[0][0])
        self.times = [ms for (ms, _), _ in ordered]
        self.types = [kind for (_, kind), _ in ordered]
        self.values = [value for _, value in ordered]
        return stored

    def window(self, date_from: int | None, date_to: int | None) -> tuple[int, int]:
        """Index bounds of the points with ``dateFrom <= recvTime <= dateTo`` (``$gte``/``$lte``)."""
        lo = 0 if date_from is None else bisect_left(self.times, date_from)
        hi = len(self.times) if date_to is None else bisect_right(self.times, date_to)
        return lo, max(lo, hi)

    def rows(self, start: int, stop: int) -> list[Row]:
        return list(zip(self.times[start:stop], self.types[start:stop], self.values[start:stop], strict=True))

    def _insert(self, index: int, ms: int, attr_type: str | None, value: object) -> None:
        self.times.insert(index, ms)
        self.types.insert(index, attr_type)
        self.values.insert(index, value)


class SthStore:
    """In-memory raw data, per (service, servicePath, entityType, entityId, attrName).

    Thread-safe: tests and benchmarks seed it from their own thread while the server reads it."""

    def __init__(self) -> None:
        self._series: dict[SeriesKey, _Series] = {}
        self._lock = threading.Lock()

    def add_points(
        self,
        *,
        service: str,
        service_path: str,
        entity_type: str,
        entity_id: str,
        attr_name: str,
        attr_type: str,
        points: Iterable[tuple[datetime, object]],
    ) -> int:
        """Seed points as if notified, with the same keying; returns how many were stored (new or
        overwritten). Naive datetimes are UTC; precision is cut to milliseconds, as in STH."""
        batch = sorted(((_to_ms(moment), value) for moment, value in points), key=itemgetter(0))
        if not batch:
            return 0
        key = (service, service_path, entity_type, entity_id, attr_name)
        with self._lock:
            series = self._series.setdefault(key, _Series())
            if series.times and batch[0][0] <= series.times[-1]:
                return series.merge(attr_type, batch)
            return series.append_later(attr_type, batch)

    def count(
        self, *, service: str, service_path: str, entity_type: str, entity_id: str, attr_name: str
    ) -> int:
        with self._lock:
            series = self._series.get((service, service_path, entity_type, entity_id, attr_name))
            return len(series.times) if series else 0

    def put(self, key: SeriesKey, ms: int, attr_type: str | None, value: object) -> bool:
        """One notified point; False when STH would ignore it as already registered."""
        with self._lock:
            return self._series.setdefault(key, _Series()).put(ms, attr_type, value)

    def read(
        self,
        key: SeriesKey,
        *,
        date_from: int | None,
        date_to: int | None,
        select: Callable[[int, int], tuple[int, int]],
    ) -> tuple[int, list[Row]]:
        """The number of points in the date window, and the rows ``select`` picks from its bounds."""
        with self._lock:
            series = self._series.get(key)
            if series is None:
                return 0, []
            lo, hi = series.window(date_from, date_to)
            start, stop = select(lo, hi)
            return hi - lo, series.rows(start, stop)

    def remove(
        self,
        *,
        service: str,
        service_path: str,
        entity_type: str | None = None,
        entity_id: str | None = None,
        attr_name: str | None = None,
    ) -> None:
        """Drop a tenant's data, narrowed to an entity and then to one of its attributes."""
        wanted = (service, service_path, entity_type, entity_id, attr_name)
        with self._lock:
            for key in [key for key in self._series if _covers(wanted, key)]:
                del self._series[key]


def _covers(wanted: tuple[str | None, ...], key: SeriesKey) -> bool:
    return all(part is None or part == actual for part, actual in zip(wanted, key, strict=True))


# ---------------------------------------------------------------------------------------------------------
# Refusals, and STH's two error formats (NGSIv2 on the v2 data route, hapi/boom elsewhere)


class _Failure(Exception):
    """A refusal; rendered by the route's dialect (NGSIv2 for the v2 data route, hapi/boom elsewhere)."""

    def __init__(self, status: int, message: str, validation: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        # hapi's `validation` member: which request part failed, and which keys.
        self.validation = validation


class _JsonResponse(JSONResponse):
    media_type = "application/json; charset=utf-8"  # hapi's default for object payloads


def _hapi_body(failure: _Failure) -> dict[str, object]:
    body: dict[str, object] = {
        "statusCode": failure.status,
        "error": HTTPStatus(failure.status).phrase,
        "message": failure.message,
    }
    if failure.validation is not None:
        body["validation"] = dict(failure.validation)
    return body


def _ngsi_v2_body(failure: _Failure) -> dict[str, object]:
    # sthGetDataHandlerV2 removes only the first space of boom's error name ("InternalServer Error").
    return {"error": HTTPStatus(failure.status).phrase.replace(" ", "", 1), "description": failure.message}


def _failure_response(failure: _Failure, *, ngsi_v2: bool) -> Response:
    body = _ngsi_v2_body(failure) if ngsi_v2 else _hapi_body(failure)
    return _JsonResponse(body, status_code=failure.status)


_QUERY_KEYS: Final = ("lastN", "hLimit", "hOffset", "filetype", "aggrMethod", "aggrPeriod", "count")


def _query_failure(message: str) -> _Failure:
    return _Failure(400, message, {"source": "query", "keys": _QUERY_KEYS})


def _joi_failure(key: str, reason: str) -> _Failure:
    return _Failure(
        400, f'child "{key}" fails because ["{key}" {reason}]', {"source": "query", "keys": [key]}
    )


def _correlator(request: Request) -> str:
    return request.headers.get(CORRELATOR_HEADER) or str(uuid.uuid4())


def _tenant(request: Request) -> tuple[str, str]:
    """sthHeaderValidator: an empty header counts as missing (it tests truthiness)."""
    for name in (SERVICE_HEADER, SERVICE_PATH_HEADER):
        if not request.headers.get(name):
            raise _Failure(
                400, f'child "{name}" fails because [{name} is required]', {"source": "headers", "keys": []}
            )
    return request.headers[SERVICE_HEADER], request.headers[SERVICE_PATH_HEADER]


# ---------------------------------------------------------------------------------------------------------
# Query validation (the joi schema of sthServer.js), worded as joi 14 words it


class _Invalid(Exception):
    """A joi rule failed; the argument is joi's reason, e.g. ``must be a number``."""


_JS_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_MAX_SAFE_INTEGER = 2**53 - 1
_AGGR_METHOD = re.compile(r"^(min|max|sum|sum2|occur|all)(,(min|max|sum|sum2|occur|all))*$")
_AGGR_PERIODS = ("month", "day", "hour", "minute", "second")
_DATE_REASON = "must be a number of milliseconds or valid date string"


def _non_negative_integer(raw: str) -> int:
    """``joi.number().integer().greater(-1)``, with joi's string conversion."""
    value = float(raw) if _JS_NUMBER.fullmatch(raw) else math.nan
    if not math.isfinite(value):
        raise _Invalid("must be a number")
    if not value.is_integer() or abs(value) > _MAX_SAFE_INTEGER:
        raise _Invalid("must be an integer")
    if value <= -1:
        raise _Invalid("must be greater than -1")
    return int(value)


def _string(raw: str) -> str:
    if raw == "":
        raise _Invalid("is not allowed to be empty")
    return raw


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise _Invalid("must be a boolean")
    return lowered == "true"


def _date(raw: str) -> int:
    ms = _parse_joi_date(raw)
    if ms is None:
        raise _Invalid(_DATE_REASON)
    return ms


def _aggr_method(raw: str) -> str:
    value = _string(raw)
    if not _AGGR_METHOD.search(value):
        raise _Invalid(f'with value "{value}" fails to match the required pattern: /{_AGGR_METHOD.pattern}/')
    return value


def _aggr_period(raw: str) -> str:
    value = _string(raw)
    if value not in _AGGR_PERIODS:
        raise _Invalid(f"must be one of [{', '.join(_AGGR_PERIODS)}]")
    return value


@dataclass(frozen=True)
class _Param:
    name: str
    parse: Callable[[str], object]
    # joi's type error, for a repeated parameter (hapi hands joi an array then).
    base_reason: str
    required: bool = False


# The order is the joi schema's: with abortEarly, the first failing key in this order is reported.
_V1_SCHEMA: Final = (
    _Param("lastN", _non_negative_integer, "must be a number"),
    _Param("hLimit", _non_negative_integer, "must be a number"),
    _Param("hOffset", _non_negative_integer, "must be a number"),
    _Param("aggrMethod", _aggr_method, "must be a string"),
    _Param("aggrPeriod", _aggr_period, "must be a string"),
    _Param("dateFrom", _date, _DATE_REASON),
    _Param("dateTo", _date, _DATE_REASON),
    _Param("filetype", _string, "must be a string"),
    _Param("count", _boolean, "must be a boolean"),
)
_V2_SCHEMA: Final = (*_V1_SCHEMA, _Param("type", _string, "must be a string", required=True))

_T = TypeVar("_T")


def _validate(request: Request, schema: tuple[_Param, ...]) -> dict[str, object]:
    given: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        given.setdefault(key, []).append(value)
    values: dict[str, object] = {}
    for param in schema:
        raws = given.get(param.name)
        if raws is None:
            if param.required:
                raise _joi_failure(param.name, "is required")
            continue
        try:
            if len(raws) > 1:
                raise _Invalid(param.base_reason)
            values[param.name] = param.parse(raws[0])
        except _Invalid as invalid:
            raise _joi_failure(param.name, str(invalid)) from None
    known = {param.name for param in schema}
    unknown = next((key for key in given if key not in known), None)
    if unknown is not None:
        raise _Failure(400, f'"{unknown}" is not allowed', {"source": "query", "keys": [unknown]})
    return values


def _typed(values: Mapping[str, object], name: str, kind: type[_T]) -> _T | None:
    value = values.get(name)
    return value if isinstance(value, kind) else None


@dataclass(frozen=True)
class _DataQuery:
    last_n: int | None
    h_limit: int | None
    h_offset: int | None
    date_from: int | None
    date_to: int | None
    filetype: str | None
    count: bool
    aggr_method: str | None
    aggr_period: str | None
    entity_type: str | None

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> _DataQuery:
        return cls(
            last_n=_typed(values, "lastN", int),
            h_limit=_typed(values, "hLimit", int),
            h_offset=_typed(values, "hOffset", int),
            date_from=_typed(values, "dateFrom", int),
            date_to=_typed(values, "dateTo", int),
            filetype=_typed(values, "filetype", str),
            count=_typed(values, "count", bool) is True,
            aggr_method=_typed(values, "aggrMethod", str),
            aggr_period=_typed(values, "aggrPeriod", str),
            entity_type=_typed(values, "type", str),
        )

    def admit_raw(self, max_page_size: int) -> None:
        """getDataHandler's dispatch, raising unless the request is for raw data this sandbox serves."""
        if not self._wants_raw():
            if self.aggr_method and self.aggr_period:
                raise _Failure(501, "The STH sandbox does not implement aggregated data")
            raise _query_failure(
                "A combination of the following query params is required: lastN, hLimit and hOffset, "
                "filetype, or aggrMethod and aggrPeriod"
            )
        self._check_page_size(max_page_size)
        # Only the exact lower-case value reaches the CSV writer upstream.
        if self.filetype == "csv":
            raise _Failure(501, "The STH sandbox does not implement filetype=csv")

    def _wants_raw(self) -> bool:
        """0 counts as present here, unlike in the page-size rule."""
        paged = self.h_limit is not None and self.h_offset is not None
        csv = self.filetype is not None and self.filetype.lower() == "csv"
        return self.last_n is not None or paged or csv

    def _check_page_size(self, max_page_size: int) -> None:
        """``hLimit <= lastN <= config.maxPageSize``, tested with JavaScript truthiness like upstream, so
        ``lastN=0`` or ``hLimit=0`` skip their part of the rule."""
        last_n, h_limit = self.last_n or 0, self.h_limit or 0
        too_big = last_n > max_page_size or h_limit > max_page_size
        if too_big or (h_limit and last_n and h_limit > last_n):
            raise _query_failure("hLimit <= lastN <= config.maxPageSize")

    def select(self, lo: int, hi: int) -> tuple[int, int]:
        """getRawData's three shapes over the ascending date window ``[lo, hi)``. MongoDB's
        ``limit(0)`` means no limit, hence ``lastN=0`` and ``hLimit=0`` return everything."""
        if self.last_n is not None:
            return (max(lo, hi - self.last_n) if self.last_n else lo), hi
        if self.h_offset or self.h_limit:
            start = min(lo + (self.h_offset or 0), hi)
            return start, (min(start + self.h_limit, hi) if self.h_limit else hi)
        return lo, hi


# ---------------------------------------------------------------------------------------------------------
# Bodies (sthServerUtils.getNGSIPayload)


def _points(rows: list[Row]) -> list[dict[str, object]]:
    return [{"recvTime": _iso(ms), "attrType": kind, "attrValue": value} for ms, kind, value in rows]


def _v2_body(points: list[dict[str, object]]) -> dict[str, object]:
    return {"type": "StructuredValue", "value": points}


def _v1_body(
    entity_type: str, entity_id: str, attr_name: str, points: list[dict[str, object]]
) -> dict[str, object]:
    element = {
        "attributes": [{"name": attr_name, "values": points}],
        "id": entity_id,
        "isPattern": False,
        "type": entity_type,
    }
    status = {"code": "200", "reasonPhrase": "OK"}
    return {"contextResponses": [{"contextElement": element, "statusCode": status}]}


# ---------------------------------------------------------------------------------------------------------
# Notifications (sthNotificationHandler.js)


def _time_instant(attribute: Mapping[str, object]) -> int | None:
    """getAttributeTimestamp: the first ``TimeInstant`` metadata, when its value parses as a date."""
    metadatas = attribute.get("metadatas")
    if not isinstance(metadatas, list):
        return None
    for metadata in metadatas:
        if isinstance(metadata, dict) and metadata.get("name") == "TimeInstant":
            value = metadata.get("value")
            return _parse_iso_date(value) if isinstance(value, str) else None
    return None


def _attribute_lists(context_responses: list[Any]) -> list[tuple[dict[str, Any], list[Any]]]:
    """Each context element with its ``attributes`` array; other entries are skipped, as upstream."""
    found = []
    for response in context_responses:
        element = response.get("contextElement") if isinstance(response, dict) else None
        if isinstance(element, dict) and isinstance(element.get("attributes"), list):
            found.append((element, element["attributes"]))
    return found


def _store_attribute(
    store: SthStore, tenant: tuple[str, str], element: Mapping[str, Any], attribute: object, arrival: int
) -> None:
    if not isinstance(attribute, dict):
        return
    entity_type, entity_id, name = element.get("type"), element.get("id"), attribute.get("name")
    attr_type = attribute.get("type")
    # Upstream would file such a point under a collection named after `undefined`, where no query of a
    # real entity can reach it; dropping it is the observable equivalent.
    if not (isinstance(entity_type, str) and isinstance(entity_id, str) and isinstance(name, str)):
        return
    if attr_type is not None and not isinstance(attr_type, str):
        return
    ms = _time_instant(attribute)
    key = (*tenant, entity_type, entity_id, name)
    store.put(key, arrival if ms is None else ms, attr_type, attribute.get("value"))


_NO_ATTRIBUTES: Final = (
    "At least one attribute with an aggregatable value should be included in the notification"
)


def _parse_payload(body: bytes) -> object:
    if not body:
        return None  # hapi hands an empty payload to the handler as null
    try:
        return json.loads(body)
    except ValueError:
        raise _Failure(400, "Invalid request payload JSON format") from None


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _NotifyEndpoint:
    """``POST /notify``. Raw ASGI, because for a body without ``contextResponses`` STH's handler returns
    without calling ``reply()``: the sender (Orion) waits until its own timeout."""

    def __init__(self, store: SthStore) -> None:
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = self._handle(request, await request.body())
        except _Failure as failure:
            response = _failure_response(failure, ngsi_v2=False)
        if response is None:
            await _wait_for_disconnect(receive)
            return
        await response(scope, receive, send)

    def _handle(self, request: Request, body: bytes) -> Response | None:
        # hapi parses the payload before it validates headers, hence this order.
        payload = _parse_payload(body)
        tenant = _tenant(request)
        responses = payload.get("contextResponses") if isinstance(payload, dict) else None
        if not isinstance(responses, list):
            return None
        elements = _attribute_lists(responses)
        if not any(attributes for _, attributes in elements):
            raise _Failure(400, _NO_ATTRIBUTES, {"source": "payload", "keys": ["attributes"]})
        arrival = _now_ms()
        for element, attributes in elements:
            for attribute in attributes:
                _store_attribute(self.store, tenant, element, attribute, arrival)
        return Response(status_code=200, headers={CORRELATOR_HEADER: _correlator(request)})


# ---------------------------------------------------------------------------------------------------------
# Routes


class _SthApi:
    def __init__(self, store: SthStore, config: SandboxConfig) -> None:
        self.store = store
        self.config = config

    async def data_v1(self, request: Request) -> Response:
        try:
            return self._data(request, _V1_SCHEMA, request.path_params["entityType"], ngsi_v2=False)
        except _Failure as failure:
            return _failure_response(failure, ngsi_v2=False)

    async def data_v2(self, request: Request) -> Response:
        try:
            return self._data(request, _V2_SCHEMA, None, ngsi_v2=True)
        except _Failure as failure:
            return _failure_response(failure, ngsi_v2=True)

    def _data(
        self, request: Request, schema: tuple[_Param, ...], path_type: str | None, *, ngsi_v2: bool
    ) -> Response:
        # hapi validates headers before the query.
        service, service_path = _tenant(request)
        query = _DataQuery.from_values(_validate(request, schema))
        query.admit_raw(self.config.max_page_size)
        entity_type = path_type if path_type is not None else query.entity_type or ""
        entity_id, attr_name = request.path_params["entityId"], request.path_params["attrName"]
        total, rows = self.store.read(
            (service, service_path, entity_type, entity_id, attr_name),
            date_from=query.date_from,
            date_to=query.date_to,
            select=query.select,
        )
        points = _points(rows)
        body = _v2_body(points) if ngsi_v2 else _v1_body(entity_type, entity_id, attr_name, points)
        headers = {CORRELATOR_HEADER: _correlator(request)}
        if query.count:
            headers[TOTAL_COUNT_HEADER] = str(total)
        return _JsonResponse(body, headers=headers)

    async def remove(self, request: Request) -> Response:
        try:
            service, service_path = _tenant(request)
        except _Failure as failure:
            return _failure_response(failure, ngsi_v2=False)
        params = request.path_params
        self.store.remove(
            service=service,
            service_path=service_path,
            entity_type=params.get("entityType"),
            entity_id=params.get("entityId"),
            attr_name=params.get("attrName"),
        )
        return Response(status_code=204, headers={CORRELATOR_HEADER: _correlator(request)})

    async def version(self, request: Request) -> Response:
        return _JsonResponse({"version": STH_VERSION})

    async def not_found(self, request: Request) -> Response:
        if request.url.path.startswith("/STH/v2"):
            body: dict[str, object] = {"error": "NotFound", "description": "invalid path"}
        else:
            body = {"statusCode": 404, "error": "Not Found"}
        return _JsonResponse(body, status_code=404, headers={CORRELATOR_HEADER: _correlator(request)})


_ANY_METHOD: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_V1_ATTRIBUTE: Final = "/STH/v1/contextEntities/type/{entityType}/id/{entityId}/attributes/{attrName}"


def _routes(api: _SthApi) -> list[Route]:
    return [
        Route(_V1_ATTRIBUTE, api.data_v1, methods=["GET"]),
        Route("/STH/v2/entities/{entityId}/attrs/{attrName}", api.data_v2, methods=["GET"]),
        Route("/notify", _NotifyEndpoint(api.store), methods=["POST"]),
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


__all__ = [
    "CORRELATOR_HEADER",
    "SERVICE_HEADER",
    "SERVICE_PATH_HEADER",
    "STH_VERSION",
    "TOTAL_COUNT_HEADER",
    "SthStore",
    "create_app",
    "same_json",
]
