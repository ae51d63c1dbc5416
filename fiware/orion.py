"""Orion Context Broker (NGSI v2) client, and the bodies of the forecast entity Chronos publishes:
the entity, its ``forecastSeries`` attribute with the next step as plain attributes, and the
subscription that takes them to the history store (STH-Comet directly or through Cygnus, or
QuantumLeap)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx

from fiware.errors import FiwareError, FiwareNotFound
from fiware.http import DEFAULT_RETRY, RetryPolicy, ServiceClient, Tenant, encode_path

Entity = dict[str, Any]
SERVICE = "Orion"
FORECAST_ATTRIBUTE = "forecastSeries"
# Orion subscription ids are MongoDB ObjectIds: 24 hexadecimal digits.
_SUBSCRIPTION_ID = re.compile(r"[0-9a-fA-F]{24}")


def ngsi_time(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds and 'Z' (``%Y-%m-%dT%H:%M:%S.%fZ``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ForecastPoint:
    step: int
    value: float
    target_timestamp: datetime | None
    lower: float | None = None
    upper: float | None = None


def _point(point: ForecastPoint) -> dict[str, Any]:
    body: dict[str, Any] = {
        "step": point.step,
        "value": point.value,
        "targetTimestamp": ngsi_time(point.target_timestamp) if point.target_timestamp else None,
    }
    if point.lower is not None and point.upper is not None:
        body.update(lower=point.lower, upper=point.upper)
    return body


def forecast_series(
    *,
    generated_at: datetime,
    horizon: int,
    points: Sequence[ForecastPoint],
    interval_level: float | None = None,
    served_by: str | None = None,
    training_job_id: str | None = None,
) -> dict[str, Any]:
    """The ``forecastSeries`` StructuredValue with ``TimeInstant`` metadata; points carry ``lower``
    and ``upper`` at ``intervalLevel`` when the forecast has an interval, ``servedBy`` names the
    forecaster that made it and ``trainingJobId`` the version (a model's entity is fed by whichever
    version is active).

    STH-Comet stores a notified value at its ``TimeInstant`` (``lib/utils/sthUtils.js``
    ``getAttributeTimestamp``), so that is the generation time.
    """
    stamp = ngsi_time(generated_at)
    value: dict[str, Any] = {"generatedAt": stamp, "horizon": horizon, "points": [_point(p) for p in points]}
    if interval_level is not None:
        value["intervalLevel"] = interval_level
    if served_by is not None:
        value["servedBy"] = served_by
    if training_job_id is not None:
        value["trainingJobId"] = training_job_id
    return {
        "type": "StructuredValue",
        "value": value,
        "metadata": {"TimeInstant": {"type": "DateTime", "value": stamp}},
    }


# The next step of the newest forecast as plain attributes: what a chart over a history store
# (a Grafana panel on QuantumLeap's tables) plots without unnesting ``forecastSeries``.
NEXT_VALUE, NEXT_LOWER, NEXT_UPPER, NEXT_AT = (
    "forecastNext",
    "forecastNextLower",
    "forecastNextUpper",
    "forecastNextAt",
)
NEXT_ATTRIBUTES = (NEXT_VALUE, NEXT_LOWER, NEXT_UPPER, NEXT_AT)


def forecast_attributes(series: dict[str, Any], *, next_step: bool = False) -> dict[str, Any]:
    """The attribute update that publishes one :func:`forecast_series`, with its next step as plain
    attributes when ``next_step`` (the entity was made with them: Orion's updates refuse an
    attribute the entity lacks)."""
    return {FORECAST_ATTRIBUTE: series, **(next_step_attributes(series) if next_step else {})}


def next_step_attributes(series: dict[str, Any]) -> dict[str, Any]:
    """``forecastNext`` and ``forecastNextLower``/``forecastNextUpper`` (``null`` when the forecast has
    no interval) as ``Number``, ``forecastNextAt`` its target time as ``DateTime``; each with the
    series' ``TimeInstant`` metadata, so a store indexes them at the generation time, as the series.
    Typed ``Number`` explicitly: QuantumLeap fixes a column's type from its first value, and a first
    forecast of ``1`` would otherwise make it an integer column."""
    points = series["value"]["points"]
    if not points:
        return {}
    first, metadata = points[0], series["metadata"]
    attributes = {NEXT_VALUE: {"type": "Number", "value": first["value"], "metadata": metadata}}
    # Bounds always, null without an interval: a previous forecast's band must not linger.
    for name, bound in ((NEXT_LOWER, "lower"), (NEXT_UPPER, "upper")):
        attributes[name] = {"type": "Number", "value": first.get(bound), "metadata": metadata}
    if first.get("targetTimestamp"):
        attributes[NEXT_AT] = {"type": "DateTime", "value": first["targetTimestamp"], "metadata": metadata}
    return attributes


def forecast_update(
    entity_id: str, entity_type: str | None, series: dict[str, Any], *, next_step: bool = False
) -> Entity:
    """One entity of a batch update (:meth:`OrionClient.update_entities`) that publishes ``series``."""
    entity: Entity = {"id": entity_id, **forecast_attributes(series, next_step=next_step)}
    if entity_type:
        entity["type"] = entity_type
    return entity


def ngsi_attribute(value: object) -> dict[str, Any]:
    """A plain value as an NGSI v2 attribute, typed after its JSON type."""
    # bool before int: a bool is an int to Python, and would otherwise be published as a Number.
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "Number", "value": value}
    if isinstance(value, str):
        return {"type": "Text", "value": value}
    return {"type": "StructuredValue", "value": value}


def forecast_entity(
    *,
    entity_id: str,
    entity_type: str,
    source_entity: str,
    feature: str,
    horizon: int,
    generated_at: datetime,
    attributes: Mapping[str, object],
    next_step: bool = False,
) -> Entity:
    """The forecast entity of a series, with no forecast yet and the user's static attributes; with
    ``next_step``, the next-step attributes too, empty (``null``) until the first forecast."""
    empty = {"type": "Number", "value": None}
    # A DateTime needs a date (Orion refuses others): the entity's creation stands in for none.
    at = {"type": "DateTime", "value": ngsi_time(generated_at)}
    plain = {NEXT_VALUE: empty, NEXT_LOWER: empty, NEXT_UPPER: empty, NEXT_AT: at}
    return {
        "id": entity_id,
        "type": entity_type,
        "sourceEntity": {"type": "Relationship", "value": source_entity},
        "feature": {"type": "Text", "value": feature},
        FORECAST_ATTRIBUTE: forecast_series(generated_at=generated_at, horizon=horizon, points=[]),
        **(plain if next_step else {}),
        **{name: ngsi_attribute(value) for name, value in attributes.items()},
    }


class ForecastSink(StrEnum):
    """Where Orion's subscription takes the published forecasts."""

    STH_LEGACY = "sth-legacy"
    """STH-Comet's ``/notify`` in ``legacy`` (NGSIv1) format: Orion up to 3.x, which STH needs."""
    CYGNUS = "cygnus"
    """Cygnus's ``/notify`` in ``normalized`` format (Orion 4 sends no other), which writes the raw
    collections STH-Comet reads (Cygnus ``NGSIRestHandler``: normalized bodies are parsed as NGSIv2
    when the ``Ngsiv2-AttrsFormat`` header says so, which Orion always sends)."""
    QUANTUMLEAP = "quantumleap"
    """QuantumLeap's ``/v2/notify`` in ``normalized`` format, the only one it takes."""


def forecast_subscription(
    *, entity_id: str, entity_type: str, url: str, sink: ForecastSink = ForecastSink.STH_LEGACY
) -> dict[str, Any]:
    """The subscription that notifies every forecast of the entity to ``url``, in the form ``sink``
    takes. No throttling for any: Orion drops what a throttled subscription would have sent, and two
    forecasts within a second (a short interval, a late run) must both reach the history."""
    attrs = [FORECAST_ATTRIBUTE]
    notification: dict[str, Any] = {"http": {"url": url}, "attrs": attrs}
    if sink is ForecastSink.STH_LEGACY:
        notification["attrsFormat"] = "legacy"
    elif sink is ForecastSink.CYGNUS:
        notification["attrsFormat"] = "normalized"
    else:
        # QuantumLeap indexes a row by TimeInstant (attribute, then metadata): "*" keeps the user
        # metadata, which listing only builtins ("dateModified") would strip from the notification.
        attrs += [*NEXT_ATTRIBUTES, "TimeInstant"]
        notification |= {"attrsFormat": "normalized", "metadata": ["dateModified", "*"]}
    store = {ForecastSink.STH_LEGACY: "STH-Comet", ForecastSink.CYGNUS: "Cygnus"}.get(sink, "QuantumLeap")
    return {
        "description": f"Chronos forecasts of {entity_id} to {store}",
        "subject": {
            "entities": [{"id": entity_id, "type": entity_type}],
            "condition": {"attrs": [FORECAST_ATTRIBUTE]},
        },
        "notification": notification,
    }


class OrionClient:
    def __init__(self, http: httpx.AsyncClient, *, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self.client = ServiceClient(http, service=SERVICE, retry=retry)

    async def version(self) -> dict[str, Any]:
        response = await self.client.request("GET", "/version")
        return self.client.object_of(response)

    async def get_entity(self, entity_id: str, tenant: Tenant, *, entity_type: str | None = None) -> Entity:
        params = {"type": entity_type} if entity_type else None
        response = await self.client.request(
            "GET", encode_path("v2", "entities", entity_id), tenant=tenant, params=params
        )
        return self.client.object_of(response)

    async def find_entity(
        self, entity_id: str, tenant: Tenant, *, entity_type: str | None = None
    ) -> Entity | None:
        try:
            return await self.get_entity(entity_id, tenant, entity_type=entity_type)
        except FiwareNotFound:
            return None

    async def create_entity(self, entity: Mapping[str, Any], tenant: Tenant) -> None:
        """Create; FiwareConflict when it exists (Orion's 422 "Already Exists")."""
        await self.client.request("POST", "/v2/entities", tenant=tenant, json=dict(entity))

    async def upsert_entity(self, entity: Mapping[str, Any], tenant: Tenant) -> None:
        """Create, or update the given attributes of an existing entity (``options=upsert``)."""
        await self.client.request(
            "POST", "/v2/entities", tenant=tenant, params={"options": "upsert"}, json=dict(entity)
        )

    async def update_attributes(
        self,
        entity_id: str,
        attributes: Mapping[str, Any],
        tenant: Tenant,
        *,
        entity_type: str | None = None,
    ) -> None:
        """Update existing attributes (PATCH); FiwareBadRequest/NotFound when one or the entity is missing."""
        params = {"type": entity_type} if entity_type else None
        await self.client.request(
            "PATCH",
            encode_path("v2", "entities", entity_id, "attrs"),
            tenant=tenant,
            params=params,
            json=dict(attributes),
        )

    async def update_entities(
        self, entities: Sequence[Mapping[str, Any]], tenant: Tenant, *, action: str = "update"
    ) -> None:
        """Many entities in one request (``POST /v2/op/update``), each ``{"id", "type", <attrs>}``.

        ``update`` changes attributes of existing entities and creates nothing; ``append`` creates
        what is missing. Orion answers 204 when every entity was done. When some do not exist, it
        still updates the others and answers 422 ``PartialUpdate`` naming the missing ones
        (``do not exist: <id>/<type> - [entity itself]``), or 404 when none exist; releases before
        that report (telefonicaid/fiware-orion#3499, 2023) answered 404 for the whole batch with the
        others updated all the same. So a caller that must know the fate of each entity sends the
        batch's entities again one at a time (:meth:`update_attributes`): Orion notifies a change
        only, so a value sent twice reaches subscribers once.
        Raises FiwareNotFound (404), FiwareBadRequest (422, other 4xx) or FiwareUnavailable.
        """
        await self.client.request(
            "POST",
            "/v2/op/update",
            tenant=tenant,
            json={"actionType": action, "entities": [dict(entity) for entity in entities]},
        )

    async def delete_entity(self, entity_id: str, tenant: Tenant, *, entity_type: str | None = None) -> None:
        params = {"type": entity_type} if entity_type else None
        await self.client.request(
            "DELETE", encode_path("v2", "entities", entity_id), tenant=tenant, params=params
        )

    async def create_subscription(self, subscription: Mapping[str, Any], tenant: Tenant) -> str:
        """Create a subscription and answer its id, read from the ``Location`` header."""
        response = await self.client.request(
            "POST", "/v2/subscriptions", tenant=tenant, json=dict(subscription)
        )
        location = str(response.headers.get("location", ""))
        subscription_id = location.rsplit("/", 1)[-1]
        if not _SUBSCRIPTION_ID.fullmatch(subscription_id):
            # Without its id the subscription could never be deleted: refuse to go on blind.
            raise FiwareError(
                f"Orion answered {response.status_code} with Location {location!r}, not a subscription",
                service=SERVICE,
                status=response.status_code,
            )
        return subscription_id

    async def delete_subscription(self, subscription_id: str, tenant: Tenant) -> None:
        await self.client.request(
            "DELETE", encode_path("v2", "subscriptions", subscription_id), tenant=tenant
        )


__all__ = [
    "FORECAST_ATTRIBUTE",
    "NEXT_ATTRIBUTES",
    "Entity",
    "ForecastPoint",
    "ForecastSink",
    "OrionClient",
    "forecast_attributes",
    "forecast_entity",
    "forecast_series",
    "forecast_subscription",
    "forecast_update",
    "next_step_attributes",
    "ngsi_attribute",
    "ngsi_time",
]
