"""Attribute columns of the QuantumLeap sandbox: the column type an attribute gets the first time it is
seen, the cast of every later value to it, and the aggregates PostgreSQL defines on it.

- column types (QL ``src/translators/timescale.py`` ``NGSI_TO_SQL``): ``Number`` → double, ``Integer``
  → bigint, ``Text`` → text, ``StructuredValue`` and ``Array`` → jsonb (a ``StructuredValue`` whose first
  value is a list takes the ``Array`` path), ``Boolean`` → boolean, ``DateTime``/``ISO8601`` →
  timestamptz, the geo types → geometry (kept here as the notified JSON: PostGIS is not modelled).
- any other NGSI type (Orion's ``Float``, a lower-case ``string``) is inferred from the first value
  (``sql_translator.py`` ``_compute_type``): list → Array, object → StructuredValue, int → Integer,
  float → Number, bool → Boolean, an ISO 8601 string → DateTime, anything else Text. The first value is
  read as ``value or object``, so a falsy one (``0``, ``false``, ``""``) makes a Text column.
- casts (QL ``docs/manuals/user/using.md`` "Data Casting" and ``sql_translator.py`` ``_ngsi_*_to_db``):
  a value that does not cast is stored as NULL. The fixed column type decides the cast here; upstream
  the notified type does and PostgreSQL then casts or refuses the row, which ends the same way for the
  values the casting table lists.
- aggregates: PostgreSQL has ``count`` for every column, ``min``/``max`` also for text and timestamptz,
  ``sum``/``avg`` only for numbers; anything else fails with SQLSTATE 42883, which QL reports as
  "AggrMethod cannot be applied" (``src/translators/errors.py`` ``is_aggregation_error``). ``sum`` and
  ``avg`` of a bigint are ``numeric``, which connexion's JSON encoder writes as a float. Text ``min``
  and ``max`` compare code points here, not the database's collation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Final

from fiware.sandbox.fake_ql.dates import parse_iso, render


class Kind(StrEnum):
    FLOAT = "float"
    INT = "int"
    TEXT = "text"
    BOOL = "bool"
    DATETIME = "datetime"
    OBJECT = "object"
    ARRAY = "array"
    GEO = "geo"


NGSI_KINDS: Final[Mapping[str, Kind]] = {
    "Array": Kind.ARRAY,
    "Boolean": Kind.BOOL,
    "ISO8601": Kind.DATETIME,
    "DateTime": Kind.DATETIME,
    "Integer": Kind.INT,
    "geo:json": Kind.GEO,
    "GeoProperty": Kind.GEO,
    "geo:point": Kind.GEO,
    "geo:line": Kind.GEO,
    "geo:polygon": Kind.GEO,
    "geo:box": Kind.GEO,
    "Number": Kind.FLOAT,
    "Text": Kind.TEXT,
    "StructuredValue": Kind.OBJECT,
}

AGGREGATES: Final[Mapping[Kind, frozenset[str]]] = {
    Kind.FLOAT: frozenset({"count", "sum", "avg", "min", "max"}),
    Kind.INT: frozenset({"count", "sum", "avg", "min", "max"}),
    Kind.TEXT: frozenset({"count", "min", "max"}),
    Kind.DATETIME: frozenset({"count", "min", "max"}),
    Kind.BOOL: frozenset({"count"}),
    Kind.OBJECT: frozenset({"count"}),
    Kind.ARRAY: frozenset({"count"}),
    Kind.GEO: frozenset({"count"}),
}


def known_type(attr_type: object) -> str | None:
    return attr_type if isinstance(attr_type, str) and attr_type in NGSI_KINDS else None


def is_text_type(attr_type: object) -> bool:
    """``SQLTranslator.is_text``: Text, and every type QL has no column type for."""
    return attr_type == "Text" or known_type(attr_type) is None


def is_iso_date(value: object) -> bool:
    return isinstance(value, str) and parse_iso(value.strip('"')) is not None


def _ld_datetime(value: object) -> bool:
    return isinstance(value, dict) and value.get("@type") == "DateTime"


def notified_type(attr: Mapping[str, object]) -> object:
    """The NGSI type QL records for an attribute (``_insert_entities_of_type``): the one given, an
    NGSI-LD DateTime property's, or one inferred from the value."""
    if "type" in attr and attr["type"] != "Property":
        return attr["type"]
    value = attr.get("value")
    if "type" in attr and _ld_datetime(value):
        return "DateTime"
    if "value" not in attr:
        return None
    return _value_type(value)


def _value_type(value: object) -> str:
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "StructuredValue"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Number"
    return "DateTime" if is_iso_date(value) else "Text"


def column_kind(attr_type: object, attr: Mapping[str, object]) -> Kind:
    """``_compute_type``: the column an attribute of ``attr_type`` gets when first seen with ``attr``."""
    known = known_type(attr_type)
    if known is not None:
        if known == "StructuredValue" and isinstance(attr.get("value"), list):
            return Kind.ARRAY
        return NGSI_KINDS[known]
    value = attr.get("value") or attr.get("object")
    if isinstance(value, dict):
        if _ld_datetime(value) and is_iso_date(value.get("@value")):
            return Kind.DATETIME
        return Kind.OBJECT if isinstance(attr.get("value"), dict) else Kind.TEXT
    if value is None:
        return Kind.TEXT
    return NGSI_KINDS[_value_type(value)]


def _number(value: object, whole: bool) -> object:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int if whole else float):
        return value
    if not isinstance(value, int | float | str):
        return None  # float() of a list or object is a TypeError upstream, caught as uncastable
    try:
        number = float(value)
        return int(number) if whole else number
    except (ValueError, OverflowError):
        return None


def _boolean(value: object) -> bool | None:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def cast(kind: Kind, value: object) -> object:
    """The value as the column stores it; None (NULL) when it does not cast."""
    if kind is Kind.FLOAT or kind is Kind.INT:
        return _number(value, whole=kind is Kind.INT)
    if kind is Kind.TEXT:
        # Python's str(), as QL's _ngsi_text_to_db: True → "True", ["a"] → "['a']".
        return None if value is None else str(value)
    if kind is Kind.BOOL:
        return _boolean(value)
    if kind is Kind.DATETIME:
        if _ld_datetime(value) and isinstance(value, dict):
            value = value.get("@value")
        return parse_iso(value.strip('"')) if isinstance(value, str) else None
    if kind is Kind.OBJECT:
        return value if isinstance(value, dict | list) else None
    if kind is Kind.ARRAY:
        return value if isinstance(value, list) else None
    return value


def render_value(kind: Kind, value: object) -> object:
    return render(value) if kind is Kind.DATETIME and isinstance(value, datetime) else value


__all__ = [
    "AGGREGATES",
    "NGSI_KINDS",
    "Kind",
    "cast",
    "column_kind",
    "is_iso_date",
    "is_text_type",
    "known_type",
    "notified_type",
    "render_value",
]
