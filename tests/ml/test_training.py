"""Training on a tiny network: the loop, its reports, cancellation and the horizon-wide output."""

from __future__ import annotations

import math
import subprocess
import sys
from functools import partial
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt
import pytest

from ml.network import Cell, NetworkSpec, RecurrentLayer
from ml.training import (
    CheckpointMismatch,
    FitResult,
    FitSettings,
    FitState,
    ProgressEvent,
    _best_epoch,
    _checkpoint_due,
    _epoch_losses,
    _progress_event,
    _Reporter,
    _speed,
    expected_last_epoch,
    fit,
)

LOOKBACK, HORIZON = 12, 3


def sine_windows(n: int, *, phase: float = 0.0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    z = np.sin(np.arange(n + LOOKBACK + HORIZON) / 4 + phase).astype(np.float32)
    x = np.stack([z[i : i + LOOKBACK] for i in range(n)])[..., None]
    y = np.stack([z[i + LOOKBACK : i + LOOKBACK + HORIZON] for i in range(n)])
    return x, y


SPEC = NetworkSpec(cell="LSTM", lookback=LOOKBACK, horizon=HORIZON, recurrent=(RecurrentLayer(4),))
QUICK = FitSettings(batch_size=16, epochs=3, patience=0, jit_compile=False, batch_every=2, learning_rate=0.01)


def test_fit_reports_epochs_and_batches_and_predicts_every_step() -> None:
    events: list[ProgressEvent] = []
    model, result = fit(
        SPEC, sine_windows(64), sine_windows(32, phase=1.0), settings=QUICK, progress=events.append
    )
    assert result.epochs_run == 3 and len(result.loss) == 3 and len(result.val_loss) == 3
    val_loss = [value for value in result.val_loss if value is not None]
    assert len(val_loss) == 3
    assert result.best_epoch == int(np.argmin(val_loss)) + 1
    assert result.best_val_loss == min(val_loss)
    assert not result.cancelled and result.samples_per_second and result.samples_per_second > 0
    epochs = [e for e in events if e.kind == "epoch"]
    assert [e.epoch for e in epochs] == [1, 2, 3] and all(e.val_loss is not None for e in epochs)
    batches = [e for e in events if e.kind == "batch"]
    assert [(e.epoch, e.batch) for e in batches] == [(epoch, b) for epoch in (1, 2, 3) for b in (2, 4)]
    assert all(e.batches == 4 and e.total_epochs == 3 for e in events)
    # Time into the epoch, and the epoch's speed once it ended: what ETAs are computed from.
    assert all(0 < e.epoch_seconds < result.seconds for e in events)
    assert all(e.samples_per_second is None for e in batches)
    assert all(e.samples_per_second and e.samples_per_second > 0 for e in epochs)
    assert model.predict(sine_windows(5)[0], verbose=0).shape == (5, HORIZON)


def test_should_stop_cancels_within_the_first_batch() -> None:
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return True

    _, result = fit(SPEC, sine_windows(64), sine_windows(16), settings=QUICK, should_stop=stop)
    assert result.cancelled and result.epochs_run == 1 and len(calls) >= 1


def test_early_stopping_keeps_the_best_epoch() -> None:
    settings = FitSettings(batch_size=16, epochs=30, patience=2, jit_compile=False, learning_rate=0.05)
    _, result = fit(SPEC, sine_windows(64), sine_windows(32, phase=1.0), settings=settings)
    assert result.best_epoch is not None and result.best_epoch <= result.epochs_run <= 30
    if result.epochs_run < 30:
        assert result.epochs_run - result.best_epoch == 2, "stopped `patience` epochs after the best"


# XLA compiling costs seconds per network: once is enough to know the build works with it.
@pytest.mark.parametrize(("cell", "xla"), [("LSTM", True), ("GRU", False)])
def test_stacked_layers_and_xla_build(cell: Cell, xla: bool) -> None:
    spec = NetworkSpec(cell=cell, lookback=LOOKBACK, horizon=HORIZON,
                       recurrent=(RecurrentLayer(4), RecurrentLayer(3, dropout=0.1)))  # fmt: skip
    settings = FitSettings(batch_size=32, epochs=1, patience=0, jit_compile=xla)
    model, result = fit(spec, sine_windows(32), sine_windows(8), settings=settings)
    assert result.epochs_run == 1
    assert [layer.name for layer in model.layers][1:3] == [f"{cell.lower()}_0", f"{cell.lower()}_1"]


def test_importing_ml_does_not_import_tensorflow() -> None:
    # A worker that forks after TensorFlow ran hangs (tensorflow/tensorflow#8220): importing must not load it.
    code = "import sys, ml, ml.network, ml.training; assert 'tensorflow' not in sys.modules, 'loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_epoch_events_say_when_early_stopping_will_end_training() -> None:
    # A constant series gives the delta network all-zero inputs and targets: val_loss is the same
    # every epoch, so epoch 1 stays the best and training ends after epoch 1 + patience = 4.
    flat = (np.zeros((64, LOOKBACK, 1), np.float32), np.zeros((64, HORIZON), np.float32))
    settings = FitSettings(batch_size=16, epochs=30, patience=3, jit_compile=False, batch_every=2)
    events: list[ProgressEvent] = []
    _, result = fit(SPEC, flat, (flat[0][:16], flat[1][:16]), settings=settings, progress=events.append)
    assert result.epochs_run == 4
    ends = [(e.epoch, e.best_epoch, e.expected_last_epoch) for e in events if e.kind == "epoch"]
    assert ends == [(1, 1, 4), (2, 1, 4), (3, 1, 4), (4, 1, 4)]
    assert all(e.total_epochs == 30 for e in events)
    # Before the first val_loss nothing is known: the configured maximum.
    first = next(e for e in events if e.kind == "batch")
    assert (first.epoch, first.best_epoch, first.expected_last_epoch) == (1, None, 30)


def test_expected_last_epoch_is_best_plus_patience_within_the_maximum() -> None:
    assert expected_last_epoch(total=50, patience=5, best_epoch=3) == 8
    assert expected_last_epoch(total=50, patience=5, best_epoch=48) == 50
    assert expected_last_epoch(total=50, patience=0, best_epoch=3) == 50
    assert expected_last_epoch(total=50, patience=5, best_epoch=None) == 50


def test_a_resumed_fit_continues_the_uninterrupted_one_exactly() -> None:
    settings = FitSettings(batch_size=16, epochs=5, patience=2, jit_compile=False, learning_rate=0.02)
    train, validation = sine_windows(96), sine_windows(32, phase=1.0)
    whole, straight = fit(SPEC, train, validation, settings=settings)

    saved: list[FitState] = []
    stop_after_two = FitSettings(**{**settings.__dict__, "checkpoint_cost_ratio": 0.0})
    fit(SPEC, train, validation, settings=stop_after_two, checkpoint=saved.append,
        should_stop=lambda: len(saved) >= 2)  # fmt: skip
    assert [state.epoch for state in saved] == [1, 2]
    # Through bytes, as a redelivered step on another worker reads it.
    state = FitState.from_bytes(saved[1].to_bytes())
    events: list[ProgressEvent] = []
    model, resumed = fit(SPEC, train, validation, settings=settings, resume=state, progress=events.append)

    assert resumed.resumed_from == 2
    assert {e.epoch for e in events if e.kind == "epoch"} == set(range(3, resumed.epochs_run + 1))
    assert all(e.first_epoch == 3 for e in events)
    # Same shuffle order, same Adam moments, same early-stopping count: the same numbers.
    assert resumed.epochs_run == straight.epochs_run
    assert resumed.loss == pytest.approx(straight.loss, rel=1e-5)
    assert resumed.val_loss == pytest.approx(straight.val_loss, rel=1e-5)
    assert resumed.best_epoch == straight.best_epoch
    for mine, theirs in zip(model.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_a_checkpoint_round_trips_through_bytes_without_pickle() -> None:
    settings = FitSettings(batch_size=16, epochs=2, patience=5, jit_compile=False, checkpoint_cost_ratio=0.0)
    saved: list[FitState] = []
    _, result = fit(SPEC, sine_windows(64), sine_windows(32), settings=settings, checkpoint=saved.append)
    assert [state.epoch for state in saved] == [1, 2] and result.checkpoints == 2
    last = saved[-1]
    again = FitState.from_bytes(last.to_bytes())
    assert (again.epoch, again.loss, again.val_loss) == (2, result.loss, result.val_loss)
    assert (again.best, again.best_epoch, again.wait, again.stopped) == (
        last.best,
        last.best_epoch,
        last.wait,
        last.stopped,
    )
    assert again.best_epoch == result.best_epoch
    # Adam's step count leads its variables: 4 batches an epoch, two epochs.
    assert int(again.optimizer[0]) == 8
    for group, other in ((again.weights, last.weights), (again.optimizer, last.optimizer)):
        assert len(group) == len(other)
        for a, b in zip(group, other, strict=True):
            np.testing.assert_array_equal(a, b)
    assert again.best_weights is not None and len(again.best_weights) == len(last.weights)


def test_a_fit_resumed_after_its_last_epoch_runs_nothing_and_keeps_the_best_weights() -> None:
    settings = FitSettings(batch_size=16, epochs=3, patience=5, jit_compile=False, checkpoint_cost_ratio=0.0)
    saved: list[FitState] = []
    finished, result = fit(
        SPEC, sine_windows(64), sine_windows(32), settings=settings, checkpoint=saved.append
    )
    events: list[ProgressEvent] = []
    model, resumed = fit(SPEC, sine_windows(64), sine_windows(32), settings=settings, resume=saved[-1],
                         progress=events.append)  # fmt: skip
    assert events == [] and resumed.loss == result.loss and resumed.best_epoch == result.best_epoch
    for mine, theirs in zip(model.get_weights(), finished.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_checkpoint_of_another_network_is_refused_before_any_epoch() -> None:
    settings = FitSettings(batch_size=16, epochs=1, patience=0, jit_compile=False, checkpoint_cost_ratio=0.0)
    saved: list[FitState] = []
    fit(SPEC, sine_windows(32), sine_windows(16), settings=settings, checkpoint=saved.append)
    wider = NetworkSpec(cell="LSTM", lookback=LOOKBACK, horizon=HORIZON, recurrent=(RecurrentLayer(8),))
    events: list[ProgressEvent] = []
    with pytest.raises(CheckpointMismatch):
        fit(
            wider,
            sine_windows(64),
            sine_windows(32),
            settings=settings,
            resume=saved[-1],
            progress=events.append,
        )
    assert events == []


def stopper(best: float | None, best_epoch: int = 0) -> SimpleNamespace:
    return SimpleNamespace(best=best, best_epoch=best_epoch, wait=0, best_weights=None)


def fake_model() -> SimpleNamespace:
    """What the reporter touches of a Keras model: its stop flag, weights and optimizer variables."""
    step = SimpleNamespace(numpy=lambda: np.int64(4))
    return SimpleNamespace(stop_training=False, get_weights=list, optimizer=SimpleNamespace(variables=[step]))


def test_best_epoch_is_one_based_and_none_until_known() -> None:
    assert _best_epoch(None) is None
    assert _best_epoch(stopper(None)) is None
    assert _best_epoch(stopper(0.5, best_epoch=2)) == 3


def test_speed_and_epoch_losses() -> None:
    assert _speed(100, 4.0) == 25.0 and _speed(100, 0.0) is None
    assert _epoch_losses({"loss": np.float32(0.5), "val_loss": float("nan")}) == (0.5, None)
    assert _epoch_losses(None) == (None, None)


@pytest.mark.parametrize(
    ("trained", "last_cost", "ratio", "due"),
    [
        pytest.param(0.0, 0.0, 10.0, True, id="first"),
        pytest.param(9.0, 1.0, 10.0, False, id="too-soon"),
        pytest.param(10.0, 1.0, 10.0, True, id="paid-for"),
        pytest.param(0.0, 5.0, 0.0, True, id="every-epoch"),
        pytest.param(0.0, 0.0, math.inf, True, id="nan-threshold"),
    ],
)
def test_checkpoint_due(trained: float, last_cost: float, ratio: float, due: bool) -> None:
    assert _checkpoint_due(trained, last_cost, ratio) is due


def test_progress_event_has_a_speed_only_at_an_epoch_end() -> None:
    settings = FitSettings(epochs=20, patience=3)
    event = partial(_progress_event, settings=settings, batches=8, samples=100, first_epoch=2, elapsed=2.0)
    batch = event("batch", 2, 4, (0.5, None), best_epoch=None)
    assert batch == ProgressEvent("batch", 2, 20, 4, 8, 0.5, None, None, expected_last_epoch=20,
                                  best_epoch=None, first_epoch=2, epoch_seconds=2.0)  # fmt: skip
    epoch = event("epoch", 2, None, (0.5, 0.25), best_epoch=2)
    assert (epoch.samples_per_second, epoch.expected_last_epoch, epoch.best_epoch) == (50.0, 5, 2)


def test_reporter_reports_every_few_batches_and_each_epoch() -> None:
    events: list[ProgressEvent] = []
    result = FitResult(loss=[0.9], val_loss=[1.0])
    reporter = _Reporter(result, QUICK, 4, samples=64, first_epoch=2, progress=events.append)
    model = fake_model()
    reporter.train_begin(model)
    reporter.epoch_begin(1)
    for batch in range(4):
        reporter.batch_end(model, batch, {"loss": 0.5})
    reporter.epoch_end(model, 1, {"loss": 0.4, "val_loss": 0.3})
    assert [(e.kind, e.epoch, e.batch) for e in events] == [
        ("batch", 2, 2),
        ("batch", 2, 4),
        ("epoch", 2, None),
    ]
    assert all(e.first_epoch == 2 and e.batches == 4 for e in events)
    assert (reporter.loss, reporter.val_loss) == ([0.9, 0.4], [1.0, 0.3])
    assert result.loss == [0.9], "the fit's own history is filled in when Keras returns"
    assert result.samples_per_second is not None and not model.stop_training


def test_reporter_cancels_when_asked_and_then_saves_no_checkpoint() -> None:
    saved: list[FitState] = []
    result = FitResult()
    reporter = _Reporter(result, QUICK, 4, samples=64, first_epoch=1, should_stop=lambda: True,
                         checkpoint=saved.append)  # fmt: skip
    model = fake_model()
    reporter.train_begin(model)
    assert result.cancelled and model.stop_training
    reporter.epoch_end(model, 0, {"loss": 0.4, "val_loss": 0.3})
    assert saved == [] and result.checkpoints == 0


@pytest.mark.parametrize(("ratio", "saved_epochs"), [(0.0, [1, 2, 3]), (1e9, [1])])
def test_reporter_checkpoints_while_they_cost_little_enough(ratio: float, saved_epochs: list[int]) -> None:
    saved: list[FitState] = []
    result = FitResult()
    settings = FitSettings(checkpoint_cost_ratio=ratio)
    reporter = _Reporter(result, settings, 4, samples=64, first_epoch=1, stopper=stopper(0.3, best_epoch=0),
                         checkpoint=saved.append)  # fmt: skip
    model = fake_model()
    for epoch in range(3):
        reporter.epoch_begin(epoch)
        reporter.epoch_end(model, epoch, {"loss": 0.4, "val_loss": 0.3})
    assert [state.epoch for state in saved] == saved_epochs == list(range(1, result.checkpoints + 1))
    # Each state carries the history so far and early stopping's best, 1-based.
    assert (saved[0].loss, saved[0].val_loss, saved[0].best_epoch, saved[0].best) == ([0.4], [0.3], 1, 0.3)
    assert int(saved[0].optimizer[0]) == 4
