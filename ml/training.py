"""Training loop around Keras ``fit``: seeded, fed by ``tf.data``, early stopping with the best
weights restored, progress reported to a sink, cancellation checked every batch, and a resumable
state after each epoch.

``ml`` knows nothing of Redis or Celery: the caller passes a ``ProgressSink`` (the worker publishes
what it receives), a ``should_stop`` callable (the worker reads the job's cancel flag) and a
``CheckpointSink`` (the worker stores the state where a redelivered step finds it).

A fit resumed from a :class:`FitState` continues the uninterrupted one exactly: the weights, Adam's
moments and step count, the early-stopping state and the history come back, and each epoch's
shuffle is drawn from the seed and the epoch number alone, so epoch ``k + 1`` sees the batches it
would have seen.
"""

from __future__ import annotations

import io
import json
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
Arrays = list[npt.NDArray[Any]]
Losses = tuple[float | None, float | None]  # training, validation


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
    # The epoch training ends with unless val_loss improves: best epoch + patience, at most
    # ``total_epochs`` (which it is when early stopping is off, or before any val_loss).
    expected_last_epoch: int = 0
    best_epoch: int | None = None  # 1-based, by val_loss; None while early stopping is off
    first_epoch: int = 1  # the first epoch this fit runs itself (later than 1 when resumed)
    epoch_seconds: float = 0.0  # since this epoch began


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
    # A checkpoint is offered after an epoch once the time trained since the last one is at least
    # this many times what the last one cost: checkpoints stay under ~1/N of training time, and
    # every epoch is saved whenever an epoch takes N checkpoints' time or more.
    checkpoint_cost_ratio: float = 10.0


@dataclass(frozen=True, eq=False)
class FitState:
    """Everything a fit needs to go on after ``epoch`` completed epochs, in another process."""

    epoch: int
    weights: Arrays
    optimizer: Arrays  # Adam's variables in order: step count, learning rate, moments, velocities
    loss: list[float | None]
    val_loss: list[float | None]
    # Early stopping (Keras EarlyStopping's own fields): best val_loss, its epoch, epochs since.
    best: float | None = None
    best_epoch: int | None = None  # 1-based
    wait: int = 0
    best_weights: Arrays | None = None
    stopped: bool = False  # early stopping ended the fit at ``epoch``

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive of plain arrays and a JSON header: loaded without pickle."""
        header = {
            "epoch": self.epoch,
            "loss": self.loss,
            "val_loss": self.val_loss,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped": self.stopped,
            "counts": [len(self.weights), len(self.optimizer), len(self.best_weights or [])],
            "has_best_weights": self.best_weights is not None,
        }
        arrays: dict[str, npt.NDArray[Any]] = {
            "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        }
        for prefix, group in (("w", self.weights), ("o", self.optimizer), ("b", self.best_weights or [])):
            arrays.update({f"{prefix}{i}": np.asarray(array) for i, array in enumerate(group)})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FitState:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            header = json.loads(archive["header"].tobytes())
            weights, optimizer, best = (
                [archive[f"{prefix}{i}"] for i in range(count)]
                for prefix, count in zip("wob", header["counts"], strict=True)
            )
        return cls(
            epoch=int(header["epoch"]),
            weights=weights,
            optimizer=optimizer,
            loss=list(header["loss"]),
            val_loss=list(header["val_loss"]),
            best=header["best"],
            best_epoch=header["best_epoch"],
            wait=int(header["wait"]),
            best_weights=best if header["has_best_weights"] else None,
            stopped=bool(header["stopped"]),
        )


CheckpointSink = Callable[[FitState], None]


class CheckpointMismatch(ValueError):
    """A checkpoint that does not fit the network built now (say, one written by an older version)."""


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
    resumed_from: int = 0  # epochs restored from a checkpoint, not run by this fit
    checkpoints: int = 0
    checkpoint_seconds: float = 0.0  # capturing and handing over every checkpoint of this fit


def expected_last_epoch(*, total: int, patience: int, best_epoch: int | None) -> int:
    """The epoch a fit ends with unless val_loss improves again.

    Keras EarlyStopping counts the epochs since the best one (``wait``) and stops once that count
    reaches ``patience``, so the best epoch ``b`` ends training at ``b + patience``
    (keras/src/callbacks/early_stopping.py, ``on_epoch_end``).
    """
    if patience <= 0 or best_epoch is None:
        return total
    return min(total, best_epoch + patience)


def _finite(value: Any) -> float | None:
    number = float(value) if value is not None else math.nan
    return number if math.isfinite(number) else None


def _dataset(x: FloatArray, y: FloatArray, batch_size: int) -> Any:
    import tensorflow as tf

    # Batches prefetched by tf.data trained 21,899 samples/s against 13,308 from numpy arrays
    # (LSTM-32, lookback 48, batch 256, 16,384 windows, 2 vCPUs, TensorFlow 2.21 CPU): the input
    # pipeline overlaps the step instead of waiting for it (tensorflow.org/guide/data_performance).
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _shuffled_epochs(x: FloatArray, y: FloatArray, batch_size: int, *, seed: int, epochs: range) -> Any:
    """The batches of ``epochs``, each epoch in an order drawn from ``(seed, epoch)`` alone.

    A seeded ``Dataset.shuffle`` draws each epoch's order from how many iterators were made
    before, which Keras decides (two an epoch in Keras 3.15); a stateless draw per epoch makes a
    fit resumed at epoch ``k + 1`` see the very batches the uninterrupted fit saw.
    """
    import tensorflow as tf

    features, targets = tf.constant(x), tf.constant(y)
    count = len(x)

    def epoch(number: Any) -> Any:
        key = tf.stack([tf.constant(seed, tf.int64), number])
        order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=key)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    picked = tf.data.Dataset.range(epochs.start, epochs.stop).flat_map(epoch)
    batches = picked.map(
        lambda rows: (tf.gather(features, rows), tf.gather(targets, rows)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def fit(
    spec: NetworkSpec,
    train: tuple[FloatArray, FloatArray],
    validation: tuple[FloatArray, FloatArray],
    *,
    settings: FitSettings = FitSettings(),
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint: CheckpointSink | None = None,
    resume: FitState | None = None,
) -> tuple[keras.Model, FitResult]:
    """Train a new network, or go on from ``resume``; answers it with the best validation weights.

    ``checkpoint`` receives a :class:`FitState` after epochs, as often as
    ``settings.checkpoint_cost_ratio`` allows.
    """
    import keras

    keras.utils.set_random_seed(settings.seed)
    model = build_network(spec, learning_rate=settings.learning_rate, jit_compile=settings.jit_compile)
    batches = max(1, math.ceil(len(train[0]) / settings.batch_size))
    result = FitResult()
    stopper = _early_stopping(settings.patience)
    done = 0
    if resume is not None:
        try:
            done = _restore(model, stopper, resume, result)
        except ValueError as error:  # Keras and _restore both say "this does not fit" so
            raise CheckpointMismatch(str(error)) from error
    reporter = _Reporter(
        result, settings, batches, samples=len(train[0]), first_epoch=done + 1, stopper=stopper,
        progress=progress, should_stop=should_stop, checkpoint=checkpoint,
    )  # fmt: skip
    # Early stopping decides first, so each epoch's report and checkpoint carry its decision.
    callbacks = [callback for callback in (stopper, _keras_callback(reporter)) if callback is not None]
    started = time.perf_counter()
    history: dict[str, list[Any]] = {}
    if done < settings.epochs and not (resume is not None and resume.stopped):
        history = _run_epochs(model, train, validation, settings, callbacks, first=done, batches=batches)
    elif stopper is not None and stopper.best_weights is not None:
        model.set_weights(stopper.best_weights)  # what early stopping's on_train_end would do
    result.seconds = time.perf_counter() - started
    # One entry per epoch, None where a loss was not finite: entry i is always epoch i + 1.
    result.loss += [_finite(x) for x in history.get("loss", [])]
    result.val_loss += [_finite(x) for x in history.get("val_loss", [])]
    result.epochs_run = len(result.loss)
    _score_best(result)
    return model, result


def _run_epochs(
    model: keras.Model,
    train: tuple[FloatArray, FloatArray],
    validation: tuple[FloatArray, FloatArray],
    settings: FitSettings,
    callbacks: list[Any],
    *,
    first: int,
    batches: int,
) -> dict[str, list[Any]]:
    epochs = range(first, settings.epochs)
    history: dict[str, list[Any]] = model.fit(
        _shuffled_epochs(train[0], train[1], settings.batch_size, seed=settings.seed, epochs=epochs),
        validation_data=_dataset(validation[0], validation[1], settings.batch_size),
        epochs=settings.epochs,
        initial_epoch=first,
        steps_per_epoch=batches,  # one stream of every epoch left: Keras keeps one iterator on it
        callbacks=callbacks,
        shuffle=False,  # the stream is shuffled already, reproducibly from the seed
        verbose=0,
    ).history
    return history


def _score_best(result: FitResult) -> None:
    scored = [(value, epoch) for epoch, value in enumerate(result.val_loss) if value is not None]
    if scored:
        best_val, best = min(scored)
        result.best_epoch = best + 1
        result.best_val_loss = best_val
        result.best_train_loss = result.loss[best] if best < len(result.loss) else None


def _early_stopping(patience: int) -> Any:
    """Keras EarlyStopping whose state can be put back after ``on_train_begin`` resets it."""
    if patience <= 0:
        return None
    import keras

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        restored: dict[str, Any] | None = None

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            super().on_train_begin(logs)
            if self.restored is not None:
                for name, value in self.restored.items():
                    setattr(self, name, value)

    return ResumableEarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)


def _restore(model: keras.Model, stopper: Any, state: FitState, result: FitResult) -> int:
    """Put ``state`` into a freshly built network; answers the epochs it had completed."""
    model.set_weights(state.weights)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    variables = list(optimizer.variables)
    if len(variables) != len(state.optimizer):
        raise ValueError(
            f"checkpoint holds {len(state.optimizer)} optimizer variables, the network {len(variables)}"
        )
    for variable, value in zip(variables, state.optimizer, strict=True):
        variable.assign(value)
    if stopper is not None:
        stopper.restored = {
            "best": state.best,
            "best_epoch": (state.best_epoch or 1) - 1,  # Keras counts epochs from 0
            "wait": state.wait,
            "best_weights": state.best_weights,
        }
        # Keras's on_train_begin never runs when nothing is left to fit: the best weights come back here.
        stopper.best_weights = state.best_weights
    result.loss = list(state.loss)
    result.val_loss = list(state.val_loss)
    result.resumed_from = state.epoch
    return state.epoch


def _state(
    model: keras.Model, stopper: Any, history: tuple[list[float | None], list[float | None]], epoch: int
) -> FitState:
    return FitState(
        epoch=epoch,
        weights=model.get_weights(),
        optimizer=[np.array(variable.numpy()) for variable in model.optimizer.variables],
        loss=list(history[0]),
        val_loss=list(history[1]),
        best=None if stopper is None or stopper.best is None else float(stopper.best),
        best_epoch=_best_epoch(stopper),
        wait=0 if stopper is None else int(stopper.wait),
        best_weights=None if stopper is None else stopper.best_weights,
        stopped=bool(model.stop_training),
    )


def _best_epoch(stopper: Any) -> int | None:
    """Early stopping's best epoch so far, 1-based; None while it is off or has no val_loss yet."""
    if stopper is None or stopper.best is None:
        return None
    return int(stopper.best_epoch) + 1  # Keras counts epochs from 0


def _speed(samples: int, elapsed: float) -> float | None:
    return samples / elapsed if elapsed > 0 else None


def _epoch_losses(logs: dict[str, Any] | None) -> Losses:
    logs = logs or {}
    return _finite(logs.get("loss")), _finite(logs.get("val_loss"))


def _checkpoint_due(trained: float, last_cost: float, ratio: float) -> bool:
    """Whether the time trained since the last checkpoint pays for another one like it."""
    # Written as "not below" rather than ">=" so that a NaN threshold (ratio inf, cost 0) still saves.
    return not trained < ratio * last_cost


def _progress_event(
    kind: str,
    epoch: int,
    batch: int | None,
    losses: Losses,
    *,
    settings: FitSettings,
    batches: int,
    samples: int,
    best_epoch: int | None,
    first_epoch: int,
    elapsed: float,
) -> ProgressEvent:
    """The event for ``epoch`` (1-based) ``elapsed`` seconds in: a speed only once the epoch ended."""
    expected = expected_last_epoch(total=settings.epochs, patience=settings.patience, best_epoch=best_epoch)
    speed = _speed(samples, elapsed) if kind == "epoch" else None
    return ProgressEvent(
        kind, epoch, settings.epochs, batch, batches, losses[0], losses[1], speed,
        expected_last_epoch=expected, best_epoch=best_epoch, first_epoch=first_epoch, epoch_seconds=elapsed,
    )  # fmt: skip


@dataclass(eq=False)
class _Reporter:
    """What a fit does at each Keras hook: reports, cancellation, checkpoints; Keras-free itself."""

    result: FitResult
    settings: FitSettings
    batches: int
    samples: int
    first_epoch: int
    stopper: Any = None
    progress: ProgressSink | None = None
    should_stop: Callable[[], bool] | None = None
    checkpoint: CheckpointSink | None = None
    epoch: int = field(default=0, init=False)  # 1-based, the one running
    epoch_started: float = field(default_factory=time.perf_counter, init=False)
    trained_since_checkpoint: float = field(default=0.0, init=False)
    last_cost: float = field(default=0.0, init=False)  # seconds the last checkpoint took
    # Keras hands its history over only when fit returns: checkpoints need their own.
    loss: list[float | None] = field(default_factory=list, init=False)
    val_loss: list[float | None] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.loss = list(self.result.loss)
        self.val_loss = list(self.result.val_loss)

    def train_begin(self, model: keras.Model) -> None:
        # Importing TensorFlow and building the network take seconds: a sign of life (and a
        # chance to stop) before the first batch compiles.
        self._stop_if_asked(model)

    def epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch + 1
        self.epoch_started = time.perf_counter()

    def batch_end(self, model: keras.Model, batch: int, logs: dict[str, Any] | None) -> None:
        self._stop_if_asked(model)
        if self.progress is not None and (batch + 1) % self.settings.batch_every == 0:
            loss = _finite((logs or {}).get("loss"))
            self.progress(self._event("batch", self.epoch, batch + 1, (loss, None)))

    def epoch_end(self, model: keras.Model, epoch: int, logs: dict[str, Any] | None) -> None:
        elapsed = time.perf_counter() - self.epoch_started
        self.result.samples_per_second = _speed(self.samples, elapsed)
        losses = _epoch_losses(logs)
        if self.progress is not None:
            self.progress(self._event("epoch", epoch + 1, None, losses))
        self._stop_if_asked(model)
        self.loss.append(losses[0])
        self.val_loss.append(losses[1])
        self.trained_since_checkpoint += elapsed
        if self.checkpoint is not None and not self.result.cancelled:
            self._checkpoint(model, self.checkpoint, epoch + 1)

    def _stop_if_asked(self, model: keras.Model) -> None:
        if self.should_stop is not None and self.should_stop():
            self.result.cancelled = True
            model.stop_training = True

    def _event(self, kind: str, epoch: int, batch: int | None, losses: Losses) -> ProgressEvent:
        return _progress_event(
            kind, epoch, batch, losses, settings=self.settings, batches=self.batches, samples=self.samples,
            best_epoch=_best_epoch(self.stopper), first_epoch=self.first_epoch,
            elapsed=time.perf_counter() - self.epoch_started,
        )  # fmt: skip

    def _checkpoint(self, model: keras.Model, sink: CheckpointSink, epoch: int) -> None:
        # The latest cost, not the mean: the first write to a store pays one-off set-up.
        ratio = self.settings.checkpoint_cost_ratio
        if not _checkpoint_due(self.trained_since_checkpoint, self.last_cost, ratio):
            return
        started = time.perf_counter()
        sink(_state(model, self.stopper, (self.loss, self.val_loss), epoch))
        self.last_cost = time.perf_counter() - started
        self.result.checkpoints += 1
        self.result.checkpoint_seconds += self.last_cost
        self.trained_since_checkpoint = 0.0


def _keras_callback(reporter: _Reporter) -> keras.callbacks.Callback:
    """``reporter`` behind Keras's hooks; the class is made here, once training imports Keras."""
    import keras

    class ReporterCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            reporter.train_begin(self.model)

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            reporter.epoch_begin(epoch)

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            reporter.batch_end(self.model, batch, logs)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            reporter.epoch_end(self.model, epoch, logs)

    return ReporterCallback()


__all__ = [
    "CheckpointMismatch",
    "CheckpointSink",
    "FitResult",
    "FitSettings",
    "FitState",
    "ProgressEvent",
    "ProgressSink",
    "expected_last_epoch",
    "fit",
]
