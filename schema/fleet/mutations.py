"""Fleet bulk mutations: whole-request refusals in the payload's ``errors``, each item's own failure
in its result's ``errors``."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.fleet import bulk
from app.fleet import service as fleet
from app.resources import Resources
from schema.context import Info
from schema.errors import payload_of
from schema.fleet.inputs import FleetModelsInput
from schema.fleet.types import FleetForecastingPayload, FleetModelsPayload, FleetTrainingsPayload
from schema.predictions.mutations import Enabled, PredictionToggleInput, WhenEnabling
from schema.training.inputs import StartTrainingInput

ModelIds = Annotated[
    list[strawberry.ID],
    strawberry.argument(description=f"UUIDs of the models: at most {bulk.MAX_ITEMS}, none repeated."),
]
_BULK = (
    f"At most {bulk.MAX_ITEMS} items, {bulk.CONCURRENCY} at a time; each counts one mutation against the "
    "API key's rate limit, charged before any runs (a request that does not fit is RATE_LIMITED whole and "
    "writes nothing). Tenancy holds per item: another tenant's model is NOT_FOUND for that item alone."
)


def _charge(info: Info) -> bulk.Charge:
    context = info.context
    settings = context.settings
    if context.principal is None:
        raise RuntimeError("no principal: the operation ran without AccessControl")
    return bulk.quota_charge(
        redis=context.resources.redis,
        principal=context.principal,
        limit=settings.mutation_rate_limit,
        window_seconds=settings.mutation_rate_window_seconds,
    )


def _trainer(resources: Resources) -> fleet.Trainer:
    return fleet.Trainer(
        history=resources.fiware.history,
        dispatch=resources.tasks.orchestrate,
        dispatch_timeout=resources.settings.dispatch_timeout_seconds,
    )


@strawberry.type
class FleetMutations:
    @strawberry.mutation(
        description=(
            "Create a model of one template for each entity of a type: the given `entityIds`, or the "
            "IoT Agent's devices of the type in the template's tenant, a page at a time. An entity must "
            "hold the template's `feature` (declared by its device, or an attribute of its Orion entity). "
            "Idempotent: an entity that already has this fleet's model (same tenant, entity, feature and "
            "name) gets it back with `created` false, so a page can be run again. With `startTraining`, "
            "each DRAFT model of the page also starts training (two mutations per entity). An invalid "
            f"template or selection fails the request once and writes nothing. {_BULK}"
        )
    )
    async def create_fleet_models(
        self,
        info: Info,
        input: Annotated[FleetModelsInput, strawberry.argument(description="Template and entities.")],  # noqa: A002
    ) -> FleetModelsPayload:
        resources = info.context.resources
        scope = info.context.scope
        return await payload_of(
            lambda: fleet.create_fleet_models(
                request=input.to_request(resources.settings, tenant=scope.only()),
                scope=scope,
                fiware=resources.fiware,
                forecast_entity_type=resources.settings.forecast_entity_type,
                redis=resources.redis,
                trainer=_trainer(resources),
                charge=_charge(info),
            ),
            ok=FleetModelsPayload.from_page,
            failed=FleetModelsPayload.refused,
        )

    @strawberry.mutation(
        description=(
            "`startTraining` for many models with one request: per model a job, or its refusal (NOT_FOUND, "
            "CONFLICT while it trains, INSUFFICIENT_DATA). The request's `idempotencyKey` counts per model, "
            f"so a retried call gets the same jobs back. {_BULK}"
        )
    )
    async def start_fleet_trainings(
        self,
        info: Info,
        model_ids: ModelIds,
        input: Annotated[  # noqa: A002
            StartTrainingInput | None,
            strawberry.argument(
                description="Which history, for every model; default the newest 1,000 points."
            ),
        ] = None,
    ) -> FleetTrainingsPayload:
        resources = info.context.resources
        return await payload_of(
            lambda: fleet.start_fleet_trainings(
                model_ids=model_ids,
                request=(input or StartTrainingInput()).to_request(),
                scope=info.context.scope,
                trainer=_trainer(resources),
                charge=_charge(info),
            ),
            ok=FleetTrainingsPayload.from_items,
            failed=FleetTrainingsPayload.refused,
        )

    @strawberry.mutation(
        description=(
            "`setModelForecasting` for many models with one setting: per model its schedule, or its "
            "refusal (NOT_FOUND, CONFLICT without an active version). An invalid setting fails the request "
            f"once. {_BULK}"
        )
    )
    async def set_fleet_forecasting(
        self,
        info: Info,
        model_ids: ModelIds,
        enabled: Enabled,
        input: WhenEnabling = None,  # noqa: A002
    ) -> FleetForecastingPayload:
        resources = info.context.resources
        given = input or PredictionToggleInput()
        return await payload_of(
            lambda: fleet.set_fleet_forecasting(
                model_ids=model_ids,
                enabled=enabled,
                interval_seconds=given.interval_seconds,
                attributes=given.attribute_map(),
                scope=info.context.scope,
                fiware=resources.fiware,
                settings=resources.settings,
                charge=_charge(info),
            ),
            ok=FleetForecastingPayload.from_items,
            failed=FleetForecastingPayload.refused,
        )


__all__ = ["FleetMutations"]
