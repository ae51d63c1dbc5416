"""The training step: fit the network on the stored series, score it, store its artifacts.

Training is synchronous CPU work (Keras), so this step is a plain function; the awaits it needs
(claims, heartbeats, GridFS) go through ``run``, the worker's event loop. Progress and the cancel
check share one throttled heartbeat: a cancel or a watchdog moves the status, the heartbeat stops
matching, and Keras stops after the current batch.

After epochs, the fit's state goes to the job's checkpoint (``app.training.checkpoints``), at most
once per ten times its own cost of training (``FitSettings.checkpoint_cost_ratio``). A redelivered
step whose process died resumes from it: same weights, optimizer and early-stopping state, the
history cut back to the checkpoint's epochs, and the same shuffle order as the uninterrupted run.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar
from uuid import UUID

import structlog
from pymongo.errors import PyMongoError

from app.timeutil import utcnow
from app.training import checkpoints, progress, storage
from app.training.documents import (
    Artifact,
    BaselineScore,
    EpochLoss,
    IntervalScore,
    ScoreFields,
    SeasonScore,
    ServedBy,
    TrainingConfig,
    TrainingJobDocument,
    TrainingMetrics,
    TrainingStatus,
)
from app.training.failures import StepFailed, TaskIdentity
from app.training.preprocessing import regular_from
from app.training.repository import lifecycle
from ml.ets import ets_state
from ml.network import DenseLayer, NetworkSpec, RecurrentLayer
from ml.pipeline import TrainingConfig as PipelineConfig
from ml.pipeline import TrainingOutcome, train_regular
from ml.series import InsufficientSeries
from ml.training import CheckpointMismatch, FitSettings, FitState, ProgressEvent

log = structlog.get_logger(__name__)

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, T]], T]

HEARTBEAT_EVERY_SECONDS = 1.0
LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "onnx", "onnxruntime", "tf2onnx")


def pipeline_config(config: TrainingConfig) -> PipelineConfig:
    return PipelineConfig(
        network=NetworkSpec(
            cell="LSTM" if config.model_type.value == "LSTM" else "GRU",
            lookback=config.lookback_window,
            horizon=config.forecast_horizon,
            recurrent=tuple(
                RecurrentLayer(layer.units, layer.dropout, layer.recurrent_dropout)
                for layer in config.rnn_layers
            ),
            dense=tuple(
                DenseLayer(layer.units, layer.dropout, layer.activation.value)
                for layer in config.dense_layers
            ),
        ),
        delta=config.target_mode.value == "DELTA",
        fit=FitSettings(
            batch_size=config.batch_size,
            epochs=config.epochs,
            learning_rate=config.learning_rate,
            patience=config.early_stopping_patience,
        ),
        validation_ratio=config.validation_ratio,
        test_ratio=config.test_ratio,
        interval_levels=tuple(config.interval_levels),
        calendar=config.calendar_features,
    )


class _Monitor:
    """Turns training events into throttled heartbeats, heartbeat refusals into a stop, and fit
    states into checkpoints."""

    def __init__(
        self, job_id: UUID, lease_run: str, run: Runner[Any], course: progress.TrainingCourse
    ) -> None:
        self.job_id = job_id
        self.lease_run = lease_run
        self.run = run
        self.course = course
        self.last_beat = 0.0
        self.lost = False
        self.pending: dict[str, Any] = {}
        self.checkpoint_bytes = 0

    def _beat(self, values: dict[str, Any], *, push: EpochLoss | None = None, force: bool = False) -> None:
        self.pending.update(values)
        now = time.monotonic()
        if not force and now - self.last_beat < HEARTBEAT_EVERY_SECONDS:
            return
        self.last_beat = now
        kept = self.run(
            lifecycle.heartbeat(
                job_id=self.job_id,
                status=TrainingStatus.TRAINING,
                run=self.lease_run,
                values=self.pending,
                push={"history": push.model_dump()} if push is not None else None,
            )
        )
        self.pending = {}
        self.lost = self.lost or not kept

    def on_event(self, event: ProgressEvent) -> None:
        within = 1.0 if event.kind == "epoch" else (event.batch or event.batches) / max(1, event.batches)
        expected = event.expected_last_epoch or event.total_epochs
        if event.kind == "epoch":
            self.course.epoch_seconds.append(event.epoch_seconds)
        share = self.course.advance(event.epoch - 1 + within, expected)
        values = progress.training(
            epoch=event.epoch,
            total_epochs=event.total_epochs,
            expected_last_epoch=expected,
            best_epoch=event.best_epoch,
            share=share,
            loss=event.loss,
            val_loss=event.val_loss,
            eta_seconds=self.course.eta_seconds(
                expected_last_epoch=expected, seconds_in_epoch=event.epoch_seconds
            ),
        )
        if event.kind == "epoch":
            values[f"epochs_by_run.{self.lease_run}"] = event.epoch - event.first_epoch + 1
            # Every epoch is recorded, however fast: the loss history must be complete.
            self._beat(
                values,
                push=EpochLoss(epoch=event.epoch, loss=event.loss, val_loss=event.val_loss),
                force=True,
            )
        else:
            self._beat(values)

    def should_stop(self) -> bool:
        self._beat({})
        return self.lost

    def checkpoint(self, state: FitState) -> None:
        if self.lost:
            return
        try:
            saved = self.run(checkpoints.save(job_id=self.job_id, run=self.lease_run, state=state))
        except PyMongoError as error:
            # A missed checkpoint costs a resumed step some epochs, not this training its result.
            log.warning("training.checkpoint_failed", job_id=str(self.job_id), error=str(error))
            return
        self.lost = self.lost or saved is None
        if saved is not None:
            self.checkpoint_bytes = saved.size_bytes


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


async def _store_artifacts(
    job: TrainingJobDocument, lease_run: str, outcome: TrainingOutcome, metrics: TrainingMetrics
) -> list[Artifact]:
    if outcome.keras is None or outcome.onnx is None:
        raise StepFailed("INTERNAL", "training finished without exporting the network")
    files = [
        ("model.keras", outcome.keras, "application/x-keras"),
        ("model.onnx", outcome.onnx, "application/onnx"),
        ("scaler.json", json.dumps(outcome.scaler.to_json(), sort_keys=True).encode(), "application/json"),
    ]
    stored = [
        await storage.store_artifact(
            job_id=job.id, model_id=job.model_id, run=lease_run, name=name, data=data, content_type=kind
        )
        for name, data, kind in files
    ]
    summary = outcome.summary
    described = {
        "jobId": str(job.id),
        "modelId": str(job.model_id),
        "createdAt": utcnow().isoformat(),
        "config": job.config.model_dump(mode="json"),
        "request": job.request.model_dump(mode="json"),
        "data": summary.as_dict(),
        "samplingIntervalSeconds": summary.interval_seconds,
        "targetMode": job.config.target_mode.value,
        "metrics": metrics.model_dump(),
        **scores_of(outcome, metrics),
        "history": {"loss": outcome.fit.loss, "valLoss": outcome.fit.val_loss},
        # Epochs restored from a checkpoint of an earlier execution of the step that died.
        "resumedFromEpoch": outcome.fit.resumed_from,
        "libraries": _versions(),
        "artifacts": {a.name: {"checksum": a.checksum, "sizeBytes": a.size_bytes} for a in stored},
    }
    stored.append(
        await storage.store_artifact(
            job_id=job.id,
            model_id=job.model_id,
            run=lease_run,
            name="metadata.json",
            data=json.dumps(described, indent=2, sort_keys=True).encode(),
            content_type="application/json",
        )
    )
    return stored


def loss_history(loss: Sequence[float | None], val_loss: Sequence[float | None]) -> list[dict[str, Any]]:
    """The job's ``history`` entries, one per epoch from 1."""
    return [
        EpochLoss(epoch=epoch, loss=train, val_loss=val).model_dump()
        for epoch, (train, val) in enumerate(zip(loss, val_loss, strict=True), start=1)
    ]


def scores_of(outcome: TrainingOutcome, metrics: TrainingMetrics) -> dict[str, Any]:
    """What the job and its metadata.json record beside the metrics: baselines, seasons, intervals
    and the forecaster that serves."""
    return {
        "baselines": [score.model_dump() for score in baseline_scores(outcome)],
        "seasons": [SeasonScore(**vars(season)).model_dump() for season in outcome.seasons],
        "intervals": [IntervalScore(**vars(interval)).model_dump() for interval in outcome.intervals],
        "served_by": _served_by(outcome, metrics),
        "input_channels": list(outcome.channels),
        "ets": (
            ets_state(outcome.ets, start=outcome.summary.start, interval=outcome.summary.interval_seconds)
            if outcome.ets
            else None
        ),
    }


def completion_values(
    outcome: TrainingOutcome, metrics: TrainingMetrics, artifacts: list[Artifact]
) -> dict[str, Any]:
    """What a completed job records: its scores, loss history, artifacts and final progress."""
    windows = outcome.summary.windows
    return {
        "metrics": metrics.model_dump(),
        **scores_of(outcome, metrics),
        "history": loss_history(outcome.fit.loss, outcome.fit.val_loss),
        "artifacts": [a.model_dump() for a in artifacts],
        "summary.train_windows": windows.train,
        "summary.validation_windows": windows.validation,
        "summary.test_windows": windows.test,
        "progress.fraction": 1.0,
        "progress.message": "completed",
        "progress.eta_seconds": None,
        "checkpoint": None,
    }


def _metrics(outcome: TrainingOutcome) -> TrainingMetrics:
    fit = outcome.fit
    scored = outcome.metrics.as_dict() if outcome.metrics else {}
    baselines = baseline_scores(outcome)
    best = min((b for b in baselines if b.rmse is not None), key=lambda b: b.rmse or 0.0, default=None)
    return TrainingMetrics(
        **scored,
        skill=_skill(scored.get("rmse"), best.rmse if best else None),
        best_baseline=best.name if best else None,
        best_epoch=fit.best_epoch,
        best_train_loss=fit.best_train_loss,
        best_val_loss=fit.best_val_loss,
    )


def _served_by(outcome: TrainingOutcome, metrics: TrainingMetrics) -> dict[str, Any] | None:
    """The chosen forecaster with its test scores: the network's own, or its baseline's."""
    served = outcome.served
    if served is None:
        return None
    scores: ScoreFields = metrics
    for baseline in baseline_scores(outcome):
        if baseline.name == served.name:
            scores = baseline
    test = {name: getattr(scores, name) for name in ScoreFields.model_fields}
    return ServedBy(
        name=served.name,
        period=served.period,
        reason=served.reason,
        validation_rmse=served.validation_rmse,
        **test,
    ).model_dump()


def _skill(rmse: object, best: float | None) -> float | None:
    if not isinstance(rmse, float) or not best:
        return None
    return 1.0 - rmse / best


def baseline_scores(outcome: TrainingOutcome) -> list[BaselineScore]:
    """The baselines as the job stores them: each one's scores on the network's test pairs."""
    fields = ScoreFields.model_fields
    return [
        BaselineScore(
            name=baseline.name,
            period=baseline.period,
            **{name: value for name, value in baseline.metrics.as_dict().items() if name in fields},
        )
        for baseline in outcome.baselines
    ]


async def _resume_point(claim: lifecycle.Claim) -> tuple[FitState | None, progress.TrainingCourse]:
    """Where this execution starts: the job's checkpoint when a dead run left one, else epoch 1.

    The history is set back to the checkpoint's epochs, so the epochs run again are not listed twice.
    """
    job = claim.job
    if not claim.resumed:
        return None, progress.TrainingCourse()
    state = await checkpoints.load(job)
    done = state.epoch if state is not None else 0
    history = loss_history(state.loss, state.val_loss) if state is not None else []
    message = f"resuming after epoch {done} from its checkpoint" if done else "starting training again"
    await lifecycle.heartbeat(
        job_id=job.id,
        status=TrainingStatus.TRAINING,
        run=claim.run,
        values={"history": history, "progress.message": message, "progress.epoch": done or None},
    )
    log.info("training.resuming", job_id=str(job.id), from_epoch=done)
    return state, progress.TrainingCourse.resumed(epochs_done=done, fraction=job.progress.fraction)


async def _start_over(claim: lifecycle.Claim) -> progress.TrainingCourse:
    message = "the checkpoint does not fit this network; starting training again"
    await lifecycle.heartbeat(
        job_id=claim.job.id,
        status=TrainingStatus.TRAINING,
        run=claim.run,
        values={"history": [], "progress.message": message, "progress.epoch": None},
    )
    return progress.TrainingCourse.resumed(epochs_done=0, fraction=claim.job.progress.fraction)


def _fit(
    job: TrainingJobDocument,
    lease_run: str,
    regular: Any,
    run: Runner[Any],
    *,
    resume: FitState | None,
    course: progress.TrainingCourse,
) -> tuple[TrainingOutcome, _Monitor]:
    monitor = _Monitor(job.id, lease_run, run, course)
    try:
        outcome = train_regular(
            regular,
            pipeline_config(job.config),
            progress=monitor.on_event,
            should_stop=monitor.should_stop,
            checkpoint=monitor.checkpoint,
            resume=resume,
        )
    except InsufficientSeries as error:
        raise StepFailed("INSUFFICIENT_DATA", str(error)) from error
    return outcome, monitor


@dataclass(frozen=True)
class _Start:
    """What the fit needs, read once before it: the claimed job, its series and where to resume."""

    claim: lifecycle.Claim
    regular: Any
    resume: FitState | None
    course: progress.TrainingCourse


def train_job(*, job_id: UUID, me: TaskIdentity, run: Runner[Any]) -> None:
    """Run the training step of a preprocessed job to COMPLETED, or explain why it cannot.

    Three parts: the database work before the fit in one coroutine, the fit itself (synchronous
    Keras; its callbacks report through ``run``), and the database work after it in one coroutine.
    """
    start = run(_start(job_id=job_id, me=me))
    if start is None:
        return
    job, lease_run = start.claim.job, start.claim.run
    try:
        outcome, monitor = _fit(job, lease_run, start.regular, run, resume=start.resume, course=start.course)
    except CheckpointMismatch as error:
        # Resuming is an optimisation: a checkpoint that no longer fits costs its epochs, not the job.
        log.warning("training.checkpoint_unusable", job_id=str(job_id), error=str(error))
        course = run(_start_over(start.claim))
        outcome, monitor = _fit(job, lease_run, start.regular, run, resume=None, course=course)
    if outcome.cancelled or monitor.lost:
        run(lifecycle.finish_cancel(job_id=job_id))
        return
    run(_complete(job, lease_run, outcome, checkpoint_bytes=monitor.checkpoint_bytes))


async def _start(*, job_id: UUID, me: TaskIdentity) -> _Start | None:
    """Claim the step and read what the fit needs; None when there is nothing (more) to do."""
    claim = await lifecycle.claim_step(
        job_id=job_id,
        expected=TrainingStatus.PREPROCESSING,
        becomes=TrainingStatus.TRAINING,
        opens="training",
        closes="preprocessing",
        me=me,
        extra={"progress.message": "starting training"},
    )
    if claim is None:
        if await lifecycle.job_status(job_id) is TrainingStatus.CANCEL_REQUESTED:
            await lifecycle.finish_cancel(job_id=job_id)
        return None
    job = claim.job
    if job.summary is None or job.series_file_id is None:
        raise StepFailed("INTERNAL", "the preprocessed series is missing; start a new job")
    values = await storage.read_series(file_id=job.series_file_id)
    resume, course = await _resume_point(claim)
    return _Start(claim, regular_from(job.summary, values), resume, course)


async def _complete(
    job: TrainingJobDocument, lease_run: str, outcome: TrainingOutcome, *, checkpoint_bytes: int
) -> None:
    job_id = job.id
    metrics = _metrics(outcome)
    storing = await lifecycle.heartbeat(
        job_id=job_id, status=TrainingStatus.TRAINING, run=lease_run, values=progress.storing()
    )
    if not storing:
        await lifecycle.finish_cancel(job_id=job_id)
        return
    artifacts = await _store_artifacts(job, lease_run, outcome, metrics)
    values = completion_values(outcome, metrics, artifacts)
    completed = await lifecycle.complete_job(job_id=job_id, run=lease_run, values=values)
    if completed is None:
        # A cancel, the watchdog or a newer run of this step got there first: this run's files go.
        await storage.delete_artifacts(job_id=job_id, run=lease_run)
        await lifecycle.finish_cancel(job_id=job_id)
        return
    # Files of earlier runs of this step that died midway are not the job's artifacts.
    await storage.delete_artifacts(job_id=job_id, keep_run=lease_run)
    fit = outcome.fit
    log.info(
        "training.completed",
        job_id=str(job_id),
        epochs=fit.epochs_run,
        resumed_from=fit.resumed_from,
        seconds=round(fit.seconds, 2),
        checkpoints=fit.checkpoints,
        checkpoint_seconds=round(fit.checkpoint_seconds, 3),
        checkpoint_bytes=checkpoint_bytes,
        theil_u=metrics.theil_u,
    )


__all__ = [
    "Runner",
    "baseline_scores",
    "completion_values",
    "loss_history",
    "pipeline_config",
    "scores_of",
    "train_job",
]
