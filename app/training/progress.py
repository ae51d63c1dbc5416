"""A job's progress as one fraction over the whole job, with the phase's own detail.

Collection is weighted by points, training by epochs (early stopping may end it sooner, so the
fraction jumps to the end then). The weights follow where time goes on a typical job.
"""

from __future__ import annotations

from typing import Any

COLLECTING = (0.0, 0.30)
PREPROCESSING = (0.30, 0.35)
TRAINING = (0.35, 0.95)
STORING = 0.95


def _within(span: tuple[float, float], share: float) -> float:
    low, high = span
    return round(low + (high - low) * min(1.0, max(0.0, share)), 4)


def collecting(*, collected: int, requested: int) -> dict[str, Any]:
    return {
        "progress.fraction": _within(COLLECTING, collected / max(1, requested)),
        "progress.message": f"collected {collected} of {requested} points",
    }


def preprocessing(message: str) -> dict[str, Any]:
    return {"progress.fraction": PREPROCESSING[0], "progress.message": message}


def training(
    *,
    epoch: int,
    total_epochs: int,
    batch: int | None,
    batches: int,
    loss: float | None,
    val_loss: float | None,
    eta_seconds: float | None,
) -> dict[str, Any]:
    within_epoch = (batch or batches) / max(1, batches)
    done = (epoch - 1 + within_epoch) / max(1, total_epochs)
    values: dict[str, Any] = {
        "progress.fraction": _within(TRAINING, done),
        "progress.epoch": epoch,
        "progress.total_epochs": total_epochs,
        "progress.loss": loss,
        "progress.eta_seconds": eta_seconds,
        "progress.message": f"epoch {epoch} of at most {total_epochs}",
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


__all__ = ["collecting", "preprocessing", "storing", "training"]
