"""Training loop around Keras ``fit``: seeded, fed by ``tf.data``, early stopping with the best
weights restored, progress reported to a sink and cancellation checked every batch.

``ml`` knows nothing of Redis or Celery: the caller passes a ``ProgressSink`` (the worker publishes
what it receives) and a ``should_stop`` callable (the worker reads the job's cancel flag).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ml.network import NetworkSpec, build_network

if TYPE_CHECKING:
    import keras

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of training: an epoch end, or every ``batch_every`` batches within an epoch."""

    kind: str  # "batch" or "epoch"
    epoch: int  # 1-based
    total_epochs: int
    batch: int | None
    batches: int
    loss: float | None
    val_loss: float | None
    samples_per_second: float | None


ProgressSink = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class FitSettings:
    batch_size: int = 64
    epochs: int = 50
    learning_rate: float = 0.001
    patience: int = 5  # 0 turns early stopping off
    seed: int = 0
    jit_compile: bool = True
    batch_every: int = 20


@dataclass
class FitResult:
    loss: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    best_epoch: int | None = None  # 1-based
    best_train_loss: float | None = None
    best_val_loss: float | None = None
    epochs_run: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    samples_per_second: float | None = None


def _finite(value: Any) -> float | None:
    number = float(value) if value is not None else math.nan
    return number if math.isfinite(number) else None


def _dataset(x: FloatArray, y: FloatArray, batch_size: int, *, shuffle: bool, seed: int) -> Any:
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    # tf.data with prefetch roughly doubles samples/s over numpy arrays here (ml-notes §3).
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit(
    spec: NetworkSpec,
    train: tuple[FloatArray, FloatArray],
    validation: tuple[FloatArray, FloatArray],
    *,
    settings: FitSettings = FitSettings(),
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[keras.Model, FitResult]:
    """Train a new network; answers it with the best validation weights, and what happened."""
    import keras

    keras.utils.set_random_seed(settings.seed)
    model = build_network(spec, learning_rate=settings.learning_rate, jit_compile=settings.jit_compile)
    batches = max(1, math.ceil(len(train[0]) / settings.batch_size))
    result = FitResult()
    callbacks: list[keras.callbacks.Callback] = [
        _Reporter(result, settings, batches, progress, should_stop, samples=len(train[0]))
    ]
    if settings.patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=settings.patience, restore_best_weights=True
            )
        )
    started = time.perf_counter()
    history = model.fit(
        _dataset(train[0], train[1], settings.batch_size, shuffle=True, seed=settings.seed),
        validation_data=_dataset(validation[0], validation[1], settings.batch_size, shuffle=False, seed=0),
        epochs=settings.epochs,
        callbacks=callbacks,
        shuffle=False,  # tf.data shuffles, reproducibly from the seed
        verbose=0,
    )
    result.seconds = time.perf_counter() - started
    # One entry per epoch run, None where a loss was not finite: entry i is always epoch i + 1.
    result.loss = [_finite(x) for x in history.history.get("loss", [])]
    result.val_loss = [_finite(x) for x in history.history.get("val_loss", [])]
    result.epochs_run = len(result.loss)
    scored = [(value, epoch) for epoch, value in enumerate(result.val_loss) if value is not None]
    if scored:
        best_val, best = min(scored)
        result.best_epoch = best + 1
        result.best_val_loss = best_val
        result.best_train_loss = result.loss[best] if best < len(result.loss) else None
    return model, result


class _Reporter:
    """A Keras callback built lazily (Keras is imported only once training starts)."""

    def __new__(
        cls,
        result: FitResult,
        settings: FitSettings,
        batches: int,
        progress: ProgressSink | None,
        should_stop: Callable[[], bool] | None,
        *,
        samples: int,
    ) -> keras.callbacks.Callback:
        import keras

        class Reporter(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.epoch_started = time.perf_counter()
                self.epoch = 0

            def _stop_if_asked(self) -> None:
                if should_stop is not None and should_stop():
                    result.cancelled = True
                    self.model.stop_training = True

            def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
                # Importing TensorFlow and building the network take seconds: a sign of life (and a
                # chance to stop) before the first batch compiles.
                self._stop_if_asked()

            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                self.epoch = epoch + 1
                self.epoch_started = time.perf_counter()

            def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
                self._stop_if_asked()
                if progress is not None and (batch + 1) % settings.batch_every == 0:
                    progress(
                        ProgressEvent("batch", self.epoch, settings.epochs, batch + 1, batches,
                                      _finite((logs or {}).get("loss")), None, None)
                    )  # fmt: skip

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                elapsed = time.perf_counter() - self.epoch_started
                speed = samples / elapsed if elapsed > 0 else None
                result.samples_per_second = speed
                if progress is not None:
                    logs = logs or {}
                    progress(
                        ProgressEvent("epoch", epoch + 1, settings.epochs, None, batches,
                                      _finite(logs.get("loss")), _finite(logs.get("val_loss")), speed)
                    )  # fmt: skip
                self._stop_if_asked()

        return Reporter()


__all__ = ["FitResult", "FitSettings", "ProgressEvent", "ProgressSink", "fit"]
