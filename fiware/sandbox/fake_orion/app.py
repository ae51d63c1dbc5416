"""Orion Context Broker stand-in: the NGSI v2 API Chronos relies on, in memory, with real HTTP
notifications. Built from Orion's API manual (``doc/manuals/orion-api.md``) and the functional-test
transcripts (``test/functionalTest/cases/``) of ``telefonicaid/fiware-orion`` 3.12.0 and 4.x:

- common rules: ``Fiware-Service`` lower-cased and checked (≤ 50, alphanumerics and underscore),
  ``Fiware-ServicePath`` checked (absolute, ≤ 10 levels of ≤ 50 alphanumerics/underscore, ≤ 10
  paths, ``/#`` only for queries and subscriptions, one path for updates; default ``/`` for
  updates and ``/#`` for queries and subscriptions); ``Fiware-Correlator`` on every answer (the
  request's own when it sends one); 415 for bodies that are not JSON, 411 for POST/PUT/PATCH
  without one, 406 for an ``Accept`` without JSON, 400 ParseError, 400 "Service not found" for
  unknown paths, 405 ``MethodNotAlowed`` with ``Allow``; error bodies ``{"error", "description"}``.
- entity operations: every ``/v2/entities`` route, ``POST /v2/op/update`` with append,
  appendStrict, update, replace, delete (and the deprecated upper-case names), options
  ``keyValues``, ``values``, ``unique``, ``count``, ``upsert``, ``append``, ``overrideMetadata``,
  ``forcedUpdate``; 404 NotFound, 409 TooManyResults, 422 Unprocessable / PartialUpdate.
- attributes: default types, StructuredValue, metadata (merged on update), DateTime/ISO8601
  values and metadata validated and normalised to ``YYYY-MM-DDThh:mm:ss.sssZ``, ``metadata: {}``
  always rendered, built-in attributes (dateCreated, dateModified, servicePath) and metadata
  (dateCreated, dateModified; previousValue, actionType in notifications) only when asked for.
- subscriptions: create (201 + ``Location``), list (service path narrows it, pagination,
  count), get (rendered with its defaults filled in, as test ``1126_GET_v2_subscriptions`` shows),
  PATCH, DELETE; notifications on a real change only (metadata changes count unless
  ``notifyOnMetadataChange`` is false), ``condition.attrs``, ``alterationTypes``,
  ``attrs``/``exceptAttrs``, ``onlyChangedAttrs``, ``metadata`` filter, ``throttling`` (inside the
  window: dropped), ``expires``, ``status`` (oneshot), ``maxFailsLimit``; bodies in every NGSI v2
  format and NGSIv1 ``legacy`` (as 3.12.0's ``2507_csub_metadata_field`` tests send it), headers as
  Orion sends them; delivery in background tasks, at most once (the manual describes no retry),
  counted in timesSent / lastSuccess(Code) / failsCounter / lastFailure(Reason). No initial
  notification on creation: Orion 3.1.0 removed it (``doc/manuals/deprecated.md``).
- ``/version``; list pagination (limit 20 by default, max 1000, ``Fiware-Total-Count``).
- with ``config.orion_major >= 4`` a ``legacy`` subscription is refused like any unknown
  ``attrsFormat`` (400): Orion 4.0.0 removed it (``doc/manuals/deprecated.md``); 3.x accepts it.

Deliberately not implemented: ``q``/``mq``/geo filters of queries (400 names the parameter) and
the ``expression`` of subscriptions (kept and shown, never evaluated); ``orderBy`` other than
id, type, dateCreated and dateModified; ``/v2/types``, registrations, ``/v2`` entry points,
``dateExpires``; notification channels other than ``http``; payload size limits (413).
Descriptions Orion's sources and tests do not give (for example those of malformed subscriptions)
follow Orion's wording where known and are otherwise plain English.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_orion.http import (
    Call,
    CorrelatorMiddleware,
    on_http_error,
    on_orion_error,
    prepare,
    service_paths,
)
from fiware.sandbox.fake_orion.model import (
    ALREADY_EXISTS,
    ATTRS_EXIST,
    ATTRS_MISSING,
    DEFAULT_ENTITY_TYPE,
    NOT_FOUND_ATTRIBUTE,
    NOT_FOUND_ENTITY,
    TOO_MANY_ENTITIES,
    AttrInput,
    Change,
    Entity,
    Json,
    OrionError,
    bad_request,
    canonical,
    normalize,
    parse_attr,
    parse_attrs,
    parse_entity,
    render_attr,
    render_entity,
)
from fiware.sandbox.fake_orion.notify import Notifier
from fiware.sandbox.fake_orion.routes import (
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    patch_subscription,
    version,
)
from fiware.sandbox.fake_orion.store import APPEND, APPEND_STRICT, REPLACE, UPDATE, OrionStore
from fiware.sandbox.latency import LatencyMiddleware

ParsedEntity = tuple[str, str | None, dict[str, AttrInput]]
"""``(id, type, attributes)`` of an entity in a request body, as ``parse_entity`` answers it."""

UNSUPPORTED_PARAMS = ("q", "mq", "georel", "geometry", "coords")
BATCH_ACTIONS = {
    "append": "append",
    "appendStrict": "appendStrict",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    # The NGSIv1 names, deprecated but still taken.
    "APPEND": "append",
    "APPEND_STRICT": "appendStrict",
    "UPDATE": "update",
    "DELETE": "delete",
    "REPLACE": "replace",
}


def _notify(call: Call, changes: Iterable[Change]) -> None:
    notifier: Notifier = call.request.app.state.notifier
    subscriptions = list(call.store.tenant(call.service).subscriptions.values())
    notifier.dispatch(subscriptions, call.service, changes, call.correlator)


def _entity(call: Call, entity_id: str) -> Entity:
    entity_type = call.param("type")
    found = call.store.query(
        call.service, call.paths, ids=[entity_id], types=[entity_type] if entity_type else None
    )
    if not found:
        raise OrionError(404, NOT_FOUND_ENTITY)
    if len(found) > 1:
        raise OrionError(409, TOO_MANY_ENTITIES)
    return found[0]


def _failure(parts: list[str], prefix: str, *, all_failed: bool) -> OrionError:
    # Nothing done → Unprocessable; part of it done → PartialUpdate.
    return OrionError(422, prefix + ", ".join(parts), "Unprocessable" if all_failed else "PartialUpdate")


def _attr_list(entity: Entity, names: Iterable[str]) -> str:
    return f"{entity.id}/{entity.type} - [ {', '.join(names)} ]"


_ORDER_KEYS: dict[str, Callable[[Entity], Any]] = {
    "id": lambda entity: entity.id,
    "type": lambda entity: entity.type,
    "dateCreated": lambda entity: entity.created,
    "dateModified": lambda entity: entity.modified,
}


def _ordered(entities: list[Entity], order_by: str | None) -> list[Entity]:
    if order_by is None:
        return entities
    out = list(entities)
    for key in reversed(order_by.split(",")):
        name = key.removeprefix("!")
        if name not in _ORDER_KEYS:
            raise bad_request(f"the sandbox does not implement orderBy /{name}/")
        out.sort(key=_ORDER_KEYS[name], reverse=key.startswith("!"))
    return out


def _unique(rows: list[Json]) -> list[Json]:
    out: dict[str, Json] = {}
    for row in rows:
        out.setdefault(canonical(row), row)
    return list(out.values())


# -- entities ---------------------------------------------------------------------------------------


async def list_entities(request: Request) -> Response:
    call = await prepare(request, update=False)
    for name in UNSUPPORTED_PARAMS:
        if call.param(name) is not None:
            raise bad_request(f"the sandbox does not implement the URI param /{name}/")
    ids, types = call.csv("id"), call.csv("type")
    id_pattern, type_pattern = call.param("idPattern"), call.param("typePattern")
    if ids and id_pattern:
        raise bad_request("Incompatible parameters: id, IdPattern")
    if types and type_pattern:
        raise bad_request("Incompatible parameters: type, typePattern")
    for pattern, what in ((id_pattern, "idPattern"), (type_pattern, "typePattern")):
        try:
            re.compile(pattern or "")
        except re.error as exc:
            raise bad_request(f"Invalid regex for entity {what}") from exc
    found = call.store.query(
        call.service, call.paths, ids=ids, types=types, id_pattern=id_pattern, type_pattern=type_pattern
    )
    found = _ordered(found, call.param("orderBy"))
    limit, offset = call.page()
    body = [render_entity(e, call.mode(), call.csv("attrs"), call.csv("metadata")) for e in found]
    if "unique" in call.options:
        body = _unique(body)
    headers = {"Fiware-Total-Count": str(len(body))} if "count" in call.options else None
    return JSONResponse(body[offset : offset + limit], headers=headers)


def _version(call: Call) -> str:
    """The Orion version the sandbox emulates: some of its error texts changed between versions."""
    config: SandboxConfig = call.request.app.state.config
    return config.orion_version


async def create_entity(request: Request) -> Response:
    call = await prepare(request, update=True)
    entity_id, given_type, attrs = parse_entity(
        call.body, key_values="keyValues" in call.options, orion_version=_version(call)
    )
    entity_type = given_type or DEFAULT_ENTITY_TYPE
    location = {"Location": f"/v2/entities/{entity_id}?type={entity_type}"}
    upsert = "upsert" in call.options
    existing = call.store.tenant(call.service).entities.get((entity_id, entity_type, call.paths[0]))
    if existing is None:
        change = call.store.create(call.service, call.paths[0], entity_id, entity_type, attrs)
    elif upsert:
        change, _ = call.store.update(
            existing,
            attrs,
            mode=APPEND,
            override_metadata="overrideMetadata" in call.options,
            forced="forcedUpdate" in call.options,
        )
    else:
        raise OrionError(422, ALREADY_EXISTS)
    _notify(call, [change])
    # Upsert answers 204 with Location whether it created or updated (test 3215_upsert_op).
    return Response(status_code=204 if upsert else 201, headers=location)


async def get_entity(request: Request) -> Response:
    call = await prepare(request, update=False)
    entity = _entity(call, request.path_params["entity_id"])
    return JSONResponse(render_entity(entity, call.mode(), call.csv("attrs"), call.csv("metadata")))


async def delete_entity(request: Request) -> Response:
    call = await prepare(request, update=True)
    entity = _entity(call, request.path_params["entity_id"])
    _notify(call, [call.store.delete_entity(call.service, entity)])
    return Response(status_code=204)


async def get_attrs(request: Request) -> Response:
    call = await prepare(request, update=False)
    entity = _entity(call, request.path_params["entity_id"])
    rendered = render_entity(entity, call.mode(), call.csv("attrs"), call.csv("metadata"), with_id=False)
    return JSONResponse(rendered)


async def _update_attrs(request: Request, mode: str) -> Response:
    call = await prepare(request, update=True)
    entity = _entity(call, request.path_params["entity_id"])
    attrs = parse_attrs(call.body, key_values="keyValues" in call.options, orion_version=_version(call))
    if mode == APPEND and "append" in call.options:
        mode = APPEND_STRICT
    change, failed = call.store.update(
        entity,
        attrs,
        mode=mode,
        override_metadata="overrideMetadata" in call.options,
        forced="forcedUpdate" in call.options,
    )
    _notify(call, [change])
    if failed:
        prefix = ATTRS_EXIST if mode == APPEND_STRICT else ATTRS_MISSING
        raise _failure([_attr_list(entity, failed)], prefix, all_failed=len(failed) == len(attrs))
    return Response(status_code=204)


async def post_attrs(request: Request) -> Response:
    return await _update_attrs(request, APPEND)


async def patch_attrs(request: Request) -> Response:
    return await _update_attrs(request, UPDATE)


async def put_attrs(request: Request) -> Response:
    return await _update_attrs(request, REPLACE)


def _attribute(entity: Entity, name: str) -> None:
    if name not in entity.attrs:
        raise OrionError(404, NOT_FOUND_ATTRIBUTE)


async def get_attr(request: Request) -> Response:
    call = await prepare(request, update=False)
    entity = _entity(call, request.path_params["entity_id"])
    name = request.path_params["attr"]
    _attribute(entity, name)
    return JSONResponse(render_attr(entity.attrs[name], call.csv("metadata")))


async def put_attr(request: Request) -> Response:
    call = await prepare(request, update=True)
    entity = _entity(call, request.path_params["entity_id"])
    name = request.path_params["attr"]
    _attribute(entity, name)
    if not isinstance(call.body, dict):
        raise bad_request("not a JSON object")
    item = parse_attr(name, call.body, key_values=False, orion_version=_version(call))
    change, _ = call.store.update(
        entity,
        {name: item},
        mode=UPDATE,
        override_metadata="overrideMetadata" in call.options,
        forced="forcedUpdate" in call.options,
    )
    _notify(call, [change])
    return Response(status_code=204)


async def delete_attr(request: Request) -> Response:
    call = await prepare(request, update=True)
    entity = _entity(call, request.path_params["entity_id"])
    name = request.path_params["attr"]
    _attribute(entity, name)
    change, _ = call.store.delete_attrs(entity, [name])
    _notify(call, [change])
    return Response(status_code=204)


async def get_value(request: Request) -> Response:
    call = await prepare(request, update=False, text=True)
    entity = _entity(call, request.path_params["entity_id"])
    name = request.path_params["attr"]
    _attribute(entity, name)
    value = entity.attrs[name].value
    if isinstance(value, dict | list):
        return JSONResponse(value)
    accept = request.headers.get("accept", "*/*")
    if not any(kind in accept for kind in ("text/plain", "text/*", "*/*")):
        raise OrionError(406, "acceptable MIME types: text/plain")
    return PlainTextResponse(json.dumps(value, ensure_ascii=False))


async def put_value(request: Request) -> Response:
    call = await prepare(request, update=True, text=True)
    entity = _entity(call, request.path_params["entity_id"])
    name = request.path_params["attr"]
    _attribute(entity, name)
    _notify(call, [call.store.set_value(entity, name, normalize(call.body))])
    return Response(status_code=204)


def _batch_request(body: Json) -> tuple[str, list[Json]]:
    """The action and the entities of a ``POST /v2/op/update`` body, refused as Orion refuses them."""
    if not isinstance(body, dict):
        raise bad_request("not a JSON object")
    action = BATCH_ACTIONS.get(body.get("actionType", ""))
    if action is None:
        raise bad_request(
            "invalid update action type: right ones are: append, appendStrict, delete, replace, update"
        )
    entities = body.get("entities")
    if not isinstance(entities, list) or not entities:
        raise bad_request("empty entities vector")
    return action, entities


@dataclass
class _BatchOutcome:
    """What a batch did so far: the changes to notify, the failures to report, and whether any entity
    or attribute was actually touched."""

    changes: list[Change] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    done: bool = False


BATCH_MODES = {"append": APPEND, "appendStrict": APPEND_STRICT, "update": UPDATE, "replace": REPLACE}


def _batch_missing(call: Call, action: str, outcome: _BatchOutcome, parsed: ParsedEntity) -> None:
    """An entity of the batch that does not exist: the append actions create it, the others fail."""
    entity_id, entity_type, attrs = parsed
    if action in ("append", "appendStrict"):
        entity_type = entity_type or DEFAULT_ENTITY_TYPE
        outcome.changes.append(call.store.create(call.service, call.paths[0], entity_id, entity_type, attrs))
        outcome.done = True
    else:
        outcome.failures.append(f"{entity_id}/{entity_type or ''} - [entity itself]")


def _batch_existing(
    call: Call, action: str, outcome: _BatchOutcome, target: Entity, parsed: ParsedEntity
) -> None:
    """An entity of the batch that exists: deleted whole, or its attributes deleted or updated."""
    attrs = parsed[2]
    if action == "delete" and not attrs:
        outcome.changes.append(call.store.delete_entity(call.service, target))
        outcome.done = True
        return
    if action == "delete":
        change, failed = call.store.delete_attrs(target, list(attrs))
    else:
        change, failed = call.store.update(
            target,
            attrs,
            mode=BATCH_MODES[action],
            override_metadata="overrideMetadata" in call.options,
            forced="forcedUpdate" in call.options,
        )
    outcome.changes.append(change)
    outcome.done = outcome.done or len(failed) < len(attrs) or not attrs
    if failed:
        outcome.failures.append(_attr_list(target, failed))


async def batch_update(request: Request) -> Response:
    call = await prepare(request, update=True)
    action, entities = _batch_request(call.body)
    key_values = "keyValues" in call.options
    # Orion parses the whole payload before it touches anything.
    parsed = [parse_entity(item, key_values=key_values, orion_version=_version(call)) for item in entities]
    outcome = _BatchOutcome()
    for entity in parsed:
        entity_id, entity_type = entity[0], entity[1]
        types = [entity_type] if entity_type else None
        found = call.store.query(call.service, [call.paths[0]], ids=[entity_id], types=types)
        if len(found) > 1:
            raise OrionError(409, TOO_MANY_ENTITIES)
        if found:
            _batch_existing(call, action, outcome, found[0], entity)
        else:
            _batch_missing(call, action, outcome, entity)
    _notify(call, outcome.changes)
    if outcome.failures and not outcome.done and not outcome.changes:
        raise OrionError(404, NOT_FOUND_ENTITY)  # update with none of the entities there
    if outcome.failures:
        prefix = ATTRS_EXIST if action == "appendStrict" else ATTRS_MISSING
        raise _failure(outcome.failures, prefix, all_failed=not outcome.done)
    return Response(status_code=204)


# -- app --------------------------------------------------------------------------------------------


Handler = Callable[[Request], Awaitable[Response]]


def _route(path: str, **handlers: Handler) -> Route:
    """One route per path, so that a wrong method answers 405 with every allowed method."""

    async def endpoint(request: Request) -> Response:
        # Starlette lets HEAD through wherever GET is allowed.
        return await (handlers.get(request.method) or handlers["GET"])(request)

    return Route(path, endpoint, methods=list(handlers))


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    notifier: Notifier = app.state.notifier
    notifier.client()
    try:
        yield
    finally:
        await notifier.aclose()


def create_app(config: SandboxConfig | None = None, store: OrionStore | None = None) -> Starlette:
    config = config or SandboxConfig()
    entity = "/v2/entities/{entity_id}"
    routes = [
        _route("/version", GET=version),
        _route("/v2/entities", GET=list_entities, POST=create_entity),
        _route(entity, GET=get_entity, DELETE=delete_entity),
        _route(f"{entity}/attrs", GET=get_attrs, POST=post_attrs, PATCH=patch_attrs, PUT=put_attrs),
        _route(f"{entity}/attrs/{{attr}}", GET=get_attr, PUT=put_attr, DELETE=delete_attr),
        _route(f"{entity}/attrs/{{attr}}/value", GET=get_value, PUT=put_value),
        _route("/v2/op/update", POST=batch_update),
        _route("/v2/subscriptions", GET=list_subscriptions, POST=create_subscription),
        _route(
            "/v2/subscriptions/{subscription_id}",
            GET=get_subscription,
            PATCH=patch_subscription,
            DELETE=delete_subscription,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(LatencyMiddleware, seconds=config.latency_seconds),
            Middleware(CorrelatorMiddleware),
        ],
        exception_handlers={OrionError: on_orion_error, 404: on_http_error, 405: on_http_error},
        lifespan=_lifespan,
    )
    # Orion answers "Service not found" for /v2/entities// where Starlette would redirect.
    app.router.redirect_slashes = False
    app.state.store = store if store is not None else OrionStore()
    app.state.config = config
    app.state.notifier = Notifier(config.orion_version)
    app.state.started = time.monotonic()
    return app


__all__ = ["OrionError", "OrionStore", "create_app", "service_paths"]
