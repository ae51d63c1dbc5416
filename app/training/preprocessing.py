"""Preprocessing: the collected chunks become one regular series, stored for the training step.

The heavy lifting is :func:`ml.series.regularize`; this step moves bytes in and out of MongoDB and
records what cleaning did, so a user can see how many points were dropped, merged or filled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import numpy as np
import structlog

from app.training import lifecycle, progress, storage
from app.training.documents import (
    ChunkStatus,
    DataSummary,
    TrainingChunkDocument,
    TrainingStatus,
)
from app.training.failures import StepFailed, TaskIdentity
from ml.preprocess import check_windows
from ml.series import FloatArray, InsufficientSeries, Regular, regularize

log = structlog.get_logger(__name__)


def summary_of(regular: Regular) -> DataSummary:
    end = regular.start + regular.interval * max(0, len(regular.values) - 1)
    return DataSummary(
        raw_points=regular.raw_points,
        dropped_non_finite=regular.dropped_non_finite,
        merged_duplicates=regular.merged_duplicates,
        slots=len(regular.values),
        filled=regular.filled,
        gaps=regular.gaps,
        missing=regular.missing,
        sampling_interval_seconds=regular.interval,
        series_start=datetime.fromtimestamp(regular.start, tz=UTC),
        series_end=datetime.fromtimestamp(end, tz=UTC),
    )


def regular_from(summary: DataSummary, values: FloatArray) -> Regular:
    return Regular(
        start=summary.series_start.timestamp(),
        interval=summary.sampling_interval_seconds,
        values=values,
        raw_points=summary.raw_points,
        dropped_non_finite=summary.dropped_non_finite,
        merged_duplicates=summary.merged_duplicates,
        filled=summary.filled,
        gaps=summary.gaps,
    )


async def preprocess(*, job_id: UUID, me: TaskIdentity, max_gap_steps: int) -> str | None:
    """Claim a collected job and regularise its series; the run token when training should follow."""
    job = await lifecycle.job_in(job_id, TrainingStatus.COLLECTING_DATA)
    if job is not None:
        completed = await TrainingChunkDocument.find(
            TrainingChunkDocument.job_id == job_id, TrainingChunkDocument.status == ChunkStatus.COMPLETED
        ).count()
        if completed < job.chunks_total:
            # The chord fired early: a chunk ran twice (redelivered while it still ran) and was
            # counted twice. The last chunk to finish is not followed by another callback, so the
            # watchdog starts this step again once collection went quiet.
            log.warning(
                "training.preprocess_early", job_id=str(job_id), chunks=completed, of=job.chunks_total
            )
            return None
    claim = await lifecycle.claim_step(
        job_id=job_id,
        expected=TrainingStatus.COLLECTING_DATA,
        becomes=TrainingStatus.PREPROCESSING,
        opens="preprocessing",
        closes="collecting",
        me=me,
        # Counts of chunks still paging belong to collection, which has ended.
        extra={**progress.preprocessing("regularising the series"), "chunk_progress": {}},
    )
    if claim is None:
        return None
    if claim.resumed and claim.job.series_file_id is not None:
        # The step died after storing the series (and maybe after deleting the chunks): done.
        return claim.run
    config = claim.job.config
    chunks = await TrainingChunkDocument.find(TrainingChunkDocument.job_id == job_id).sort("+index").to_list()
    timestamps = np.concatenate([storage.unpack(c.timestamps) for c in chunks] or [np.empty(0)])
    values = np.concatenate([storage.unpack(c.values) for c in chunks] or [np.empty(0)])
    try:
        regular = regularize(timestamps, values, max_gap_steps=max_gap_steps)
        # Windows are counted now, before a training process loads TensorFlow for nothing.
        windows = check_windows(
            regular,
            lookback=config.lookback_window,
            horizon=config.forecast_horizon,
            validation_ratio=config.validation_ratio,
            test_ratio=config.test_ratio,
        )
    except InsufficientSeries as error:
        raise StepFailed("INSUFFICIENT_DATA", str(error)) from error
    except ValueError as error:
        raise StepFailed("INVALID_DATA", str(error)) from error
    file_id = await storage.store_series(job_id=job_id, run=claim.run, values=regular.values)
    summary = summary_of(regular).model_copy(
        update={
            "train_windows": windows.train,
            "validation_windows": windows.validation,
            "test_windows": windows.test,
        }
    )
    kept = await lifecycle.heartbeat(
        job_id=job_id,
        status=TrainingStatus.PREPROCESSING,
        run=claim.run,
        values={"series_file_id": file_id, "summary": summary.model_dump()},
    )
    if not kept:
        # Cancelled, failed or taken over meanwhile: this run's series is nobody's.
        await storage.delete_series(file_id=file_id)
        await lifecycle.finish_cancel(job_id=job_id)
        return None
    await TrainingChunkDocument.find(TrainingChunkDocument.job_id == job_id).delete()
    log.info(
        "training.preprocessed",
        job_id=str(job_id),
        slots=summary.slots,
        interval=summary.sampling_interval_seconds,
        filled=summary.filled,
        gaps=summary.gaps,
    )
    return claim.run


__all__ = ["preprocess", "regular_from", "summary_of"]
