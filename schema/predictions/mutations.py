"""Switching recurring forecasts on and off."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.predictions import model_forecasts, recurring
from app.training.documents import TrainingJobDocument
from schema.context import Info
from schema.errors import UserError, payload_of, user_errors
from schema.predictions.types import PredictionSchedule
from schema.training.types import TrainingJobId


@strawberry.input(description="A fixed attribute published with every forecast.")
class StaticAttributeInput:
    name: str = strawberry.field(
        description="Attribute name (Orion's rules; not forecastSeries, feature or sourceEntity)."
    )
    value: JSON = strawberry.field(description="Number, text, boolean or a JSON object or list.")


@strawberry.input(description="How forecasts run once enabled.")
class PredictionToggleInput:
    interval_seconds: float | None = strawberry.field(
        default=None,
        description=("Seconds between forecasts; default the job's sampling interval, at least the minimum."),
    )
    attributes: list[StaticAttributeInput] | None = strawberry.field(
        default=None, description="Fixed attributes of the forecast entity."
    )

    def attribute_map(self) -> dict[str, object]:
        """The fixed attributes by name, as the services take them."""
        return {a.name: a.value for a in self.attributes or []}


@strawberry.type(description="Result of switching recurring forecasts.")
class PredictionTogglePayload:
    prediction: PredictionSchedule | None = strawberry.field(
        description="The schedule as stored; null on failure."
    )
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


Enabled = Annotated[bool, strawberry.argument(description="Run forecasts on schedule, or stop.")]
WhenEnabling = Annotated[PredictionToggleInput | None, strawberry.argument(description="Used when enabling.")]


@strawberry.type
class PredictionMutations:
    @strawberry.mutation(
        description=(
            "Enable: provision, in the model's tenant, an IoT Agent device Chronos names itself, the Orion "
            "entity and a subscription sending `forecastSeries` to the model's history store (STH-Comet "
            "directly or through Cygnus, or QuantumLeap), then forecast at the next scheduler tick and "
            "every `intervalSeconds`. Disable: stop and delete the subscription."
        )
    )
    async def toggle_prediction(
        self,
        info: Info,
        training_job_id: TrainingJobId,
        enabled: Enabled,
        input: WhenEnabling = None,  # noqa: A002
    ) -> PredictionTogglePayload:
        resources = info.context.resources
        given = input or PredictionToggleInput()

        async def toggle() -> TrainingJobDocument:
            if not enabled:
                return await recurring.disable(
                    job_id=training_job_id, scope=info.context.scope, fiware=resources.fiware
                )
            return await recurring.enable(
                job_id=training_job_id,
                interval_seconds=given.interval_seconds,
                attributes=given.attribute_map(),
                scope=info.context.scope,
                fiware=resources.fiware,
                settings=resources.settings,
            )

        return await payload_of(
            toggle,
            ok=lambda job: PredictionTogglePayload(
                prediction=PredictionSchedule.from_document(job), errors=[]
            ),
            failed=lambda error: PredictionTogglePayload(prediction=None, errors=user_errors(error)),
        )

    @strawberry.mutation(
        description=(
            "Switch a model's recurring forecasts on or off. They publish to one entity per model, "
            "`urn:ngsi-ld:Chronos:Forecast:<model uuid hex>` (an IoT Agent device and a subscription "
            "named after the model), always from the model's active version: promoting another job moves "
            "the schedule there at the next slot, with the same entity, no gap and no slot twice. "
            "CONFLICT when the model has no active version, or when that version publishes its own "
            "forecasts (`togglePrediction`)."
        )
    )
    async def set_model_forecasting(
        self,
        info: Info,
        model_id: Annotated[strawberry.ID, strawberry.argument(description="UUID of the model.")],
        enabled: Enabled,
        input: WhenEnabling = None,  # noqa: A002
    ) -> PredictionTogglePayload:
        resources = info.context.resources
        given = input or PredictionToggleInput()
        return await payload_of(
            lambda: model_forecasts.set_model_forecasting(
                model_id=model_id,
                enabled=enabled,
                interval_seconds=given.interval_seconds,
                attributes=given.attribute_map(),
                scope=info.context.scope,
                fiware=resources.fiware,
                settings=resources.settings,
            ),
            ok=lambda job: PredictionTogglePayload(
                prediction=PredictionSchedule.from_document(job), errors=[]
            ),
            failed=lambda error: PredictionTogglePayload(prediction=None, errors=user_errors(error)),
        )


__all__ = [
    "Enabled",
    "PredictionMutations",
    "PredictionToggleInput",
    "PredictionTogglePayload",
    "StaticAttributeInput",
    "WhenEnabling",
]
