"""Model mutations: expected failures come back in the payload's ``errors``."""

from __future__ import annotations

import functools
from typing import Annotated
from uuid import UUID

import strawberry

from app.errors import ChronosError
from app.models import retraining, versions
from app.models import service as model_service
from app.models.documents import ModelDocument
from app.predictions import recurring
from schema.context import Info
from schema.errors import UserError, payload_of, user_errors
from schema.models.inputs import CreateModelInput, UpdateModelInput
from schema.models.retraining import RetrainingPolicyInput
from schema.models.types import Model, ModelId


@strawberry.type(description="Result of creating or updating a model.")
class ModelPayload:
    model: Model | None = strawberry.field(description="The model as stored; null on failure.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of deleting a model.")
class DeleteModelPayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        description="Id of the deleted model; null on failure."
    )
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


def _model_payload(document: ModelDocument) -> ModelPayload:
    return ModelPayload(model=Model.from_document(document), errors=[])


def _model_failed(error: ChronosError) -> ModelPayload:
    return ModelPayload(model=None, errors=user_errors(error))


@strawberry.type
class ModelMutations:
    @strawberry.mutation(description="Create a DRAFT model; every invalid field is reported at once.")
    async def create_model(
        self,
        info: Info,
        input: Annotated[CreateModelInput, strawberry.argument(description="The new model.")],  # noqa: A002
    ) -> ModelPayload:
        scope = info.context.scope
        return await payload_of(
            lambda: model_service.create_model(
                spec=input.to_spec(info.context.settings, tenant=scope.only()), scope=scope
            ),
            ok=_model_payload,
            failed=_model_failed,
        )

    @strawberry.mutation(description="Change a DRAFT model; other statuses answer CONFLICT.")
    async def update_model(
        self,
        info: Info,
        id: ModelId,  # noqa: A002
        input: Annotated[UpdateModelInput, strawberry.argument(description="The changes.")],  # noqa: A002
    ) -> ModelPayload:
        changes, rejected = input.to_changes()
        return await payload_of(
            lambda: model_service.update_model(
                model_id=id, changes=changes, rejected=rejected, scope=info.context.scope
            ),
            ok=_model_payload,
            failed=_model_failed,
        )

    @strawberry.mutation(
        description=(
            "Make a COMPLETED training job its model's active version (`Model.activeTrainingJob`); "
            "promoting an earlier job is a rollback. Another status is CONFLICT; nothing is written then."
        )
    )
    async def promote_training_job(
        self,
        info: Info,
        training_job_id: Annotated[
            strawberry.ID, strawberry.argument(description="UUID of the COMPLETED training job.")
        ],
    ) -> ModelPayload:
        return await payload_of(
            lambda: versions.promote_job(job_id=training_job_id, scope=info.context.scope),
            ok=_model_payload,
            failed=_model_failed,
        )

    @strawberry.mutation(
        description=(
            "Set a model's retraining policy: a schedule (interval, or cron in an explicit time zone), the "
            "data window, the promotion margin a challenger must beat the champion by on the same recent "
            "holdout, and the drift rule. Checked against the model's history (a window longer than the "
            "data, a cron expression that never fires: VALIDATION_ERROR, nothing written); null input "
            "removes the policy."
        )
    )
    async def set_retraining_policy(
        self,
        info: Info,
        model_id: Annotated[strawberry.ID, strawberry.argument(description="UUID of the model.")],
        input: Annotated[  # noqa: A002
            RetrainingPolicyInput | None, strawberry.argument(description="The policy; null removes it.")
        ] = None,
    ) -> ModelPayload:
        return await payload_of(
            lambda: retraining.set_policy(
                model_id=model_id,
                policy=input.to_policy() if input is not None else None,
                scope=info.context.scope,
                history=info.context.resources.fiware.history,
                min_interval=info.context.settings.retraining_min_interval_seconds,
            ),
            ok=_model_payload,
            failed=_model_failed,
        )

    @strawberry.mutation(description="Delete a model and its training jobs; refused while it trains.")
    async def delete_model(
        self,
        info: Info,
        id: ModelId,  # noqa: A002
    ) -> DeleteModelPayload:
        resources = info.context.resources

        def deleted(model_id: UUID) -> DeleteModelPayload:
            resources.forecasters.forget_model(model_id)
            return DeleteModelPayload(deleted_id=strawberry.ID(str(model_id)), errors=[])

        return await payload_of(
            lambda: model_service.delete_model(
                model_id=id,
                scope=info.context.scope,
                on_job_removed=functools.partial(recurring.remove_for_job, fiware=resources.fiware),
            ),
            ok=deleted,
            failed=lambda error: DeleteModelPayload(deleted_id=None, errors=user_errors(error)),
        )


__all__ = ["DeleteModelPayload", "ModelMutations", "ModelPayload"]
