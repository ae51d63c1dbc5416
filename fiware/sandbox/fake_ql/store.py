"""The QuantumLeap sandbox's memory: one table per (tenant, lower-cased entity type), as QL's
``"mt<tenant>"."et<type>"`` tables, with one column per lower-cased attribute name (QL
``sql_translator.py`` ``_et2tn``, ``_ea2cn``; ``using.md`` "Multi-tenancy"). The tenant is the
lower-cased ``Fiware-Service``; without one, data goes to the default tenant, which is separate.

Rows are append-only: a repeated notification is stored twice, with the same ``time_index`` (there is
no key and no upsert). A column's type is fixed the first time its attribute is seen (the
``md_ets_metadata`` row of the table only ever gains keys, ``_update_metadata_table``), and every row
is cast to it (see :mod:`~fiware.sandbox.fake_ql.columns`). The ``instanceId`` and
``__original_ngsi_entity__`` columns are not kept."""

from __future__ import annotations

import heapq
import math
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fiware.sandbox.fake_ql.columns import Kind, cast, column_kind, notified_type

TableKey = tuple[str | None, str]
"""(tenant, entity type), both lower-cased; the default tenant is None."""


def tenant_of(service: str | None) -> str | None:
    """QL lower-cases the tenant into the schema name; an empty header is no tenant."""
    return service.lower() if service else None


@dataclass(frozen=True)
class Column:
    name: str  # the attribute's name as first notified
    ngsi_type: object  # the NGSI type first notified (it may be one QL has no column type for)
    kind: Kind


@dataclass(frozen=True)
class Row:
    entity_id: str
    entity_type: str
    time_index: datetime
    service_path: str
    values: Mapping[str, object]  # by column; a column the row has no value for is NULL


@dataclass(frozen=True)
class Entity:
    """One notified entity, ready to store: attributes are NGSI v2 attribute objects."""

    id: str
    type: str
    time_index: datetime
    attrs: Mapping[str, Mapping[str, object]]


# An entity's row on its timeline: (time_index, arrival, row); arrival breaks ties as the database's
# insertion order does, and is unique, so rows themselves are never compared.
Entry = tuple[datetime, int, Row]


@dataclass
class _Table:
    columns: dict[str, Column] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    # Each entity's rows in time order: an attribute query bisects its entity's timeline instead of
    # scanning and sorting the whole table (QL's (entity_id, time_index) index, in effect).
    timelines: dict[str, list[Entry]] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        insort(self.timelines.setdefault(row.entity_id, []), (row.time_index, len(self.rows), row))
        self.rows.append(row)


class QlStore:
    """In-memory QuantumLeap tables. Thread-safe: tests seed it from their own thread while the server
    reads it."""

    def __init__(self) -> None:
        self._tables: dict[TableKey, _Table] = {}
        self._lock = threading.Lock()

    def insert(self, service: str | None, service_path: str, entities: Sequence[Entity]) -> int:
        """Entities of one service path, grouped by type as ``SQLTranslator.insert`` does; answers how
        many rows were stored."""
        tenant = tenant_of(service)
        by_type: dict[str, list[Entity]] = {}
        for entity in entities:
            by_type.setdefault(entity.type, []).append(entity)
        with self._lock:
            for entity_type, group in by_type.items():
                table = self._tables.setdefault((tenant, entity_type.lower()), _Table())
                _add_columns(table, group)
                for entity in group:
                    table.add(_row(table, entity, service_path or "/"))
        return len(entities)

    def add_points(
        self,
        *,
        service: str | None,
        service_path: str = "/",
        entity_type: str,
        entity_id: str,
        attr_name: str,
        attr_type: str,
        points: Iterable[tuple[datetime, object]],
    ) -> int:
        """Seed one attribute's history as if each point had been notified on its own, its time as the
        ``time_index``. Naive datetimes are UTC."""
        entities = [
            Entity(entity_id, entity_type, _aware(moment), {attr_name: {"type": attr_type, "value": value}})
            for moment, value in points
        ]
        return self.insert(service, service_path, entities)

    def columns(self, service: str | None, entity_type: str) -> dict[str, Column]:
        with self._lock:
            table = self._tables.get((tenant_of(service), entity_type.lower()))
            return dict(table.columns) if table else {}

    def rows(self, service: str | None, entity_type: str) -> list[Row]:
        """The table's rows in insertion order."""
        with self._lock:
            table = self._tables.get((tenant_of(service), entity_type.lower()))
            return list(table.rows) if table else []

    def timeline(
        self,
        service: str | None,
        entity_type: str,
        entity_ids: Iterable[str],
        start: datetime | None,
        end: datetime | None,
    ) -> Iterator[Row]:
        """The rows of ``entity_ids`` with ``start <= time_index <= end`` (either bound optional), in
        time order, ties in insertion order: what sorting the table's rows by time would give. Lazy,
        over a copy taken under the lock: a page reads as far as it needs."""
        with self._lock:
            table = self._tables.get((tenant_of(service), entity_type.lower()))
            if table is None:
                return iter(())
            spans = []
            for entity_id in set(entity_ids):
                entries = table.timelines.get(entity_id, [])
                low = bisect_left(entries, (start,)) if start is not None else 0
                high = bisect_right(entries, (end, math.inf)) if end is not None else len(entries)
                spans.append(entries[low:high])
        merged = spans[0] if len(spans) == 1 else heapq.merge(*spans)
        return (row for _, _, row in merged)

    def types_of(self, service: str | None, entity_id: str) -> list[str]:
        """The distinct entity types stored under ``entity_id`` in the tenant, by table name
        (``_get_entity_type``: every table, whatever the service path)."""
        tenant = tenant_of(service)
        found: list[str] = []
        with self._lock:
            for key in sorted(key for key in self._tables if key[0] == tenant):
                for _, _, row in self._tables[key].timelines.get(entity_id, []):
                    if row.entity_type not in found:
                        found.append(row.entity_type)
        return found


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _add_columns(table: _Table, entities: Sequence[Entity]) -> None:
    """New columns only: within one batch the last entity naming an attribute decides its column,
    as ``original_attrs`` and ``table`` are filled entity after entity upstream."""
    fresh: dict[str, Column] = {}
    for entity in entities:
        for name, attr in entity.attrs.items():
            key = name.lower()
            if key not in table.columns:
                attr_type = notified_type(attr)
                fresh[key] = Column(name, attr_type, column_kind(attr_type, attr))
    table.columns.update(fresh)


def _row(table: _Table, entity: Entity, service_path: str) -> Row:
    values: dict[str, object] = {}
    for name, attr in entity.attrs.items():
        key = name.lower()
        values[key] = cast(table.columns[key].kind, attr.get("value"))
    return Row(entity.id, entity.type, entity.time_index, service_path, values)


__all__ = ["Column", "Entity", "QlStore", "Row", "TableKey", "tenant_of"]
