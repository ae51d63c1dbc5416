"""Forecast queries: reading a forecast writes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.predictions import history, service
from schema.context import Info
from schema.predictions.types import Prediction, PredictionHistoryConnection
from schema.training.types import TrainingJobId


@strawberry.type
class PredictionQueries:
    @strawberry.field(
        description=(
            "Forecast now with a COMPLETED job's network, from the newest `lookbackWindow` readings in "
            "the model's history store. Errors: NOT_FOUND, CONFLICT (job not completed), "
            "INSUFFICIENT_DATA (too few recent points), UNAVAILABLE or UPSTREAM_ERROR (FIWARE)."
        )
    )
    async def predict(
        self,
        info: Info,
        training_job_id: TrainingJobId,
        interval_level: Annotated[
            float | None,
            strawberry.argument(
                description="Level of the points' `lower` and `upper`: one of the job's `intervals`; "
                "default its first."
            ),
        ] = None,
    ) -> Prediction:
        resources = info.context.resources
        forecast = await service.predict(
            job_id=training_job_id,
            scope=info.context.scope,
            history=resources.fiware.history,
            forecasters=resources.forecasters,
            max_gap_steps=resources.settings.training_max_gap_steps,
            interval_level=interval_level,
        )
        return Prediction.from_forecast(forecast)

    @strawberry.field(
        description=(
            "The forecast runs the model's history store kept for a job's forecast entity, newest first, "
            "paged through the store's pages. `from` and `to` bound the record time and need a time "
            "zone offset."
        )
    )
    async def prediction_history(
        self,
        info: Info,
        training_job_id: TrainingJobId,
        from_: Annotated[
            datetime | None, strawberry.argument(name="from", description="Earliest record time, inclusive.")
        ] = None,
        to: Annotated[
            datetime | None, strawberry.argument(description="Latest record time, inclusive.")
        ] = None,
        first: Annotated[int, strawberry.argument(description="Page size, 1-100.")] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="`endCursor` of the previous page.")
        ] = None,
    ) -> PredictionHistoryConnection:
        page = await history.history(
            job_id=training_job_id,
            date_from=from_,
            date_to=to,
            first=first,
            after=after,
            scope=info.context.scope,
            history=info.context.resources.fiware.history,
        )
        return PredictionHistoryConnection.from_page(page)


__all__ = ["PredictionQueries"]
