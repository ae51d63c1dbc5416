"""A job's progress as one fraction over the whole job, with the phase's own detail.

Collection is weighted by points. Training is weighted by the epochs it is *expected* to run:
with early stopping on, training ends ``patience`` epochs after the best val_loss so far, so the
expected last epoch moves while it trains (later when val_loss improves, never past the
configured maximum). The fraction advances by each step's share of the work expected to remain,
so it never goes back when the expectation grows and reaches the end of training exactly when
training ends, early or not. The phase weights follow where time goes on a typical job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.training.documents import Progress, TrainingJobDocument, TrainingStatus

COLLECTING = (0.0, 0.30)
PREPROCESSING = (0.30, 0.35)
TRAINING = (0.35, 0.95)
STORING = 0.95


def _within(span: tuple[float, float], share: float) -> float:
    low, high = span
    return round(low + (high - low) * min(1.0, max(0.0, share)), 4)


def _share_of(span: tuple[float, float], fraction: float) -> float:
    low, high = span
    return min(1.0, max(0.0, (fraction - low) / (high - low)))


def collecting(*, collected: int, requested: int) -> dict[str, Any]:
    return {
        "progress.fraction": _within(COLLECTING, collected / max(1, requested)),
        "progress.message": f"collected {collected} of {requested} points",
    }


def points_so_far(job: TrainingJobDocument) -> int:
    """Points of finished chunks, plus those of chunks still paging while the job collects."""
    if job.status is not TrainingStatus.COLLECTING_DATA:
        return job.points_collected
    return job.points_collected + sum(entry.points for entry in job.chunk_progress.values())


def shown(job: TrainingJobDocument) -> Progress:
    """The progress a reader sees: while collecting, chunks still paging count too."""
    if job.status is not TrainingStatus.COLLECTING_DATA:
        return job.progress
    collected = points_so_far(job)
    if collected == 0:
        return job.progress
    values = collecting(collected=collected, requested=max(1, job.points_requested))
    # The stored fraction may lag its points by one write (a chunk's count, then its fraction).
    fraction = max(job.progress.fraction, values["progress.fraction"])
    return job.progress.model_copy(update={"fraction": fraction, "message": values["progress.message"]})


def preprocessing(message: str) -> dict[str, Any]:
    return {"progress.fraction": PREPROCESSING[0], "progress.message": message}


@dataclass
class TrainingCourse:
    """Where one execution of the training step stands: a fraction that never goes back, an ETA.

    ``done`` counts epochs (fractional within an epoch). A resumed execution starts from the
    checkpoint's epoch and the fraction the job showed.
    """

    done: float = 0.0
    share: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)

    @classmethod
    def resumed(cls, *, epochs_done: int, fraction: float) -> TrainingCourse:
        return cls(done=float(epochs_done), share=_share_of(TRAINING, fraction))

    def advance(self, done: float, expected_last_epoch: int) -> float:
        """Move to ``done`` epochs of ``expected_last_epoch``: the training share, never lower."""
        step = max(0.0, done - self.done)
        remaining = max(0.0, expected_last_epoch - max(done, self.done))
        if step > 0:
            self.share += (1.0 - self.share) * (step / (step + remaining)) if step + remaining > 0 else 0.0
            self.done = done
        if remaining == 0:
            self.share = 1.0
        return self.share

    def eta_seconds(self, *, expected_last_epoch: int, seconds_in_epoch: float) -> float | None:
        """Seconds until ``expected_last_epoch`` ends, at the pace of this execution's epochs.

        The first epoch an execution runs includes XLA compilation (seconds): it stands for the
        pace only until a second epoch has been timed.
        """
        timed = self.epoch_seconds[1:] or self.epoch_seconds
        within = self.done - int(self.done)
        if timed:
            pace = sum(timed) / len(timed)
        elif within > 0:
            pace = seconds_in_epoch / within
        else:
            return None
        return round(max(0.0, expected_last_epoch - self.done) * pace, 1)


def training_message(
    *, epoch: int, total_epochs: int, expected_last_epoch: int, best_epoch: int | None
) -> str:
    message = f"epoch {epoch} of at most {total_epochs}"
    if best_epoch is None or expected_last_epoch >= total_epochs:
        return message
    if epoch >= expected_last_epoch:
        return f"{message}: early stopping after this epoch (best val_loss at epoch {best_epoch})"
    return f"{message}; early stopping expected after epoch {expected_last_epoch} unless val_loss improves"


def training(
    *,
    epoch: int,
    total_epochs: int,
    expected_last_epoch: int,
    best_epoch: int | None,
    share: float,
    loss: float | None,
    val_loss: float | None,
    eta_seconds: float | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "progress.fraction": _within(TRAINING, share),
        "progress.epoch": epoch,
        "progress.total_epochs": total_epochs,
        "progress.expected_last_epoch": expected_last_epoch,
        "progress.best_epoch": best_epoch,
        "progress.loss": loss,
        "progress.eta_seconds": eta_seconds,
        "progress.message": training_message(
            epoch=epoch,
            total_epochs=total_epochs,
            expected_last_epoch=expected_last_epoch,
            best_epoch=best_epoch,
        ),
    }
    if val_loss is not None:
        values["progress.val_loss"] = val_loss
    return values


def storing() -> dict[str, Any]:
    return {
        "progress.fraction": STORING,
        "progress.message": "storing artifacts",
        "progress.eta_seconds": None,
    }


__all__ = [
    "TrainingCourse",
    "collecting",
    "points_so_far",
    "preprocessing",
    "shown",
    "storing",
    "training",
    "training_message",
]
