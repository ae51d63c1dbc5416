"""``POST /notify`` of the STH-Comet sandbox (``sthNotificationHandler.js``): NGSIv1 ``contextResponses``
bodies, ``TimeInstant`` metadata as the stored time when it parses, else the arrival time (``sthUtils.js``
``getAttributeTimestamp``), the (time, attrName, attrType) key with a repeated value ignored and a
different value overwriting, 400 when no attribute is present, 200 with an empty body, and no answer at
all to a body without a ``contextResponses`` array (an NGSIv2 notification)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from fiware.sandbox.fake_sth.dates import now_ms, parse_iso_date
from fiware.sandbox.fake_sth.http import CORRELATOR_HEADER, Failure, correlator, failure_response, tenant_of
from fiware.sandbox.fake_sth.store import SthStore


def _time_instant(attribute: Mapping[str, object]) -> int | None:
    """getAttributeTimestamp: the first ``TimeInstant`` metadata, when its value parses as a date."""
    metadatas = attribute.get("metadatas")
    if not isinstance(metadatas, list):
        return None
    for metadata in metadatas:
        if isinstance(metadata, dict) and metadata.get("name") == "TimeInstant":
            value = metadata.get("value")
            return parse_iso_date(value) if isinstance(value, str) else None
    return None


def _attribute_lists(context_responses: list[Any]) -> list[tuple[dict[str, Any], list[Any]]]:
    """Each context element with its ``attributes`` array; other entries are skipped, as upstream."""
    found = []
    for response in context_responses:
        element = response.get("contextElement") if isinstance(response, dict) else None
        if isinstance(element, dict) and isinstance(element.get("attributes"), list):
            found.append((element, element["attributes"]))
    return found


def _store_attribute(
    store: SthStore, tenant: tuple[str, str], element: Mapping[str, Any], attribute: object, arrival: int
) -> None:
    if not isinstance(attribute, dict):
        return
    entity_type, entity_id, name = element.get("type"), element.get("id"), attribute.get("name")
    attr_type = attribute.get("type")
    # Upstream would file such a point under a collection named after `undefined`, where no query of a
    # real entity can reach it; dropping it is the observable equivalent.
    if not (isinstance(entity_type, str) and isinstance(entity_id, str) and isinstance(name, str)):
        return
    if attr_type is not None and not isinstance(attr_type, str):
        return
    ms = _time_instant(attribute)
    key = (*tenant, entity_type, entity_id, name)
    store.put(key, arrival if ms is None else ms, attr_type, attribute.get("value"))


_NO_ATTRIBUTES: Final = (
    "At least one attribute with an aggregatable value should be included in the notification"
)


def _parse_payload(body: bytes) -> object:
    if not body:
        return None  # hapi hands an empty payload to the handler as null
    try:
        return json.loads(body)
    except ValueError:
        raise Failure(400, "Invalid request payload JSON format") from None


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class NotifyEndpoint:
    """``POST /notify``. Raw ASGI, because for a body without ``contextResponses`` STH's handler returns
    without calling ``reply()``: the sender (Orion) waits until its own timeout."""

    def __init__(self, store: SthStore) -> None:
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = self._handle(request, await request.body())
        except Failure as failure:
            response = failure_response(failure, ngsi_v2=False)
        if response is None:
            await _wait_for_disconnect(receive)
            return
        await response(scope, receive, send)

    def _handle(self, request: Request, body: bytes) -> Response | None:
        # hapi parses the payload before it validates headers, hence this order.
        payload = _parse_payload(body)
        tenant = tenant_of(request)
        responses = payload.get("contextResponses") if isinstance(payload, dict) else None
        if not isinstance(responses, list):
            return None
        elements = _attribute_lists(responses)
        if not any(attributes for _, attributes in elements):
            raise Failure(400, _NO_ATTRIBUTES, {"source": "payload", "keys": ["attributes"]})
        arrival = now_ms()
        for element, attributes in elements:
            for attribute in attributes:
                _store_attribute(self.store, tenant, element, attribute, arrival)
        return Response(status_code=200, headers={CORRELATOR_HEADER: correlator(request)})
