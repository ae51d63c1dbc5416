"""Beanie documents of the training aggregate: jobs (``training_jobs``) and collected chunks
(``training_chunks``).

A job carries a snapshot of its model's configuration taken at admission, so what it trains is
fixed when it is accepted. Collected points live in chunk documents, never in the job or in a
broker message: tasks pass the job id and read what they need.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pymongo
from beanie import Document
from pydantic import BaseModel, Field
from pymongo import IndexModel

from app.models.config import ModelConfig
from app.timeutil import utcnow


class TrainingStatus(StrEnum):
    PENDING = "PENDING"
    COLLECTING_DATA = "COLLECTING_DATA"
    PREPROCESSING = "PREPROCESSING"
    TRAINING = "TRAINING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = frozenset(
    {
        TrainingStatus.PENDING,
        TrainingStatus.COLLECTING_DATA,
        TrainingStatus.PREPROCESSING,
        TrainingStatus.TRAINING,
        TrainingStatus.CANCEL_REQUESTED,
    }
)
# Statuses in which a worker holds the job and must send heartbeats.
RUNNING_STATUSES = frozenset(
    {TrainingStatus.COLLECTING_DATA, TrainingStatus.PREPROCESSING, TrainingStatus.TRAINING}
)
FINISHED_STATUSES = frozenset({TrainingStatus.COMPLETED, TrainingStatus.FAILED, TrainingStatus.CANCELLED})


class ChunkStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class TrainingRequest(BaseModel):
    """What the user asked for: the newest ``last_n`` points, or a time window."""

    last_n: int | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


class TrainingConfig(ModelConfig):
    """The model's configuration as it was when the job was admitted."""

    # The effective value: the default a model leaves unset is fixed at admission.
    early_stopping_patience: int
    # The lookback the job trains with: the model's, or, when the model leaves it unset, the base
    # value at admission that preprocessing replaces with the one the data calls for.
    lookback_window: int
    lookback_chosen: bool = False
    lookback_reason: str | None = None


class PhaseTimes(BaseModel):
    started_at: datetime | None = None
    ended_at: datetime | None = None


class Phases(BaseModel):
    collecting: PhaseTimes = Field(default_factory=PhaseTimes)
    preprocessing: PhaseTimes = Field(default_factory=PhaseTimes)
    training: PhaseTimes = Field(default_factory=PhaseTimes)


class JobErrorCode(StrEnum):
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
    INVALID_DATA = "INVALID_DATA"
    NOT_FOUND = "NOT_FOUND"
    UNAVAILABLE = "UNAVAILABLE"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    WORKER_LOST = "WORKER_LOST"
    TIME_LIMIT = "TIME_LIMIT"
    INTERNAL = "INTERNAL"


class JobError(BaseModel):
    code: str  # a JobErrorCode value; kept a string so a code added later never breaks reads
    message: str


class ScoreFields(BaseModel):
    """Test-split scores of one forecaster, in original units, pooled over (origin, step) pairs;
    None where a metric is undefined for the data (a constant series, no non-zero target): never NaN."""

    mae: float | None = Field(None, description="Mean absolute error.")
    rmse: float | None = Field(None, description="Root mean squared error.")
    mape: float | None = Field(
        None,
        description=(
            "Mean absolute percentage error over the targets that are not zero; null when fewer than a "
            "tenth of them are left."
        ),
    )
    smape: float | None = Field(
        None, description="Symmetric MAPE, 0-200 %: each error over the mean magnitude of truth and forecast."
    )
    mase: float | None = Field(
        None,
        description=(
            "Mean absolute scaled error: MAE over the in-sample MAE of the seasonal-naive forecast "
            "(the dominant season, else the previous value) on the training split; below 1 beats it."
        ),
    )
    theil_u: float | None = Field(
        None,
        description=(
            "Theil's U2: RMSE over the RMSE of naive persistence on the same targets; below 1 beats "
            "'no change'."
        ),
    )
    points: int = Field(0, description="(origin, step) pairs scored.")


class TrainingMetrics(ScoreFields):
    """The network's own test scores, and how it did against the baselines."""

    mse: float | None = Field(None, description="Mean squared error.")
    r2: float | None = Field(None, description="Coefficient of determination.")
    rmse_per_step: list[float | None] = Field(
        default_factory=list, description="RMSE of each horizon step, 1 first."
    )
    skill: float | None = Field(
        None,
        description=(
            "1 - RMSE / RMSE of the best baseline on the same test pairs: above 0 beats every "
            "baseline; null when no baseline was scored."
        ),
    )
    best_baseline: str | None = Field(None, description="Name of the baseline with the lowest test RMSE.")
    best_epoch: int | None = Field(None, description="Epoch (1-based) whose weights were kept.")
    best_train_loss: float | None = Field(None, description="Training loss at the best epoch.")
    best_val_loss: float | None = Field(None, description="Validation loss at the best epoch.")


class BaselineScore(ScoreFields):
    """A baseline forecaster scored on exactly the network's test pairs."""

    name: str = Field(
        description=(
            "`persistence` (the last value, repeated), `seasonal_naive_daily` / "
            "`seasonal_naive_weekly` (the value one season earlier), or `ets` (AutoETS, the statistical "
            "model, fitted on the training split)."
        )
    )
    period: int | None = Field(
        None, description="Season length in steps; null for persistence and a non-seasonal AutoETS."
    )


class ServedBy(ScoreFields):
    """The forecaster that serves `predict` and recurring forecasts, and its test scores."""

    name: str = Field(
        description=(
            "`network`, `persistence`, `seasonal_naive_daily` or `seasonal_naive_weekly`: the lowest "
            "RMSE on the validation split (never the test split) among the network and the baselines."
        )
    )
    period: int | None = Field(None, description="Season length in steps of a seasonal naive forecaster.")
    reason: str = Field(description="Why it was chosen, with the validation RMSE of each candidate.")
    validation_rmse: float | None = Field(None, description="Its RMSE on the validation split.")


class IntervalScore(BaseModel):
    """A prediction interval of the network, calibrated on the validation split (split conformal)."""

    level: float = Field(description="Nominal share of readings the interval should hold, e.g. 0.8.")
    half_widths: list[float] = Field(
        description="Half-width of the interval at each horizon step, 1 first, in the series' units."
    )
    coverage: float | None = Field(
        None, description="Share of the test split's readings that fell inside: compare with `level`."
    )


class SeasonScore(BaseModel):
    """A seasonal period of the series, confirmed by its autocorrelation."""

    name: str = Field(description="`daily` or `weekly`.")
    period: int = Field(description="Steps per season at the job's sampling interval.")
    strength: float = Field(description="Autocorrelation of the detrended series at that lag, -1 to 1.")


class EpochLoss(BaseModel):
    epoch: int
    loss: float | None
    val_loss: float | None


class DataSummary(BaseModel):
    """What preprocessing made of the collected points."""

    raw_points: int
    dropped_non_finite: int
    merged_duplicates: int
    slots: int
    filled: int
    gaps: int
    missing: int
    sampling_interval_seconds: float
    series_start: datetime
    series_end: datetime
    train_windows: int = 0
    validation_windows: int = 0
    test_windows: int = 0


class Artifact(BaseModel):
    name: str
    file_id: str
    size_bytes: int
    content_type: str
    checksum: str  # "sha256:<hex>"


class Lease(BaseModel):
    """Which task holds the job's current step, and when it last showed signs of life."""

    task_id: str
    # One token per execution of a step: a duplicate execution of the same task (a redelivery
    # while the first still runs) takes the lease with a new token, and the old one's writes stop
    # matching, so two runs can never both finish a step.
    run: str
    worker: str
    heartbeat_at: datetime
    # Executions of this step lost with their worker (the first run is attempt 1).
    attempt: int = 1
    # False while the step waits in a queue (handed off, handed back at shutdown, or sent again by
    # the watchdog): a queued step sends no heartbeats, and silence then is not a lost worker.
    active: bool = True
    # When the watchdog last sent the step again, and how often it has: it backs off between sends.
    driven_at: datetime | None = None
    drives: int = 0


class Progress(BaseModel):
    fraction: float = 0.0
    message: str | None = None
    epoch: int | None = None
    total_epochs: int | None = None
    loss: float | None = None
    val_loss: float | None = None
    eta_seconds: float | None = None
    # The epoch training ends with unless val_loss improves (best epoch + patience, at most
    # total_epochs); total_epochs when early stopping is off. ETA and fraction aim at it.
    expected_last_epoch: int | None = None
    best_epoch: int | None = None


class ChunkProgress(BaseModel):
    """Points a chunk still paging has received so far, and which execution of it counts them."""

    run: str  # a retried or redelivered chunk replaces the entry: its count starts again
    points: int = 0


class Checkpoint(BaseModel):
    """The job's current training checkpoint in GridFS, recorded by the execution holding the lease."""

    file_id: str
    epoch: int
    run: str
    size_bytes: int


class MissReason(StrEnum):
    """Why a recurring-forecast slot was not published (``schema/predictions/types.py`` describes each)."""

    NO_WORKER = "NO_WORKER"
    LATE = "LATE"
    ORION_UNAVAILABLE = "ORION_UNAVAILABLE"
    STH_UNAVAILABLE = "STH_UNAVAILABLE"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
    JOB_UNUSABLE = "JOB_UNUSABLE"
    BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"
    INTERNAL = "INTERNAL"


class MissedSlot(BaseModel):
    slot: datetime
    reason: MissReason


class FailureStreak(BaseModel):
    """Failed runs since the last published one: what the log's first line and summaries tell."""

    since: datetime
    failures: int = 1
    last_error: str
    reported_at: datetime


class Challenge(BaseModel):
    """A retraining's contest with the champion, decided once the job ends (app.models.retraining)."""

    trigger: str  # "schedule" or "drift"
    champion_job_id: UUID | None = None
    decided_at: datetime | None = None
    promoted: bool | None = None
    reason: str | None = None
    # The holdout: targets after both jobs' training data, up to the decision.
    holdout_start: datetime | None = None
    holdout_end: datetime | None = None
    pairs: int = 0
    champion_rmse: float | None = None
    challenger_rmse: float | None = None
    margin: float = 0.0


class PredictionConfig(BaseModel):
    """Recurring forecasts of a job, published to Orion in the model's tenant."""

    enabled: bool = False
    # Set when the schedule publishes for the model (setModelForecasting): the entity, device and
    # subscription are the model's, and pass to the next active version on promotion.
    model_id: UUID | None = None
    # When this job handed the model's schedule to the next active version: slots it had claimed
    # before still run here (they publish to the same entity), later ones run there.
    handed_over_at: datetime | None = None
    # What Chronos provisioned (and only that is ever deleted): entity, subscription, device.
    entity_id: str | None = None
    entity_type: str | None = None
    subscription_id: str | None = None
    device_id: str | None = None
    interval_seconds: float | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    next_prediction_at: datetime | None = None
    last_slot: datetime | None = None
    last_run_at: datetime | None = None
    last_error: str | None = None
    run_count: int = 0
    # Every slot ends published (run_count) or missed: all misses counted, the newest listed.
    missed_count: int = 0
    recent_misses: list[MissedSlot] = Field(default_factory=list)
    # The newest slots a run settled, so a duplicate run never settles one twice (app.predictions.ledger).
    settled_slots: list[datetime] = Field(default_factory=list)
    # Tokens of the newest bulk writes, to tell which documents a bulk write changed
    # (app.training.repository.forecasting).
    marks: list[str] = Field(default_factory=list)
    failure_streak: FailureStreak | None = None


class TrainingJobDocument(Document):
    id: UUID = Field(default_factory=uuid4)  # type: ignore[assignment]
    model_id: UUID
    status: TrainingStatus = TrainingStatus.PENDING
    request: TrainingRequest
    config: TrainingConfig
    # "<model id>:<key>" so one key can be reused across models; None when the client sent none.
    idempotency_key: str | None = None
    request_fingerprint: str
    points_available: int = 0
    points_requested: int = 0
    points_collected: int = 0
    points_dropped: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    # Chunks paging right now, by index: counted in the points collected until they finish.
    chunk_progress: dict[str, ChunkProgress] = Field(default_factory=dict)
    progress: Progress = Field(default_factory=Progress)
    # Incremented by every write a watcher can see: orders progress events across processes.
    progress_seq: int = 0
    phases: Phases = Field(default_factory=Phases)
    summary: DataSummary | None = None
    metrics: TrainingMetrics | None = None
    baselines: list[BaselineScore] = Field(default_factory=list)
    seasons: list[SeasonScore] = Field(default_factory=list)
    intervals: list[IntervalScore] = Field(default_factory=list)
    # None for a job trained before forecasters were chosen: its network serves.
    served_by: ServedBy | None = None
    # Calendar channels the network reads after the value (ml.calendar); empty for a job trained
    # without them, or before they existed: serving feeds exactly these.
    input_channels: list[str] = Field(default_factory=list)
    # The statistical baseline as ml.ets.ets_state stores it (model, slot-0 time, interval): what
    # serving needs when it is the forecaster chosen; None when none could be fitted.
    ets: dict[str, Any] | None = None
    history: list[EpochLoss] = Field(default_factory=list)
    checkpoint: Checkpoint | None = None
    # Epochs each execution of the training step ran itself, by lease token: a resumed step
    # shows how much work its checkpoint saved.
    epochs_by_run: dict[str, int] = Field(default_factory=dict)
    artifacts: list[Artifact] = Field(default_factory=list)
    series_file_id: str | None = None
    error: JobError | None = None
    lease: Lease | None = None
    prediction_config: PredictionConfig = Field(default_factory=PredictionConfig)
    # Set when a scheduled or drift retraining started the job: its contest with the champion.
    challenge: Challenge | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    class Settings:
        name = "training_jobs"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("model_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)],
                name="model_id_created_at",
            ),
            # Newest-first keyset pagination of the top-level job list.
            IndexModel(
                [("created_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)],
                name="created_at_desc",
            ),
            IndexModel([("status", pymongo.ASCENDING)], name="status"),
            IndexModel(
                [("idempotency_key", pymongo.ASCENDING)],
                name="idempotency_key",
                unique=True,
                partialFilterExpression={"idempotency_key": {"$type": "string"}},
            ),
            # The forecast scheduler asks: enabled jobs whose next run is due.
            IndexModel(
                [
                    ("prediction_config.enabled", pymongo.ASCENDING),
                    ("prediction_config.next_prediction_at", pymongo.ASCENDING),
                ],
                name="prediction_due",
            ),
        ]


class TrainingChunkDocument(Document):
    """One slice ``[h_offset, h_offset + h_limit)`` of the series, as STH-Comet counts from the oldest."""

    id: str  # type: ignore[assignment]  # "<job id>:<index>": a redelivered task finds its own chunk
    job_id: UUID
    index: int
    h_offset: int
    h_limit: int
    status: ChunkStatus = ChunkStatus.PENDING
    task_id: str | None = None
    run: str | None = None  # the execution that claimed it last: the only one that may finish it
    attempts: int = 0  # redeliveries: a chunk that keeps killing its worker fails the job
    points: int = 0
    dropped: int = 0
    # Packed float64 arrays: 16 bytes a point instead of ~30 as BSON arrays, and no per-item decoding.
    timestamps: bytes | None = None
    values: bytes | None = None
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "training_chunks"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("job_id", pymongo.ASCENDING), ("index", pymongo.ASCENDING)], name="job_index"),
        ]


def chunk_id(job_id: UUID, index: int) -> str:
    return f"{job_id}:{index}"


__all__ = [
    "ACTIVE_STATUSES",
    "FINISHED_STATUSES",
    "RUNNING_STATUSES",
    "Artifact",
    "BaselineScore",
    "Checkpoint",
    "ChunkProgress",
    "ChunkStatus",
    "DataSummary",
    "EpochLoss",
    "FailureStreak",
    "IntervalScore",
    "JobError",
    "JobErrorCode",
    "Lease",
    "MissReason",
    "MissedSlot",
    "PhaseTimes",
    "Phases",
    "PredictionConfig",
    "Progress",
    "ScoreFields",
    "SeasonScore",
    "ServedBy",
    "TrainingChunkDocument",
    "TrainingConfig",
    "TrainingJobDocument",
    "TrainingMetrics",
    "TrainingRequest",
    "TrainingStatus",
    "chunk_id",
]
