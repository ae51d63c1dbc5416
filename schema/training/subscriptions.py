"""Live training progress, over WebSocket (graphql-transport-ws, graphql-ws) or SSE."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from app.models.service import parse_id
from app.training import events, following
from schema.context import Info
from schema.enums import expose
from schema.shared_execution import IdentityMemo, shareable
from schema.training.types import JobError, TrainingJobId, TrainingMetrics, TrainingStatus

TrainingPhase = events.TrainingPhase
expose(
    TrainingPhase,
    name="TrainingPhase",
    description="What a job is doing, coarser than its status, for progress displays.",
    values={
        "QUEUED": "Waiting for a worker.",
        "COLLECTING": "Reading the series from the history store.",
        "PREPROCESSING": "Regularising, splitting and windowing the series.",
        "TRAINING": "Fitting the network.",
        "STORING": "Scoring and storing the artifacts.",
        "STOPPING": "A cancel was asked for; waiting for the running step to stop.",
        "FINISHED": "Ended: COMPLETED, FAILED or CANCELLED.",
    },
)


@shareable
@strawberry.type(description="One step of a training job, as it happens.")
class TrainingProgressEvent:
    job_id: strawberry.ID = strawberry.field(description="UUID of the job.")
    model_id: strawberry.ID = strawberry.field(description="UUID of its model.")
    seq: int = strawberry.field(
        description="Increases with every event of this job; pass the last one seen as `afterSeq` to resume."
    )
    at: datetime = strawberry.field(description="When it happened, UTC.")
    status: TrainingStatus = strawberry.field(description="Status of the job.")
    phase: TrainingPhase = strawberry.field(description="What the job is doing.")
    progress: float = strawberry.field(
        description="Done share of the whole job, 0-1; never decreases (see `TrainingProgress.fraction`)."
    )
    message: str | None = strawberry.field(description="What is happening, for people.")
    data_points_collected: int = strawberry.field(
        description="Points collected so far, counted per page while chunks are being read."
    )
    data_points_requested: int = strawberry.field(description="Points the job collects.")
    epoch: int | None = strawberry.field(description="Current epoch (1-based) while training.")
    total_epochs: int | None = strawberry.field(
        description="Most epochs the job may run (the configured maximum)."
    )
    expected_last_epoch: int | None = strawberry.field(
        description=(
            "The epoch training is expected to end with: best epoch + early-stopping patience unless "
            "val_loss improves again, at most `totalEpochs`."
        )
    )
    best_epoch: int | None = strawberry.field(
        description="Epoch (1-based) with the lowest val_loss so far; null while early stopping is off."
    )
    loss: float | None = strawberry.field(description="Latest training loss (scaled MSE).")
    val_loss: float | None = strawberry.field(description="Latest validation loss (scaled MSE).")
    eta_seconds: float | None = strawberry.field(
        description="Estimated seconds of training left, to the end of `expectedLastEpoch`."
    )
    metrics: TrainingMetrics | None = strawberry.field(description="Test scores, on the COMPLETED event.")
    error: JobError | None = strawberry.field(description="Why it failed, on the FAILED event.")

    @classmethod
    def from_event(cls, event: events.ProgressEvent) -> TrainingProgressEvent:
        return cls(
            job_id=strawberry.ID(str(event.job_id)),
            model_id=strawberry.ID(str(event.model_id)),
            seq=event.seq,
            at=event.at,
            status=event.status,
            phase=event.phase,
            progress=event.progress,
            message=event.message,
            data_points_collected=event.points_collected,
            data_points_requested=event.points_requested,
            epoch=event.epoch,
            total_epochs=event.total_epochs,
            expected_last_epoch=event.expected_last_epoch,
            best_epoch=event.best_epoch,
            loss=event.loss,
            val_loss=event.val_loss,
            eta_seconds=event.eta_seconds,
            metrics=TrainingMetrics(**event.metrics.model_dump()) if event.metrics else None,
            error=JobError.from_document(event.error) if event.error else None,
        )


# Every subscriber of a job is handed the hub's one event object; converting it once per event
# gives them one GraphQL object too, so its execution is shared (see schema.shared_execution).
_graphql_event = IdentityMemo(TrainingProgressEvent.from_event)


@strawberry.type
class TrainingSubscriptions:
    @strawberry.subscription(
        description=(
            "A job's progress: first its current snapshot, then every newer event, ending after "
            "the terminal one (a finished job yields its final snapshot and ends). Unknown jobs "
            "answer NOT_FOUND."
        )
    )
    async def training_progress(
        self,
        info: Info,
        job_id: TrainingJobId,
        after_seq: Annotated[
            int | None,
            strawberry.argument(description="Resume after this `seq`: nothing at or before it is sent."),
        ] = None,
    ) -> AsyncGenerator[TrainingProgressEvent, None]:
        stream = following.follow_job(
            job_id=parse_id(job_id, field="jobId"),
            after_seq=after_seq,
            scope=info.context.scope,
            hub=info.context.resources.hub,
        )
        async for event in stream:
            yield _graphql_event(event)

    @strawberry.subscription(
        description="Status changes of every training job, or of one model's jobs, for as long as it runs."
    )
    async def training_job_updates(
        self,
        info: Info,
        model_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this model's jobs.")
        ] = None,
    ) -> AsyncGenerator[TrainingProgressEvent, None]:
        key = parse_id(model_id, field="modelId") if model_id is not None else None
        async for event in following.follow_jobs(
            model_id=key, scope=info.context.scope, hub=info.context.resources.hub
        ):
            yield _graphql_event(event)


__all__ = ["TrainingPhase", "TrainingProgressEvent", "TrainingSubscriptions"]
