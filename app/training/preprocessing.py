"""Preprocessing: the collected chunks become one regular series, stored for the training step.

The heavy lifting is :func:`ml.series.regularize`; this step moves bytes in and out of MongoDB and
records what cleaning did, so a user can see how many points were dropped, merged or filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import numpy as np
import structlog

from app.training import progress, storage
from app.training.documents import (
    ChunkStatus,
    DataSummary,
    TrainingChunkDocument,
    TrainingConfig,
    TrainingStatus,
)
from app.training.failures import StepFailed, TaskIdentity
from app.training.repository import chunks as chunk_store
from app.training.repository import lifecycle
from ml.lookback import choose_lookback
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


def joined(packed: Sequence[tuple[bytes | None, bytes | None]]) -> tuple[FloatArray, FloatArray]:
    """The chunks' packed ``(timestamps, values)``, in the order given, as two arrays."""
    timestamps = np.concatenate([storage.unpack(times) for times, _ in packed] or [np.empty(0)])
    values = np.concatenate([storage.unpack(values) for _, values in packed] or [np.empty(0)])
    return timestamps, values


def with_lookback(config: TrainingConfig, regular: Regular) -> TrainingConfig:
    """``config`` with the lookback it trains with: the model's, or the one ``regular`` calls for."""
    if not config.lookback_chosen:
        return config
    choice = choose_lookback(
        regular,
        horizon=config.forecast_horizon,
        validation_ratio=config.validation_ratio,
        test_ratio=config.test_ratio,
    )
    return config.model_copy(update={"lookback_window": choice.steps, "lookback_reason": choice.reason})


def regularized(
    config: TrainingConfig, timestamps: FloatArray, values: FloatArray, *, max_gap_steps: int
) -> tuple[Regular, DataSummary, TrainingConfig]:
    """The regular series, its summary (windows counted) and the configuration it trains with;
    ``StepFailed`` when it cannot train."""
    try:
        regular = regularize(timestamps, values, max_gap_steps=max_gap_steps)
        config = with_lookback(config, regular)
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
    summary = summary_of(regular).model_copy(
        update={
            "train_windows": windows.train,
            "validation_windows": windows.validation,
            "test_windows": windows.test,
        }
    )
    return regular, summary, config


async def preprocess(*, job_id: UUID, me: TaskIdentity, max_gap_steps: int) -> str | None:
    """Claim a collected job and regularise its series; the run token when training should follow."""
    if await _fired_early(job_id):
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
    chunks = await TrainingChunkDocument.find(TrainingChunkDocument.job_id == job_id).sort("+index").to_list()
    timestamps, values = joined([(chunk.timestamps, chunk.values) for chunk in chunks])
    regular, summary, config = regularized(claim.job.config, timestamps, values, max_gap_steps=max_gap_steps)
    return await _store(job_id=job_id, run=claim.run, regular=regular, summary=summary, config=config)


async def _fired_early(job_id: UUID) -> bool:
    """Whether a collecting job still misses chunks (this step then waits for the watchdog)."""
    job = await lifecycle.job_in(job_id, TrainingStatus.COLLECTING_DATA)
    if job is None:
        return False
    completed = await TrainingChunkDocument.find(
        TrainingChunkDocument.job_id == job_id, TrainingChunkDocument.status == ChunkStatus.COMPLETED
    ).count()
    if completed >= job.chunks_total:
        return False
    # The chord fired early: a chunk ran twice (redelivered while it still ran) and was
    # counted twice. The last chunk to finish is not followed by another callback, so the
    # watchdog starts this step again once collection went quiet.
    log.warning("training.preprocess_early", job_id=str(job_id), chunks=completed, of=job.chunks_total)
    return True


async def _store(
    *, job_id: UUID, run: str, regular: Regular, summary: DataSummary, config: TrainingConfig
) -> str | None:
    """Store the series for training, with the lookback it trains with, and drop the chunks; None
    when the job left this run."""
    file_id = await storage.store_series(job_id=job_id, run=run, values=regular.values)
    kept = await lifecycle.heartbeat(
        job_id=job_id,
        status=TrainingStatus.PREPROCESSING,
        run=run,
        values={
            "series_file_id": file_id,
            "summary": summary.model_dump(),
            "config.lookback_window": config.lookback_window,
            "config.lookback_reason": config.lookback_reason,
        },
    )
    if not kept:
        # Cancelled, failed or taken over meanwhile: this run's series is nobody's.
        await storage.delete_series(file_id=file_id)
        await lifecycle.finish_cancel(job_id=job_id)
        return None
    await chunk_store.delete_chunks(job_id=job_id)
    log.info(
        "training.preprocessed",
        job_id=str(job_id),
        slots=summary.slots,
        interval=summary.sampling_interval_seconds,
        lookback=config.lookback_window,
        filled=summary.filled,
        gaps=summary.gaps,
    )
    return run


__all__ = ["joined", "preprocess", "regular_from", "regularized", "summary_of"]
