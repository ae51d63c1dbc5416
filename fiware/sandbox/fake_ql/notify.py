"""``POST /v2/notify`` of the QuantumLeap sandbox (QL ``src/reporter/reporter.py`` ``notify``), after
connexion's checks (:mod:`~fiware.sandbox.fake_ql.validation`):

- each entity, in order: an attribute without a usable value gets ``value: null`` (``has_value``: none,
  or ``""`` for a type other than Text and the types QL does not know); its time index is chosen
  (:mod:`~fiware.sandbox.fake_ql.timex`).
- entities whose attributes all hold falsy values (other than integers and booleans) are dropped
  (``_filter_empty_entities``); attributes with neither type nor value, and bare (keyValues)
  attributes, are dropped (``_filter_no_type_no_value_entities``).
- a bare attribute that is a number, a boolean, ``null`` or a blank string makes these steps raise: 500
  with connexion's "Internal Server Error" problem, as a ``keyValues`` notification does upstream.
- ``Fiware-ServicePath`` (spaces removed) may be a comma list with one path per stored entity, else 400
  with QL's JSON string (``sql_translator.py`` ``insert``; the header value and name are swapped in
  ``InvalidHeaderValue``'s message upstream, and kept so).
- 200 with the JSON string "Notification successfully processed" (the spec says 201, the code answers
  200), also for ``"data": []`` and for entities with no attributes.

Geocoding and the ``location`` normalisation are not implemented; work-queue offloading is off, as by
default (``WQ_OFFLOAD_WORK``), so the insert happens before the answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from fiware.sandbox.fake_ql.columns import is_text_type
from fiware.sandbox.fake_ql.http import Answer, QlJsonResponse, internal_error, notify_service, service_path
from fiware.sandbox.fake_ql.store import Entity, QlStore
from fiware.sandbox.fake_ql.timex import TIME_INDEX_HEADER, Unreadable, time_index
from fiware.sandbox.fake_ql.validation import notification_body

ACCEPTED: Final = "Notification successfully processed"
_NOT_ATTRIBUTES: Final = ("type", "id", "@context")
_PATHS_MISMATCH: Final = "Multiple servicePath are allowed only if their number match the number of entities"


class _Crash(Exception):
    """A step of QL's notify that raises on this input: the request ends in a 500 problem."""


def _attributes(entity: Mapping[str, Any]) -> list[str]:
    return [name for name in entity if name not in _NOT_ATTRIBUTES]


def _has_value(attr: object) -> bool:
    """``reporter.has_value``."""
    if isinstance(attr, dict):
        value = attr.get("value")
        if value is None:
            return False
        if is_text_type(attr.get("type")):
            return True
    else:
        value = attr
    if isinstance(value, str):
        value = value.strip()
    return value != "" and value is not None


def _fill_missing_values(entity: dict[str, Any]) -> None:
    """``_validate_payload``: ``payload[attr].update({'value': None})``, which only objects survive."""
    for name in _attributes(entity):
        if not _has_value(entity[name]):
            if not isinstance(entity[name], dict):
                raise _Crash(f"{type(entity[name]).__name__!r} object has no attribute 'update'")
            entity[name]["value"] = None


def _probe(attr: object) -> object:
    """``_filter_empty_entities``: ``'value' in attr`` then ``attr['value']``, as QL does it."""
    if isinstance(attr, dict):
        return attr.get("value", attr)
    if isinstance(attr, str | list):
        if "value" in attr:
            raise _Crash("string or list indices must be integers")
        return attr
    raise _Crash(f"argument of type {type(attr).__name__!r} is not iterable")


def _kept(entity: dict[str, Any]) -> dict[str, Any] | None:
    values = [_probe(entity[name]) for name in _attributes(entity)]
    if not any(isinstance(value, int) or value for value in values):
        return None
    for name in _attributes(entity):
        attr = entity[name]
        if not isinstance(attr, dict) or (not attr.get("type") and not attr.get("value")):
            del entity[name]
    return entity


def prepare(entities: list[dict[str, Any]], custom_index: str | None) -> list[Entity]:
    """The entities QL stores from a notification, each with its time index; raises :class:`_Crash`
    where QL's code raises."""
    indexed = []
    for entity in entities:
        _fill_missing_values(entity)
        try:
            indexed.append((entity, time_index(custom_index, entity)))
        except Unreadable as unreadable:
            raise _Crash(str(unreadable)) from None
    stored = []
    for entity, moment in indexed:
        kept = _kept(entity)
        if kept is not None:
            attrs = {name: kept[name] for name in _attributes(kept)}
            stored.append(Entity(str(kept["id"]), str(kept["type"]), moment, attrs))
    return stored


def ingest(store: QlStore, entities: list[Entity], service: str | None, path_header: str) -> None:
    """``SQLTranslator.insert``: one service path for all, or one per entity."""
    paths = path_header.replace(" ", "").split(",") if path_header else [path_header]
    if len(paths) == 1:
        store.insert(service, paths[0], entities)
        return
    if len(paths) != len(entities):
        message = (
            f"The header value 'Fiware-ServicePath' for header {path_header} is not valid. {_PATHS_MISMATCH}"
        )
        raise Answer(400, f"Notification not processed or not updated: {message}")
    by_path: dict[str, list[Entity]] = {}
    for path, entity in zip(paths, entities, strict=True):
        by_path.setdefault(path, []).append(entity)
    for path, group in by_path.items():
        store.insert(service, path, group)


class NotifyEndpoint:
    def __init__(self, store: QlStore) -> None:
        self.store = store

    async def notify(self, request: Request) -> Response:
        body = notification_body(request, await request.body())
        try:
            entities = prepare(body["data"], request.headers.get(TIME_INDEX_HEADER))
        except _Crash:
            raise internal_error() from None
        ingest(self.store, entities, notify_service(request), service_path(request))
        return QlJsonResponse(ACCEPTED)


__all__ = ["ACCEPTED", "NotifyEndpoint", "ingest", "prepare"]
