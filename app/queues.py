"""Task and queue names, and which queue each task goes to: what the API needs to enqueue work
without importing any task code, and what the workers consume."""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    ORCHESTRATION = "orchestration"
    DATA_COLLECTION = "data_collection"
    MODEL_TRAINING = "model_training"
    FORECAST_SCHEDULING = "forecast_scheduling"
    FORECAST_EXECUTION = "forecast_execution"


ORCHESTRATE_TRAINING = "chronos.orchestrate_training"
COLLECT_DATA_CHUNK = "chronos.collect_data_chunk"
PROCESS_COLLECTED_DATA = "chronos.process_collected_data"
TRAIN_MODEL = "chronos.train_model_task"
CLEANUP_TRAINING_TASKS = "chronos.cleanup_training_tasks"
WATCHDOG = "chronos.training_watchdog"
SCHEDULE_FORECASTS = "chronos.schedule_forecasts"
EXECUTE_FORECAST = "chronos.execute_forecast"
EXECUTE_FORECAST_BATCH = "chronos.execute_forecast_batch"
RETRAINING_TICK = "chronos.retraining_tick"
MONITORING_TICK = "chronos.monitoring_tick"

# Tasks that run on every tick of a schedule: their start and end are logged at DEBUG, not INFO.
PERIODIC = frozenset(
    {
        WATCHDOG,
        SCHEDULE_FORECASTS,
        EXECUTE_FORECAST,
        EXECUTE_FORECAST_BATCH,
        CLEANUP_TRAINING_TASKS,
        RETRAINING_TICK,
        MONITORING_TICK,
    }
)

# Cleanup runs once more after a job ends, for anything a step still wrote on its way out.
CLEANUP_DELAY_SECONDS = 60

ROUTES: dict[str, Queue] = {
    ORCHESTRATE_TRAINING: Queue.ORCHESTRATION,
    PROCESS_COLLECTED_DATA: Queue.ORCHESTRATION,
    CLEANUP_TRAINING_TASKS: Queue.ORCHESTRATION,
    WATCHDOG: Queue.ORCHESTRATION,
    RETRAINING_TICK: Queue.ORCHESTRATION,
    MONITORING_TICK: Queue.ORCHESTRATION,
    COLLECT_DATA_CHUNK: Queue.DATA_COLLECTION,
    TRAIN_MODEL: Queue.MODEL_TRAINING,
    SCHEDULE_FORECASTS: Queue.FORECAST_SCHEDULING,
    EXECUTE_FORECAST: Queue.FORECAST_EXECUTION,
    EXECUTE_FORECAST_BATCH: Queue.FORECAST_EXECUTION,
}

__all__ = [
    "CLEANUP_DELAY_SECONDS",
    "CLEANUP_TRAINING_TASKS",
    "COLLECT_DATA_CHUNK",
    "EXECUTE_FORECAST",
    "EXECUTE_FORECAST_BATCH",
    "MONITORING_TICK",
    "ORCHESTRATE_TRAINING",
    "PERIODIC",
    "PROCESS_COLLECTED_DATA",
    "RETRAINING_TICK",
    "ROUTES",
    "SCHEDULE_FORECASTS",
    "TRAIN_MODEL",
    "WATCHDOG",
    "Queue",
]
