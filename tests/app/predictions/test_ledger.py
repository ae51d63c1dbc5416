"""Settling slots and telling the log about an outage, on a real MongoDB."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import structlog

from app.predictions import ledger
from app.timeutil import utcnow
from app.training.documents import MissReason, TrainingJobDocument
from tests.app.predictions.test_recurring import completed_job

ORION = MissReason.ORION_UNAVAILABLE


async def job_with_forecasts() -> UUID:
    job = await completed_job()
    await TrainingJobDocument.get_pymongo_collection().update_one(
        {"_id": job.id},
        {"$set": {"prediction_config.enabled": True, "prediction_config.interval_seconds": 60.0}},
    )
    return job.id


async def stored(job_id: UUID) -> Any:
    found = await TrainingJobDocument.get(job_id)
    assert found is not None
    return found.prediction_config


def events(logs: Sequence[MutableMapping[str, Any]], prefix: str = "prediction.") -> list[str]:
    return [str(entry["event"]) for entry in logs if str(entry["event"]).startswith(prefix)]


async def test_a_slot_settles_once_whichever_way_and_however_often(beanie_db: str) -> None:
    job_id = await job_with_forecasts()
    slot, other = utcnow(), utcnow() + timedelta(minutes=1)
    assert await ledger.settle_missed(job_id=job_id, slot=slot, reason=ORION, error="Orion is unavailable")
    assert not await ledger.settle_missed(job_id=job_id, slot=slot, reason=ORION, error="again")
    assert not await ledger.settle_published(job_id=job_id, slot=slot)
    assert await ledger.settle_published(job_id=job_id, slot=other)
    assert not await ledger.settle_published(job_id=job_id, slot=other)
    config = await stored(job_id)
    assert (config.missed_count, config.run_count) == (1, 1)
    assert [(m.slot, m.reason) for m in config.recent_misses] == [(slot, ORION)]
    assert config.last_error is None and config.failure_streak is None


async def test_concurrent_settlements_of_one_slot_record_it_once(beanie_db: str) -> None:
    job_id = await job_with_forecasts()
    slot = utcnow()
    outcomes = await asyncio.gather(
        *(ledger.settle_missed(job_id=job_id, slot=slot, reason=ORION, error="x") for _ in range(5)),
        ledger.settle_published(job_id=job_id, slot=slot),
    )
    assert sum(outcomes) == 1
    config = await stored(job_id)
    assert config.missed_count + config.run_count == 1


async def test_an_outage_logs_its_first_failure_then_summaries_then_its_recovery(beanie_db: str) -> None:
    job_id = await job_with_forecasts()
    slot = utcnow()
    with structlog.testing.capture_logs() as logs:
        for attempt in range(5):
            await ledger.note_failure(job_id=job_id, slot=slot, reason=ORION, error=f"failure {attempt}")
    # Within one summary period: one line for five failures.
    assert events(logs) == ["prediction.publish_failed"]
    assert logs[0]["log_level"] == "warning" and logs[0]["error"] == "failure 0"
    assert (await stored(job_id)).last_error == "failure 4"

    with structlog.testing.capture_logs() as logs:
        await ledger.note_failure(
            job_id=job_id, slot=slot, reason=ORION, error="failure 5", summary_seconds=0
        )
    assert events(logs) == ["prediction.still_failing"]
    assert logs[0]["failures"] == 6 and logs[0]["last_error"] == "failure 5"

    with structlog.testing.capture_logs() as logs:
        await ledger.settle_published(job_id=job_id, slot=slot + timedelta(minutes=1))
    assert events(logs) == ["prediction.recovered", "prediction.published"]
    assert logs[0]["failures"] == 6
    config = await stored(job_id)
    assert config.failure_streak is None and config.last_error is None


async def test_workers_failing_together_write_each_line_once(beanie_db: str) -> None:
    job_id = await job_with_forecasts()
    slot = utcnow()
    with structlog.testing.capture_logs() as logs:
        await asyncio.gather(
            *(ledger.note_failure(job_id=job_id, slot=slot, reason=ORION, error="down") for _ in range(6))
        )
    assert events(logs) == ["prediction.publish_failed"]
    with structlog.testing.capture_logs() as logs:
        await asyncio.gather(
            *(
                ledger.note_failure(job_id=job_id, slot=slot, reason=ORION, error="down", summary_seconds=0)
                for _ in range(6)
            )
        )
    # Each summary is claimed by compare-and-set on the last one's time: never two for one moment.
    summaries = [entry for entry in logs if entry["event"] == "prediction.still_failing"]
    assert 1 <= len(summaries) <= 6
    assert len({entry["failures"] for entry in summaries}) == len(summaries)
    assert (await stored(job_id)).failure_streak.failures == 12


async def test_a_batch_settles_in_bulk_and_says_what_the_single_form_says(beanie_db: str) -> None:
    jobs = [await job_with_forecasts() for _ in range(3)]  # quiet, failing, settled already
    slot = utcnow()
    await ledger.note_failure(job_id=jobs[1], slot=slot - timedelta(minutes=1), reason=ORION, error="down")
    assert await ledger.settle_published(job_id=jobs[2], slot=slot)  # a duplicate's first run
    streak = (await stored(jobs[1])).failure_streak
    assert streak is not None
    with structlog.testing.capture_logs() as logs:
        counted = await ledger.settle_published_all(
            slots=[(job_id, slot) for job_id in jobs], streaks={jobs[1]: streak.model_dump()}, token="t"
        )
    assert counted == {jobs[0], jobs[1]}
    assert sorted(events(logs)) == [
        "prediction.published", "prediction.published", "prediction.published_twice", "prediction.recovered",
    ]  # fmt: skip
    for job_id in jobs:
        config = await stored(job_id)
        assert (config.run_count, config.failure_streak, config.settled_slots) == (1, None, [slot])
    # A streak opened after the batch read its jobs is found by the guard, and ended with its line.
    later = slot + timedelta(minutes=1)
    await ledger.note_failure(job_id=jobs[0], slot=later, reason=ORION, error="down")
    with structlog.testing.capture_logs() as logs:
        again = await ledger.settle_published_all(slots=[(jobs[0], later)], streaks={}, token="u")
    assert again == {jobs[0]}
    assert events(logs) == ["prediction.recovered", "prediction.published"]


async def test_a_round_of_misses_settles_in_bulk_and_says_what_the_single_form_says(beanie_db: str) -> None:
    jobs = [await job_with_forecasts() for _ in range(3)]  # quiet, failing, settled already
    slot = utcnow()
    await ledger.note_failure(job_id=jobs[1], slot=slot - timedelta(minutes=1), reason=ORION, error="down")
    assert await ledger.settle_published(job_id=jobs[2], slot=slot)
    misses = [ledger.Failure(job_id, slot, ORION, f"down {index}") for index, job_id in enumerate(jobs)]
    with structlog.testing.capture_logs() as logs:
        recorded = await ledger.settle_missed_all(misses=misses, token="m")
    assert recorded == {jobs[0], jobs[1]}  # the third slot was published: not missed as well
    # The quiet job's streak starts with its line; the failing one's goes on, within its summary period.
    assert events(logs) == ["prediction.publish_failed"] and logs[0]["job_id"] == str(jobs[0])
    quiet, failing, settled = [await stored(job_id) for job_id in jobs]
    assert (quiet.missed_count, quiet.failure_streak.failures, quiet.last_error) == (1, 1, "down 0")
    assert (failing.missed_count, failing.failure_streak.failures, failing.last_error) == (1, 2, "down 1")
    assert (settled.missed_count, settled.run_count, settled.failure_streak) == (0, 1, None)
    assert [(m.slot, m.reason) for m in quiet.recent_misses] == [(slot, ORION)]
    # Again, idempotent: nothing is recorded twice.
    assert await ledger.settle_missed_all(misses=misses, token="n") == set()
    assert (await stored(jobs[0])).missed_count == 1
    # A failure to retry extends the streak; once its period is over, one summary line.
    later = slot + timedelta(minutes=1)
    with structlog.testing.capture_logs() as logs:
        await ledger.note_failures(
            [ledger.Failure(jobs[1], later, ORION, "still")], token="f", summary_seconds=0
        )
    assert events(logs) == ["prediction.still_failing"]
    assert logs[0]["failures"] == 3 and logs[0]["last_error"] == "still"
