"""app.models.events: a model event survives its trip through Redis, and the hub tells it apart
from training progress."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import redis.asyncio as aioredis

from app.models.events import MODELS_CHANNEL, ModelEvent, ModelEventKind
from app.settings import Settings
from app.training.hub import ProgressHub


def test_an_event_round_trips_through_json() -> None:
    event = ModelEvent(
        model_id=uuid4(),
        kind=ModelEventKind.CHALLENGER_KEPT,
        at=datetime(2026, 12, 7, 3, tzinfo=UTC),
        message="holdout RMSE 1.2 > 1.1",
        training_job_id=uuid4(),
        service="smart",
        service_path="/city",
    )
    assert ModelEvent.from_json(event.to_json()) == event
    bare = ModelEvent(model_id=uuid4(), kind=ModelEventKind.DRIFT_ENDED, at=event.at)
    assert ModelEvent.from_json(bare.to_json()) == bare and bare.terminal is False


async def test_the_hub_delivers_model_events_as_such(test_settings: Settings) -> None:
    event = ModelEvent(model_id=uuid4(), kind=ModelEventKind.DRIFTING, at=datetime.now(UTC), message="x")
    hub = ProgressHub(test_settings.redis_url)
    await hub.start()
    assert await hub.wait_connected(5)
    publisher = aioredis.Redis.from_url(test_settings.redis_url)
    try:
        async with hub.listen(MODELS_CHANNEL) as listener:
            await publisher.publish(MODELS_CHANNEL, event.to_json())
            heard = await asyncio.wait_for(listener.get(), 5)
    finally:
        await publisher.aclose()
        await hub.stop()
    assert heard == event
