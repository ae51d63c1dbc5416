"""Progress events of training jobs: built from the job document, published on Redis.

The job document is the snapshot: every write that changes what a watcher sees also increments
its ``progress_seq``, and the event published afterwards is read off the document that write
returned. So a subscriber that joins late, or a server that lost Redis for a while, resyncs by
reading the job, and ``seq`` orders events across every process that writes the job.

Publishing is best effort (Redis pub/sub is at most once): a failed PUBLISH is logged and the job
goes on; readers recover from the snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

import structlog
from redis.exceptions import RedisError

from app.outages import OutageLog
from app.training.documents import (
    FINISHED_STATUSES,
    JobError,
    TrainingJobDocument,
    TrainingMetrics,
    TrainingStatus,
)
from app.training.progress import STORING as STORING_FRACTION
from app.training.progress import points_so_far, shown

log = structlog.get_logger(__name__)

JOB_CHANNEL_PREFIX = "chronos:training:job:"
# Status changes of every job, for lists that follow many jobs at once.
JOBS_CHANNEL = "chronos:training:jobs"


class TrainingPhase(StrEnum):
    QUEUED = "QUEUED"
    COLLECTING = "COLLECTING"
    PREPROCESSING = "PREPROCESSING"
    TRAINING = "TRAINING"
    STORING = "STORING"
    STOPPING = "STOPPING"
    FINISHED = "FINISHED"


PHASES = {
    TrainingStatus.PENDING: TrainingPhase.QUEUED,
    TrainingStatus.COLLECTING_DATA: TrainingPhase.COLLECTING,
    TrainingStatus.PREPROCESSING: TrainingPhase.PREPROCESSING,
    TrainingStatus.TRAINING: TrainingPhase.TRAINING,
    TrainingStatus.CANCEL_REQUESTED: TrainingPhase.STOPPING,
    TrainingStatus.COMPLETED: TrainingPhase.FINISHED,
    TrainingStatus.FAILED: TrainingPhase.FINISHED,
    TrainingStatus.CANCELLED: TrainingPhase.FINISHED,
}


def job_channel(job_id: UUID) -> str:
    return f"{JOB_CHANNEL_PREFIX}{job_id}"


@dataclass(frozen=True)
class ProgressEvent:
    job_id: UUID
    model_id: UUID
    seq: int
    at: datetime
    status: TrainingStatus
    phase: TrainingPhase
    progress: float
    message: str | None
    points_collected: int
    points_requested: int
    epoch: int | None
    total_epochs: int | None
    loss: float | None
    val_loss: float | None
    eta_seconds: float | None
    metrics: TrainingMetrics | None
    error: JobError | None
    expected_last_epoch: int | None = None
    best_epoch: int | None = None
    # The job's tenant, so a stream of every job shows each caller only theirs (not in GraphQL).
    service: str = ""
    service_path: str = ""

    @property
    def terminal(self) -> bool:
        return self.status in FINISHED_STATUSES

    def to_json(self) -> str:
        values = asdict(self)
        values.update(
            job_id=str(self.job_id),
            model_id=str(self.model_id),
            at=self.at.isoformat(),
            status=self.status.value,
            phase=self.phase.value,
            metrics=self.metrics.model_dump() if self.metrics else None,
            error=self.error.model_dump() if self.error else None,
        )
        return json.dumps(values, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ProgressEvent:
        values: dict[str, Any] = json.loads(text)
        return cls(
            **{
                **values,
                "job_id": UUID(values["job_id"]),
                "model_id": UUID(values["model_id"]),
                "at": datetime.fromisoformat(values["at"]),
                "status": TrainingStatus(values["status"]),
                "phase": TrainingPhase(values["phase"]),
                "metrics": TrainingMetrics.model_validate(values["metrics"]) if values["metrics"] else None,
                "error": JobError.model_validate(values["error"]) if values["error"] else None,
            }
        )


def _phase(job: TrainingJobDocument) -> TrainingPhase:
    if job.status is TrainingStatus.TRAINING and job.progress.fraction >= STORING_FRACTION:
        return TrainingPhase.STORING
    return PHASES[job.status]


def event_of(job: TrainingJobDocument) -> ProgressEvent:
    progress = shown(job)
    finished = job.status is TrainingStatus.COMPLETED
    return ProgressEvent(
        job_id=job.id,
        model_id=job.model_id,
        seq=job.progress_seq,
        at=job.updated_at,
        status=job.status,
        phase=_phase(job),
        progress=1.0 if finished else progress.fraction,
        message=progress.message,
        points_collected=points_so_far(job),
        points_requested=job.points_requested,
        epoch=progress.epoch,
        total_epochs=progress.total_epochs,
        loss=progress.loss,
        val_loss=progress.val_loss,
        eta_seconds=progress.eta_seconds,
        metrics=job.metrics if finished else None,
        error=job.error if job.status is TrainingStatus.FAILED else None,
        expected_last_epoch=progress.expected_last_epoch,
        best_epoch=progress.best_epoch,
        service=job.config.fiware_service,
        service_path=job.config.fiware_service_path,
    )


class EventSink(Protocol):
    def publish(self, channel: str, message: str) -> Awaitable[Any]: ...


_sink: EventSink | None = None


def use_sink(sink: EventSink | None) -> None:
    """Where this process publishes (its Redis client); set once at start-up.

    A process-wide setting rather than an argument: every status change in ``repository.lifecycle`` and
    every heartbeat publishes, and threading a client through each of those calls would add a
    parameter to every function that touches a job.
    """
    global _sink
    _sink = sink


# Every heartbeat publishes: while Redis is down, one line for the outage, not one a second.
_outage = OutageLog("training.publish_failed")


async def publish(channel: str, message: str, *, about: str) -> None:
    """Best-effort PUBLISH of another aggregate's event (``about``: what it concerns, for the log)."""
    if _sink is None:
        return
    try:
        await _sink.publish(channel, message)
    except (RedisError, OSError) as error:
        _outage.failed(error, about=about)
        return
    _outage.succeeded()


async def announce(job: TrainingJobDocument, *, status_changed: bool) -> None:
    if _sink is None:
        return
    message = event_of(job).to_json()
    try:
        await _sink.publish(job_channel(job.id), message)
        if status_changed:
            await _sink.publish(JOBS_CHANNEL, message)
    except (RedisError, OSError) as error:  # Redis down must never fail the job: readers resync
        _outage.failed(error, job_id=str(job.id))
        return
    _outage.succeeded()


__all__ = [
    "JOBS_CHANNEL",
    "JOB_CHANNEL_PREFIX",
    "EventSink",
    "ProgressEvent",
    "TrainingPhase",
    "announce",
    "event_of",
    "job_channel",
    "publish",
    "use_sink",
]
