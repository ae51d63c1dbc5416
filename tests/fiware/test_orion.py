"""The Orion client against the sandbox, over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from fiware.errors import FiwareBadRequest, FiwareConflict, FiwareNotFound
from fiware.http import RetryPolicy, Tenant, make_http_client
from fiware.orion import (
    NEXT_ATTRIBUTES,
    Entity,
    ForecastPoint,
    ForecastSink,
    OrionClient,
    forecast_attributes,
    forecast_entity,
    forecast_series,
    forecast_subscription,
    forecast_update,
    ngsi_attribute,
    ngsi_time,
)
from fiware.sandbox.runner import Sandbox
from fiware.sth import Series, SthClient

TENANT = Tenant("smart", "/")
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, deadline=5)


def entity(entity_id: str | None = None) -> dict[str, object]:
    return {
        "id": entity_id or f"urn:ngsi-ld:Chronos:Prediction:{uuid.uuid4().hex[:12]}",
        "type": "Prediction",
        "feature": {"type": "Text", "value": "temperature"},
    }


def test_forecast_series_is_a_structured_value_stamped_with_time_instant() -> None:
    generated = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    attribute = forecast_series(
        generated_at=generated,
        horizon=2,
        points=[
            ForecastPoint(1, 20.5, datetime(2026, 11, 25, 10, 30, tzinfo=UTC)),
            ForecastPoint(2, 20.75, None),
        ],
    )
    assert attribute == {
        "type": "StructuredValue",
        "value": {
            "generatedAt": "2026-11-25T10:00:00.123456Z",
            "horizon": 2,
            "points": [
                {"step": 1, "value": 20.5, "targetTimestamp": "2026-11-25T10:30:00.000000Z"},
                {"step": 2, "value": 20.75, "targetTimestamp": None},
            ],
        },
        "metadata": {"TimeInstant": {"type": "DateTime", "value": "2026-11-25T10:00:00.123456Z"}},
    }
    assert ngsi_time(datetime(2026, 1, 1, 1, tzinfo=UTC).astimezone()) == "2026-01-01T01:00:00.000000Z"


def test_a_forecast_with_an_interval_carries_its_bounds_and_level() -> None:
    generated = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    points = [ForecastPoint(1, 20.5, None, 20.0, 21.0), ForecastPoint(2, 20.75, None, None, None)]
    value = forecast_series(generated_at=generated, horizon=2, points=points, interval_level=0.8)["value"]
    assert value == {
        "generatedAt": "2026-11-25T10:00:00.000000Z",
        "horizon": 2,
        "points": [
            {"step": 1, "value": 20.5, "targetTimestamp": None, "lower": 20.0, "upper": 21.0},
            {"step": 2, "value": 20.75, "targetTimestamp": None},
        ],
        "intervalLevel": 0.8,
    }


def test_forecast_attributes_publish_the_series_under_forecast_series() -> None:
    generated = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    update = forecast_attributes(
        forecast_series(generated_at=generated, horizon=1, points=[ForecastPoint(1, 3.5, None)])
    )
    assert update == {
        "forecastSeries": {
            "type": "StructuredValue",
            "value": {
                "generatedAt": "2026-11-25T10:00:00.000000Z",
                "horizon": 1,
                "points": [{"step": 1, "value": 3.5, "targetTimestamp": None}],
            },
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2026-11-25T10:00:00.000000Z"}},
        }
    }


def test_the_next_step_is_published_as_plain_attributes_at_the_series_time_when_asked() -> None:
    generated = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    target = datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
    points = [ForecastPoint(1, 1, target, 0.5, 1.5), ForecastPoint(2, 2.0, None, 1.0, 3.0)]
    series = forecast_series(generated_at=generated, horizon=2, points=points, interval_level=0.8)
    stamp = {"TimeInstant": {"type": "DateTime", "value": "2026-11-25T10:00:00.000000Z"}}
    assert forecast_attributes(series, next_step=True) == {
        "forecastSeries": series,
        # Number even for a whole value: a store that types a column from its first value must
        # not make it an integer column.
        "forecastNext": {"type": "Number", "value": 1, "metadata": stamp},
        "forecastNextLower": {"type": "Number", "value": 0.5, "metadata": stamp},
        "forecastNextUpper": {"type": "Number", "value": 1.5, "metadata": stamp},
        "forecastNextAt": {"type": "DateTime", "value": "2026-11-25T10:05:00.000000Z", "metadata": stamp},
    }
    assert forecast_attributes(series) == {"forecastSeries": series}
    no_interval = forecast_series(generated_at=generated, horizon=1, points=[ForecastPoint(1, 3.5, None)])
    plain = forecast_attributes(no_interval, next_step=True)
    # No interval: the bounds are published empty, so a previous forecast's band does not linger.
    assert plain["forecastNextLower"]["value"] is None and plain["forecastNextUpper"]["value"] is None
    assert plain.keys() == {"forecastSeries", "forecastNext", "forecastNextLower", "forecastNextUpper"}
    empty = forecast_series(generated_at=generated, horizon=1, points=[])
    assert forecast_attributes(empty, next_step=True) == {"forecastSeries": empty}


def test_plain_values_become_attributes_typed_after_their_json_type() -> None:
    assert ngsi_attribute(True) == {"type": "Boolean", "value": True}
    assert ngsi_attribute(3) == {"type": "Number", "value": 3}
    assert ngsi_attribute(2.5) == {"type": "Number", "value": 2.5}
    assert ngsi_attribute("north") == {"type": "Text", "value": "north"}
    assert ngsi_attribute([1, "a"]) == {"type": "StructuredValue", "value": [1, "a"]}
    assert ngsi_attribute({"floor": 2}) == {"type": "StructuredValue", "value": {"floor": 2}}


def test_forecast_entity_body() -> None:
    entity = forecast_entity(
        entity_id="urn:ngsi-ld:Chronos:Prediction:ab12",
        entity_type="Prediction",
        source_entity="urn:s:1",
        feature="temperature",
        horizon=3,
        generated_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        attributes={"room": "lab", "floor": 2},
    )
    assert entity == {
        "id": "urn:ngsi-ld:Chronos:Prediction:ab12",
        "type": "Prediction",
        "sourceEntity": {"type": "Relationship", "value": "urn:s:1"},
        "feature": {"type": "Text", "value": "temperature"},
        "forecastSeries": {
            "type": "StructuredValue",
            "value": {"generatedAt": "2026-11-25T10:00:00.000000Z", "horizon": 3, "points": []},
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2026-11-25T10:00:00.000000Z"}},
        },
        "room": {"type": "Text", "value": "lab"},
        "floor": {"type": "Number", "value": 2},
    }
    with_next = forecast_entity(
        entity_id="e", entity_type="Prediction", source_entity="urn:s:1", feature="t", horizon=1,
        generated_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC), attributes={}, next_step=True,
    )  # fmt: skip
    # Made with the next-step attributes, empty: Orion's updates refuse attributes an entity lacks.
    assert {name: with_next[name] for name in NEXT_ATTRIBUTES} == {
        "forecastNext": {"type": "Number", "value": None},
        "forecastNextLower": {"type": "Number", "value": None},
        "forecastNextUpper": {"type": "Number", "value": None},
        "forecastNextAt": {"type": "DateTime", "value": "2026-11-25T10:00:00.000000Z"},
    }


def test_forecast_subscription_body_notifies_legacy_without_throttling() -> None:
    subscription = forecast_subscription(
        entity_id="urn:ngsi-ld:Chronos:Prediction:ab12",
        entity_type="Prediction",
        url="http://sth:8666/notify",
    )
    assert subscription == {
        "description": "Chronos forecasts of urn:ngsi-ld:Chronos:Prediction:ab12 to STH-Comet",
        "subject": {
            "entities": [{"id": "urn:ngsi-ld:Chronos:Prediction:ab12", "type": "Prediction"}],
            "condition": {"attrs": ["forecastSeries"]},
        },
        "notification": {
            "http": {"url": "http://sth:8666/notify"},
            "attrs": ["forecastSeries"],
            "attrsFormat": "legacy",
        },
    }


async def test_entity_life_cycle(sandbox: Sandbox) -> None:
    created = entity()
    entity_id = str(created["id"])
    async with make_http_client(sandbox.orion_url) as http:
        orion = OrionClient(http, retry=FAST)
        assert "orion" in await orion.version()
        assert await orion.find_entity(entity_id, TENANT) is None
        await orion.create_entity(created, TENANT)
        with pytest.raises(FiwareConflict):
            await orion.create_entity(created, TENANT)
        series = forecast_series(generated_at=datetime.now(UTC), horizon=0, points=[])
        await orion.upsert_entity({"id": entity_id, "type": "Prediction", "forecastSeries": series}, TENANT)
        await orion.update_attributes(entity_id, {"feature": {"type": "Text", "value": "humidity"}}, TENANT)
        stored = await orion.get_entity(entity_id, TENANT, entity_type="Prediction")
        assert stored["feature"]["value"] == "humidity"
        assert stored["forecastSeries"]["type"] == "StructuredValue"
        assert stored["forecastSeries"]["metadata"]["TimeInstant"]["type"] == "DateTime"
        await orion.delete_entity(entity_id, TENANT)
        with pytest.raises(FiwareNotFound):
            await orion.get_entity(entity_id, TENANT)
        with pytest.raises(FiwareNotFound):
            await orion.delete_entity(entity_id, TENANT)


async def test_tenants_are_kept_apart(sandbox: Sandbox) -> None:
    created = entity()
    async with make_http_client(sandbox.orion_url) as http:
        orion = OrionClient(http, retry=FAST)
        await orion.create_entity(created, Tenant("city_a"))
        assert await orion.find_entity(str(created["id"]), Tenant("city_a")) is not None
        assert await orion.find_entity(str(created["id"]), Tenant("city_b")) is None


async def test_subscription_id_comes_from_location_and_can_be_deleted(sandbox: Sandbox) -> None:
    created = entity()
    subscription = {
        "description": "Chronos - Forecast updates",
        "subject": {
            "entities": [{"id": created["id"], "type": "Prediction"}],
            "condition": {"attrs": ["forecastSeries"]},
        },
        "notification": {
            "http": {"url": f"{sandbox.sth_url}/notify"},
            "attrs": ["forecastSeries"],
            "attrsFormat": "legacy",
        },
        "throttling": 1,
    }
    async with make_http_client(sandbox.orion_url) as http:
        orion = OrionClient(http, retry=FAST)
        subscription_id = await orion.create_subscription(subscription, TENANT)
        assert len(subscription_id) == 24 and int(subscription_id, 16) >= 0
        await orion.delete_subscription(subscription_id, TENANT)
        with pytest.raises(FiwareNotFound):
            await orion.delete_subscription(subscription_id, TENANT)


async def test_forecasts_reach_sth_through_a_legacy_subscription(sandbox: Sandbox) -> None:
    from fiware.sth import Series, SthClient

    tenant = Tenant(f"t_{uuid.uuid4().hex[:8]}", "/forecasts")
    created = entity()
    entity_id = str(created["id"])
    subscription = {
        "subject": {
            "entities": [{"id": entity_id, "type": "Prediction"}],
            "condition": {"attrs": ["forecastSeries"]},
        },
        "notification": {
            "http": {"url": f"{sandbox.sth_url}/notify"},
            "attrs": ["forecastSeries"],
            "attrsFormat": "legacy",
        },
    }
    generated = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    series = forecast_series(generated_at=generated, horizon=1, points=[ForecastPoint(1, 7.5, None)])
    history = Series("Prediction", entity_id, "forecastSeries")
    async with (
        make_http_client(sandbox.orion_url) as orion_http,
        make_http_client(sandbox.sth_url) as sth_http,
    ):
        orion, sth = OrionClient(orion_http, retry=FAST), SthClient(sth_http, retry=FAST)
        await orion.create_entity(created, tenant)
        await orion.create_subscription(subscription, tenant)
        await orion.upsert_entity({"id": entity_id, "type": "Prediction", "forecastSeries": series}, tenant)
        for _ in range(100):  # the notification travels asynchronously, Orion thread to STH thread
            stored = await sth.raw(history, tenant, last_n=10)
            if stored.entries:
                break
            await asyncio.sleep(0.05)
    [entry] = stored.entries
    assert entry.recv_time == "2026-11-25T09:00:00.000Z", "STH keeps the point at its TimeInstant"
    assert entry.attr_type == "StructuredValue"
    assert isinstance(entry.attr_value, dict) and entry.attr_value["points"][0]["value"] == 7.5


async def test_a_batch_update_reports_missing_entities_and_a_repeat_notifies_no_one(sandbox: Sandbox) -> None:
    tenant = Tenant(f"t_{uuid.uuid4().hex[:8]}", "/")
    empty = forecast_series(generated_at=datetime(2026, 11, 25, 8, 0, tzinfo=UTC), horizon=1, points=[])
    present = [str(entity()["id"]) for _ in range(2)]
    missing = str(entity()["id"])
    subscription = {
        "subject": {
            "entities": [{"idPattern": ".*", "type": "Prediction"}],
            "condition": {"attrs": ["forecastSeries"]},
        },
        "notification": {
            "http": {"url": f"{sandbox.sth_url}/notify"},
            "attrs": ["forecastSeries"],
            "attrsFormat": "legacy",
        },
    }

    def update(entity_id: str, minute: int) -> Entity:
        # Generated at 09:<minute>, its value `minute`: STH-Comet keeps one point per time.
        generated = datetime(2026, 11, 25, 9, minute, tzinfo=UTC)
        points = [ForecastPoint(1, float(minute), None)]
        return forecast_update(
            entity_id, "Prediction", forecast_series(generated_at=generated, horizon=1, points=points)
        )

    async def value(orion: OrionClient, entity_id: str) -> float:
        return float(
            (await orion.get_entity(entity_id, tenant))["forecastSeries"]["value"]["points"][0]["value"]
        )

    async with (
        make_http_client(sandbox.orion_url) as orion_http,
        make_http_client(sandbox.sth_url) as sth_http,
    ):
        orion, sth = OrionClient(orion_http, retry=FAST), SthClient(sth_http, retry=FAST)
        await orion.create_subscription(subscription, tenant)
        for entity_id in present:
            await orion.create_entity({**entity(entity_id), "forecastSeries": empty}, tenant)
        await orion.update_entities([update(entity_id, 1) for entity_id in present], tenant)
        assert [await value(orion, entity_id) for entity_id in present] == [1.0, 1.0]
        # One entity missing: the others are updated all the same, and the answer names it.
        with pytest.raises(FiwareBadRequest) as partial:
            await orion.update_entities([update(present[0], 2), update(missing, 2)], tenant)
        assert partial.value.status == 422 and missing in str(partial.value.body)
        assert await value(orion, present[0]) == 2.0
        with pytest.raises(FiwareNotFound):
            await orion.update_entities([update(missing, 3)], tenant)
        # Sending an update Orion took once more changes nothing and notifies no one.
        again = update(present[0], 2)
        await orion.update_attributes(present[0], forecast_attributes(again["forecastSeries"]), tenant)
        history = Series("Prediction", present[0], "forecastSeries")
        for _ in range(100):
            if len((await sth.raw(history, tenant, last_n=10)).entries) >= 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stored = await sth.raw(history, tenant, last_n=10)
    # The entity's creation (no forecast yet), then each forecast once.
    assert [entry.recv_time for entry in stored.entries] == [
        "2026-11-25T08:00:00.000Z", "2026-11-25T09:01:00.000Z", "2026-11-25T09:02:00.000Z",
    ]  # fmt: skip


def test_orion_4_subscriptions_notify_normalized_to_cygnus_and_quantumleap() -> None:
    entity = "urn:ngsi-ld:Chronos:Prediction:ab12"
    cygnus = forecast_subscription(
        entity_id=entity, entity_type="Prediction", url="http://cygnus:5051/notify", sink=ForecastSink.CYGNUS
    )
    assert cygnus["description"] == f"Chronos forecasts of {entity} to Cygnus"
    assert cygnus["notification"] == {
        "http": {"url": "http://cygnus:5051/notify"},
        "attrs": ["forecastSeries"],
        "attrsFormat": "normalized",
    }
    quantumleap = forecast_subscription(
        entity_id=entity,
        entity_type="Prediction",
        url="http://ql:8668/v2/notify",
        sink=ForecastSink.QUANTUMLEAP,
    )
    assert quantumleap == {
        "description": f"Chronos forecasts of {entity} to QuantumLeap",
        "subject": {
            "entities": [{"id": entity, "type": "Prediction"}],
            "condition": {"attrs": ["forecastSeries"]},
        },
        "notification": {
            "http": {"url": "http://ql:8668/v2/notify"},
            "attrs": [
                "forecastSeries",
                "forecastNext",
                "forecastNextLower",
                "forecastNextUpper",
                "forecastNextAt",
                "TimeInstant",
            ],
            "attrsFormat": "normalized",
            # "*" keeps TimeInstant metadata, which listing builtins alone would strip.
            "metadata": ["dateModified", "*"],
        },
    }
    assert "throttling" not in quantumleap and "throttling" not in cygnus
