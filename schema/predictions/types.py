"""GraphQL types of forecasts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from app.predictions import history, service
from app.predictions.accuracy import job_live_accuracy
from app.predictions.slots import RECENT_MISSES
from app.training.documents import MissReason, TrainingJobDocument
from ml import accuracy
from schema.context import Info
from schema.enums import expose
from schema.pagination import Connection, Edge, PageInfo


@strawberry.type(description="One observed value the forecast started from.")
class ContextPoint:
    timestamp: datetime = strawberry.field(description="Slot time on the job's sampling grid, UTC.")
    value: float = strawberry.field(description="Observed value (interpolated across a short gap).")


@strawberry.type(description="One forecast step.")
class ForecastPoint:
    step: int = strawberry.field(description="Steps ahead of the last context point, 1 first.")
    value: float = strawberry.field(description="Forecast value, in the series' units.")
    target_timestamp: datetime = strawberry.field(description="When it is forecast for, UTC.")
    lower: float | None = strawberry.field(
        description="Lower bound of the prediction interval at `intervalLevel`; null without one."
    )
    upper: float | None = strawberry.field(
        description="Upper bound of the prediction interval at `intervalLevel`; null without one."
    )


@strawberry.type(description="A forecast made now from the newest readings.")
class Prediction:
    model_id: strawberry.ID = strawberry.field(description="UUID of the model.")
    training_job_id: strawberry.ID = strawberry.field(
        description="UUID of the training job whose network ran."
    )
    generated_at: datetime = strawberry.field(description="When it was computed, UTC.")
    horizon: int = strawberry.field(description="Steps forecast.")
    context_window: list[ContextPoint] = strawberry.field(
        description="The lookback window it started from, oldest first."
    )
    points: list[ForecastPoint] = strawberry.field(description="The forecast, one point per step.")
    served_by: str = strawberry.field(
        description="The forecaster that made it: `network` or a baseline (see `TrainingJob.servedBy`)."
    )
    interval_level: float | None = strawberry.field(
        description=(
            "Level of the points' `lower` and `upper` (a conformal interval calibrated on the job's "
            "validation split); null when the job has no interval."
        )
    )

    @classmethod
    def from_forecast(cls, forecast: service.Forecast) -> Prediction:
        return cls(
            model_id=strawberry.ID(str(forecast.model_id)),
            training_job_id=strawberry.ID(str(forecast.training_job_id)),
            generated_at=forecast.generated_at,
            horizon=forecast.horizon,
            context_window=[ContextPoint(timestamp=p.timestamp, value=p.value) for p in forecast.context],
            points=[
                ForecastPoint(
                    step=p.step,
                    value=p.value,
                    target_timestamp=p.target_timestamp,
                    lower=p.lower,
                    upper=p.upper,
                )
                for p in forecast.points
            ],
            interval_level=forecast.interval_level,
            served_by=forecast.served_by,
        )


expose(
    MissReason,
    name="ForecastMissReason",
    description="Why a recurring-forecast slot was not published.",
    values={
        "NO_WORKER": "Nothing ran the slot while it was current: beat or every worker on the forecast "
        "queues was down or too busy, so the scheduler claimed it late (only the current slot then "
        "runs) or its run started after the next slot was due.",
        "LATE": "The run started in time but its forecast was ready only after the next slot was due "
        "(a slow read, a busy worker): it was not published under a slot that was no longer current.",
        "ORION_UNAVAILABLE": "Orion answered 5xx, timed out or could not be reached when the forecast was "
        "published; retried while the slot was current.",
        "STH_UNAVAILABLE": "The model's history store (STH-Comet or QuantumLeap) answered 5xx, timed out or "
        "could not be reached when the newest readings were read; retried while the slot was current.",
        "UPSTREAM_ERROR": "Orion or the history store refused the request (4xx); `lastError` says which "
        "and how.",
        "INSUFFICIENT_DATA": "The newest readings do not fill the lookback window (too few, or a gap longer "
        "than `CHRONOS_TRAINING_MAX_GAP_STEPS`).",
        "JOB_UNUSABLE": "The job can no longer forecast (its network, its status or its Orion entity is "
        "gone): recurring forecasts were switched off, `lastError` says why.",
        "BROKER_UNAVAILABLE": "The scheduler claimed the slot but RabbitMQ refused its run.",
        "INTERNAL": "An unexpected error in Chronos; the worker's log has the details.",
    },
)


@strawberry.type(description="A forecast slot that was not published, and why.")
class MissedSlot:
    slot: datetime = strawberry.field(description="The slot's time on the job's grid, UTC.")
    reason: MissReason = strawberry.field(description="Why it was not published.")


@strawberry.type(description="Recurring forecasts of a training job, published to Orion as `forecastSeries`.")
class PredictionSchedule:
    training_job_id: strawberry.ID = strawberry.field(description="UUID of the training job.")
    entity_id: str | None = strawberry.field(
        description=(
            "Orion entity the forecasts go to, once enabled: `urn:ngsi-ld:Chronos:Prediction:<job>` for "
            "a job's own forecasts, `urn:ngsi-ld:Chronos:Forecast:<model>` for its model's."
        )
    )
    entity_type: str | None = strawberry.field(description="Its entity type.")
    enabled: bool = strawberry.field(description="Whether forecasts run on schedule.")
    interval_seconds: float | None = strawberry.field(description="Seconds between two forecasts.")
    next_prediction_at: datetime | None = strawberry.field(description="When the next forecast is due, UTC.")
    last_run_at: datetime | None = strawberry.field(description="When a forecast was last published, UTC.")
    last_error: str | None = strawberry.field(
        description="Why the latest run failed or slots were missed; null again after a published run."
    )
    run_count: int = strawberry.field(description="Forecasts published so far.")
    missed_count: int = strawberry.field(
        description="Slots that came due and were not published, each recorded with its reason. Slots lie "
        "every `intervalSeconds` from when forecasts were enabled; each one that comes due while they are "
        "on ends counted in `runCount` or here (only a run still to start when they are switched off "
        "ends in neither)."
    )
    recent_misses: list[MissedSlot] = strawberry.field(
        description=f"The newest missed slots, newest first: at most {RECENT_MISSES} "
        "(`missedCount` counts them all)."
    )

    @classmethod
    def from_document(cls, job: TrainingJobDocument) -> PredictionSchedule:
        config = job.prediction_config
        return cls(
            training_job_id=strawberry.ID(str(job.id)),
            entity_id=config.entity_id,
            entity_type=config.entity_type,
            enabled=config.enabled,
            interval_seconds=config.interval_seconds,
            next_prediction_at=config.next_prediction_at if config.enabled else None,
            last_run_at=config.last_run_at,
            last_error=config.last_error,
            run_count=config.run_count,
            missed_count=config.missed_count,
            recent_misses=[
                MissedSlot(slot=miss.slot, reason=miss.reason)
                for miss in sorted(config.recent_misses, key=lambda miss: miss.slot, reverse=True)
            ],
        )


__all__ = ["ContextPoint", "ForecastPoint", "MissedSlot", "Prediction", "PredictionSchedule"]


@strawberry.type(description="One step of a stored forecast.")
class HistoryPoint:
    step: int = strawberry.field(description="Steps ahead, 1 first.")
    value: float | None = strawberry.field(description="Forecast value; null if it was not a number.")
    target_timestamp: datetime | None = strawberry.field(description="When it was forecast for, UTC.")
    lower: float | None = strawberry.field(
        description="Lower bound of the prediction interval at `intervalLevel`; null without one."
    )
    upper: float | None = strawberry.field(
        description="Upper bound of the prediction interval at `intervalLevel`; null without one."
    )


@strawberry.type(description="One forecast run as the history store kept it.")
class PredictionRun:
    recorded_at: datetime = strawberry.field(
        description="When the history store recorded it (its TimeInstant), UTC."
    )
    generated_at: datetime | None = strawberry.field(description="When Chronos computed it, UTC.")
    horizon: int = strawberry.field(description="Steps forecast.")
    points: list[HistoryPoint] = strawberry.field(description="The forecast, one point per step.")
    interval_level: float | None = strawberry.field(
        description=(
            "Level of the points' `lower` and `upper` (a conformal interval calibrated on the job's "
            "validation split); null when the job has no interval."
        )
    )


@strawberry.type(description="Forecast runs, newest first.")
class PredictionHistoryConnection(Connection[PredictionRun]):
    @classmethod
    def from_page(cls, page: history.HistoryPage) -> PredictionHistoryConnection:
        return cls(
            edges=[
                Edge(
                    cursor=run.cursor,
                    node=PredictionRun(
                        recorded_at=run.recorded_at,
                        generated_at=run.generated_at,
                        horizon=run.horizon,
                        points=[
                            HistoryPoint(
                                step=p.step,
                                value=p.value,
                                target_timestamp=p.target_timestamp,
                                lower=p.lower,
                                upper=p.upper,
                            )
                            for p in run.points
                        ],
                        interval_level=run.interval_level,
                    ),
                )
                for run in page.runs
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


__all__ += ["HistoryPoint", "PredictionHistoryConnection", "PredictionRun"]


@strawberry.type(description="Live accuracy of one horizon step over a window.")
class StepAccuracy:
    step: int = strawberry.field(description="Horizon step, from 1.")
    pairs: int = strawberry.field(description="Published forecasts of this step whose reading arrived.")
    mae: float | None = strawberry.field(description="Mean absolute error; null without pairs.")
    rmse: float | None = strawberry.field(description="Root mean squared error; null without pairs.")
    u2: float | None = strawberry.field(
        description="RMSE over persistence's (the origin's reading repeated) on the same pairs; null when "
        "persistence is exact or there are no pairs."
    )
    coverage: float | None = strawberry.field(
        description="Share of readings inside the published interval; null without bounds."
    )
    bias: float | None = strawberry.field(description="Mean of forecast minus reading (above 0: too high).")


@strawberry.type(
    description=(
        "How the published forecasts did against the readings that arrived: every run stored in the "
        "history store whose target falls in the window, joined with the sensor's reading within half an "
        "interval of it."
    )
)
class LiveAccuracy:
    window_seconds: float = strawberry.field(description="The window, seconds back from `end`.")
    start: datetime = strawberry.field(description="Start of the window (exclusive), UTC.")
    end: datetime = strawberry.field(description="End of the window (inclusive): when it was computed, UTC.")
    forecasts: int = strawberry.field(description="Published forecasts with at least one pair.")
    pairs: int = strawberry.field(description="(forecast, step) pairs with a reading, all steps together.")
    mae: float | None = strawberry.field(description="Mean absolute error over every pair.")
    rmse: float | None = strawberry.field(description="Root mean squared error over every pair.")
    u2: float | None = strawberry.field(description="Theil's U2 against persistence over every pair.")
    coverage: float | None = strawberry.field(description="Interval coverage over every bounded pair.")
    bias: float | None = strawberry.field(description="Mean of forecast minus reading over every pair.")
    steps: list[StepAccuracy] = strawberry.field(description="The same per horizon step.")

    @classmethod
    def of(cls, found: accuracy.LiveAccuracy) -> LiveAccuracy:
        scores = {
            name: getattr(found, name)
            for name in ("forecasts", "pairs", "mae", "rmse", "u2", "coverage", "bias")
        }
        return cls(
            window_seconds=found.window_seconds,
            start=datetime.fromtimestamp(found.start, tz=UTC),
            end=datetime.fromtimestamp(found.end, tz=UTC),
            steps=[StepAccuracy(**vars(step)) for step in found.steps],
            **scores,
        )


WindowsSeconds = Annotated[
    list[float],
    strawberry.argument(description="Windows, seconds back from now (1 to 4, each at most 7 days)."),
]
DAY_WINDOW: list[float] = [86_400.0]


async def live_accuracy_of(info: Info, *, job_id: str, windows: list[float]) -> list[LiveAccuracy]:
    """``TrainingJob.liveAccuracy`` and ``Model.liveAccuracy``: the windows of one publishing job."""
    found = await job_live_accuracy(
        job_id=job_id,
        windows=windows,
        scope=info.context.scope,
        history=info.context.resources.fiware.history,
    )
    return [LiveAccuracy.of(window) for window in found]
