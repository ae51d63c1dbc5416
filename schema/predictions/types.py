"""GraphQL types of forecasts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.predictions import service


@strawberry.type(description="One observed value the forecast started from.")
class ContextPoint:
    timestamp: datetime = strawberry.field(description="Slot time on the job's sampling grid, UTC.")
    value: float = strawberry.field(description="Observed value (interpolated across a short gap).")


@strawberry.type(description="One forecast step.")
class ForecastPoint:
    step: int = strawberry.field(description="Steps ahead of the last context point, 1 first.")
    value: float = strawberry.field(description="Forecast value, in the series' units.")
    target_timestamp: datetime = strawberry.field(description="When it is forecast for, UTC.")


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

    @classmethod
    def from_forecast(cls, forecast: service.Forecast) -> Prediction:
        return cls(
            model_id=strawberry.ID(str(forecast.model_id)),
            training_job_id=strawberry.ID(str(forecast.training_job_id)),
            generated_at=forecast.generated_at,
            horizon=forecast.horizon,
            context_window=[ContextPoint(timestamp=p.timestamp, value=p.value) for p in forecast.context],
            points=[
                ForecastPoint(step=p.step, value=p.value, target_timestamp=p.target_timestamp)
                for p in forecast.points
            ],
        )


__all__ = ["ContextPoint", "ForecastPoint", "Prediction"]
