"""Training checkpoints: one current file per job, written after epochs, read by a resumed step.

A checkpoint counts only once the job records it, and only the execution holding the job's lease
can record one (the write names its lease token, as every write of a step does). So a run that
lost its job never replaces the checkpoint a newer run resumes from: its file is removed again.
Older files go once a newer one is recorded; every file goes when the job ends or is deleted
(``storage.delete_working_data``).
"""

from __future__ import annotations

import zipfile
from uuid import UUID

import structlog

from app.training import storage
from app.training.documents import Checkpoint, TrainingJobDocument
from app.training.repository.checkpoints import record_checkpoint
from ml.training import FitState

log = structlog.get_logger(__name__)


async def save(*, job_id: UUID, run: str, state: FitState) -> Checkpoint | None:
    """Store ``state`` as the job's checkpoint; None when this run no longer holds the job."""
    data = state.to_bytes()
    file_id = await storage.store_checkpoint(job_id=job_id, run=run, epoch=state.epoch, data=data)
    recorded = Checkpoint(file_id=file_id, epoch=state.epoch, run=run, size_bytes=len(data))
    if not await record_checkpoint(job_id=job_id, run=run, checkpoint=recorded):
        await storage.delete_checkpoints(job_id=job_id, only=file_id)
        return None
    await storage.delete_checkpoints(job_id=job_id, keep=file_id)
    return recorded


async def load(job: TrainingJobDocument) -> FitState | None:
    """The state the job's checkpoint holds; None without one, or when it cannot be read."""
    recorded = job.checkpoint
    if recorded is None or recorded.epoch < 1 or recorded.epoch > job.config.epochs:
        return None
    data = await storage.read_checkpoint(file_id=recorded.file_id)
    if data is None:
        return None
    try:
        return FitState.from_bytes(data)
    except (ValueError, KeyError, zipfile.BadZipFile) as error:
        # Starting over costs time; training from a state that is not what was saved costs trust.
        log.warning("training.checkpoint_unreadable", job_id=str(job.id), error=str(error))
        return None


__all__ = ["load", "save"]
