"""Query validation of the STH-Comet sandbox: the joi schema of ``sthServer.js`` (non-negative integers,
dates, booleans, the ``aggrMethod`` pattern, the ``aggrPeriod`` choices, ``type`` required in v2, unknown
parameters refused), worded as joi 14 words it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request

from fiware.sandbox.fake_sth.dates import parse_joi_date
from fiware.sandbox.fake_sth.http import Failure, joi_failure


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
    ms = parse_joi_date(raw)
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
class Param:
    name: str
    parse: Callable[[str], object]
    # joi's type error, for a repeated parameter (hapi hands joi an array then).
    base_reason: str
    required: bool = False


# The order is the joi schema's: with abortEarly, the first failing key in this order is reported.
V1_SCHEMA: Final = (
    Param("lastN", _non_negative_integer, "must be a number"),
    Param("hLimit", _non_negative_integer, "must be a number"),
    Param("hOffset", _non_negative_integer, "must be a number"),
    Param("aggrMethod", _aggr_method, "must be a string"),
    Param("aggrPeriod", _aggr_period, "must be a string"),
    Param("dateFrom", _date, _DATE_REASON),
    Param("dateTo", _date, _DATE_REASON),
    Param("filetype", _string, "must be a string"),
    Param("count", _boolean, "must be a boolean"),
)
V2_SCHEMA: Final = (*V1_SCHEMA, Param("type", _string, "must be a string", required=True))


def validate(request: Request, schema: tuple[Param, ...]) -> dict[str, object]:
    """The query's parameters parsed by ``schema``; the first failing key in schema order is reported,
    then the first unknown one."""
    given: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        given.setdefault(key, []).append(value)
    values: dict[str, object] = {}
    for param in schema:
        raws = given.get(param.name)
        if raws is None:
            if param.required:
                raise joi_failure(param.name, "is required")
            continue
        try:
            if len(raws) > 1:
                raise _Invalid(param.base_reason)
            values[param.name] = param.parse(raws[0])
        except _Invalid as invalid:
            raise joi_failure(param.name, str(invalid)) from None
    known = {param.name for param in schema}
    unknown = next((key for key in given if key not in known), None)
    if unknown is not None:
        raise Failure(400, f'"{unknown}" is not allowed', {"source": "query", "keys": [unknown]})
    return values
