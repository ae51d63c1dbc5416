"""Training mutations: expected failures come back in the payload's ``errors``."""

from __future__ import annotations

import functools
from typing import Annotated
from uuid import UUID

import strawberry

from app.errors import ChronosError
from app.predictions import recurring
from app.training import admission, service
from app.training.documents import TrainingJobDocument
from schema.context import Info
from schema.errors import UserError, payload_of, user_errors
from schema.models.types import ModelId
from schema.training.inputs import StartTrainingInput
from schema.training.types import TrainingJob, TrainingJobId


@strawberry.type(description="Result of starting or cancelling a training job.")
class TrainingJobPayload:
    training_job: TrainingJob | None = strawberry.field(
        description=(
            "The job as stored. On a refused cancel it is the unchanged job; when the task queue did "
            "not take a new job, null: nothing was created (UNAVAILABLE), and a retry runs."
        )
    )
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of deleting a training job.")
class DeleteTrainingJobPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="Id of the deleted job; null on failure.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


def _succeeded(job: TrainingJobDocument) -> TrainingJobPayload:
    return TrainingJobPayload(training_job=TrainingJob.from_document(job), errors=[])


def _failed(error: ChronosError) -> TrainingJobPayload:
    # A refused cancel carries the finished job it concerns, unchanged.
    job = error.job if isinstance(error, service.JobConflict) else None
    return TrainingJobPayload(
        training_job=TrainingJob.from_document(job) if job is not None else None, errors=user_errors(error)
    )


@strawberry.type
class TrainingMutations:
    @strawberry.mutation(
        description=(
            "Start training a model on its sensor's history. Refused at once when the model is "
            "missing (NOT_FOUND), already training (CONFLICT) or its history store holds too few points "
            "(INSUFFICIENT_DATA, with the numbers)."
        )
    )
    async def start_training(
        self,
        info: Info,
        model_id: ModelId,
        input: Annotated[  # noqa: A002
            StartTrainingInput | None,
            strawberry.argument(description="Which history; default the newest 1,000 points."),
        ] = None,
    ) -> TrainingJobPayload:
        resources = info.context.resources
        return await payload_of(
            lambda: admission.start_training(
                model_id=model_id,
                request=(input or StartTrainingInput()).to_request(),
                scope=info.context.scope,
                history=resources.fiware.history,
                dispatch=resources.tasks.orchestrate,
                dispatch_timeout=resources.settings.dispatch_timeout_seconds,
            ),
            ok=_succeeded,
            failed=_failed,
        )

    @strawberry.mutation(
        description=(
            "Stop a job: it becomes CANCEL_REQUESTED at once and CANCELLED when its worker stops at the "
            "next page or batch (a job no worker took yet is CANCELLED at once). A finished job is "
            "returned unchanged with CONFLICT."
        )
    )
    async def cancel_training(self, info: Info, job_id: TrainingJobId) -> TrainingJobPayload:
        return await payload_of(
            lambda: service.cancel_job(job_id=job_id, scope=info.context.scope), ok=_succeeded, failed=_failed
        )

    @strawberry.mutation(
        description="Delete a finished job and its artifacts; a running job answers CONFLICT."
    )
    async def delete_training_job(self, info: Info, job_id: TrainingJobId) -> DeleteTrainingJobPayload:
        resources = info.context.resources

        def deleted(job_id: UUID) -> DeleteTrainingJobPayload:
            resources.forecasters.forget_job(job_id)
            return DeleteTrainingJobPayload(deleted_id=strawberry.ID(str(job_id)), errors=[])

        return await payload_of(
            lambda: service.delete_job(
                job_id=job_id,
                scope=info.context.scope,
                on_job_removed=functools.partial(recurring.remove_for_job, fiware=resources.fiware),
            ),
            ok=deleted,
            failed=lambda error: DeleteTrainingJobPayload(deleted_id=None, errors=user_errors(error)),
        )


__all__ = ["DeleteTrainingJobPayload", "TrainingJobPayload", "TrainingMutations"]
