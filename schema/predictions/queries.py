"""Forecast queries: reading a forecast writes nothing."""

from __future__ import annotations

import strawberry

from app.predictions import service
from schema.context import Info
from schema.predictions.types import Prediction
from schema.training.types import TrainingJobId


@strawberry.type
class PredictionQueries:
    @strawberry.field(
        description=(
            "Forecast now with a COMPLETED job's network, from the newest `lookbackWindow` readings in "
            "STH-Comet. Errors: NOT_FOUND, CONFLICT (job not completed), INSUFFICIENT_DATA (too few "
            "recent points), UNAVAILABLE or UPSTREAM_ERROR (FIWARE)."
        )
    )
    async def predict(self, info: Info, training_job_id: TrainingJobId) -> Prediction:
        resources = info.context.resources
        forecast = await service.predict(
            job_id=training_job_id,
            sth=resources.fiware.sth,
            forecasters=resources.forecasters,
            max_gap_steps=resources.settings.training_max_gap_steps,
        )
        return Prediction.from_forecast(forecast)


__all__ = ["PredictionQueries"]
