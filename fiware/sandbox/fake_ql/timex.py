"""The time index of a notified entity (QL ``src/reporter/timex.py`` ``time_index_priority_list`` and
``select_time_index_value``; ``docs/manuals/user/using.md`` "Time Index"): the first candidate that
reads as a date, in this order:

1. the value of the attribute the ``Fiware-TimeIndex-Attribute`` header names;
2. the latest metadata of that name, over all attributes;
3. the ``TimeInstant`` attribute; 4. the latest ``TimeInstant`` metadata;
5. the ``timestamp`` attribute; 6. the latest ``timestamp`` metadata;
7. the latest NGSI-LD ``observedAt``, 8. the latest ``modifiedAt``, over all attributes;
9. the entity's own ``observedAt``; 10. its ``modifiedAt``;
11. the ``dateModified`` attribute; 12. the latest ``dateModified`` metadata;
13. the current time.

Lookups follow ``utils/jsondict.py`` ``maybe_value``: a step that meets something other than an object
answers that thing itself, so a bare (keyValues) attribute is its own "value" and "metadata". A candidate
that is not a string (a number, a list, an object without ``@value``) makes QL's ``to_datetime`` raise a
TypeError it does not catch: the notification fails with 500 (:class:`Unreadable`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from fiware.sandbox.fake_ql.dates import now, parse_iso

TIME_INDEX_HEADER = "Fiware-TimeIndex-Attribute"
_NOT_ATTRIBUTES = ("type", "id", "@context")


class Unreadable(Exception):
    """A time index candidate QL's ``to_datetime`` crashes on."""


def maybe_value(tree: object, *path: str) -> object:
    if not isinstance(tree, dict):
        return None
    for key in path:
        if isinstance(tree, dict):
            tree = tree.get(key)
    return tree


def to_datetime(rep: object) -> datetime | None:
    """``utils/timestr.py`` ``to_datetime``: falsy is None, ``{"@value": …}`` is unwrapped."""
    if not rep:
        return None
    if not isinstance(rep, str | list | dict):
        raise Unreadable(f"argument of type {type(rep).__name__!r} is not iterable")
    if "@value" in rep:
        if not isinstance(rep, dict):
            raise Unreadable("'@value' looked up in a string or list")
        rep = rep["@value"]
    if not isinstance(rep, str):
        raise Unreadable("Parser must be a string or character stream, not " + type(rep).__name__)
    return parse_iso(rep)


def _attributes(entity: Mapping[str, object]) -> Iterator[str]:
    return (name for name in entity if name not in _NOT_ATTRIBUTES)


def latest(reps: Iterator[object]) -> datetime | None:
    moments = [moment for moment in map(to_datetime, reps) if moment is not None]
    return max(moments) if moments else None


def _metadata(entity: Mapping[str, object], name: str) -> Iterator[object]:
    return (maybe_value(entity, attr, "metadata", name, "value") for attr in _attributes(entity))


def _ld_metadata(entity: Mapping[str, object], name: str) -> Iterator[object]:
    return (maybe_value(entity, attr, name) for attr in _attributes(entity))


def _candidates(custom: str | None, entity: Mapping[str, object]) -> Iterator[datetime | None]:
    yield to_datetime(maybe_value(entity, custom, "value")) if custom is not None else None
    yield latest(_metadata(entity, custom)) if custom is not None else None
    for name in ("TimeInstant", "timestamp"):
        yield to_datetime(maybe_value(entity, name, "value"))
        yield latest(_metadata(entity, name))
    yield latest(_ld_metadata(entity, "observedAt"))
    yield latest(_ld_metadata(entity, "modifiedAt"))
    yield to_datetime(maybe_value(entity, "observedAt"))
    yield to_datetime(maybe_value(entity, "modifiedAt"))
    yield to_datetime(maybe_value(entity, "dateModified", "value"))
    yield latest(_metadata(entity, "dateModified"))


def time_index(custom: str | None, entity: Mapping[str, object]) -> datetime:
    """The first candidate that reads as a date, else now; ``custom`` is the header's attribute."""
    arrival = now()
    for candidate in _candidates(custom, entity):
        if candidate is not None:
            return candidate
    return arrival


__all__ = ["TIME_INDEX_HEADER", "Unreadable", "latest", "maybe_value", "time_index", "to_datetime"]
