"""GraphQL types of fleet bulk operations: per-item results and the payloads that carry them."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from app.errors import ChronosError, FieldError, RateLimited, ValidationFailed
from app.fleet.bulk import OverBudget
from app.fleet.service import FleetMember, FleetPage, ModelItem
from schema.errors import UserError, user_errors
from schema.models.types import Model
from schema.pagination import PageInfo
from schema.predictions.types import PredictionSchedule
from schema.training.types import TrainingJob

_ITEM_ERRORS = "What failed for this item; empty on success."
_REQUEST_ERRORS = (
    "Why the whole request was refused (its input, the tenant, the rate limit): nothing was written "
    "and `results` is empty. Empty otherwise, even when some items failed."
)
_RETRY_AFTER = (
    "With RATE_LIMITED: seconds until the key's budget has room for this request again; null otherwise, "
    "and when the request counts more mutations than the whole budget (no wait helps: send fewer items)."
)


def _errors_of(errors: Sequence[FieldError]) -> list[UserError]:
    # A bundle of FieldErrors, each with its own code, shaped like any payload's errors.
    return user_errors(ValidationFailed(errors)) if errors else []


def _retry_after(error: ChronosError) -> float | None:
    if not isinstance(error, RateLimited) or isinstance(error, OverBudget):
        return None
    return round(error.retry_after_seconds, 3)


@strawberry.type(description="One entity's result in `createFleetModels`.")
class FleetEntityResult:
    entity_id: str = strawberry.field(description="NGSI entity id.")
    model: Model | None = strawberry.field(
        description=(
            "The entity's model of this fleet: created now, or the one it already had (`created` false); "
            "null when none could be made (see `errors`)."
        )
    )
    created: bool = strawberry.field(description="Whether this request created the model.")
    training_job: TrainingJob | None = strawberry.field(
        description=(
            "The training started now; null when none was asked for, the model was not DRAFT, or its "
            "training was refused (see `errors`)."
        )
    )
    errors: list[UserError] = strawberry.field(
        description=f"{_ITEM_ERRORS} Next to a model, they say why its training was refused."
    )

    @classmethod
    def from_member(cls, member: FleetMember) -> FleetEntityResult:
        return cls(
            entity_id=member.entity_id,
            model=Model.from_document(member.model) if member.model is not None else None,
            created=member.created,
            training_job=TrainingJob.from_document(member.job) if member.job is not None else None,
            errors=_errors_of(member.errors),
        )


@strawberry.type(description="Result of `createFleetModels`.")
class FleetModelsPayload:
    results: list[FleetEntityResult] = strawberry.field(
        description=(
            "One per entity of the page: in entity id order when discovered, in the given order for "
            "`entityIds`."
        )
    )
    page_info: PageInfo = strawberry.field(
        description=(
            "Where discovery goes on: pass `endCursor` as `selection.after` for the next page. "
            "`entityIds` are one page."
        )
    )
    errors: list[UserError] = strawberry.field(description=_REQUEST_ERRORS)
    retry_after_seconds: float | None = strawberry.field(description=_RETRY_AFTER)

    @classmethod
    def from_page(cls, page: FleetPage) -> FleetModelsPayload:
        return cls(
            results=[FleetEntityResult.from_member(member) for member in page.members],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            errors=[],
            retry_after_seconds=None,
        )

    @classmethod
    def refused(cls, error: ChronosError) -> FleetModelsPayload:
        return cls(
            results=[],
            page_info=PageInfo(has_next_page=False, end_cursor=None),
            errors=user_errors(error),
            retry_after_seconds=_retry_after(error),
        )


@strawberry.type(description="One model's result in `startFleetTrainings`.")
class FleetTrainingResult:
    model_id: strawberry.ID = strawberry.field(description="The model id, as given.")
    training_job: TrainingJob | None = strawberry.field(
        description="The job started (or replayed by its idempotency key); null on failure."
    )
    errors: list[UserError] = strawberry.field(description=_ITEM_ERRORS)

    @classmethod
    def from_item(cls, item: ModelItem) -> FleetTrainingResult:
        return cls(
            model_id=strawberry.ID(item.model_id),
            training_job=TrainingJob.from_document(item.job) if item.job is not None else None,
            errors=_errors_of(item.errors),
        )


@strawberry.type(description="Result of `startFleetTrainings`.")
class FleetTrainingsPayload:
    results: list[FleetTrainingResult] = strawberry.field(description="One per model, in the given order.")
    errors: list[UserError] = strawberry.field(description=_REQUEST_ERRORS)
    retry_after_seconds: float | None = strawberry.field(description=_RETRY_AFTER)

    @classmethod
    def from_items(cls, items: list[ModelItem]) -> FleetTrainingsPayload:
        return cls(
            results=[FleetTrainingResult.from_item(i) for i in items], errors=[], retry_after_seconds=None
        )

    @classmethod
    def refused(cls, error: ChronosError) -> FleetTrainingsPayload:
        return cls(results=[], errors=user_errors(error), retry_after_seconds=_retry_after(error))


@strawberry.type(description="One model's result in `setFleetForecasting`.")
class FleetForecastingResult:
    model_id: strawberry.ID = strawberry.field(description="The model id, as given.")
    prediction: PredictionSchedule | None = strawberry.field(
        description="The schedule of the model's active version, as stored; null on failure."
    )
    errors: list[UserError] = strawberry.field(description=_ITEM_ERRORS)

    @classmethod
    def from_item(cls, item: ModelItem) -> FleetForecastingResult:
        return cls(
            model_id=strawberry.ID(item.model_id),
            prediction=PredictionSchedule.from_document(item.job) if item.job is not None else None,
            errors=_errors_of(item.errors),
        )


@strawberry.type(description="Result of `setFleetForecasting`.")
class FleetForecastingPayload:
    results: list[FleetForecastingResult] = strawberry.field(description="One per model, in the given order.")
    errors: list[UserError] = strawberry.field(description=_REQUEST_ERRORS)
    retry_after_seconds: float | None = strawberry.field(description=_RETRY_AFTER)

    @classmethod
    def from_items(cls, items: list[ModelItem]) -> FleetForecastingPayload:
        return cls(
            results=[FleetForecastingResult.from_item(i) for i in items], errors=[], retry_after_seconds=None
        )

    @classmethod
    def refused(cls, error: ChronosError) -> FleetForecastingPayload:
        return cls(results=[], errors=user_errors(error), retry_after_seconds=_retry_after(error))


__all__ = [
    "FleetEntityResult",
    "FleetForecastingPayload",
    "FleetForecastingResult",
    "FleetModelsPayload",
    "FleetTrainingResult",
    "FleetTrainingsPayload",
]
