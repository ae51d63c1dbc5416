"""Cygnus's ``NGSIMongoSink`` with its defaults (``row`` attribute persistence, ``dm-by-entity``, no
encoding, ``db_prefix``/``collection_prefix`` ``sth_``), writing into the STH-Comet sandbox's store, which
STH-Comet then reads: database ``sth_<service>``, collection ``sth_<servicePath>_<entityId>_<entityType>``,
one raw document ``{recvTime, attrName, attrType, attrValue}`` per notified attribute (CYG 3.18.0
``NGSIMongoSink.java`` ``persistAggregation``, ``NGSIGenericRowAggregator.aggregate``;
``doc/cygnus-ngsi/flume_extensions_catalogue/ngsi_mongo_sink.md`` §1.2-1.3; STH
``lib/database/model/sthDatabaseNaming.js`` ``getRawCollectionName``).

- ``recvTime``: the attribute's first ``TimeInstant`` metadata (``CommonUtils.getTimeInstant``: digits
  are milliseconds, otherwise an ISO 8601 date-time, UTC when it has no offset), else the reception
  time. A ``TimeInstant`` that does not parse makes the sink fail, and the entity is not stored.
- ``attrValue`` keeps its JSON type; ``DateTime``/``ISO8601`` values are cast to a Date (``castDate``),
  which STH answers as ``YYYY-MM-DDThh:mm:ss.sssZ``; one that does not parse is kept as sent.

Divergence: MongoDB would keep a repeated document; the STH store keeps one point per (recvTime,
attrName, attrType), as STH's own ``/notify`` does, so a repeat with the same ``TimeInstant`` replaces
the earlier value. Name mappings, encodings, other data models and the ``.aggr`` collections of
``NGSISTHSink`` are not implemented.
"""

from __future__ import annotations

import re
from typing import Final

from fiware.sandbox.fake_cygnus.handler import Attribute, Event
from fiware.sandbox.fake_sth import SthStore
from fiware.sandbox.fake_sth.dates import iso, parse_iso_date

_DATE_TYPES: Final = ("DateTime", "ISO8601")
_DIGITS: Final = re.compile(r"[0-9]+")


class _SinkFailure(Exception):
    """``persistAggregation`` raised: nothing of the batch is inserted."""


def _time_instant(attribute: Attribute) -> int | None:
    for metadata in attribute.metadatas:
        if metadata.get("name") == "TimeInstant":
            value = metadata.get("value")
            if isinstance(value, str) and _DIGITS.fullmatch(value):
                return int(value)
            ms = parse_iso_date(value) if isinstance(value, str) else None
            if ms is None:
                raise _SinkFailure(f"TimeInstant {value!r} does not parse")
            return ms
    return None


def _value(attribute: Attribute) -> object:
    if attribute.type in _DATE_TYPES and isinstance(attribute.value, str):
        ms = parse_iso_date(attribute.value)
        return attribute.value if ms is None else iso(ms)
    return attribute.value


def persist(store: SthStore, event: Event, received_ms: int) -> int:
    """The documents of one event; answers how many were stored (0 when the sink failed)."""
    try:
        documents = [
            (attribute, received_ms if (ms := _time_instant(attribute)) is None else ms)
            for attribute in event.attributes
        ]
    except _SinkFailure:
        return 0
    for attribute, ms in documents:
        key = (event.service, event.service_path, event.entity_type, event.entity_id, attribute.name)
        store.put(key, ms, attribute.type, _value(attribute))
    return len(documents)


__all__ = ["persist"]
