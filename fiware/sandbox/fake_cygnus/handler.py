"""Cygnus's ``NGSIRestHandler`` (``telefonicaid/fiware-cygnus`` 3.18.0,
``cygnus-ngsi/src/main/java/com/telefonica/iot/cygnus/handlers/NGSIRestHandler.java``, and
``doc/cygnus-ngsi/flume_extensions_catalogue/ngsi_rest_handler.md``): the checks of a notification and
its split into one event per notified entity, in the handler's order.

1. headers, in the order they arrive: ``Content-Type`` must contain ``application/json; charset=utf-8``
   (``wrongContentType``, case-insensitive), ``Fiware-Service`` at most 50 characters,
   ``Fiware-ServicePath`` a comma list of paths of at most 50 characters each starting with ``/``;
   ``Ngsiv2-AttrsFormat`` picks the parser. Defaults: service ``default``, service path ``/``.
2. the method must be POST, the path ``/notify`` (the default ``notification_target``): otherwise 400
   (Flume only lets the handler raise ``HTTPBadRequestException``).
3. a missing ``Content-Type``, then an empty body: 400.
4. ``Ngsiv2-AttrsFormat: normalized`` → the NGSIv2 parser (``NotifyContextRequestNGSIv2Deserializer``:
   ``subscriptionId`` and ``data``, each entity's ``id`` and ``type``, each attribute's ``type`` and
   ``metadata`` object, each metadata's ``type``); ``legacy`` or no header → the NGSIv1 parser
   (``contextResponses[].contextElement``); any other value → 400 "<fmt> format not supported".
   A body either parser cannot read fails with 500 (the handler returns null, or throws, and Flume
   answers 500).
5. one service path per entity, except that a single path serves every entity of a normalized
   notification (issue #2042); otherwise 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

SERVICE_MAX: Final = 50
SERVICE_PATH_MAX: Final = 50
CONTENT_TYPE: Final = "application/json; charset=utf-8"
TARGET: Final = "/notify"


class Refused(Exception):
    """What the handler refuses; Flume answers ``status`` with "Bad request from client. <message>"
    (``HTTPSource.FlumeHTTPServlet.doPost``), or 500 when the handler fails outright."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> Refused:
    return Refused(400, f"Bad request from client. {message}")


def unreadable() -> Refused:
    return Refused(500, "Deserializer threw unexpected exception. The notification could not be parsed")


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    value: object
    # NGSIv1 ``metadatas``: what both parsers make of the attribute's metadata.
    metadatas: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    """One notified entity, as the handler puts it in the channel."""

    service: str
    service_path: str
    entity_id: str
    entity_type: str
    attributes: list[Attribute]


@dataclass
class Headers:
    content_type: str | None = None
    service: str = "default"
    service_path: str = "/"
    attrs_format: str | None = None


def _java_split(value: str) -> list[str]:
    """``String.split(",")``: trailing empty strings are removed, but a lone empty string stays."""
    parts = value.split(",")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def _check_service_path(value: str) -> None:
    for part in _java_split(value):
        if len(part) > SERVICE_PATH_MAX:
            raise bad_request(
                f"'fiware-servicePath' header length greater than {SERVICE_PATH_MAX}) for {value}"
            )
        if not part.startswith("/"):
            raise bad_request(f"'fiware-servicepath' header value {value} must start with '/'")


def read_headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    """The header loop: each name once (``getHeader`` answers its first value), in arrival order."""
    found = Headers()
    seen: set[str] = set()
    for raw_name, raw_value in raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in seen:
            continue
        seen.add(name)
        if name == "content-type":
            if CONTENT_TYPE not in value.lower():
                raise bad_request(f"{value} content type not supported")
            found.content_type = value
        elif name == "fiware-service":
            if len(value) > SERVICE_MAX:
                raise bad_request(f"'fiware-service' header length greater than {SERVICE_MAX}) for {value}")
            found.service = value
        elif name == "fiware-servicepath":
            _check_service_path(value)
            found.service_path = value
        elif name == "ngsiv2-attrsformat":
            found.attrs_format = value
    return found


def _text(value: object) -> str:
    """Gson reads a JSON string, number or boolean into a Java String; anything else fails."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise unreadable()


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise unreadable()
    return value


def _v2_attribute(name: str, raw: object) -> Attribute:
    attr = _object(raw)
    metadata = _object(attr.get("metadata"))
    metadatas = []
    for md_name, md_raw in metadata.items():
        md = _object(md_raw)
        metadatas.append({"name": md_name, "type": _text(md.get("type")), "value": md.get("value")})
    return Attribute(name, _text(attr.get("type")), attr.get("value"), metadatas)


def parse_normalized(body: object) -> list[tuple[str, str, list[Attribute]]]:
    """``NotifyContextRequestNGSIv2Deserializer``: (id, type, attributes) per entity of ``data``."""
    notification = _object(body)
    _text(notification.get("subscriptionId"))
    data = notification.get("data")
    if not isinstance(data, list):
        raise unreadable()
    entities = []
    for raw in data:
        entity = _object(raw)
        attributes = [
            _v2_attribute(name, attr) for name, attr in entity.items() if name not in ("id", "type")
        ]
        entities.append((_text(entity.get("id")), _text(entity.get("type")), attributes))
    return entities


def _v1_attribute(raw: object) -> Attribute | None:
    attr = _object(raw)
    name, kind, metadatas = attr.get("name"), attr.get("type"), attr.get("metadatas") or []
    if not isinstance(name, str) or not isinstance(kind, str) or not isinstance(metadatas, list):
        return None  # the sink then fails on it (a null name or type): the entity is not stored
    return Attribute(name, kind, attr.get("value"), [md for md in metadatas if isinstance(md, dict)])


def parse_legacy(body: object) -> list[tuple[str, str, list[Attribute]]]:
    """Gson into ``NotifyContextRequest``: (id, type, attributes) per ``contextResponses`` entry. An
    entity with an attribute lacking a name or a type gets none: the sink fails on it and stores
    nothing of that entity."""
    responses = _object(body).get("contextResponses")
    if not isinstance(responses, list):
        raise unreadable()
    entities = []
    for raw in responses:
        element = _object(_object(raw).get("contextElement"))
        attrs = element.get("attributes") or []
        if not isinstance(attrs, list):
            raise unreadable()
        parsed = [_v1_attribute(attr) for attr in attrs]
        kept = [attr for attr in parsed if attr is not None] if None not in parsed else []
        entities.append((_text(element.get("id")), _text(element.get("type")), kept))
    return entities


def _parse(attrs_format: str | None, raw: bytes) -> list[tuple[str, str, list[Attribute]]]:
    if attrs_format not in (None, "legacy", "normalized"):
        raise bad_request(f"{attrs_format} format not supported")
    try:
        body = json.loads(raw)
    except ValueError:
        raise unreadable() from None
    return parse_normalized(body) if attrs_format == "normalized" else parse_legacy(body)


def events(method: str, path: str, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> list[Event]:
    """``getEvents``: the checks in the handler's order, then one event per entity."""
    headers = read_headers(raw_headers)
    if method != "POST":
        raise bad_request(f"{method} method not supported")
    if path != TARGET:
        raise bad_request(f"{path} target not supported, {TARGET} expected.")
    if headers.content_type is None:
        raise bad_request(f"Missing content type. Required '{CONTENT_TYPE}'")
    if not body:
        raise bad_request("No content in the request")
    entities = _parse(headers.attrs_format, body)
    paths = _java_split(headers.service_path)
    if headers.attrs_format == "normalized" and len(paths) == 1 and len(entities) > 1:
        paths = paths * len(entities)
    if len(paths) != len(entities):
        raise bad_request(
            "'fiware-servicepath' header value does not match the number of notified context responses"
        )
    return [
        Event(headers.service, path, entity_id, entity_type, attributes)
        for path, (entity_id, entity_type, attributes) in zip(paths, entities, strict=True)
    ]


__all__ = ["Attribute", "Event", "Refused", "events"]
