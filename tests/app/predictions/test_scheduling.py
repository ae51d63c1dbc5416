"""The scheduler's claims and a run's settlement, on a real MongoDB: every slot ends once, and only
the current one runs after an outage.

Runs here never reach FIWARE (each path settles before it would); the runs that publish are in
``tests/tasks/test_forecasting.py`` and ``tests/chaos/test_forecasts.py``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis

from app.predictions import scheduling
from app.predictions.forecasters import Forecasters
from app.predictions.scheduling import Attempt, ForecastOutcome
from app.predictions.slots import RECENT_MISSES
from app.settings import Settings
from app.timeutil import utcnow
from app.training.documents import MissReason, PredictionConfig, TrainingJobDocument
from fiware.clients import FiwareClients
from tests.app.predictions.test_recurring import completed_job

MINUTE = timedelta(minutes=1)


async def scheduled(next_at: datetime, **config: Any) -> UUID:
    """A completed job with forecasts on every minute, next due at ``next_at``."""
    job = await completed_job()
    settings = {"enabled": True, "interval_seconds": 60.0, "next_prediction_at": next_at, **config}
    await TrainingJobDocument.get_pymongo_collection().update_one(
        {"_id": job.id}, {"$set": {f"prediction_config.{k}": v for k, v in settings.items()}}
    )
    return job.id


async def config_of(job_id: UUID) -> PredictionConfig:
    stored = await TrainingJobDocument.get(job_id)
    assert stored is not None
    return stored.prediction_config


async def run(job_id: UUID, slot: datetime, fiware: FiwareClients, **attempt: Any) -> scheduling.Ran:
    return await scheduling.run_forecast(
        job_id=job_id,
        slot=slot,
        attempt=Attempt(**attempt),
        fiware=fiware,
        forecasters=Forecasters(),
        max_gap_steps=3,
    )


async def test_behind_by_ten_slots_the_gap_is_recorded_and_only_the_current_slot_runs(beanie_db: str) -> None:
    due = utcnow() - 10.5 * MINUTE
    job_id = await scheduled(due)
    claimed = [item for item in await scheduling.claim_due(batch=100) if item.job_id == job_id]
    assert len(claimed) == 1
    assert claimed[0].slot == due + 10 * MINUTE and claimed[0].missed == 10
    config = await config_of(job_id)
    assert config.next_prediction_at == due + 11 * MINUTE
    assert config.missed_count == 10
    assert [(m.slot, m.reason) for m in config.recent_misses] == [
        (due + k * MINUTE, MissReason.NO_WORKER) for k in range(10)
    ]
    assert config.last_error is not None and config.last_error.startswith("10 forecast slot(s) missed")


async def test_an_outage_of_thousands_of_slots_adds_a_count_not_a_list(beanie_db: str) -> None:
    due = utcnow() - 5000 * MINUTE - timedelta(seconds=1)
    job_id = await scheduled(due)
    (claimed,) = [item for item in await scheduling.claim_due(batch=100) if item.job_id == job_id]
    config = await config_of(job_id)
    assert claimed.missed == config.missed_count == 5000
    assert len(config.recent_misses) == RECENT_MISSES
    assert config.recent_misses[-1].slot == claimed.slot - MINUTE


async def test_two_schedulers_at_once_claim_each_slot_and_record_each_gap_once(beanie_db: str) -> None:
    job_id = await scheduled(utcnow() - 3.5 * MINUTE)
    first, second = await asyncio.gather(scheduling.claim_due(batch=100), scheduling.claim_due(batch=100))
    claims = [item for item in first + second if item.job_id == job_id]
    assert len(claims) == 1
    assert (await config_of(job_id)).missed_count == 3


async def test_on_time_claims_stay_on_the_grid(beanie_db: str) -> None:
    due = utcnow() - timedelta(seconds=1)
    job_id = await scheduled(due)
    (claimed,) = [item for item in await scheduling.claim_due(batch=100) if item.job_id == job_id]
    assert (claimed.slot, claimed.missed) == (due, 0)
    config = await config_of(job_id)
    assert (
        config.next_prediction_at == due + MINUTE and config.missed_count == 0 and config.last_error is None
    )


async def test_a_run_that_starts_after_the_next_slot_is_due_is_recorded_once(
    beanie_db: str, fiware: FiwareClients
) -> None:
    slot = utcnow() - MINUTE - timedelta(seconds=1)
    job_id = await scheduled(slot + MINUTE)
    ran = await run(job_id, slot, fiware)
    assert (ran.outcome, ran.missed) == (ForecastOutcome.LATE, MissReason.NO_WORKER)
    # The same message delivered again changes nothing.
    again = await run(job_id, slot, fiware, retrying=True)
    assert (again.outcome, again.missed) == (ForecastOutcome.SKIPPED, None)
    config = await config_of(job_id)
    assert config.missed_count == 1 and config.run_count == 0
    assert config.last_error is not None and "no worker ran it in time" in config.last_error


async def test_a_retry_overtaken_by_a_newer_slot_is_recorded_with_its_cause(
    beanie_db: str, fiware: FiwareClients
) -> None:
    slot = utcnow() - timedelta(seconds=30)
    job_id = await scheduled(slot + MINUTE, last_slot=slot + timedelta(seconds=20))
    ran = await run(
        job_id, slot, fiware, retrying=True, cause=MissReason.ORION_UNAVAILABLE, error="Orion is unavailable"
    )
    assert (ran.outcome, ran.missed) == (ForecastOutcome.LATE, MissReason.ORION_UNAVAILABLE)
    config = await config_of(job_id)
    assert [(m.slot, m.reason) for m in config.recent_misses] == [(slot, MissReason.ORION_UNAVAILABLE)]
    assert config.last_error == "Orion is unavailable"


async def test_a_slot_whose_run_is_under_way_or_switched_off_is_left_alone(
    beanie_db: str, fiware: FiwareClients
) -> None:
    slot = utcnow() - timedelta(seconds=5)
    running = await scheduled(slot + MINUTE, last_slot=slot)
    assert (await run(running, slot, fiware)).outcome is ForecastOutcome.SKIPPED
    off = await scheduled(slot + MINUTE, enabled=False)
    assert (await run(off, slot, fiware)).outcome is ForecastOutcome.SKIPPED
    for job_id in (running, off):
        assert (await config_of(job_id)).missed_count == 0


async def test_ticks_run_one_at_a_time_and_without_redis_run_anyway(test_settings: Settings) -> None:
    redis = aioredis.Redis.from_url(test_settings.redis_url)
    gone = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        await redis.delete(scheduling.TICK_LOCK)
        async with scheduling.sole_tick(redis=redis, interval=1.0) as first:
            async with scheduling.sole_tick(redis=redis, interval=1.0) as second:
                assert (first, second) == (True, False)
            # The lock lasts a few intervals: a tick that died holding it stops ticks that long.
            assert 0 < await redis.pttl(scheduling.TICK_LOCK) <= 3000
        async with scheduling.sole_tick(redis=redis, interval=1.0) as after:
            assert after is True  # released when the tick ended
        # Redis cannot tell: the tick runs (its claims are compare-and-sets; the lock only saves work).
        async with scheduling.sole_tick(redis=gone, interval=1.0) as alone:
            assert alone is True
    finally:
        await redis.aclose()
        await gone.aclose()


async def test_late_batches_hold_claims_while_they_start_late_and_on_time_lifts_the_hold(
    test_settings: Settings,
) -> None:
    redis = aioredis.Redis.from_url(test_settings.redis_url)
    gone = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        await redis.delete(scheduling.BEHIND_KEY)
        assert await scheduling.workers_behind(redis=redis) is None
        share = scheduling.BEHIND_SHARE
        await scheduling.note_behind(redis=redis, behind=share, seconds=30, hold=5.0)
        assert await scheduling.workers_behind(redis=redis) is None, "at the share: not behind yet"
        await scheduling.note_behind(redis=redis, behind=0.9, seconds=0.9, hold=1.0)
        assert await scheduling.workers_behind(redis=redis) is None, "0.9 s of a 1 s slot: the ticks' cadence"
        await scheduling.note_behind(redis=redis, behind=0.8, seconds=48, hold=0.3)
        assert await scheduling.workers_behind(redis=redis) == 0.8
        await asyncio.sleep(0.4)
        assert await scheduling.workers_behind(redis=redis) is None, "no late batch since: the hold lapsed"
        await scheduling.note_behind(redis=redis, behind=1.5, seconds=90, hold=5.0)
        await scheduling.note_behind(redis=redis, behind=0.1, seconds=6, hold=5.0)
        assert await scheduling.workers_behind(redis=redis) is None, "a batch on time lifts it"
        # Without Redis nothing holds the ticks, and noting fails quietly.
        await scheduling.note_behind(redis=gone, behind=2.0, seconds=120, hold=5.0)
        assert await scheduling.workers_behind(redis=gone) is None
    finally:
        await redis.aclose()
        await gone.aclose()


async def test_a_long_tick_keeps_the_lock_and_a_dead_one_loses_it(test_settings: Settings) -> None:
    redis = aioredis.Redis.from_url(test_settings.redis_url)
    try:
        await redis.delete(scheduling.TICK_LOCK)
        async with scheduling.sole_tick(redis=redis, interval=0.1) as first:
            await asyncio.sleep(scheduling.TICK_LOCK_SECONDS + 1)  # longer than the lock lasts
            async with scheduling.sole_tick(redis=redis, interval=0.1) as second:
                assert (first, second) == (True, False)
        # A tick that died holding it (its worker killed) stops the others for the lock's time only.
        await redis.set(scheduling.TICK_LOCK, "dead", px=500)
        async with scheduling.sole_tick(redis=redis, interval=0.1) as blocked:
            assert blocked is False
        await asyncio.sleep(0.6)
        async with scheduling.sole_tick(redis=redis, interval=0.1) as after:
            assert after is True
    finally:
        await redis.aclose()
