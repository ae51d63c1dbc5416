"""Model events, live: drift and retraining decisions as they happen."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from app.models.events import ModelEvent, ModelEventKind
from app.models.following import follow_models
from app.models.service import parse_id
from schema.context import Info
from schema.enums import expose

expose(
    ModelEventKind,
    name="ModelEventKind",
    description="What happened to a model on its own.",
    values={
        "DRIFTING": "Its live RMSE has exceeded the drift rule long enough: `Model.monitoring.drifting`.",
        "DRIFT_ENDED": "Its live RMSE is back within the drift rule.",
        "RETRAINING_STARTED": "A scheduled or drift retraining started (`trainingJobId`).",
        "RETRAINING_SKIPPED": "A due retraining did not start (another was running); `message` says why.",
        "RETRAINING_FAILED": "A retraining could not start or did not complete; `message` says why.",
        "CHALLENGER_PROMOTED": "A retraining beat the active version on the holdout and became it.",
        "CHALLENGER_KEPT": "A retraining lost to the active version and stays a version; `message` says why.",
    },
)


@strawberry.type(description="One thing that happened to a model on its own.")
class ModelUpdate:
    model_id: strawberry.ID = strawberry.field(description="UUID of the model.")
    kind: ModelEventKind = strawberry.field(description="What happened.")
    at: datetime = strawberry.field(description="When, UTC.")
    message: str | None = strawberry.field(description="The reason or figures, for people.")
    training_job_id: strawberry.ID | None = strawberry.field(
        description="The job concerned: the retraining, or the version that drifts."
    )

    @classmethod
    def from_event(cls, event: ModelEvent) -> ModelUpdate:
        job = event.training_job_id
        return cls(
            model_id=strawberry.ID(str(event.model_id)),
            kind=event.kind,
            at=event.at,
            message=event.message,
            training_job_id=strawberry.ID(str(job)) if job else None,
        )


@strawberry.type
class ModelSubscriptions:
    @strawberry.subscription(
        description=(
            "Drift and retraining events of one model, or of every model in your tenants, for as long "
            "as it runs; the state they announce stays on `Model.monitoring` and `Model.retraining`."
        )
    )
    async def model_updates(
        self,
        info: Info,
        model_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this model's events.")
        ] = None,
    ) -> AsyncGenerator[ModelUpdate, None]:
        key = parse_id(model_id, field="modelId") if model_id is not None else None
        async for event in follow_models(
            model_id=key, scope=info.context.scope, hub=info.context.resources.hub
        ):
            yield ModelUpdate.from_event(event)


__all__ = ["ModelSubscriptions", "ModelUpdate"]
