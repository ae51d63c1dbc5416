"""The query engine of the QuantumLeap sandbox: ``SQLTranslator.query`` (QL
``src/translators/sql_translator.py``) over the in-memory tables, for one attribute.

- type: without one, the entity id's type is looked up in every table of the tenant; none → no
  records; more than one → ``AmbiguousNGSIIdError`` (``_get_entity_type``).
- filters (``_get_where_clause``): ``entity_id in (…)``; ``idPattern`` as ``entity_id ~* '<p>($|.*)'``;
  ``fromDate <= time_index <= toDate`` (inclusive; an unreadable date raises ``InvalidParameterValue``
  naming ``**fromDate** or **toDate**``); ``Fiware-ServicePath`` as a case-insensitive, unanchored regular
  expression: ``/`` is ``'/.*'`` (every path), ``/p`` is ``'/p($|/.*)'`` (``/p`` and below, ``/P`` too).
- order and paging: ``ORDER BY time_index`` ascending, descending with ``lastN``, then
  ``LIMIT min(lastN, limit, DEFAULT_LIMIT) OFFSET offset``; a ``lastN`` answer is turned back to
  ascending (``_format_response``), so ``lastN`` with ``offset`` skips the newest ``offset`` rows. The
  cap is silent. Ties keep insertion order, reversed by ``lastN``'s descending pass (the database
  gives ties no order).
- aggregation (``_get_select_clause``, ``_get_order_group_clause``): ``GROUP BY entity_type,
  entity_id`` (and ``DATE_TRUNC(aggrPeriod, time_index)``, ordered ascending, or descending with
  ``lastN``); the limit and offset count groups, so ``aggrMethod=avg&lastN=2`` averages the whole window.
  Aggregates skip NULLs; ``count`` counts the non-NULL values.
- no table, or no column of that name (a database error QL logs and swallows): no records.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from fiware.sandbox.fake_ql.columns import AGGREGATES, Kind, render_value
from fiware.sandbox.fake_ql.dates import parse_query_date, render, truncate
from fiware.sandbox.fake_ql.store import Column, QlStore, Row

AGGR_REFUSED: Final = "AggrMethod cannot be applied"


class Ambiguous(Exception):
    """QL's ``AmbiguousNGSIIdError``."""

    def __init__(self, entity_id: str) -> None:
        super().__init__(
            f"There are multiple entities with the given entity_id {entity_id}. Please specify entity_type."
        )


class InvalidDate(Exception):
    """QL's ``InvalidParameterValue`` for ``fromDate``/``toDate``."""

    def __init__(self, value: str) -> None:
        super().__init__(
            f"The parameter value '{value}' for parameter **fromDate** or **toDate** is not valid."
        )


class AggrRefused(Exception):
    """The database has no such aggregate for the column's type (SQLSTATE 42883)."""


@dataclass(frozen=True)
class Query:
    attr: str
    entity_type: str | None
    entity_ids: tuple[str, ...] | None = None
    id_pattern: str | None = None
    aggr_method: str | None = None
    aggr_period: str | None = None
    from_date: str | None = None
    to_date: str | None = None
    last_n: int | None = None
    limit: int | None = 10000
    offset: int = 0
    service: str | None = None
    service_path: str = "/"


@dataclass
class Found:
    """One entity of the answer: its time index (empty when aggregated without a period) and values."""

    id: str
    type: str
    index: list[str] = field(default_factory=list)
    values: list[object] = field(default_factory=list)


def _limit(query: Query, default_limit: int) -> int:
    limit = default_limit if query.limit is None or query.limit > default_limit else query.limit
    return min(query.last_n if query.last_n is not None else limit, limit)


def _window(query: Query) -> tuple[datetime | None, datetime | None]:
    bounds = []
    for raw in (query.from_date, query.to_date):
        moment = parse_query_date(raw) if raw else None
        if raw and moment is None:
            raise InvalidDate(raw)
        bounds.append(moment)
    return bounds[0], bounds[1]


def _regex(pattern: str) -> Callable[[str], bool] | None:
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None
    # A table holds few distinct service paths and ids: each is matched once per query, not per row.
    return functools.cache(lambda text: compiled.search(text) is not None)


def _row_filter(query: Query) -> Callable[[Row], bool] | None:
    """The WHERE clause; None when the database would refuse it (a bad regular expression)."""
    start, end = _window(query)
    header = query.service_path
    path = _regex("/.*" if header == "/" else f"{header}($|/.*)") if header else (lambda text: text == "")
    ids = _regex(f"{query.id_pattern}($|.*)") if query.id_pattern else (lambda text: True)
    if path is None or ids is None:
        return None
    wanted = set(query.entity_ids) if query.entity_ids else None

    def keep(row: Row) -> bool:
        return (
            (wanted is None or row.entity_id in wanted)
            and (start is None or row.time_index >= start)
            and (end is None or row.time_index <= end)
            and path(row.service_path)
            and ids(row.entity_id)
        )

    return keep


def _time(row: Row) -> datetime:
    return row.time_index


def resolve_type(store: QlStore, query: Query, entity_id: str) -> str | None:
    types = store.types_of(query.service, entity_id)
    if len(types) > 1:
        raise Ambiguous(entity_id)
    return types[0] if types else None


def run(store: QlStore, query: Query, default_limit: int) -> list[Found]:
    """The entities found, sorted by id; raises :class:`InvalidDate` or :class:`AggrRefused`."""
    if query.entity_type is None:
        return []
    keep = _row_filter(query)
    column = store.columns(query.service, query.entity_type).get(query.attr.lower())
    if keep is None or column is None:
        return []
    if query.aggr_method and query.aggr_method not in AGGREGATES[column.kind]:
        raise AggrRefused(AGGR_REFUSED)
    limit, offset = _limit(query, default_limit), max(0, query.offset)
    if query.entity_ids:
        start, end = _window(query)
        candidates = store.timeline(query.service, query.entity_type, query.entity_ids, start, end)
        if not query.aggr_method and query.last_n is None:
            # Ascending pages need the first offset + limit matches only.
            rows = list(itertools.islice(filter(keep, candidates), offset + limit))
        else:
            rows = [row for row in candidates if keep(row)]
    else:
        rows = sorted((row for row in store.rows(query.service, query.entity_type) if keep(row)), key=_time)
    if query.aggr_method:
        return _aggregated(rows, column, query, limit, offset)
    if query.last_n is not None:
        newest_first = itertools.islice(reversed(rows), offset, offset + limit)
        rows = list(newest_first)[::-1]
    else:
        rows = rows[offset : offset + limit]
    key = query.attr.lower()
    return _found(
        [(row.entity_type, row.entity_id, render(row.time_index), row.values.get(key)) for row in rows],
        column,
    )


Point = tuple[str, str, str | None, object]
"""(entity type, entity id, rendered time index or None, value) of one answer row, in answer order."""


def _found(points: Sequence[Point], column: Column) -> list[Found]:
    found: dict[str, Found] = {}
    for entity_type, entity_id, index, value in points:
        entity = found.setdefault(entity_id, Found(entity_id, entity_type))
        entity.type = entity_type
        if index is not None:
            entity.index.append(index)
        entity.values.append(render_value(column.kind, value))
    return [found[key] for key in sorted(found)]


def _aggregate(method: str, kind: Kind, values: Sequence[object]) -> object:
    present = [value for value in values if value is not None]
    if method == "count":
        return len(present)
    if not present:
        return None
    if method in ("min", "max"):
        pick = min if method == "min" else max
        return pick(present)  # type: ignore[type-var]
    total = sum(value for value in present if isinstance(value, int | float))
    return total / len(present) if method == "avg" else (float(total) if kind is Kind.INT else total)


def _aggregated(rows: list[Row], column: Column, query: Query, limit: int, offset: int) -> list[Found]:
    method, period, key = query.aggr_method or "", query.aggr_period, query.attr.lower()
    groups: dict[tuple[str, str, datetime | None], list[object]] = {}
    for row in rows:
        bucket = truncate(row.time_index, period) if period else None
        groups.setdefault((row.entity_type, row.entity_id, bucket), []).append(row.values.get(key))
    ordered = list(groups)
    if period:
        # ORDER BY entity_type, entity_id, time_index [DESC]: the buckets alone follow lastN's direction.
        ordered.sort(
            key=lambda group: group[2].timestamp() if group[2] else 0.0, reverse=query.last_n is not None
        )
    ordered.sort(key=lambda group: (group[0], group[1]))
    page = ordered[offset : offset + limit]
    if query.last_n is not None:
        page = page[::-1]
    points = [
        (
            kind,
            entity_id,
            render(bucket) if bucket else None,
            _aggregate(method, column.kind, groups[(kind, entity_id, bucket)]),
        )
        for kind, entity_id, bucket in page
    ]
    return _found(points, column)


__all__ = [
    "AGGR_REFUSED",
    "AggrRefused",
    "Ambiguous",
    "Found",
    "InvalidDate",
    "Query",
    "resolve_type",
    "run",
]
