"""Orion NGSI v2 data model for the sandbox: errors, dates, attributes and entities, parsed from
requests and rendered for responses and notifications, as Orion's ``doc/manuals/orion-api.md``
describes them ("Error Responses", "JSON Attribute Representation", "Datetime support")."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fiware.names import check_ngsi_name
from fiware.sandbox.config import SandboxConfig

Json = Any

# Error names by status (orion-api.md "Error Responses"); `MethodNotAlowed` is Orion's own spelling.
ERROR_NAMES = {
    400: "BadRequest",
    404: "NotFound",
    405: "MethodNotAlowed",
    406: "NotAcceptable",
    409: "TooManyResults",
    411: "ContentLengthRequired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Unprocessable",
    500: "InternalServerError",
}

NOT_FOUND_ENTITY = "The requested entity has not been found. Check type and id"
NOT_FOUND_ATTRIBUTE = "The entity does not have such an attribute"
NOT_FOUND_SUBSCRIPTION = "The requested subscription has not been found. Check id"
TOO_MANY_ENTITIES = "More than one matching entity. Please refine your query"
ALREADY_EXISTS = "Already Exists"
ATTRS_EXIST = "one or more of the attributes in the request already exist: "
ATTRS_MISSING = "do not exist: "
PARSE_ERROR = "Errors found in incoming JSON buffer"
DATE_TYPES = ("DateTime", "ISO8601")
# Orion stores entities with a type; an entity created without one gets NGSI v2's default.
DEFAULT_ENTITY_TYPE = "Thing"
# The wording of some errors depends on the Orion release; callers that know theirs pass it on.
DEFAULT_ORION_VERSION = SandboxConfig().orion_version
_MAX_NAME = 256
_FRACTION = re.compile(r"(\.\d{6})\d+")


class OrionError(Exception):
    """An Orion error answer: ``{"error", "description"}`` with its status."""

    def __init__(
        self,
        status: int,
        description: str,
        error: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error or ERROR_NAMES[status]
        self.description = description
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        return {"error": self.error, "description": self.description}


def bad_request(description: str) -> OrionError:
    return OrionError(400, description)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def parse_date(value: object) -> int | None:
    """Milliseconds since the epoch, or None when Orion would not take ``value`` as an ISO 8601 date."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    # Orion keeps milliseconds; fromisoformat refuses more than six fractional digits.
    text = _FRACTION.sub(r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # Orion reads no timezone as UTC
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def format_date(ms: int) -> str:
    """Orion renders dates as ``YYYY-MM-DDThh:mm:ss.sssZ`` in UTC."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def normalize(value: Json) -> Json:
    """Orion keeps every number as a double and prints whole ones without a fraction (1.0 → 1)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if isinstance(value, dict):
        return {key: normalize(item) for key, item in value.items()}
    return value


def canonical(value: Json) -> str:
    # JSON text, not Python equality: True == 1 in Python, but it is a change of value for Orion.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _refuse_constant(name: str) -> Json:
    raise ValueError(name)


def loads(body: bytes) -> Json:
    """The request body as JSON; NaN and Infinity are not JSON for Orion either."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise OrionError(400, PARSE_ERROR, "ParseError") from exc


def default_type(value: Json) -> str:
    """The type Orion gives an attribute or metadata sent without one."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "Text"
    if value is None:
        return "None"
    return "StructuredValue"


def check_name(value: object, what: str) -> str:
    """An id, type or name as Orion's JSON v2 parser checks it; ``what`` names it in the error."""
    if not isinstance(value, str):
        raise bad_request(f"Invalid JSON type for {what}")
    if not value:
        raise bad_request(f"{what} length: 0, min length supported: 1")
    if len(value) > _MAX_NAME:
        raise bad_request(f"{what} length: {len(value)}, max length supported: {_MAX_NAME}")
    if check_ngsi_name(value) is not None:
        raise bad_request(f"Invalid characters in {what}")
    return value


@dataclass
class Metadata:
    type: str
    value: Json


@dataclass
class AttrInput:
    """An attribute as a request gives it, types resolved and dates normalised."""

    type: str
    value: Json
    metadata: dict[str, Metadata]


@dataclass
class Attr:
    type: str
    value: Json
    metadata: dict[str, Metadata]
    created: int
    modified: int

    def same_value(self, other: AttrInput) -> bool:
        return self.type == other.type and canonical(self.value) == canonical(other.value)


@dataclass
class Entity:
    id: str
    type: str
    service_path: str
    attrs: dict[str, Attr] = field(default_factory=dict)
    created: int = 0
    modified: int = 0


def _typed(raw: Mapping[str, Json], what: str, date_error: str) -> tuple[str, Json]:
    value = normalize(raw.get("value"))
    kind = raw["type"] if "type" in raw else default_type(value)
    check_name(kind, f"{what} type")
    if kind in DATE_TYPES:
        ms = parse_date(value)
        if ms is None:
            raise bad_request(date_error)
        value = format_date(ms)
    return kind, value


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def metadata_date_error(orion_version: str) -> str:
    """The 400 for a metadata ``DateTime`` that is not a date. Up to 4.1.x Orion says only "date has
    invalid format" (3.12.0 ``src/lib/jsonParseV2/parseMetadata.cpp``, functional test
    ``3533_null_in_datetime_and_geo/null_in_datetime_md.test``); from 4.2.0 it names where (test
    ``1039`` basic_dates_support)."""
    if _release(orion_version) < (4, 2):
        return "date has invalid format"
    return "date has invalid format in metadata value"


def parse_metadata(raw: Json, *, orion_version: str = DEFAULT_ORION_VERSION) -> dict[str, Metadata]:
    if not isinstance(raw, dict):
        raise bad_request("metadata must be a JSON object")
    out: dict[str, Metadata] = {}
    for name, item in raw.items():
        check_name(name, "metadata name")
        body = item if isinstance(item, dict) else {"value": item}
        kind, value = _typed(body, "metadata", metadata_date_error(orion_version))
        out[name] = Metadata(kind, value)
    return out


def parse_attr(
    name: str, raw: Json, *, key_values: bool, orion_version: str = DEFAULT_ORION_VERSION
) -> AttrInput:
    """One attribute of a request body; ``options=keyValues`` gives bare values."""
    check_name(name, "attribute name")
    # A bare value in normalized mode is taken as keyValues would take it, as Orion's parser does.
    if key_values or not isinstance(raw, dict):
        raw = {"value": raw}
    unknown = set(raw) - {"value", "type", "metadata"}
    if unknown:
        raise bad_request("unrecognized property for context attribute")
    kind, value = _typed(raw, "attribute", "date has invalid format in attribute value")
    metadata = parse_metadata(raw["metadata"], orion_version=orion_version) if "metadata" in raw else {}
    return AttrInput(kind, value, metadata)


def parse_attrs(
    body: Json, *, key_values: bool, skip: Sequence[str] = (), orion_version: str = DEFAULT_ORION_VERSION
) -> dict[str, AttrInput]:
    if not isinstance(body, dict):
        raise bad_request("not a JSON object")
    return {
        name: parse_attr(name, raw, key_values=key_values, orion_version=orion_version)
        for name, raw in body.items()
        if name not in skip
    }


def parse_entity(
    body: Json, *, key_values: bool, orion_version: str = DEFAULT_ORION_VERSION
) -> tuple[str, str | None, dict[str, AttrInput]]:
    """``(id, type, attributes)`` of a full entity in a request body; type None when not given
    (a new entity then gets ``DEFAULT_ENTITY_TYPE``, an existing one is looked up by id alone)."""
    if not isinstance(body, dict):
        raise bad_request("not a JSON object")
    entity_id = check_name(body.get("id", ""), "entity id")
    entity_type = check_name(body["type"], "entity type") if "type" in body else None
    attrs = parse_attrs(body, key_values=key_values, skip=("id", "type"), orion_version=orion_version)
    return entity_id, entity_type, attrs


def path_matches(pattern: str, path: str) -> bool:
    """Whether an entity in service path ``path`` is in the scope of ``pattern``: ``/#`` is
    everything, ``/a/#`` is ``/a`` and below, anything else is exactly that path."""
    if pattern == "/#":
        return True
    if pattern.endswith("/#"):
        base = pattern[:-2]
        return path == base or path.startswith(base + "/")
    return path == pattern


@dataclass
class Change:
    """What one request did to one entity, for the notification machinery."""

    entity: Entity  # after the change; for a deletion, the entity that was removed
    previous: dict[str, Attr]  # the attributes before the change
    changed: set[str]  # attributes whose value or type changed, or that were created or removed
    metadata_changed: set[str]  # attributes whose metadata alone changed
    touched: set[str]  # attributes the request named
    actions: dict[str, str]  # `actionType` built-in metadata per attribute
    alteration: str  # entityCreate, entityChange, entityUpdate or entityDelete
    forced: bool = False


def render_attr(
    attr: Attr, metadata_filter: Sequence[str] | None, builtin: Mapping[str, Json] | None = None
) -> dict[str, Json]:
    """An attribute as Orion answers it, ``metadata`` always present (``{}`` when there is none).

    ``metadata_filter`` is the ``metadata`` parameter: None for all user metadata, otherwise the
    names wanted, ``*`` for all user metadata, built-in metadata only when named."""
    metadata: dict[str, Json] = {}
    for name, item in attr.metadata.items():
        if metadata_filter is None or "*" in metadata_filter or name in metadata_filter:
            metadata[name] = {"type": item.type, "value": item.value}
    if metadata_filter:
        builtins: dict[str, Json] = {
            "dateCreated": {"type": "DateTime", "value": format_date(attr.created)},
            "dateModified": {"type": "DateTime", "value": format_date(attr.modified)},
            **(builtin or {}),
        }
        metadata.update({name: builtins[name] for name in metadata_filter if name in builtins})
    return {"type": attr.type, "value": attr.value, "metadata": metadata}


def entity_attrs(
    entity: Entity,
    attrs_filter: Sequence[str] | None,
    metadata_filter: Sequence[str] | None,
    *,
    builtin_metadata: Mapping[str, Mapping[str, Json]] | None = None,
    builtin_attrs: Mapping[str, Json] | None = None,
) -> dict[str, dict[str, Json]]:
    """The rendered attributes ``attrs_filter`` selects: None or ``*`` for every user attribute,
    otherwise exactly the names listed; built-in attributes only when named."""
    every = attrs_filter is None or "*" in attrs_filter
    out = {
        name: render_attr(attr, metadata_filter, (builtin_metadata or {}).get(name))
        for name, attr in entity.attrs.items()
        if every or (attrs_filter is not None and name in attrs_filter)
    }
    if attrs_filter is not None:
        builtins: dict[str, Json] = {
            "dateCreated": {"type": "DateTime", "value": format_date(entity.created), "metadata": {}},
            "dateModified": {"type": "DateTime", "value": format_date(entity.modified), "metadata": {}},
            "servicePath": {"type": "Text", "value": entity.service_path, "metadata": {}},
            **(builtin_attrs or {}),
        }
        for name in attrs_filter:
            if name in builtins and name not in entity.attrs:
                out[name] = builtins[name]
    return out


def render_entity(
    entity: Entity,
    mode: str,
    attrs_filter: Sequence[str] | None,
    metadata_filter: Sequence[str] | None,
    *,
    with_id: bool = True,
    builtin_metadata: Mapping[str, Mapping[str, Json]] | None = None,
    builtin_attrs: Mapping[str, Json] | None = None,
) -> Json:
    """``mode`` is ``normalized``, ``keyValues`` or ``values`` (``values`` follows the ``attrs`` order)."""
    attrs = entity_attrs(
        entity, attrs_filter, metadata_filter, builtin_metadata=builtin_metadata, builtin_attrs=builtin_attrs
    )
    if mode == "values":
        order = attrs_filter if attrs_filter is not None and "*" not in attrs_filter else list(attrs)
        return [attrs[name]["value"] for name in order if name in attrs]
    head: dict[str, Json] = {"id": entity.id, "type": entity.type} if with_id else {}
    if mode == "keyValues":
        return {**head, **{name: attr["value"] for name, attr in attrs.items()}}
    return {**head, **attrs}


__all__ = [
    "ALREADY_EXISTS",
    "ATTRS_EXIST",
    "ATTRS_MISSING",
    "DEFAULT_ENTITY_TYPE",
    "DEFAULT_ORION_VERSION",
    "NOT_FOUND_ATTRIBUTE",
    "NOT_FOUND_ENTITY",
    "NOT_FOUND_SUBSCRIPTION",
    "TOO_MANY_ENTITIES",
    "Attr",
    "AttrInput",
    "Change",
    "Entity",
    "Json",
    "Metadata",
    "OrionError",
    "bad_request",
    "canonical",
    "check_name",
    "default_type",
    "entity_attrs",
    "format_date",
    "loads",
    "metadata_date_error",
    "normalize",
    "now_ms",
    "parse_attr",
    "parse_attrs",
    "parse_date",
    "parse_entity",
    "parse_metadata",
    "path_matches",
    "render_attr",
    "render_entity",
]
