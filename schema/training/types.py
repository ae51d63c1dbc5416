"""GraphQL types of training jobs, built from documents by ``from_document``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote
from uuid import UUID

import strawberry

from app.timeutil import utcnow
from app.training import documents, progress, service
from schema.context import Info
from schema.derive import output_fields
from schema.enums import expose
from schema.loaders import JobCount
from schema.pagination import Connection, Edge, PageInfo
from schema.predictions.types import (
    DAY_WINDOW,
    LiveAccuracy,
    PredictionSchedule,
    WindowsSeconds,
    live_accuracy_of,
)

if TYPE_CHECKING:
    from schema.models.types import Model

TrainingJobId = Annotated[strawberry.ID, strawberry.argument(description="UUID of the training job.")]

TrainingStatus = documents.TrainingStatus
expose(
    TrainingStatus,
    name="TrainingStatus",
    description=(
        "Life cycle of a training job: PENDING → COLLECTING_DATA → PREPROCESSING → TRAINING → "
        "COMPLETED, or FAILED; a cancel goes through CANCEL_REQUESTED to CANCELLED."
    ),
    values={
        "PENDING": "Admitted and queued; no worker has started it yet.",
        "COLLECTING_DATA": "Workers are reading the series from the history store, chunk by chunk.",
        "PREPROCESSING": "The series is being regularised, split and windowed.",
        "TRAINING": "The network is being fitted, epoch by epoch.",
        "COMPLETED": "Trained, scored and stored: the job can forecast.",
        "FAILED": "Ended without a model; `error` says why.",
        "CANCEL_REQUESTED": "A cancel was asked for; the running step stops at its next heartbeat.",
        "CANCELLED": "Stopped by a cancel; nothing of it is used.",
    },
)


@strawberry.type(description="What the job was asked to train on.")
class TrainingRequest:
    last_n: int | None = strawberry.field(description="The newest points asked for; null for a window.")
    date_from: datetime | None = strawberry.field(description="Start of the time window, inclusive.")
    date_to: datetime | None = strawberry.field(description="End of the time window, inclusive.")


@strawberry.type(description="When a phase of the job started and ended.")
class PhaseTimes:
    started_at: datetime | None = strawberry.field(description="Start, UTC; null before the phase.")
    ended_at: datetime | None = strawberry.field(description="End, UTC; null while it runs.")

    @strawberry.field(description="Seconds from start to end; null until it ended.")
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at).total_seconds(), 3)


@strawberry.type(description="The phases of a job and their times.")
class TrainingPhases:
    collecting: PhaseTimes = strawberry.field(
        description="Reading the series from the model's history store."
    )
    preprocessing: PhaseTimes = strawberry.field(description="Cleaning and regularising the series.")
    training: PhaseTimes = strawberry.field(description="Fitting, scoring and storing the network.")


@strawberry.type(description="Where the job stands now.")
class TrainingProgress:
    fraction: float = strawberry.field(
        description=(
            "Done share of the whole job, 0-1; never decreases. While training it advances over the "
            "epochs expected to remain (`expectedLastEpoch`), so early stopping does not make it jump."
        )
    )
    message: str | None = strawberry.field(description="What is happening, for people.")
    epoch: int | None = strawberry.field(description="Current epoch (1-based) while training.")
    total_epochs: int | None = strawberry.field(
        description="Most epochs this job may run (the configured maximum)."
    )
    expected_last_epoch: int | None = strawberry.field(
        description=(
            "The epoch training is expected to end with: best epoch + early-stopping patience unless "
            "val_loss improves again, at most `totalEpochs` (which it is when early stopping is off)."
        )
    )
    best_epoch: int | None = strawberry.field(
        description="Epoch (1-based) with the lowest val_loss so far; null while early stopping is off."
    )
    loss: float | None = strawberry.field(description="Latest training loss (scaled MSE).")
    val_loss: float | None = strawberry.field(description="Latest validation loss (scaled MSE).")
    eta_seconds: float | None = strawberry.field(
        description=(
            "Estimated seconds of training left, to the end of `expectedLastEpoch` at the pace of the "
            "epochs run so far; null before that pace is known and after training."
        )
    )


@strawberry.type(description="What preprocessing made of the collected points.")
class TrainingData:
    raw_points: int = strawberry.field(description="Points received from the history store.")
    dropped_non_finite: int = strawberry.field(description="Points dropped for a NaN or infinite value.")
    merged_duplicates: int = strawberry.field(
        description="Points averaged into another (same timestamp, or same slot of the grid)."
    )
    slots: int = strawberry.field(description="Length of the regular series, one slot per interval.")
    filled: int = strawberry.field(description="Slots filled by interpolation across short gaps.")
    gaps: int = strawberry.field(description="Gaps too long to fill; no window spans one.")
    missing: int = strawberry.field(description="Slots left empty inside those gaps.")
    sampling_interval_seconds: float = strawberry.field(description="Detected sampling interval.")
    series_start: datetime = strawberry.field(description="Time of the first slot, UTC.")
    series_end: datetime = strawberry.field(description="Time of the last slot, UTC.")
    train_windows: int = strawberry.field(description="Training windows (lookback + horizon).")
    validation_windows: int = strawberry.field(description="Validation windows.")
    test_windows: int = strawberry.field(description="Test windows, the forecast origins scored.")


@strawberry.type(
    description=(
        "Scores on the test split in the series' own units, pooled over every forecast origin and "
        "horizon step; null wherever a metric is undefined for the data (never NaN)."
    )
)
@output_fields(documents.TrainingMetrics)
class TrainingMetrics:
    pass


@strawberry.type(description="A trivial forecaster scored on exactly the network's test pairs.")
@output_fields(documents.BaselineScore)
class Baseline:
    pass


@strawberry.type(description="A prediction interval of the network, calibrated on the validation split.")
@output_fields(documents.IntervalScore)
class PredictionInterval:
    pass


@strawberry.type(description="The forecaster that serves a job, chosen on the validation split.")
@output_fields(documents.ServedBy)
class ServedBy:
    pass


@strawberry.type(description="A seasonal period of the series, confirmed by its autocorrelation.")
@output_fields(documents.SeasonScore)
class Season:
    pass


@strawberry.type(description="Losses of one epoch (scaled MSE).")
class EpochLoss:
    epoch: int = strawberry.field(description="Epoch number, 1-based.")
    loss: float | None = strawberry.field(description="Training loss.")
    val_loss: float | None = strawberry.field(description="Validation loss.")


@strawberry.type(description="A file the job stored: the network, its ONNX export, scaler or metadata.")
class Artifact:
    name: str = strawberry.field(description="File name, e.g. `model.onnx`.")
    size_bytes: int = strawberry.field(description="Size in bytes.")
    content_type: str = strawberry.field(description="Media type.")
    checksum: str = strawberry.field(description="`sha256:<hex>` of the content.")
    download_url: str = strawberry.field(
        description=(
            "Path of the file on this API (`/artifacts/<jobId>/<name>`): a GET with the same "
            "`Authorization: Bearer <key>` answers its bytes, with the checksum as ETag."
        )
    )


JobErrorCode = documents.JobErrorCode
expose(
    JobErrorCode,
    name="JobErrorCode",
    description="Why a training job failed.",
    values={
        "INSUFFICIENT_DATA": "Too few usable points or windows after cleaning.",
        "INVALID_DATA": "A series that cannot be regularised (e.g. no detectable sampling interval).",
        "NOT_FOUND": "The series or the model is gone.",
        "UNAVAILABLE": "A dependency stayed down through every retry.",
        "UPSTREAM_ERROR": "A FIWARE service refused a request.",
        "WORKER_LOST": "The worker died or went silent more times than the redelivery limit allows.",
        "TIME_LIMIT": "A step ran past its time limit.",
        "INTERNAL": "An unexpected failure (a bug): the worker's log has the traceback.",
    },
)


@strawberry.type(description="Why a job failed.")
class JobError:
    code: JobErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="What happened, for people.")

    @classmethod
    def from_document(cls, error: documents.JobError) -> JobError:
        known = error.code in JobErrorCode.__members__
        return cls(code=JobErrorCode(error.code) if known else JobErrorCode.INTERNAL, message=error.message)


def _phase(times: documents.PhaseTimes) -> PhaseTimes:
    return PhaseTimes(started_at=times.started_at, ended_at=times.ended_at)


@strawberry.type(
    description=(
        "A scheduled or drift retraining's contest with the champion (the model's active version at "
        "the decision): both scored on the same recent holdout, the newest data neither trained on."
    )
)
class Challenge:
    trigger: str = strawberry.field(description="What started the retraining: `schedule` or `drift`.")
    champion_job_id: strawberry.ID | None = strawberry.field(
        description="The active version it was held against; null when the model had none."
    )
    decided_at: datetime | None = strawberry.field(description="When it was decided, UTC; null until then.")
    promoted: bool | None = strawberry.field(
        description="True when it became the active version; null until decided."
    )
    reason: str | None = strawberry.field(description="Why, with the scores; null until decided.")
    holdout_start: datetime | None = strawberry.field(
        description="Holdout targets are after this time (the newest data either version trained on)."
    )
    holdout_end: datetime | None = strawberry.field(description="And up to this one (the decision).")
    pairs: int = strawberry.field(description="(Origin, step) pairs both versions were scored on.")
    champion_rmse: float | None = strawberry.field(description="The champion's RMSE on those pairs.")
    challenger_rmse: float | None = strawberry.field(description="This job's RMSE on those pairs.")
    margin: float = strawberry.field(
        description="The improvement asked for: promoted when challengerRmse ≤ (1 - margin) × championRmse."
    )

    @classmethod
    def from_document(cls, challenge: documents.Challenge) -> Challenge:
        values = challenge.model_dump()
        champion = values.pop("champion_job_id")
        return cls(**values, champion_job_id=strawberry.ID(str(champion)) if champion else None)


@strawberry.type(description="One run of training of a model on a slice of its sensor's history.")
class TrainingJob:
    id: strawberry.ID = strawberry.field(description="UUID of the job.")
    model_id: strawberry.ID = strawberry.field(description="UUID of the model trained.")
    status: TrainingStatus = strawberry.field(description="Life-cycle status.")
    progress: TrainingProgress = strawberry.field(description="How far the job is, and what it does now.")
    request: TrainingRequest = strawberry.field(description="The slice of history asked for.")
    points_available: int = strawberry.field(description="Points the history store held for the request.")
    points_requested: int = strawberry.field(description="Points the job collects.")
    points_collected: int = strawberry.field(
        description="Points collected so far, counted per page while chunks are being read."
    )
    points_dropped: int = strawberry.field(description="Points the history store sent that were not numbers.")
    sampling_interval_seconds: float | None = strawberry.field(
        description="Sampling interval detected in preprocessing (sub-second intervals are kept)."
    )
    data: TrainingData | None = strawberry.field(description="Preprocessing summary; null before it ran.")
    phases: TrainingPhases = strawberry.field(description="Start and end of each phase.")
    metrics: TrainingMetrics | None = strawberry.field(description="Test scores; null until COMPLETED.")
    baselines: list[Baseline] = strawberry.field(
        description=(
            "Persistence and the seasonal-naive forecasts the sampling interval and the data allow, "
            "scored on the same test pairs as `metrics`; empty until COMPLETED."
        )
    )
    seasons: list[Season] = strawberry.field(
        description=(
            "Seasonal periods found in the series (daily, weekly), strongest first; empty until COMPLETED."
        )
    )
    intervals: list[PredictionInterval] = strawberry.field(
        description=(
            "The served forecaster's prediction intervals at the model's `intervalLevels` (conformal, one "
            "half-width per step, calibrated online on its newest errors as they became known through the "
            "validation and test splits), with the test coverage that reached; empty until COMPLETED."
        )
    )
    served_by: ServedBy | None = strawberry.field(
        description=(
            "What serves `predict` and recurring forecasts (the network or a baseline, whichever did "
            "best on the validation split), with its test scores; null until COMPLETED, and for jobs "
            "trained before the choice existed (their network serves)."
        )
    )
    lookback_window: int = strawberry.field(
        description=(
            "Past points the network reads per forecast: the model's `lookbackWindow`, or, when the "
            "model leaves it unset, the one chosen when the data was in (48 until then)."
        )
    )
    lookback_reason: str | None = strawberry.field(
        description="Why this lookback was chosen from the data; null when the model set it."
    )
    input_channels: list[str] = strawberry.field(
        description=(
            "Calendar channels the network reads after the value at every input step "
            "(`time_of_day_sin`, `time_of_day_cos`, `day_of_week_sin`, `day_of_week_cos`), as its "
            "model's `calendarFeatures` and the sampling interval allow; empty until COMPLETED."
        )
    )
    history: list[EpochLoss] = strawberry.field(description="Loss and validation loss of every epoch run.")
    artifacts: list[Artifact] = strawberry.field(description="Stored files; empty until COMPLETED.")
    error: JobError | None = strawberry.field(description="Why it failed; null otherwise.")
    prediction: PredictionSchedule = strawberry.field(description="Its recurring forecasts.")
    challenge: Challenge | None = strawberry.field(
        description="Set when a scheduled or drift retraining started it: its contest with the champion."
    )
    created_at: datetime = strawberry.field(description="Admission time, UTC.")
    updated_at: datetime = strawberry.field(description="Last change of any kind, UTC.")
    started_at: datetime | None = strawberry.field(description="When a worker took it, UTC.")
    finished_at: datetime | None = strawberry.field(description="When it ended, UTC.")
    last_sign_of_life: strawberry.Private[datetime | None] = None

    @strawberry.field(description="Seconds from admission to the end; while it runs, to its latest change.")
    def duration_seconds(self) -> float:
        end = self.finished_at or self.updated_at
        return round(max(0.0, (end - self.created_at).total_seconds()), 3)

    @strawberry.field(
        description=(
            "Seconds since the step running this job (or, before any worker took it, the job) last "
            "showed life: a heartbeat at least every second while it works. Null once it ended. Read "
            "from the database, so it keeps growing while every worker is down."
        )
    )
    def heartbeat_age_seconds(self) -> float | None:
        if self.last_sign_of_life is None:
            return None
        return round(max(0.0, (utcnow() - self.last_sign_of_life).total_seconds()), 3)

    @strawberry.field(
        description=(
            "True when that silence is longer than CHRONOS_JOB_STALE_SECONDS: no worker is on it, because "
            "every worker is busy or down (health's `workers` tells which) or its worker was lost. The "
            "watchdog sends a silent step again; only repeated losses fail a job (WORKER_LOST)."
        )
    )
    def stalled(self, info: Info) -> bool:
        age = self.heartbeat_age_seconds()
        return age is not None and age > info.context.resources.settings.job_stale_seconds

    @strawberry.field(
        description=(
            "How this job's published forecasts did against the readings that arrived since, per window: "
            "read from the history store on demand. Empty figures (0 pairs) before any target is due."
        )
    )
    async def live_accuracy(
        self, info: Info, windows_seconds: WindowsSeconds = DAY_WINDOW
    ) -> list[LiveAccuracy]:
        return await live_accuracy_of(info, job_id=str(self.id), windows=windows_seconds)

    @strawberry.field(description="The model this job trains; null if it was deleted meanwhile.")
    async def model(self, info: Info) -> Annotated[Model, strawberry.lazy("schema.models.types")] | None:
        from schema.models.types import Model

        document = await info.context.loaders.model.load(UUID(str(self.model_id)))
        return Model.from_document(document) if document else None

    @classmethod
    def from_document(cls, doc: documents.TrainingJobDocument) -> TrainingJob:
        summary = doc.summary
        return cls(
            id=strawberry.ID(str(doc.id)),
            model_id=strawberry.ID(str(doc.model_id)),
            status=doc.status,
            progress=TrainingProgress(**progress.shown(doc).model_dump()),
            request=TrainingRequest(**doc.request.model_dump()),
            points_available=doc.points_available,
            points_requested=doc.points_requested,
            points_collected=progress.points_so_far(doc),
            points_dropped=doc.points_dropped,
            sampling_interval_seconds=summary.sampling_interval_seconds if summary else None,
            data=TrainingData(**summary.model_dump()) if summary else None,
            phases=TrainingPhases(
                collecting=_phase(doc.phases.collecting),
                preprocessing=_phase(doc.phases.preprocessing),
                training=_phase(doc.phases.training),
            ),
            metrics=TrainingMetrics(**doc.metrics.model_dump()) if doc.metrics else None,
            baselines=[Baseline(**score.model_dump()) for score in doc.baselines],
            seasons=[Season(**season.model_dump()) for season in doc.seasons],
            intervals=[PredictionInterval(**interval.model_dump()) for interval in doc.intervals],
            served_by=ServedBy(**doc.served_by.model_dump()) if doc.served_by else None,
            lookback_window=doc.config.lookback_window,
            lookback_reason=doc.config.lookback_reason,
            input_channels=list(doc.input_channels),
            history=[EpochLoss(**entry.model_dump()) for entry in doc.history],
            artifacts=[
                Artifact(
                    name=a.name,
                    size_bytes=a.size_bytes,
                    content_type=a.content_type,
                    checksum=a.checksum,
                    download_url=f"/artifacts/{doc.id}/{quote(a.name)}",
                )
                for a in doc.artifacts
            ],
            error=JobError.from_document(doc.error) if doc.error else None,
            prediction=PredictionSchedule.from_document(doc),
            challenge=Challenge.from_document(doc.challenge) if doc.challenge else None,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            started_at=doc.started_at,
            finished_at=doc.finished_at,
            last_sign_of_life=service.last_sign_of_life(doc),
        )


@strawberry.type(description="A page of training jobs, newest first.")
class TrainingJobConnection(Connection[TrainingJob]):
    query: strawberry.Private[dict[str, Any]]
    # Set for a model's own list: its count is batched with the other models' of the page.
    count_key: strawberry.Private[JobCount | None] = None

    @strawberry.field(description="Number of jobs matching the filter, on all pages.")
    async def total_count(self, info: Info) -> int:
        if self.count_key is not None:
            return await info.context.loaders.job_count.load(self.count_key)
        return await service.count_jobs(query=self.query)

    @classmethod
    def from_page(cls, page: service.JobPage, *, count_key: JobCount | None = None) -> TrainingJobConnection:
        return cls(
            count_key=count_key,
            edges=[Edge(cursor=e.cursor, node=TrainingJob.from_document(e.node)) for e in page.edges],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            query=page.query,
        )


__all__ = [
    "Artifact",
    "Baseline",
    "EpochLoss",
    "JobError",
    "JobErrorCode",
    "PhaseTimes",
    "PredictionInterval",
    "Season",
    "ServedBy",
    "TrainingData",
    "TrainingJob",
    "TrainingJobConnection",
    "TrainingJobId",
    "TrainingMetrics",
    "TrainingPhases",
    "TrainingProgress",
    "TrainingRequest",
    "TrainingStatus",
]
