"""The worker's Celery configuration: what a worker back from an outage finds in its queues."""

from __future__ import annotations

from app.settings import Settings
from tasks.app import beat_schedule, create_celery


def test_every_tick_expires_after_its_own_interval() -> None:
    # Ticks queued while no worker ran are dropped, not run in a burst when one comes back.
    settings = Settings(_env_file=None, watchdog_interval_seconds=7, forecast_scheduler_interval_seconds=3)
    schedule = beat_schedule(settings)
    assert schedule and all(entry["options"]["expires"] == entry["schedule"] for entry in schedule.values())


def test_workers_keep_no_task_results() -> None:
    # What a job needs lives in MongoDB: a Redis outage must not refuse, stall or strand anything.
    celery = create_celery(Settings(_env_file=None))
    assert celery.conf.result_backend is None and celery.conf.task_ignore_result is True
